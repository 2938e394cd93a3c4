//! The admin API on the unix socket (mode 0600): health, metrics, endpoints, callers, caller
//! tokens, the classification cache's figures, and configuration reload.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use openshell_policy::wire::{ContainerRegistration, check_container_id};
use serde_json::json;

use crate::error::OpenAiError;
use crate::identity::unix_now;
use crate::proxy::count_requests;
use crate::service::PrivacyRouter;

/// Every route of the admin API, as `(method, path)`.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/metrics"),
    ("get", "/v1/info"),
    ("get", "/v1/endpoints"),
    ("get", "/v1/callers"),
    ("put", "/v1/callers/{id}"),
    ("delete", "/v1/callers/{id}"),
    ("post", "/v1/tokens/{id}"),
    ("get", "/v1/cache"),
    ("post", "/v1/reload"),
];

/// Largest registration accepted by `PUT /v1/callers/{id}`.
const MAX_REGISTRATION_BYTES: usize = 1 << 20;

/// The admin API's routes.
pub fn admin(router: Arc<PrivacyRouter>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/v1/info", get(info))
        .route("/v1/endpoints", get(endpoints))
        .route("/v1/callers", get(callers))
        .route("/v1/callers/{id}", put(register).delete(unregister))
        .route("/v1/tokens/{id}", post(token))
        .route("/v1/cache", get(cache))
        .route("/v1/reload", post(reload))
        .fallback(|| async {
            OpenAiError::new(StatusCode::NOT_FOUND, "not_found", "no such route")
        })
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&router),
            count_requests,
        ))
        .with_state(router)
}

async fn healthz(State(router): State<Arc<PrivacyRouter>>) -> Response {
    let endpoints = router.endpoints();
    axum::Json(json!({
        "status": "ok",
        "callers": router.callers().all().len(),
        "endpoints": endpoints.len(),
        "endpoints_down": endpoints.iter().filter(|e| !e.health.up).count(),
    }))
    .into_response()
}

async fn metrics(State(router): State<Arc<PrivacyRouter>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        router.render_metrics(),
    )
        .into_response()
}

async fn info(State(router): State<Arc<PrivacyRouter>>) -> Response {
    let generation = router.generation();
    axum::Json(json!({
        "base_url": router.base_url(),
        "caller_tokens": generation.token_key.is_some(),
        "registry_dir": generation.registry_dir,
    }))
    .into_response()
}

async fn endpoints(State(router): State<Arc<PrivacyRouter>>) -> Response {
    axum::Json(router.endpoints()).into_response()
}

async fn callers(State(router): State<Arc<PrivacyRouter>>) -> Response {
    let views: Vec<_> = router.callers().all().iter().map(|c| c.view()).collect();
    axum::Json(views).into_response()
}

async fn register(
    State(router): State<Arc<PrivacyRouter>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, OpenAiError> {
    check_container_id(&id)
        .map_err(|e| OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.to_string()))?;
    if body.len() > MAX_REGISTRATION_BYTES {
        return Err(OpenAiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request_too_large",
            format!("a registration is at most {MAX_REGISTRATION_BYTES} bytes"),
        ));
    }
    let registration: ContainerRegistration = serde_json::from_slice(&body).map_err(|e| {
        OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_registration",
            format!("invalid registration: {e}"),
        )
    })?;
    if registration.container_id != id {
        return Err(OpenAiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_registration",
            format!(
                "the registration is for container {:?}, not {id:?}",
                registration.container_id
            ),
        ));
    }
    let caller = router.register(&registration);
    Ok((StatusCode::OK, axum::Json(caller.view())).into_response())
}

async fn unregister(
    State(router): State<Arc<PrivacyRouter>>,
    Path(id): Path<String>,
) -> Result<Response, OpenAiError> {
    if router.unregister(&id) {
        Ok(StatusCode::NO_CONTENT.into_response())
    } else {
        Err(OpenAiError::new(
            StatusCode::NOT_FOUND,
            "not_registered",
            format!("container {id} was not registered through this API"),
        ))
    }
}

async fn token(
    State(router): State<Arc<PrivacyRouter>>,
    Path(id): Path<String>,
) -> Result<Response, OpenAiError> {
    check_container_id(&id)
        .map_err(|e| OpenAiError::new(StatusCode::BAD_REQUEST, "invalid_id", e.to_string()))?;
    let generation = router.generation();
    let key = generation.token_key.as_ref().ok_or_else(|| {
        OpenAiError::new(
            StatusCode::CONFLICT,
            "tokens_disabled",
            "caller tokens are off: set [identity] token_key_file",
        )
    })?;
    let expires = unix_now().saturating_add(generation.config.identity.token_ttl_s);
    Ok(axum::Json(json!({
        "container_id": id,
        "token": key.mint(&id, expires),
        "expires": expires,
    }))
    .into_response())
}

async fn cache(State(router): State<Arc<PrivacyRouter>>) -> Response {
    let generation = router.generation();
    let cache = generation.classifier.cache();
    let (hits, misses) = (cache.hits(), cache.misses());
    let lookups = hits + misses;
    axum::Json(json!({
        "entries": cache.len(),
        "capacity": cache.capacity(),
        "hits": hits,
        "misses": misses,
        "hit_rate": if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
        "classifier_runs": generation.classifier.runs(),
    }))
    .into_response()
}

async fn reload(State(router): State<Arc<PrivacyRouter>>) -> Result<Response, OpenAiError> {
    let report = router
        .reload()
        .await
        .map_err(|e| OpenAiError::new(StatusCode::BAD_REQUEST, "reload_failed", e.to_string()))?;
    Ok(axum::Json(report).into_response())
}
