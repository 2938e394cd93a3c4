//! The OpenAI-compatible front: `POST /v1/chat/completions`, `/v1/completions`,
//! `/v1/embeddings`, `GET /v1/models`, `GET /healthz`.
//!
//! Per request: identify the caller ([`crate::identity`]) → read the body under the size limit
//! and timeout → parse it → classify its content ([`crate::classification`]) → redact it when
//! the policy says so ([`crate::redaction`]) → plan the route ([`crate::policy`]) → rank the
//! allowed endpoints ([`crate::selection`]) and send it to the best one that is up, moving on to
//! the next allowed one when a connection cannot be made → stream the response back frame by
//! frame, unchanged — or, for a redacted request, with the values restored
//! ([`crate::restore`]) → audit the decision.
//!
//! What goes upstream is the JSON the router parsed and classified, serialized again — so the
//! endpoint sees exactly what was classified (duplicate keys or other parser differences cannot
//! smuggle unclassified text through) — with the endpoint's `model` when it names one. Request
//! headers: the caller's `Authorization` is removed, the endpoint's credential injected, and
//! only [`FORWARDED_REQUEST_HEADERS`] (plus `forward_headers`) pass. Response headers: only
//! [`FORWARDED_RESPONSE_HEADERS`] and `x-ratelimit-*`, plus `x-openshell-endpoint`.

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
use crate::metrics::{DecisionLabels, RedactionLabels, RequestLabels, UpstreamLabels};
use crate::openai::{
    Api, ENDPOINT_HEADER, FORWARDED_REQUEST_HEADERS, FORWARDED_RESPONSE_HEADERS, NEVER_FORWARDED,
    Peer,
};
use crate::policy::{Candidate, Plan, Redacting, RedactionRule};
use crate::redaction::{Placeholders, Redacted, redact};
use crate::registry::Caller;
use crate::restore::{RestoringBody, restore_json};
use crate::selection::{Input, rank};
use crate::service::{Generation, PrivacyRouter};
use crate::upstream::{Upstream, UpstreamError};

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
    let redaction_rule = routing.redaction();
    let redaction = match redaction_rule {
        Some(rule) => redact_request(&generation, rule, &json, &classified).await,
        None => None,
    };
    let redacting = redaction.as_ref().map(|r| match r {
        Redaction::Applied { classified, .. } => Redacting::Redacted(classified),
        Redaction::Incomplete(why) => Redacting::Incomplete(why),
    });
    let plan = routing.plan(caller.region.as_deref(), &classified, redacting);
    let (redacted, note) = match (redaction, redaction_rule) {
        (
            Some(Redaction::Applied {
                redacted,
                classified: residual,
            }),
            Some(rule),
        ) => {
            let note = format!(
                "redacted for {}: {} ({} after redaction)",
                rule.scope(),
                redacted.summary(),
                residual.sensitivity
            );
            (Some(redacted), Some(note))
        }
        (Some(Redaction::Incomplete(why)), _) => {
            (None, Some(format!("redaction incomplete: {why}")))
        }
        _ => (None, None),
    };
    let request = Outgoing {
        api,
        headers: &parts.headers,
        caller_model: json.get("model").cloned(),
        json,
        redacted: redacted.map(|r| OutgoingRedaction {
            body: r.body,
            placeholders: Arc::new(r.placeholders),
            counts: r.counts,
        }),
        generation: &generation,
    };
    let context = Context {
        caller: &caller,
        classified: &classified,
        origin,
        preference: routing.preference(),
        redaction_note: note,
    };
    dispatch(router, context, plan, request, started).await
}

/// What redaction made of a request.
enum Redaction {
    /// Redacted, and the redacted form's classification.
    Applied {
        redacted: Redacted,
        classified: Arc<Classified>,
    },
    /// Redaction cannot be trusted: why.
    Incomplete(String),
}

