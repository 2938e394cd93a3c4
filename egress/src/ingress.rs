//! Ingress: requests into a sandbox (webhooks), allowed by its `NetworkPolicy`'s
//! `ingress.allow` rules (`source` host, `path`, optional `methods`).
//!
//! With `[ingress] listen = "ADDR:PORT"` the engine accepts HTTP there and routes
//! `/sandboxes/<container-id>/<path>` to `http://<sandbox address>:<sandbox_port>/<path>` when a
//! rule allows it (the path normalised first, as the proxy does, and forwarded normalised; an
//! ambiguous one is refused with 403 `path_refused`): the path matches, the method is listed (or none are), and the client's
//! address is the rule's source: an exact source name must resolve to the client's address; a
//! `*.` pattern must be confirmed both ways (a name pointing at the client address that
//! matches the pattern and resolves back to it). Anything else is 403 `ingress_denied`; an
//! unknown sandbox 404. Every decision is audited (`ingress.http`). Which rule admits a
//! request is [`decide`]'s answer; this module confirms the rule's source and forwards.
//!
//! Nothing else reaches a sandbox: the node's table rejects new connections into sandbox veths
//! except the engine's own, which carry the [`INGRESS_MARK`] firewall mark.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HOST, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::{TokioIo, TokioTimer};
use openshell_policy::{DomainPattern, RequestPath};
use serde_json::json;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket};

use crate::audit::{Decision, Outcome};
use crate::decision::{IngressRequest, Next, Seen, Verdict, decide};
use crate::firewall::INGRESS_MARK;
use crate::proxy::responses::{ProxyBody, refusal};
use crate::resolver::Resolver;
use crate::sandbox::Sandbox;
use crate::state::EngineState;

