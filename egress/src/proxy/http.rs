//! HTTP requests from a sandbox: explicit proxy requests (absolute-form and CONNECT), plain
//! HTTP redirected transparently, and requests decrypted from TLS. Each request is decided on
//! its own, against the sandbox's policy as registered at that moment (so a replaced policy
//! applies to the next request on a kept-alive connection):
//!
//! 1. the sandbox's request rate limit → 429 `rate_limited` (counted, audited once a second);
//! 2. framing: conflicting `Content-Length` and `Transfer-Encoding` → 400 (hyper itself refuses
//!    malformed and differing lengths, oversized heads with 431, and slow heads by closing; a
//!    first head starting with empty lines is refused before hyper, see [`first_head`]);
//! 3. target: host, port, path; a `Host` header naming another host, or more than one `Host`
//!    header → 400;
//! 4. the policy's chain, [`decide`]: the path normalised or refused, the egress rules, API
//!    permissions, `scanForPII` on the query string and header values then on the body
//!    received whole, the address the host resolved to; everything after the path decides on,
//!    audits and forwards the normalised path. This module only gathers what [`decide`] asks
//!    for (the scans, the resolution) and acts on its answer;
//! 5. forwarded to exactly the address that passed; failures → 502 `upstream_unreachable`.

use std::convert::Infallible;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{
    CONTENT_LENGTH, HOST, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, TRANSFER_ENCODING,
};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::OwnedSemaphorePermit;

use super::first_head::{self, FirstHead};
use super::responses::{self, ProxyBody, bad_request, empty};
use super::stream::Prefixed;
use super::tunnel::{self, Carried, Target};
use super::upstream::{Upstream, UpstreamError, UpstreamKey, open};
use crate::actions;
use crate::audit::{Decision, Outcome};
use crate::body_scan::BodyVerdict;
use crate::decision::{Fact, Next, Refusal, RequestHead, Seen, Verdict, decide};
use crate::head_scan::scan_head;
use crate::rate_limit::Limited;
use crate::resolver::normalize;
use crate::sandbox::Sandbox;
use crate::state::EngineState;

/// How the requests on a connection arrive.
#[derive(Clone, Debug)]
pub enum Origin {
    /// The explicit proxy: absolute-form requests and CONNECT.
    Explicit,
    /// Inside a tunnel or a redirected connection bound to `target`; `tls` when decrypted.
    Tunnel {
        /// Where the connection was meant to go.
        target: Target,
        /// Whether the requests were decrypted from TLS.
        tls: bool,
    },
}

/// One client connection speaking HTTP to the engine.
pub struct Connection {
    state: Arc<EngineState>,
    source: Ipv4Addr,
    origin: Origin,
    /// The upstream connection kept for the next request. Requests on one client connection
    /// come one at a time and the lock is never held across an await, so a plain mutex does.
    upstream: Mutex<Option<Upstream>>,
    permit: Arc<OwnedSemaphorePermit>,
}

/// What a request asks for.
struct RequestTarget {
    tls: bool,
    host: String,
    port: u16,
    /// The path and query as sent (normalised in `forward`).
    path: String,
}

/// Serves HTTP on `io` for the sandbox at `source` until the client goes away.
pub async fn serve<S>(
    state: Arc<EngineState>,
    source: Ipv4Addr,
    origin: Origin,
    permit: Arc<OwnedSemaphorePermit>,
    io: S,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let limits = state.config.limits.clone();
    let mut io = io;
    let started = Instant::now();
    let prefix = match first_head::check(&mut io, &limits).await {
        FirstHead::Pass(prefix) => prefix,
        FirstHead::Closed => return,
        FirstHead::Refused(reason) => {
            if let Some(sandbox) = state.registry.by_source(source) {
                record_bad_request(&state, &sandbox, reason.to_owned(), started);
            }
            return;
        }
    };
    let io = Prefixed::new(prefix, io);
    let connection = Arc::new(Connection {
        state,
        source,
        origin,
        upstream: Mutex::new(None),
        permit,
    });
    let service = service_fn(move |request| {
        let connection = Arc::clone(&connection);
        async move { Ok::<_, Infallible>(connection.handle(request).await) }
    });
    let served = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout())
        .max_buf_size(limits.max_header_bytes)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await;
    if let Err(error) = served {
        tracing::debug!(%source, "client connection ended: {error}");
    }
}

