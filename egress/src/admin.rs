//! The admin API, HTTP/JSON over the engine's unix socket (mode 0600).
//!
//! | method and path | body | answer |
//! |---|---|---|
//! | `GET /healthz` | | 200 `ok`; 503 when the node's nftables table is missing |
//! | `GET /metrics` | | Prometheus text |
//! | `GET /v1/network` | | [`NetworkInfo`]: gateway, ports, proxy URL, CA certificate path |
//! | `POST /v1/sandboxes` | [`RegisterRequest`] | 201 [`SandboxNetwork`] (re-registering keeps the address) |
//! | `GET /v1/sandboxes` | | `[SandboxRecord]` |
//! | `GET /v1/sandboxes/{id}` | | [`SandboxRecord`] (the active policy) |
//! | `PUT /v1/sandboxes/{id}/policy` | [`EgressPolicy`] | 200 [`SandboxRecord`]: the next request uses it |
//! | `DELETE /v1/sandboxes/{id}` | | 204 |
//!
//! Errors are `{"error": "...", "code": "..."}` with 400 (a policy that cannot be enforced, bad JSON),
//! 404 (unknown sandbox) or 503 (pool exhausted, firewall missing: fail closed).
//!
//! [`NetworkInfo`]: crate::sandbox::NetworkInfo
//! [`RegisterRequest`]: crate::sandbox::RegisterRequest
//! [`SandboxNetwork`]: crate::sandbox::SandboxNetwork
//! [`SandboxRecord`]: crate::sandbox::SandboxRecord
//! [`EgressPolicy`]: crate::sandbox::EgressPolicy

use std::sync::Arc;

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use openshell_service_http::ApiError;

use crate::registry::RegistryError;
use crate::sandbox::{EgressPolicy, RegisterRequest, SandboxNetwork, SandboxRecord};
use crate::state::EngineState;

impl From<RegistryError> for ApiError {
    fn from(failure: RegistryError) -> ApiError {
        let status = match &failure {
            RegistryError::InvalidId(_) | RegistryError::Rules { .. } => StatusCode::BAD_REQUEST,
            RegistryError::NotFound(_) => StatusCode::NOT_FOUND,
            RegistryError::PoolExhausted(_) | RegistryError::State { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        };
        ApiError::new(status, failure.to_string())
    }
}

/// A JSON body axum could not read, answered as 400 with its reason.
fn bad_body(rejection: JsonRejection) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, rejection.body_text())
}

/// The router over the engine's state.
pub fn router(state: Arc<EngineState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/network", get(network))
        .route("/v1/sandboxes", get(list).post(register))
        .route("/v1/sandboxes/{id}", get(show).delete(unregister))
        .route("/v1/sandboxes/{id}/policy", put(replace_policy))
        .with_state(state)
}

async fn healthz(State(state): State<Arc<EngineState>>) -> Result<&'static str, ApiError> {
    if state.firewall_ready() {
        Ok("ok\n")
    } else {
        Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node's nftables table is missing",
        ))
    }
}

async fn metrics(State(state): State<Arc<EngineState>>) -> Response {
    state.metrics.sandboxes.set(state.registry.len() as i64);
    let dropped = i64::try_from(state.audit.dropped_events()).unwrap_or(i64::MAX);
    state.metrics.audit_dropped.set(dropped);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

async fn network(State(state): State<Arc<EngineState>>) -> Response {
    Json(state.network_info()).into_response()
}

async fn list(State(state): State<Arc<EngineState>>) -> Json<Vec<SandboxRecord>> {
    Json(
        state
            .registry
            .list()
            .iter()
            .map(|s| s.record.clone())
            .collect(),
    )
}

async fn register(
    State(state): State<Arc<EngineState>>,
    request: Result<Json<RegisterRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SandboxNetwork>), ApiError> {
    let Json(request) = request.map_err(bad_body)?;
    if !state.firewall_ready() {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "the node's nftables table is missing: sandboxes would not be confined",
        ));
    }
    let sandbox = state
        .registry
        .register(&request.container_id, request.policy, request.record)?;
    tracing::info!(
        container = sandbox.id(),
        address = %sandbox.record.sandbox_ip,
        "sandbox registered"
    );
    let answer = SandboxNetwork {
        container_id: sandbox.id().to_owned(),
        interface: sandbox.record.interface.clone(),
        sandbox_ip: sandbox.record.sandbox_ip,
        network: state.network_info(),
    };
    Ok((StatusCode::CREATED, Json(answer)))
}

async fn show(
    State(state): State<Arc<EngineState>>,
    Path(id): Path<String>,
) -> Result<Json<SandboxRecord>, ApiError> {
    match state.registry.get(&id) {
        Some(sandbox) => Ok(Json(sandbox.record.clone())),
        None => Err(RegistryError::NotFound(id).into()),
    }
}

async fn replace_policy(
    State(state): State<Arc<EngineState>>,
    Path(id): Path<String>,
    policy: Result<Json<EgressPolicy>, JsonRejection>,
) -> Result<Json<SandboxRecord>, ApiError> {
    let Json(policy) = policy.map_err(bad_body)?;
    let sandbox = state.registry.replace_policy(&id, policy)?;
    tracing::info!(container = sandbox.id(), "policy replaced");
    Ok(Json(sandbox.record.clone()))
}

async fn unregister(
    State(state): State<Arc<EngineState>>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.registry.unregister(&id)?;
    tracing::info!(container = %id, "sandbox unregistered");
    Ok(StatusCode::NO_CONTENT)
}