/// Redacts a request holding data `rule` covers, and classifies what is left. `None`: nothing
/// to redact.
async fn redact_request(
    generation: &Generation,
    rule: RedactionRule,
    json: &Value,
    classified: &Classified,
) -> Option<Redaction> {
    if let Some(why) = &classified.fail_closed {
        return Some(Redaction::Incomplete(format!(
            "the content was not scanned ({why})"
        )));
    }
    if !classified.data_types.intersects(rule.covered) {
        return None;
    }
    let text = extract(json).text;
    let limits = &generation.config.limits;
    let scanner = openshell_classifier::Scanner::global();
    let redacted = if text.len() <= limits.inline_scan_bytes {
        redact(json, rule.covered, scanner, &text)
    } else {
        let json = json.clone();
        let scan = tokio::task::spawn_blocking(move || redact(&json, rule.covered, scanner, &text));
        match tokio::time::timeout(limits.classify_timeout(), scan).await {
            Ok(Ok(redacted)) => redacted,
            Ok(Err(_)) => return Some(Redaction::Incomplete("the redaction failed".to_owned())),
            Err(_) => {
                return Some(Redaction::Incomplete(format!(
                    "the redaction did not finish within {:?}",
                    limits.classify_timeout()
                )));
            }
        }
    };
    let (residual, _) = generation
        .classifier
        .classify(extract(&redacted.body))
        .await;
    if let Some(why) = &residual.fail_closed {
        return Some(Redaction::Incomplete(format!(
            "the redacted content was not classified ({why})"
        )));
    }
    let left = residual
        .data_types
        .iter()
        .filter(|t| rule.covered.contains(*t));
    let left: Vec<&str> = left.map(|t| t.policy_name()).collect();
    if !left.is_empty() {
        return Some(Redaction::Incomplete(format!(
            "{} still found after redaction",
            left.join(", ")
        )));
    }
    Some(Redaction::Applied {
        redacted,
        classified: residual,
    })
}

/// The request's facts that the decision is audited with.
struct Context<'a> {
    caller: &'a Caller,
    classified: &'a Classified,
    origin: Origin,
    preference: openshell_policy::Preference,
    /// What redaction did, for the audit (names and counts only).
    redaction_note: Option<String>,
}

/// What is sent upstream, per attempt.
struct Outgoing<'a> {
    api: Api,
    headers: &'a HeaderMap,
    /// The model the caller asked for, restored for endpoints that name none.
    caller_model: Option<Value>,
    json: Value,
    /// The redacted form, for the endpoints redaction covers.
    redacted: Option<OutgoingRedaction>,
    generation: &'a Generation,
}

/// A redacted request body and how to restore its answer.
struct OutgoingRedaction {
    body: Value,
    placeholders: Arc<Placeholders>,
    counts: Vec<(openshell_classifier::Detector, usize)>,
}

