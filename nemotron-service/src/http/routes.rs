//! The API's routes (documented in `openapi.yaml`).

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use chrono::{DateTime, Utc};
use openshell_audit::TrailQuery;
use openshell_policy::wire::{
    ActionRequest, AdmissionRequest, AuditEvent, ContainerRegistration, Decision, EvaluateRequest,
    IntentClassification, Outcome,
};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::metrics::{DecisionLabels, EngineLabels, RouteLabels};
use super::{ApiError, StrictJson};
use crate::service::{NlCompilation, PolicyService, ServiceError};

/// Every route, as `(method, path)`: what `openapi.yaml` documents.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("post", "/v1/classify"),
    ("post", "/v1/evaluate"),
    ("post", "/v1/admission"),
    ("post", "/v1/sandboxes"),
    ("delete", "/v1/sandboxes/{id}"),
    ("post", "/v1/nl/compile"),
    ("put", "/v1/containers/{id}"),
    ("get", "/v1/containers/{id}"),
    ("delete", "/v1/containers/{id}"),
    ("get", "/v1/audit/{id}"),
];

/// The router over `state`.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/classify", post(classify))
        .route("/v1/evaluate", post(evaluate))
        .route("/v1/admission", post(admission))
        .route("/v1/sandboxes", post(start_sandbox))
        .route("/v1/sandboxes/{id}", delete(stop_sandbox))
        .route("/v1/nl/compile", post(compile_nl))
        .route(
            "/v1/containers/{id}",
            put(register).get(registration).delete(unregister),
        )
        .route("/v1/audit/{id}", get(audit))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

async fn count_requests(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    let labels = RouteLabels {
        route,
        status: response.status().as_u16(),
    };
    state.metrics.requests.get_or_create(&labels).inc();
    state
        .metrics
        .request_seconds
        .get_or_create(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such route")
}

fn service_error(e: ServiceError) -> ApiError {
    let status = match &e {
        ServiceError::UnknownContainer(_) => StatusCode::NOT_FOUND,
        ServiceError::BadRequest(_) => StatusCode::BAD_REQUEST,
        ServiceError::TooLate(_) => StatusCode::SERVICE_UNAVAILABLE,
        ServiceError::Policy(_) | ServiceError::NaturalLanguage(_) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        ServiceError::Audit(_) | ServiceError::Registry { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        #[cfg(feature = "embeddings")]
        ServiceError::Embeddings(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

/// Runs blocking service work (the model backend) off the async threads.
async fn blocking<T: Send + 'static>(
    service: &Arc<PolicyService>,
    work: impl FnOnce(&PolicyService) -> T + Send + 'static,
) -> Result<T, ApiError> {
    let service = Arc::clone(service);
    tokio::task::spawn_blocking(move || work(&service))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("worker failed: {e}"),
            )
        })
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    registered_containers: usize,
}

async fn healthz(State(state): State<AppState>) -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        registered_containers: state.service.registered_count(),
    })
}

async fn metrics(State(state): State<AppState>) -> Response {
    state
        .metrics
        .registered
        .set(state.service.registered_count() as i64);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

fn count_classification(state: &AppState, c: &IntentClassification) {
    let engine = if c.fallback.is_some() {
        "fallback".to_owned()
    } else {
        c.engine.clone()
    };
    state
        .metrics
        .classifications
        .get_or_create(&EngineLabels { engine })
        .inc();
}

fn count_decision(state: &AppState, kind: &str, d: &Decision) {
    let outcome = match d.outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Escalate => "escalate",
    };
    let labels = DecisionLabels {
        kind: kind.to_owned(),
        outcome: outcome.to_owned(),
    };
    state.metrics.decisions.get_or_create(&labels).inc();
    state
        .metrics
        .decision_seconds
        .get_or_create(&labels)
        .observe(d.latency_us as f64 / 1e6);
}

async fn classify(
    State(state): State<AppState>,
    StrictJson(action): StrictJson<ActionRequest>,
) -> Result<axum::Json<IntentClassification>, ApiError> {
    let c = match state.service.classify_quick(&action) {
        Some(c) => c,
        None => blocking(&state.service, move |s| s.classify(&action, None)).await?,
    };
    count_classification(&state, &c);
    Ok(axum::Json(c))
}

async fn evaluate(
    State(state): State<AppState>,
    StrictJson(request): StrictJson<EvaluateRequest>,
) -> Result<axum::Json<Decision>, ApiError> {
    let started = Instant::now();
    let facts = state.service.facts(&request.action);
    let decision = match state.service.classify_quick_with(&request.action, &facts) {
        Some(c) => {
            count_classification(&state, &c);
            state
                .service
                .evaluate_classified(&request, &facts, c, started)
        }
        None => blocking(&state.service, move |s| s.evaluate(&request)).await?,
    }
    .map_err(service_error)?;
    count_decision(&state, "action", &decision);
    Ok(axum::Json(decision))
}

