//! A connection bound to one host and port (an allowed CONNECT, or a redirected connection
//! whose original destination was a synthetic address): what it carries is read from its
//! first bytes.
//!
//! - TLS: the ClientHello is read without decrypting and its server name given to [`decide`]
//!   (a name other than the target's is refused: no fronting one allowed name with another).
//!   With `tlsDecrypt: true` the engine completes the handshake with a leaf for the target
//!   minted from the node CA and decides every request inside; otherwise the bytes are relayed
//!   as they are, which only a rule without method limits allows and only for a host no API
//!   permission covers.
//! - HTTP: handed back to the caller ([`Carried`]), which serves it and decides every request.
//! - Anything else (or silence: server-first protocols such as SMTP): relayed under the same
//!   conditions as undecrypted TLS.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_rustls::LazyConfigAcceptor;
use tokio_rustls::server::TlsStream;

use super::stream::{Prefixed, Protocol, sniff};
use super::upstream::connect_tcp;
use crate::audit::{Decision, Outcome};
use crate::decision::{Fact, Grant, Next, Refusal, Seen, Verdict, decide};
use crate::resolver::normalize;
use crate::sandbox::Sandbox;
use crate::state::EngineState;

/// A host and port a tunnel or redirected connection is bound to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The host name (lower case).
    pub host: String,
    /// The port.
    pub port: u16,
}

/// HTTP a tunnel turned out to carry, handed back to be served request by request.
#[expect(
    clippy::large_enum_variant,
    reason = "made once per connection and moved straight into the HTTP server; boxing the TLS \
              stream would add an indirection to every read"
)]
pub enum Carried<S> {
    /// Plain HTTP, its first bytes replayed.
    Plain(Prefixed<S>),
    /// HTTP decrypted from TLS with a leaf minted for the target.
    Decrypted(TlsStream<Prefixed<S>>),
}

/// Largest ClientHello read before giving up.
const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// Each direction's buffer in a relayed tunnel: a bulk transfer (a download through an
/// undecrypted CONNECT tunnel) moves in reads and writes of up to 32 KiB rather than tokio's
/// default 8 KiB, a quarter of the system calls, for 64 KiB a tunnel.
const RELAY_BUFFER: usize = 32 * 1024;

/// Runs a tunnel for the sandbox at `source` to `target` over `io`: relays what the engine
/// cannot see inside (as [`decide`] allows), and hands back the HTTP it carries.
pub async fn run<S>(
    state: &EngineState,
    source: Ipv4Addr,
    target: &Target,
    mut io: S,
) -> Option<Carried<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(8192);
    let sniff_timeout = state.config.limits.sniff_timeout();
    match tokio::time::timeout(sniff_timeout, io.read_buf(&mut buffer)).await {
        Ok(Ok(0)) | Ok(Err(_)) => return None,
        Ok(Ok(_)) | Err(_) => {}
    }
    let sandbox = state.registry.by_source(source)?;
    match sniff(&buffer) {
        Protocol::Tls => tls(state, &sandbox, source, target, buffer, io).await,
        Protocol::Http => Some(Carried::Plain(Prefixed::new(buffer.freeze(), io))),
        Protocol::Opaque => {
            let started = Instant::now();
            let seen = Seen::Opaque {
                host: &target.host,
                port: target.port,
            };
            match decide(&sandbox, seen) {
                Verdict::Allow(grant) => {
                    relay(state, &sandbox, grant, target, buffer.freeze(), io, started).await;
                }
                Verdict::Deny(refusal) => refuse(state, &sandbox, refusal, started),
            }
            None
        }
    }
}