/// Runs a tunnel to `target` for the sandbox at `source` ([`tunnel::run`]) and serves the HTTP
/// it carries, deciding every request.
pub async fn serve_tunnel<S>(
    state: Arc<EngineState>,
    source: Ipv4Addr,
    target: Target,
    io: S,
    permit: Arc<OwnedSemaphorePermit>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    match tunnel::run(&state, source, &target, io).await {
        Some(Carried::Plain(io)) => {
            let origin = Origin::Tunnel { target, tls: false };
            serve_boxed(state, source, origin, permit, io).await;
        }
        Some(Carried::Decrypted(io)) => {
            let origin = Origin::Tunnel { target, tls: true };
            serve_boxed(state, source, origin, permit, io).await;
        }
        None => {}
    }
}

/// [`serve`] as a boxed `Send` future: serving HTTP may open another tunnel (CONNECT), and the
/// box ends that cycle for the compiler.
fn serve_boxed<S>(
    state: Arc<EngineState>,
    source: Ipv4Addr,
    origin: Origin,
    permit: Arc<OwnedSemaphorePermit>,
    io: S,
) -> Pin<Box<dyn Future<Output = ()> + Send>>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    Box::pin(serve(state, source, origin, permit, io))
}

/// Counts and audits a request refused with 400 before it was decided.
fn record_bad_request(state: &EngineState, sandbox: &Sandbox, reason: String, started: Instant) {
    state.metrics.decision("http", false);
    state.audit.record(Decision {
        sandbox,
        action: "egress.http".to_owned(),
        resource: "(request head)".to_owned(),
        outcome: Outcome::Deny,
        rules: vec!["framing".to_owned()],
        reason,
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
}

/// Hop-by-hop headers, never forwarded (RFC 9110 §7.6.1), plus proxy credentials.
const HOP_BY_HOP: [&str; 9] = [
    "connection",
    "proxy-connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-authenticate",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    if headers.contains_key(hyper::header::CONNECTION) {
        let listed: Vec<HeaderName> = headers
            .get_all(hyper::header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
            .collect();
        for name in listed {
            headers.remove(name);
        }
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The host part of a `Host` header value (`name`, `name:port`, `[v6]:port`).
fn host_of(value: &str) -> String {
    let value = value.trim();
    let host = if let Some(rest) = value.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        value.rsplit_once(':').map_or(value, |(host, _)| host)
    };
    normalize(host)
}

fn has_body(headers: &HeaderMap) -> bool {
    headers.contains_key(TRANSFER_ENCODING)
        || headers
            .get(CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|n| n > 0)
}

impl Connection {
    async fn handle(self: Arc<Self>, request: Request<Incoming>) -> Response<ProxyBody> {
        let started = Instant::now();
        let Some(sandbox) = self.state.registry.by_source(self.source) else {
            return responses::refusal(
                StatusCode::FORBIDDEN,
                json!({"error": "egress_denied", "reason": "this address is not a registered sandbox"}),
            );
        };
        if !self
            .state
            .rate_limits
            .admit(Limited::Request, &sandbox, &self.state.metrics)
        {
            let limits = &self.state.config.limits;
            let mut response = responses::refusal(
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "error": "rate_limited",
                    "reason": format!(
                        "more than {} requests a second (burst {}) from this sandbox",
                        limits.requests_per_second, limits.request_burst
                    ),
                    "rule": "limits.requests_per_second",
                    "container": sandbox.id(),
                }),
            );
            response
                .headers_mut()
                .insert(RETRY_AFTER, HeaderValue::from_static("1"));
            return response;
        }
        let headers = request.headers();
        if headers.contains_key(TRANSFER_ENCODING) && headers.contains_key(CONTENT_LENGTH) {
            let reason = "conflicting Content-Length and Transfer-Encoding";
            record_bad_request(&self.state, &sandbox, reason.to_owned(), started);
            return bad_request(reason);
        }
        if request.method() == Method::CONNECT {
            return match &self.origin {
                Origin::Explicit => self.connect(&sandbox, request, started).await,
                Origin::Tunnel { .. } => bad_request("CONNECT inside a tunnel"),
            };
        }
        let target = match self.request_target(&request) {
            Ok(target) => target,
            Err(reason) => {
                record_bad_request(&self.state, &sandbox, reason.clone(), started);
                return bad_request(&reason);
            }
        };
        self.forward(&sandbox, request, target, started).await
    }

    fn request_target(&self, request: &Request<Incoming>) -> Result<RequestTarget, String> {
        let uri = request.uri();
        let path = uri
            .path_and_query()
            .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
        let target = match &self.origin {
            Origin::Explicit => {
                // `GET https://…` in absolute form (what busybox wget sends a proxy) is answered
                // as forward proxies do: the engine itself opens the TLS connection to the
                // origin, verified against its upstream trust.
                let (tls, default_port) = match uri.scheme_str() {
                    Some("http") => (false, 80),
                    Some("https") => (true, 443),
                    _ => {
                        return Err(
                            "a proxy request needs an absolute http:// or https:// URI".to_owned()
                        );
                    }
                };
                let host = uri.host().map(normalize).unwrap_or_default();
                RequestTarget {
                    tls,
                    host,
                    port: uri.port_u16().unwrap_or(default_port),
                    path,
                }
            }
            Origin::Tunnel { target, tls } => {
                if let Some(host) = uri.host()
                    && normalize(host) != target.host
                {
                    return Err(format!(
                        "request for {host} on a connection to {}",
                        target.host
                    ));
                }
                RequestTarget {
                    tls: *tls,
                    host: target.host.clone(),
                    port: target.port,
                    path,
                }
            }
        };
        // One Host header or none (RFC 9112 §3.2: a request with more is answered 400).
        if request.headers().get_all(HOST).iter().nth(1).is_some() {
            return Err("more than one Host header".to_owned());
        }
        if let Some(value) = request.headers().get(HOST) {
            let named = value.to_str().map(host_of).unwrap_or_default();
            if named != target.host {
                return Err(format!(
                    "Host header {named:?} does not match the request target {}",
                    target.host
                ));
            }
        }
        Ok(target)
    }

    /// Audits, counts and answers a refusal of a request to `host:port` with `method`.
    fn refuse(
        &self,
        sandbox: &Sandbox,
        (method, host, port): (&Method, &str, u16),
        refusal: Refusal,
        started: Instant,
    ) -> Response<ProxyBody> {
        self.state.metrics.decision(refusal.subject.kind, false);
        let mut body = json!({
            "error": refusal.error,
            "reason": refusal.reason,
            "rule": refusal.rule,
            "host": host,
            "port": port,
            "method": method.as_str(),
            "container": sandbox.id(),
        });
        if let Some(api) = &refusal.api {
            body["api"] = json!(api);
        }
        self.state.audit.record(Decision {
            sandbox,
            action: refusal.action(),
            resource: refusal.subject.resource,
            outcome: Outcome::Deny,
            rules: vec![refusal.rule],
            reason: refusal.reason,
            latency: started.elapsed(),
            classification: refusal.classification,
            payload: None,
        });
        responses::refusal(refusal.status, body)
    }

    async fn connect(
        &self,
        sandbox: &Sandbox,
        request: Request<Incoming>,
        started: Instant,
    ) -> Response<ProxyBody> {
        let Some(authority) = request.uri().authority() else {
            return bad_request("CONNECT needs host:port");
        };
        let host = normalize(authority.host());
        let port = authority.port_u16().unwrap_or(443);
        let asked = (&Method::CONNECT, host.as_str(), port);
        let mut verdict = decide(sandbox, Seen::Connect { host: &host, port });
        let (grant, address) = loop {
            let grant = match verdict {
                Verdict::Allow(grant) => grant,
                Verdict::Deny(refusal) => return self.refuse(sandbox, asked, refusal, started),
            };
            let fact = match grant.next {
                Next::Resolve => Fact::Address(self.state.resolver.resolve(&host).await),
                Next::Connect(address) => break (grant, address),
                other => unreachable!("a CONNECT is never told to {other:?}"),
            };
            verdict = decide(sandbox, Seen::Then(grant, fact));
        };
        self.state.metrics.decision(grant.subject.kind, true);
        self.state.audit.record(Decision {
            sandbox,
            action: grant.action(),
            resource: grant.subject.resource,
            outcome: Outcome::Allow,
            rules: grant.rules,
            reason: format!("tunnel to {address}"),
            latency: started.elapsed(),
            classification: None,
            payload: None,
        });
        let state = Arc::clone(&self.state);
        let source = self.source;
        let permit = Arc::clone(&self.permit);
        let target = Target { host, port };
        tokio::spawn(async move {
            match hyper::upgrade::on(request).await {
                Ok(upgraded) => {
                    serve_tunnel(state, source, target, TokioIo::new(upgraded), permit).await;
                }
                Err(error) => tracing::debug!(%source, "CONNECT upgrade failed: {error}"),
            }
        });
        Response::new(empty())
    }

    async fn forward(
        &self,
        sandbox: &Sandbox,
        request: Request<Incoming>,
        target: RequestTarget,
        started: Instant,
    ) -> Response<ProxyBody> {
        let method = request.method().clone();
        let asked = (&method, target.host.as_str(), target.port);
        let head = RequestHead {
            tls: target.tls,
            host: &target.host,
            port: target.port,
            method: &method,
            target: &target.path,
            has_body: has_body(request.headers()),
        };
        let mut verdict = decide(sandbox, Seen::Request(head));
        let (mut parts, incoming) = request.into_parts();
        let mut unread = Some(incoming);
        let mut scanned = None;
        let (grant, address) = loop {
            let grant = match verdict {
                Verdict::Allow(grant) => grant,
                Verdict::Deny(refusal) => return self.refuse(sandbox, asked, refusal, started),
            };
            let fact = match grant.next {
                Next::ScanHead => Fact::Head(scan_head(
                    grant.path.as_ref().and_then(|path| path.query()),
                    &parts.headers,
                    self.state.body_scanner.block_at,
                )),
                Next::ScanBody => {
                    let Some(incoming) = unread.take() else {
                        unreachable!("a body is scanned once")
                    };
                    let scan = self.state.body_scanner.scan(incoming).await;
                    if let BodyVerdict::Pass { body, .. } = &scan {
                        scanned = Some(body.clone());
                    }
                    Fact::Body(scan)
                }
                Next::ReadBody => {
                    let Some(incoming) = unread.take() else {
                        unreachable!("a body is received once")
                    };
                    match self.state.body_scanner.receive(incoming).await {
                        Ok(body) => {
                            scanned = Some(body);
                            Fact::BodyRead(Ok(()))
                        }
                        Err(reason) => Fact::BodyRead(Err(reason)),
                    }
                }
                Next::Evaluate | Next::AskApproval => {
                    let (Some(api), Some(path)) = (grant.api.as_deref(), grant.path.as_ref())
                    else {
                        unreachable!("only a catalogued request with a path is decided in line")
                    };
                    let seen = actions::Seen {
                        method: &method,
                        host: &target.host,
                        path,
                        body: scanned.as_ref(),
                    };
                    match (&grant.next, &grant.decision) {
                        (Next::AskApproval, Some(decision)) => Fact::Answered(
                            self.state
                                .actions
                                .ask(sandbox, api, seen, decision)
                                .await
                                .map(Box::new),
                        ),
                        _ => Fact::Evaluated(self.state.actions.decide(sandbox, api, seen).await),
                    }
                }
                Next::Resolve => Fact::Address(self.state.resolver.resolve(&target.host).await),
                Next::Connect(address) => break (grant, address),
                other => unreachable!("a request is never told to {other:?}"),
            };
            verdict = decide(sandbox, Seen::Then(grant, fact));
        };
        let latency = started.elapsed();
        self.state
            .metrics
            .decision_seconds
            .observe(latency.as_secs_f64());
        let body = match (&scanned, unread) {
            (Some(scanned), _) => responses::full(scanned.clone()),
            (None, unread) => unread.map_or_else(empty, |incoming| incoming.boxed()),
        };

        // Forward the normalised path (what was decided) in origin form to exactly the
        // checked address, as Envoy forwards the path its normalize_path produced.
        parts.uri = grant
            .path
            .as_ref()
            .and_then(|path| Uri::try_from(path.origin_form()).ok())
            .unwrap_or_else(|| Uri::from_static("/"));
        strip_hop_by_hop(&mut parts.headers);
        if !parts.headers.contains_key(HOST) {
            let value = if target.port == if target.tls { 443 } else { 80 } {
                target.host.clone()
            } else {
                format!("{}:{}", target.host, target.port)
            };
            if let Ok(value) = HeaderValue::from_str(&value) {
                parts.headers.insert(HOST, value);
            }
        }
        let key = UpstreamKey {
            address: SocketAddr::new(address, target.port),
            tls: target.tls,
            host: target.host.clone(),
        };
        match self.send(key, Request::from_parts(parts, body)).await {
            Ok(mut response) => {
                self.state.metrics.decision(grant.subject.kind, true);
                self.state.audit.record(Decision {
                    sandbox,
                    action: grant.action(),
                    resource: grant.subject.resource,
                    outcome: Outcome::Allow,
                    rules: grant.rules,
                    reason: format!("forwarded to {address}"),
                    latency,
                    classification: grant.classification,
                    payload: scanned.as_deref(),
                });
                strip_hop_by_hop(response.headers_mut());
                response.map(|body| body.boxed())
            }
            Err(error) => {
                self.state.metrics.upstream_errors.inc();
                self.refuse(sandbox, asked, grant.failed(error.to_string()), started)
            }
        }
    }

    /// Sends on the kept upstream connection when it goes to the same place and is usable,
    /// otherwise on a new one (kept for the next request). A request the kept connection could
    /// not send at all (the server closed it while idle) is sent again on a new one.
    async fn send(
        &self,
        key: UpstreamKey,
        request: Request<ProxyBody>,
    ) -> Result<Response<Incoming>, UpstreamError> {
        let kept = self.kept_upstream().take();
        let reusable = match kept {
            Some(mut kept) if kept.key == key => kept.sender.ready().await.is_ok().then_some(kept),
            _ => None,
        };
        let http_error = |host: &str, error: hyper::Error| UpstreamError::Http {
            host: host.to_owned(),
            message: error.to_string(),
        };
        let request = match reusable {
            Some(mut kept) => match kept.sender.try_send_request(request).await {
                Ok(response) => {
                    *self.kept_upstream() = Some(kept);
                    return Ok(response);
                }
                Err(mut failed) => match failed.take_message() {
                    Some(unsent) => unsent,
                    None => return Err(http_error(&kept.key.host, failed.into_error())),
                },
            },
            None => request,
        };
        let timeout = Duration::from_millis(self.state.config.upstream.connect_timeout_ms);
        let mut upstream = open(key, &self.state.upstream_tls, timeout).await?;
        let response = upstream
            .sender
            .send_request(request)
            .await
            .map_err(|e| http_error(&upstream.key.host, e))?;
        *self.kept_upstream() = Some(upstream);
        Ok(response)
    }

    fn kept_upstream(&self) -> MutexGuard<'_, Option<Upstream>> {
        self.upstream.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::is_host_name;

    #[test]
    fn host_headers_and_names() {
        assert_eq!(host_of("API.hubspot.com:8080"), "api.hubspot.com");
        assert_eq!(host_of("crm.example.test"), "crm.example.test");
        assert_eq!(host_of("[2001:db8::1]:443"), "2001:db8::1");
        assert!(is_host_name("crm.example.test"));
        assert!(!is_host_name("203.0.113.10"));
        assert!(!is_host_name("2001:db8::1"));
        assert!(!is_host_name("a b"));
    }

    #[test]
    fn hop_by_hop_headers_are_stripped() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, x-secret"),
        );
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("proxy-authorization", HeaderValue::from_static("Basic x"));
        headers.insert("accept", HeaderValue::from_static("*/*"));
        strip_hop_by_hop(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("accept"));
    }
}
