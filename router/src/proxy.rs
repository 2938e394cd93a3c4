//! The OpenAI-compatible front: `POST /v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `GET /v1/models`, `GET /healthz`.
//!
//! Per request: identify the caller ([`crate::identity`]) → read the body under the size limit
//! and timeout → parse it → classify its content ([`crate::classification`]) → plan the route
//! ([`crate::policy`]) → send it to the first allowed endpoint that is up, moving on to the next
//! allowed one when a connection cannot be made → stream the response back frame by frame,
//! unchanged → audit the decision.
//!
//! What goes upstream is the JSON the router parsed and classified, serialized again — so the
//! endpoint sees exactly what was classified (duplicate keys or other parser differences cannot
//! smuggle unclassified text through) — with the endpoint's `model` when it names one. Request
//! headers: the caller's `Authorization` is removed, the endpoint's credential injected, and
//! only [`FORWARDED_REQUEST_HEADERS`](crate::openai::FORWARDED_REQUEST_HEADERS) (plus `forward_headers`) pass. Response headers: only
//! [`FORWARDED_RESPONSE_HEADERS`](crate::openai::FORWARDED_RESPONSE_HEADERS) and `x-ratelimit-*`, plus `x-openshell-endpoint`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::Bytes;
use serde_json::Value;

use crate::audit::{Decision, Verdict, event};
use crate::classification::{Classified, Origin};
use crate::content::extract;
use crate::error::{OpenAiError, Unroutable};
use crate::metrics::{DecisionLabels, RequestLabels, UpstreamLabels};
use crate::openai::{
    Api, ENDPOINT_HEADER, FORWARDED_REQUEST_HEADERS, FORWARDED_RESPONSE_HEADERS, NEVER_FORWARDED,
    Peer,
};
use crate::policy::Plan;
use crate::registry::Caller;
use crate::service::{Generation, PrivacyRouter};
use crate::upstream::UpstreamError;

/// Every route of the front, as `(method, path)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/v1/models"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/completions"),
    ("post", "/v1/embeddings"),
];

/// The front's routes.
pub fn front(router: Arc<PrivacyRouter>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/models", get(models))
        .route("/v1/chat/completions", post(chat_completions))
        .route("/v1/completions", post(completions))
        .route("/v1/embeddings", post(embeddings))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            Arc::clone(&router),
            count_requests,
        ))
        .with_state(router)
}

/// Counts requests by matched route and status.
pub async fn count_requests(
    State(router): State<Arc<PrivacyRouter>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    router
        .metrics()
        .requests
        .get_or_create(&RequestLabels {
            route,
            status: response.status().as_u16(),
        })
        .inc();
    response
}

async fn healthz() -> Response {
    axum::Json(serde_json::json!({"status": "ok"})).into_response()
}

async fn not_found() -> Response {
    OpenAiError::new(StatusCode::NOT_FOUND, "not_found", "no such route").into_response()
}

async fn chat_completions(
    State(router): State<Arc<PrivacyRouter>>,
    peer: axum::Extension<Peer>,
    request: Request,
) -> Response {
    forward(&router, Api::ChatCompletions, peer.0, request).await
}

async fn completions(
    State(router): State<Arc<PrivacyRouter>>,
    peer: axum::Extension<Peer>,
    request: Request,
) -> Response {
    forward(&router, Api::Completions, peer.0, request).await
}

async fn embeddings(
    State(router): State<Arc<PrivacyRouter>>,
    peer: axum::Extension<Peer>,
    request: Request,
) -> Response {
    forward(&router, Api::Embeddings, peer.0, request).await
}