/// Counts and audits a refusal of a whole connection.
pub fn refuse(state: &EngineState, sandbox: &Sandbox, refusal: Refusal, started: Instant) {
    state.metrics.decision(refusal.subject.kind, false);
    state.audit.record(Decision {
        sandbox,
        action: refusal.action(),
        resource: refusal.subject.resource,
        outcome: Outcome::Deny,
        rules: vec![refusal.rule],
        reason: refusal.reason,
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
}

/// Reads the ClientHello and returns its server name (`Ok(None)`: the client sent none).
async fn client_hello_server_name<S: AsyncRead + Unpin>(
    buffer: &mut BytesMut,
    io: &mut S,
    timeout: std::time::Duration,
) -> Result<Option<String>, String> {
    let mut acceptor = Acceptor::default();
    let mut fed = 0;
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let mut unread = &buffer[fed..];
        while !unread.is_empty() {
            let n = acceptor
                .read_tls(&mut unread)
                .map_err(|e| format!("unreadable TLS record: {e}"))?;
            if n == 0 {
                break;
            }
        }
        fed = buffer.len();
        match acceptor.accept() {
            Ok(Some(accepted)) => {
                return Ok(accepted.client_hello().server_name().map(normalize));
            }
            Ok(None) => {}
            Err((error, _)) => return Err(format!("bad ClientHello: {error}")),
        }
        if buffer.len() >= MAX_CLIENT_HELLO {
            return Err("ClientHello too large".to_owned());
        }
        match tokio::time::timeout_at(deadline, io.read_buf(buffer)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Err("connection closed during the ClientHello".to_owned()),
            Err(_) => return Err("ClientHello not received in time".to_owned()),
        }
    }
}

async fn tls<S>(
    state: &EngineState,
    sandbox: &Sandbox,
    source: Ipv4Addr,
    target: &Target,
    mut buffer: BytesMut,
    mut io: S,
) -> Option<Carried<S>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let header_timeout = state.config.limits.header_timeout();
    let server_name = client_hello_server_name(&mut buffer, &mut io, header_timeout).await;
    let seen = Seen::ClientHello {
        host: &target.host,
        port: target.port,
        server_name: server_name
            .as_ref()
            .map(Option::as_deref)
            .map_err(String::clone),
    };
    let grant = match decide(sandbox, seen) {
        Verdict::Allow(grant) => grant,
        Verdict::Deny(refusal) => {
            refuse(state, sandbox, refusal, started);
            return None;
        }
    };
    if grant.next != Next::Intercept {
        relay(state, sandbox, grant, target, buffer.freeze(), io, started).await;
        return None;
    }
    let config = match state.interceptor.server_config(&target.host) {
        Ok(config) => config,
        Err(error) => {
            refuse(state, sandbox, grant.failed(error.to_string()), started);
            return None;
        }
    };
    let replay = Prefixed::new(buffer.freeze(), io);
    let handshake = async {
        LazyConfigAcceptor::new(Acceptor::default(), replay)
            .await?
            .into_stream(config)
            .await
    };
    match tokio::time::timeout(header_timeout, handshake).await {
        Ok(Ok(stream)) => return Some(Carried::Decrypted(stream)),
        Ok(Err(error)) => tracing::debug!(%source, "TLS handshake with sandbox failed: {error}"),
        Err(_) => tracing::debug!(%source, "TLS handshake with sandbox timed out"),
    }
    None
}

/// Relays bytes the engine cannot inspect, as `grant` allows: resolves the target when
/// [`decide`] asks, then connects to the one address that passed.
async fn relay<S>(
    state: &EngineState,
    sandbox: &Sandbox,
    mut grant: Grant,
    target: &Target,
    prefix: Bytes,
    mut io: S,
    started: Instant,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let address = loop {
        let fact = match grant.next {
            Next::Resolve => Fact::Address(state.resolver.resolve(&target.host).await),
            Next::Connect(address) => break address,
            other => unreachable!("a relay is never told to {other:?}"),
        };
        grant = match decide(sandbox, Seen::Then(grant, fact)) {
            Verdict::Allow(grant) => grant,
            Verdict::Deny(refusal) => return refuse(state, sandbox, refusal, started),
        };
    };
    let timeout = std::time::Duration::from_millis(state.config.upstream.connect_timeout_ms);
    let mut upstream = match connect_tcp(SocketAddr::new(address, target.port), timeout).await {
        Ok(upstream) => upstream,
        Err(error) => {
            state.metrics.upstream_errors.inc();
            return refuse(state, sandbox, grant.failed(error.to_string()), started);
        }
    };
    state.metrics.decision(grant.subject.kind, true);
    state.audit.record(Decision {
        sandbox,
        action: grant.action(),
        resource: grant.subject.resource,
        outcome: Outcome::Allow,
        rules: grant.rules,
        reason: format!("relayed to {address}"),
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
    if upstream.write_all(&prefix).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional_with_sizes(
        &mut io,
        &mut upstream,
        RELAY_BUFFER,
        RELAY_BUFFER,
    )
    .await;
}
