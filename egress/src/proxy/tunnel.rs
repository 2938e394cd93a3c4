//! A connection bound to one host and port (an allowed CONNECT, or a redirected connection
//! whose original destination was a synthetic address): what it carries is read from its
//! first bytes.
//!
//! - TLS: the ClientHello is read without decrypting; a server name other than the target's
//!   is refused (no fronting one allowed name with another). With `tlsDecrypt: true` the engine
//!   completes the handshake with a leaf for the target minted from the node CA and decides
//!   every request inside; otherwise the bytes are relayed as they are, which only a rule
//!   without method limits allows and only for a host no API permission covers.
//! - HTTP: every request is decided.
//! - Anything else (or silence: server-first protocols such as SMTP): relayed under the same
//!   conditions as undecrypted TLS.

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use rustls::server::Acceptor;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio_rustls::LazyConfigAcceptor;

use super::http::{self, Origin, Target};
use super::stream::{Prefixed, Protocol, sniff};
use super::upstream::connect_tcp;
use crate::audit::{Decision, Outcome};
use crate::resolver::normalize;
use crate::sandbox::Sandbox;
use crate::state::EngineState;

/// HTTP served inside a tunnel. Boxed as a `Send` future: serving HTTP may open another tunnel
/// (CONNECT), and the box ends that cycle for the compiler.
fn serve_http<S>(
    state: Arc<EngineState>,
    source: Ipv4Addr,
    origin: Origin,
    permit: Arc<OwnedSemaphorePermit>,
    io: S,
) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(http::serve(state, source, origin, permit, io))
}

/// Largest ClientHello read before giving up.
const MAX_CLIENT_HELLO: usize = 64 * 1024;

/// Runs a tunnel for the sandbox at `source` to `target` over `io`.
pub async fn run<S>(
    state: Arc<EngineState>,
    source: Ipv4Addr,
    target: Target,
    mut io: S,
    permit: Arc<OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut buffer = BytesMut::with_capacity(8192);
    let sniff_timeout = state.config.limits.sniff_timeout();
    match tokio::time::timeout(sniff_timeout, io.read_buf(&mut buffer)).await {
        Ok(Ok(0)) | Ok(Err(_)) => return,
        Ok(Ok(_)) | Err(_) => {}
    }
    let Some(sandbox) = state.registry.by_source(source) else {
        return;
    };
    match sniff(&buffer) {
        Protocol::Tls => tls(state, sandbox, source, target, buffer, io, permit).await,
        Protocol::Http => {
            let origin = Origin::Tunnel { target, tls: false };
            let io = Prefixed::new(buffer.freeze(), io);
            serve_http(state, source, origin, permit, io).await;
        }
        Protocol::Opaque => {
            opaque(&state, &sandbox, target, buffer.freeze(), io, "egress.tcp").await;
        }
    }
}

/// Records a refusal of a whole connection.
fn refuse(
    state: &EngineState,
    sandbox: &Sandbox,
    action: &str,
    resource: String,
    rule: String,
    reason: String,
    started: Instant,
) {
    state.metrics.decision(kind_of(action), false);
    state.audit.record(Decision {
        sandbox,
        action: action.to_owned(),
        resource,
        outcome: Outcome::Deny,
        rules: vec![rule],
        reason,
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
}

fn kind_of(action: &str) -> &'static str {
    match action {
        "egress.tls" => "tls",
        _ => "tcp",
    }
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
    state: Arc<EngineState>,
    sandbox: Arc<Sandbox>,
    source: Ipv4Addr,
    target: Target,
    mut buffer: BytesMut,
    mut io: S,
    permit: Arc<OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let started = Instant::now();
    let resource = format!("{}:{}", target.host, target.port);
    let header_timeout = state.config.limits.header_timeout();
    let server_name = match client_hello_server_name(&mut buffer, &mut io, header_timeout).await {
        Ok(name) => name,
        Err(reason) => {
            refuse(
                &state,
                &sandbox,
                "egress.tls",
                resource,
                "tls".to_owned(),
                reason,
                started,
            );
            return;
        }
    };
    if let Some(name) = &server_name
        && *name != target.host
    {
        let reason = format!(
            "TLS server name {name} does not match the destination {}",
            target.host
        );
        refuse(
            &state,
            &sandbox,
            "egress.tls",
            resource,
            "tls".to_owned(),
            reason,
            started,
        );
        return;
    }
    if !sandbox.tls_decrypt() {
        opaque(&state, &sandbox, target, buffer.freeze(), io, "egress.tls").await;
        return;
    }
    let config = match state.interceptor.server_config(&target.host) {
        Ok(config) => config,
        Err(error) => {
            refuse(
                &state,
                &sandbox,
                "egress.tls",
                resource,
                "tls".to_owned(),
                error.to_string(),
                started,
            );
            return;
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
        Ok(Ok(stream)) => {
            let origin = Origin::Tunnel { target, tls: true };
            serve_http(state, source, origin, permit, stream).await;
        }
        Ok(Err(error)) => tracing::debug!(%source, "TLS handshake with sandbox failed: {error}"),
        Err(_) => tracing::debug!(%source, "TLS handshake with sandbox timed out"),
    }
}

/// Relays bytes the engine cannot inspect, if the rules allow that for the target.
async fn opaque<S>(
    state: &EngineState,
    sandbox: &Sandbox,
    target: Target,
    prefix: Bytes,
    mut io: S,
    action: &'static str,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let started = Instant::now();
    let resource = format!("{}:{}", target.host, target.port);
    let rule = match sandbox.rules.check_opaque(&target.host, target.port) {
        Ok(rule) => rule.describe(),
        Err(denial) => {
            refuse(
                state,
                sandbox,
                action,
                resource,
                denial.rule(),
                denial.to_string(),
                started,
            );
            return;
        }
    };
    if sandbox.apis.covers_host(&target.host) {
        let reason = format!(
            "API permissions apply to {}: its traffic must be decrypted (tlsDecrypt: true)",
            target.host
        );
        refuse(
            state,
            sandbox,
            action,
            resource,
            "permissions".to_owned(),
            reason,
            started,
        );
        return;
    }
    let address = match state.resolver.resolve(&target.host).await {
        Ok(address) => address,
        Err(error) => {
            refuse(
                state,
                sandbox,
                action,
                resource,
                "addresses".to_owned(),
                error.to_string(),
                started,
            );
            return;
        }
    };
    let timeout = std::time::Duration::from_millis(state.config.upstream.connect_timeout_ms);
    let mut upstream = match connect_tcp(SocketAddr::new(address, target.port), timeout).await {
        Ok(upstream) => upstream,
        Err(error) => {
            state.metrics.upstream_errors.inc();
            refuse(
                state,
                sandbox,
                action,
                resource,
                rule,
                error.to_string(),
                started,
            );
            return;
        }
    };
    state.metrics.decision(kind_of(action), true);
    state.audit.record(Decision {
        sandbox,
        action: action.to_owned(),
        resource,
        outcome: Outcome::Allow,
        rules: vec![rule],
        reason: format!("relayed to {address}"),
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
    if upstream.write_all(&prefix).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut io, &mut upstream).await;
}