/// `GET /v1/models`: the models the caller's policy can reach — each endpoint's configured
/// model, or its name — answered by the router itself (it carries no content to route).
async fn models(
    State(router): State<Arc<PrivacyRouter>>,
    peer: axum::Extension<Peer>,
    headers: HeaderMap,
) -> Response {
    let caller = match router
        .identify(peer.0.0.ip(), authorization(&headers))
        .await
    {
        Ok(caller) => caller,
        Err(e) => return e.into_response(),
    };
    let routing = match &caller.routing {
        Ok(routing) => routing,
        Err(why) => return policy_unusable(&caller, why).into_response(),
    };
    let mut data: Vec<Value> = Vec::new();
    for upstream in routing.endpoints() {
        let id = upstream
            .spec
            .model
            .clone()
            .unwrap_or_else(|| upstream.spec.name.clone());
        if !data.iter().any(|m| m["id"] == id.as_str()) {
            data.push(serde_json::json!({
                "id": id,
                "object": "model",
                "created": 0,
                "owned_by": format!("openshell-router:{}", upstream.spec.name),
            }));
        }
    }
    axum::Json(serde_json::json!({"object": "list", "data": data})).into_response()
}

fn authorization(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
}

fn policy_unusable(caller: &Caller, why: &Unroutable) -> OpenAiError {
    OpenAiError::new(
        StatusCode::FORBIDDEN,
        "policy_unusable",
        format!(
            "the policy of container {} cannot be used for routing: {why}",
            caller.container_id
        ),
    )
}

/// Routes one request. Public so benchmarks and other transports can drive it.
pub async fn forward(
    router: &Arc<PrivacyRouter>,
    api: Api,
    peer: Peer,
    request: Request,
) -> Response {
    let generation = router.generation();
    let (parts, body) = request.into_parts();
    let caller = match router
        .identify(peer.0.ip(), authorization(&parts.headers))
        .await
    {
        Ok(caller) => caller,
        Err(e) => {
            router.record(
                None,
                event(&Decision {
                    caller: None,
                    api,
                    classified: None,
                    verdict: Verdict::Denied,
                    rules: vec!["identity".to_owned()],
                    reason: e.0.message.clone(),
                    latency_us: 0,
                }),
            );
            count_decision(router, None, &Verdict::Denied);
            return e.into_response();
        }
    };
    let bytes = match read_body(body, &parts.headers, &generation).await {
        Ok(bytes) => bytes,
        Err(e) => return e.into_response(),
    };
    let started = Instant::now();
    let json: Value = match serde_json::from_slice(&bytes) {
        Ok(json @ Value::Object(_)) => json,
        Ok(_) => {
            return OpenAiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_body",
                "the request body must be a JSON object",
            )
            .into_response();
        }
        Err(e) => {
            return OpenAiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_request_body",
                format!("the request body is not valid JSON: {e}"),
            )
            .into_response();
        }
    };
    drop(bytes);
    let (classified, origin) = generation.classifier.classify(extract(&json)).await;
    let routing = match &caller.routing {
        Ok(routing) => Arc::clone(routing),
        Err(why) => {
            let e = policy_unusable(&caller, why);
            let decision = Decision {
                caller: Some(&caller),
                api,
                classified: Some((&classified, origin)),
                verdict: Verdict::Denied,
                rules: vec!["policy".to_owned()],
                reason: e.0.message.clone(),
                latency_us: micros(started),
            };
            audit(router, &caller, &decision);
            return e.into_response();
        }
    };
    let plan = routing.plan(caller.region.as_deref(), &classified);
    let request = Outgoing {
        api,
        headers: &parts.headers,
        caller_model: json.get("model").cloned(),
        json,
        generation: &generation,
    };
    dispatch(router, &caller, &classified, origin, plan, request, started).await
}

/// What is sent upstream, per attempt.
struct Outgoing<'a> {
    api: Api,
    headers: &'a HeaderMap,
    /// The model the caller asked for, restored for endpoints that name none.
    caller_model: Option<Value>,
    json: Value,
    generation: &'a Generation,
}

