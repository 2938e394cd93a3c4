//! Strict request bodies: [`StrictJson`] reads a body with [`read_json`] under the server's
//! [`BodyLimits`](openshell_service_http::BodyLimits) into a type that rejects unknown fields
//! (400 naming the field, line and column).

use axum::extract::{FromRequest, Request};
use openshell_service_http::{ApiError, read_json};
use serde::de::DeserializeOwned;

use super::AppState;

/// A JSON body, read under the server's body limits and parsed strictly.
pub struct StrictJson<T>(pub T);

impl<T: DeserializeOwned> FromRequest<AppState> for StrictJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        read_json(req, state.limits).await.map(StrictJson)
    }
}