/// Serves the ingress listener.
pub async fn serve(state: Arc<EngineState>, listener: TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!("ingress accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let timeout = state.config.limits.header_timeout();
            let max = state.config.limits.max_header_bytes;
            let service = service_fn(move |request| {
                let state = Arc::clone(&state);
                async move { Ok::<_, Infallible>(handle(&state, peer, request).await) }
            });
            let _ = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(timeout)
                .max_buf_size(max)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// Whether `client` is where `source` names.
async fn source_matches(resolver: &Resolver, source: &DomainPattern, client: IpAddr) -> bool {
    let resolves_to_client = |name: String| async move {
        resolver
            .addresses(&name)
            .await
            .is_ok_and(|addresses| addresses.contains(&client))
    };
    if !source.as_str().starts_with("*.") {
        return resolves_to_client(source.as_str().to_owned()).await;
    }
    for name in resolver.names_for(client).await {
        if source.matches(&name) && resolves_to_client(name).await {
            return true;
        }
    }
    false
}

fn denied(status: StatusCode, error: &str, reason: &str, rule: &str) -> Response<ProxyBody> {
    refusal(
        status,
        json!({"error": error, "reason": reason, "rule": rule}),
    )
}

async fn handle(
    state: &EngineState,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Response<ProxyBody> {
    let started = Instant::now();
    let target = request.uri().path_and_query().map_or("/", |p| p.as_str());
    // The sandbox and the rules are chosen on the normalised path, which is what is forwarded.
    let normal = match RequestPath::parse(target) {
        Ok(normal) => normal,
        Err(refusal) => {
            return denied(
                StatusCode::FORBIDDEN,
                "path_refused",
                &refusal.to_string(),
                "request path",
            );
        }
    };
    let mut segments = normal.segments();
    let (Some("sandboxes"), Some(id)) = (segments.next(), segments.next()) else {
        return denied(
            StatusCode::NOT_FOUND,
            "not_found",
            "ingress paths are /sandboxes/<container-id>/<path>",
            "ingress",
        );
    };
    let rest: Vec<&str> = segments.collect();
    let inner_target = match normal.query() {
        Some(query) => format!("/{}?{query}", rest.join("/")),
        None => format!("/{}", rest.join("/")),
    };
    let Ok(inner) = RequestPath::parse(&inner_target) else {
        return denied(
            StatusCode::FORBIDDEN,
            "path_refused",
            "the path inside the sandbox is not a request path",
            "request path",
        );
    };
    let Some(sandbox) = state.registry.get(id) else {
        return denied(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no sandbox {id} is registered"),
            "ingress",
        );
    };
    let rules = &sandbox.record.policy.network.ingress.allow;
    let mut from = 0;
    let grant = loop {
        let asked = IngressRequest {
            method: request.method(),
            path: &inner,
            client: peer.ip(),
            from,
        };
        let grant = match decide(&sandbox, Seen::Ingress(asked)) {
            Verdict::Allow(grant) => grant,
            Verdict::Deny(refusal) => {
                let response = denied(
                    refusal.status,
                    refusal.error,
                    &refusal.reason,
                    &refusal.rule,
                );
                record(
                    state,
                    &sandbox,
                    refusal.subject.resource,
                    Outcome::Deny,
                    refusal.rule,
                    refusal.reason,
                    started,
                );
                return response;
            }
        };
        let Next::ConfirmSource(index) = grant.next else {
            unreachable!("an ingress request is never told to {:?}", grant.next)
        };
        if source_matches(&state.resolver, &rules[index].source, peer.ip()).await {
            break grant;
        }
        from = index + 1;
    };
    let resource = grant.subject.resource;
    let rule = grant.rules.join("; ");
    match forward(state, &sandbox, peer, request, &inner.origin_form()).await {
        Ok(response) => {
            record(
                state,
                &sandbox,
                resource,
                Outcome::Allow,
                rule,
                format!("from {}", peer.ip()),
                started,
            );
            response
        }
        Err(reason) => {
            record(
                state,
                &sandbox,
                resource,
                Outcome::Deny,
                rule.clone(),
                reason.clone(),
                started,
            );
            denied(
                StatusCode::BAD_GATEWAY,
                "sandbox_unreachable",
                &reason,
                &rule,
            )
        }
    }
}

fn record(
    state: &EngineState,
    sandbox: &Sandbox,
    resource: String,
    outcome: Outcome,
    rule: String,
    reason: String,
    started: Instant,
) {
    state.metrics.decision("ingress", outcome == Outcome::Allow);
    state.audit.record(Decision {
        sandbox,
        action: "ingress.http".to_owned(),
        resource,
        outcome,
        rules: vec![rule],
        reason,
        latency: started.elapsed(),
        classification: None,
        payload: None,
    });
}

async fn forward(
    state: &EngineState,
    sandbox: &Sandbox,
    peer: SocketAddr,
    request: Request<Incoming>,
    inner: &str,
) -> Result<Response<ProxyBody>, String> {
    let target = SocketAddr::new(
        IpAddr::V4(sandbox.record.sandbox_ip),
        state.config.ingress.sandbox_port,
    );
    let socket = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))
        .and_then(|socket| {
            socket.set_mark(INGRESS_MARK)?;
            socket.set_nonblocking(true)?;
            Ok(socket)
        })
        .map_err(|e| e.to_string())?;
    let connect = TcpSocket::from_std_stream(socket.into()).connect(target);
    let timeout = Duration::from_millis(state.config.upstream.connect_timeout_ms);
    let stream = tokio::time::timeout(timeout, connect)
        .await
        .map_err(|_| format!("{target} did not answer"))?
        .map_err(|e| format!("{target}: {e}"))?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(connection);
    let (mut parts, body) = request.into_parts();
    parts.uri = Uri::try_from(inner).map_err(|e| e.to_string())?;
    parts.headers.remove(HOST);
    if let Ok(value) = HeaderValue::from_str(&target.to_string()) {
        parts.headers.insert(HOST, value);
    }
    if let Ok(value) = HeaderValue::from_str(&peer.ip().to_string()) {
        parts.headers.insert("x-forwarded-for", value);
    }
    let response = sender
        .send_request(Request::from_parts(parts, body))
        .await
        .map_err(|e| e.to_string())?;
    Ok(response.map(|body| body.boxed()))
}