impl Outgoing<'_> {
    fn build(
        &mut self,
        upstream: &crate::upstream::Upstream,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        if let Value::Object(map) = &mut self.json {
            match (&upstream.spec.model, &self.caller_model) {
                (Some(model), _) => {
                    map.insert("model".to_owned(), Value::String(model.clone()));
                }
                (None, Some(model)) => {
                    map.insert("model".to_owned(), model.clone());
                }
                (None, None) => {
                    map.remove("model");
                }
            }
        }
        let body = serde_json::to_vec(&self.json).map_err(|e| e.to_string())?;
        let target = upstream
            .target(self.api.path())
            .map_err(|e| e.to_string())?;
        let mut request =
            hyper::Request::post(target).header(header::CONTENT_TYPE, "application/json");
        let extra = &self.generation.config.forward_headers;
        for (name, value) in self.headers {
            let forwarded = FORWARDED_REQUEST_HEADERS.contains(&name.as_str())
                || extra.iter().any(|h| name.as_str().eq_ignore_ascii_case(h));
            if forwarded && !NEVER_FORWARDED.contains(&name.as_str()) {
                request = request.header(name, value);
            }
        }
        if let Some(credential) = &upstream.spec.credential {
            request = request.header(header::AUTHORIZATION, credential.header_value());
        }
        request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| e.to_string())
    }
}

async fn dispatch(
    router: &Arc<PrivacyRouter>,
    caller: &Caller,
    classified: &Classified,
    origin: Origin,
    plan: Plan,
    mut outgoing: Outgoing<'_>,
    started: Instant,
) -> Response {
    let level = classified.sensitivity;
    let mut rules = plan.residency.clone();
    let mut notes: Vec<String> = plan.excluded.clone();
    if plan.candidates.is_empty() {
        let message = format!(
            "{level} data{} from container {}{} has no compliant endpoint: {}",
            match classified.data_type_names() {
                names if names.is_empty() => String::new(),
                names => format!(" ({})", names.join(", ")),
            },
            caller.container_id,
            caller
                .region
                .as_deref()
                .map(|r| format!(" in region {r}"))
                .unwrap_or_default(),
            notes.join("; ")
        );
        let decision = Decision {
            caller: Some(caller),
            api: outgoing.api,
            classified: Some((classified, origin)),
            verdict: Verdict::Denied,
            rules,
            reason: notes.join("; "),
            latency_us: micros(started),
        };
        audit(router, caller, &decision);
        return OpenAiError::new(StatusCode::FORBIDDEN, "no_compliant_endpoint", message)
            .into_response();
    }
    let generation = outgoing.generation;
    let health = &generation.config.health;
    let timeout = generation.config.limits.response_timeout();
    let mut added_us = None;
    let count = plan.candidates.len();
    for (index, candidate) in plan.candidates.iter().enumerate() {
        let upstream = &candidate.upstream;
        let name = upstream.spec.name.clone();
        if !upstream.health.available() {
            let view = upstream.health.view();
            notes.push(format!(
                "{name}: down ({})",
                view.last_error.unwrap_or_default()
            ));
            continue;
        }
        let request = match outgoing.build(upstream) {
            Ok(request) => request,
            Err(e) => {
                notes.push(format!("{name}: {e}"));
                continue;
            }
        };
        if added_us.is_none() {
            let added = started.elapsed();
            router.metrics().added_seconds.observe(added.as_secs_f64());
            added_us = Some(added.as_micros() as u64);
        }
        match upstream.send(request, timeout).await {
            Ok(response) => {
                upstream.health.succeeded();
                rules.insert(0, candidate.rule.clone());
                notes.push(format!("{name} answered {}", response.status().as_u16()));
                let verdict = Verdict::Routed(name.clone());
                let decision = Decision {
                    caller: Some(caller),
                    api: outgoing.api,
                    classified: Some((classified, origin)),
                    verdict,
                    rules,
                    reason: notes.join("; "),
                    latency_us: added_us.unwrap_or_default(),
                };
                audit(router, caller, &decision);
                return stream_back(response, &name);
            }
            Err(e) => {
                upstream.health.failed(e.to_string(), health);
                router
                    .metrics()
                    .upstream_errors
                    .get_or_create(&UpstreamLabels {
                        endpoint: name.clone(),
                        kind: match e {
                            UpstreamError::Connect(_) => "connect",
                            UpstreamError::Timeout(_) => "timeout",
                            UpstreamError::Exchange(_) => "exchange",
                        }
                        .to_owned(),
                    })
                    .inc();
                notes.push(format!("{name}: {e}"));
                if let UpstreamError::Connect(_) = e {
                    if index + 1 < count {
                        router.metrics().failovers.inc();
                    }
                    continue;
                }
                rules.insert(0, candidate.rule.clone());
                let decision = Decision {
                    caller: Some(caller),
                    api: outgoing.api,
                    classified: Some((classified, origin)),
                    verdict: Verdict::Failed(name.clone()),
                    rules,
                    reason: notes.join("; "),
                    latency_us: added_us.unwrap_or_default(),
                };
                audit(router, caller, &decision);
                let (status, code) = match e {
                    UpstreamError::Timeout(_) => (StatusCode::GATEWAY_TIMEOUT, "upstream_timeout"),
                    _ => (StatusCode::BAD_GATEWAY, "upstream_failed"),
                };
                return OpenAiError::new(status, code, format!("endpoint {name}: {e}"))
                    .into_response();
            }
        }
    }
    let allowed: Vec<&str> = plan
        .candidates
        .iter()
        .map(|c| c.upstream.spec.name.as_str())
        .collect();
    let decision = Decision {
        caller: Some(caller),
        api: outgoing.api,
        classified: Some((classified, origin)),
        verdict: Verdict::Unavailable,
        rules,
        reason: notes.join("; "),
        latency_us: added_us.unwrap_or_else(|| micros(started)),
    };
    audit(router, caller, &decision);
    OpenAiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_endpoint_available",
        format!(
            "no endpoint allowed for {level} data is reachable (allowed: {}): {}",
            allowed.join(", "),
            notes.join("; ")
        ),
    )
    .into_response()
}