impl Outgoing<'_> {
    fn build(
        &mut self,
        upstream: &Upstream,
        redacted: bool,
    ) -> Result<hyper::Request<Full<Bytes>>, String> {
        let json = match (&mut self.redacted, redacted) {
            (Some(redaction), true) => &mut redaction.body,
            (None, true) => return Err("no redacted form of the request".to_owned()),
            (_, false) => &mut self.json,
        };
        if let Value::Object(map) = json {
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
        let body = serde_json::to_vec(json).map_err(|e| e.to_string())?;
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
    context: Context<'_>,
    plan: Plan,
    mut outgoing: Outgoing<'_>,
    started: Instant,
) -> Response {
    let Context {
        caller,
        classified,
        origin,
        ..
    } = context;
    let level = classified.sensitivity;
    let mut rules = plan.residency.clone();
    let mut notes: Vec<String> = plan.excluded.clone();
    if let Some(note) = &context.redaction_note {
        notes.insert(0, note.clone());
    }
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
    let (order, explanation) = order(context.preference, &plan.candidates);
    if let Some(explanation) = explanation {
        notes.push(explanation);
    }
    let generation = outgoing.generation;
    let health = &generation.config.health;
    let timeout = generation.config.limits.response_timeout();
    let mut added_us = None;
    let count = order.len();
    for (attempt, &index) in order.iter().enumerate() {
        let candidate = &plan.candidates[index];
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
        let request = match outgoing.build(upstream, candidate.redacted) {
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
        let sent = Instant::now();
        let outcome = upstream.send(request, timeout).await;
        let delivered = !matches!(outcome, Err(UpstreamError::Connect(_)));
        if delivered {
            let failed = outcome
                .as_ref()
                .map_or(true, |response| response.status().is_server_error());
            upstream.observed.record(sent.elapsed(), failed);
        }
        let placeholders = match (&outgoing.redacted, candidate.redacted && delivered) {
            (Some(redaction), true) => {
                count_redactions(router, &redaction.counts);
                rules.push("redaction".to_owned());
                notes.insert(0, format!("{name} received the redacted request"));
                Some(Arc::clone(&redaction.placeholders))
            }
            _ => None,
        };
        match outcome {
            Ok(response) => {
                upstream.health.succeeded();
                rules.insert(0, candidate.rule.clone());
                notes.push(format!("{name} answered {}", response.status().as_u16()));
                let (verdict, out) = match answer(response, &name, placeholders).await {
                    Ok(out) => (Verdict::Routed(name.clone()), out),
                    Err(e) => {
                        notes.push(format!("{name}: {e}"));
                        let error = OpenAiError::new(
                            StatusCode::BAD_GATEWAY,
                            "upstream_failed",
                            format!("endpoint {name}: {e}"),
                        );
                        (Verdict::Failed(name.clone()), error.into_response())
                    }
                };
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
                return out;
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
                    if attempt + 1 < count {
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

/// The order to try the candidates in: the route's candidates that are up ranked by
/// [`rank`], then the rest (down, or from the fallback) in plan order; and the ranking's
/// explanation when it chose between two or more.
fn order(
    preference: openshell_policy::Preference,
    candidates: &[Candidate],
) -> (Vec<usize>, Option<String>) {
    let (ranked, rest): (Vec<usize>, Vec<usize>) = (0..candidates.len())
        .partition(|&i| candidates[i].routed && candidates[i].upstream.health.available());
    if ranked.len() < 2 {
        return (ranked.into_iter().chain(rest).collect(), None);
    }
    let inputs: Vec<Input> = ranked
        .iter()
        .map(|&i| Input {
            name: candidates[i].upstream.spec.name.clone(),
            observation: candidates[i].upstream.observed.view(),
            cost: candidates[i].cost,
        })
        .collect();
    let ranking = rank(preference, &inputs);
    let order = ranking
        .order
        .iter()
        .map(|&r| ranked[r])
        .chain(rest)
        .collect();
    (order, Some(ranking.explanation))
}

fn count_redactions(router: &PrivacyRouter, counts: &[(openshell_classifier::Detector, usize)]) {
    for (detector, n) in counts {
        router
            .metrics()
            .redactions
            .get_or_create(&RedactionLabels {
                detector: detector.name().to_owned(),
            })
            .inc_by(*n as u64);
    }
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

/// The endpoint's response: its body passed through frame by frame, or — for a redacted
/// request — with the placeholders restored (a JSON body whole, with its new length; events as
/// they come).
async fn answer(
    response: hyper::Response<hyper::body::Incoming>,
    endpoint: &str,
    placeholders: Option<Arc<Placeholders>>,
) -> Result<Response, String> {
    let (parts, body) = response.into_parts();
    let media = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        });
    let body = match (placeholders, media.as_deref()) {
        (Some(placeholders), Some("text/event-stream")) => {
            Body::new(RestoringBody::new(body, placeholders))
        }
        (Some(placeholders), Some(media))
            if media == "application/json" || media.ends_with("+json") =>
        {
            let whole = body
                .collect()
                .await
                .map_err(|e| format!("reading the answer failed: {e}"))?
                .to_bytes();
            Body::from(restore_json(&whole, &placeholders))
        }
        _ => Body::new(body),
    };
    let mut out = Response::new(body);
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
    Ok(out)
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