async fn admission(
    State(state): State<AppState>,
    StrictJson(request): StrictJson<AdmissionRequest>,
) -> axum::Json<Decision> {
    let decision = state.service.admit(&request);
    count_decision(&state, "admission", &decision);
    axum::Json(decision)
}

/// Body of `POST /v1/sandboxes`: what the runtime hands its `createRuntime` hook (the OCI
/// state) and the container's compiled policy record.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SandboxStart {
    state: oci_spec::runtime::State,
    policy: openshell_policy::CompiledPolicy,
    /// When the hook gives up (milliseconds since the Unix epoch): a start not done by then is
    /// undone.
    #[serde(default)]
    deadline_ms: Option<u64>,
}

/// `createRuntime` for the thin hook: 201 and the decision when admitted (the container is then
/// recorded and registered), 403 naming the reasons when denied.
async fn start_sandbox(
    State(state): State<AppState>,
    StrictJson(body): StrictJson<SandboxStart>,
) -> Result<(StatusCode, axum::Json<Decision>), ApiError> {
    let id = body.state.id().clone();
    let decision = state
        .service
        .start_sandbox(
            &body.state,
            body.policy,
            body.deadline_ms
                .map(|ms| std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
        )
        .map_err(service_error)?;
    count_decision(&state, "admission", &decision);
    if decision.is_allowed() {
        return Ok((StatusCode::CREATED, axum::Json(decision)));
    }
    let policies = if decision.policies.is_empty() {
        "none".to_owned()
    } else {
        decision.policies.join(", ")
    };
    Err(ApiError::new(
        StatusCode::FORBIDDEN,
        format!(
            "admission denied for container {id}: {} (policies: {policies})",
            decision.reasons.join("; ")
        ),
    ))
}

/// `poststop` for the thin hook: the record removed, the container unregistered; 204 whether
/// or not it was there.
async fn stop_sandbox(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.service.stop_sandbox(&id).map_err(service_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of `POST /v1/nl/compile`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct CompileNl {
    text: String,
    #[serde(default)]
    compiler: Option<String>,
}

async fn compile_nl(
    State(state): State<AppState>,
    StrictJson(body): StrictJson<CompileNl>,
) -> Result<axum::Json<NlCompilation>, ApiError> {
    let wants_model = body.compiler.as_deref() == Some("model");
    let result = if wants_model {
        blocking(&state.service, move |s| {
            s.compile_nl(&body.text, body.compiler.as_deref())
        })
        .await?
    } else {
        state
            .service
            .compile_nl(&body.text, body.compiler.as_deref())
    };
    result.map(axum::Json).map_err(service_error)
}

#[derive(Serialize)]
struct Registered {
    container_id: String,
    policies: Vec<String>,
}

async fn register(
    State(state): State<AppState>,
    Path(id): Path<String>,
    StrictJson(registration): StrictJson<ContainerRegistration>,
) -> Result<(StatusCode, axum::Json<Registered>), ApiError> {
    if registration.container_id != id {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "path names container {id:?} but the body {:?}",
                registration.container_id
            ),
        ));
    }
    let policies = state
        .service
        .register(registration)
        .map_err(service_error)?;
    Ok((
        StatusCode::CREATED,
        axum::Json(Registered {
            container_id: id,
            policies,
        }),
    ))
}

async fn registration(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ContainerRegistration>, ApiError> {
    state
        .service
        .registration(&id)
        .map(axum::Json)
        .ok_or_else(|| service_error(ServiceError::UnknownContainer(id)))
}

async fn unregister(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    if state.service.unregister(&id) {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(service_error(ServiceError::UnknownContainer(id)))
    }
}

/// Query of `GET /v1/audit/{id}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditParams {
    #[serde(default)]
    limit: Option<usize>,
    #[serde(default)]
    since: Option<DateTime<Utc>>,
}

#[derive(Serialize)]
struct AuditTrail {
    container_id: String,
    events: Vec<AuditEvent>,
    malformed_lines: Vec<usize>,
}

async fn audit(
    State(state): State<AppState>,
    Path(id): Path<String>,
    Query(params): Query<AuditParams>,
) -> Result<axum::Json<AuditTrail>, ApiError> {
    let query = TrailQuery {
        container_id: None,
        since: params.since,
        limit: params.limit,
    };
    let service = Arc::clone(&state.service);
    let lookup = id.clone();
    let trail = tokio::task::spawn_blocking(move || service.trail(&lookup, query))
        .await
        .map_err(|e| {
            ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("worker failed: {e}"),
            )
        })?
        .map_err(service_error)?;
    Ok(axum::Json(AuditTrail {
        container_id: id,
        events: trail.events,
        malformed_lines: trail.malformed_lines,
    }))
}