fn audit(router: &PrivacyRouter, caller: &Caller, decision: &Decision<'_>) {
    count_decision(
        router,
        decision.classified.map(|(c, _)| c),
        &decision.verdict,
    );
    router.record(caller.audit_destination.as_deref(), event(decision));
}

fn count_decision(router: &PrivacyRouter, classified: Option<&Classified>, verdict: &Verdict) {
    router
        .metrics()
        .decisions
        .get_or_create(&DecisionLabels {
            sensitivity: classified
                .map_or("unknown", |c| c.sensitivity.as_str())
                .to_owned(),
            endpoint: verdict.endpoint().unwrap_or("none").to_owned(),
            outcome: verdict.outcome().to_owned(),
        })
        .inc();
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

/// The endpoint's response, its body passed through frame by frame.
fn stream_back(response: hyper::Response<hyper::body::Incoming>, endpoint: &str) -> Response {
    let (parts, body) = response.into_parts();
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = parts.status;
    for (name, value) in &parts.headers {
        let name_str = name.as_str();
        if FORWARDED_RESPONSE_HEADERS.contains(&name_str) || name_str.starts_with("x-ratelimit-") {
            out.headers_mut().append(name.clone(), value.clone());
        }
    }
    if let Ok(value) = HeaderValue::from_str(endpoint) {
        out.headers_mut()
            .insert(HeaderName::from_static(ENDPOINT_HEADER), value);
    }
    out
}

/// Reads a JSON request body under the size limit (413) and the body timeout (408).
async fn read_body(
    body: Body,
    headers: &HeaderMap,
    generation: &Generation,
) -> Result<Bytes, OpenAiError> {
    let limits = &generation.config.limits;
    if !openshell_service_http::is_json(headers) {
        return Err(OpenAiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "expected Content-Type: application/json",
        ));
    }
    let too_large = || {
        OpenAiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("the request body exceeds {} bytes", limits.max_body_bytes),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_body_bytes as u64) {
        return Err(too_large());
    }
    let limited = Limited::new(body, limits.max_body_bytes);
    match tokio::time::timeout(limits.body_timeout(), limited.collect()).await {
        Err(_) => Err(OpenAiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!(
                "the request body was not received within {:?}",
                limits.body_timeout()
            ),
        )),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => Err(too_large()),
        Ok(Err(e)) => Err(OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_request_body",
            format!("cannot read the request body: {e}"),
        )),
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
    }
}
