//! Errors: [`RouterError`] for configuration and start-up, [`OpenAiError`] for what a caller
//! is answered (the OpenAI error shape, so SDKs show the message).

use std::path::PathBuf;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use openshell_service_http::ApiError;

/// Errors loading configuration, policies, keys and TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    /// The router configuration is invalid.
    #[error("invalid router configuration {path}: {message}")]
    Config {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column where known.
        message: String,
    },
    /// A file could not be read or written.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// An endpoint cannot be set up (credentials, TLS).
    #[error("endpoint {endpoint}: {message}")]
    Endpoint {
        /// The endpoint's name.
        endpoint: String,
        /// What is wrong.
        message: String,
    },
    /// A container's policy cannot be used for routing.
    #[error("policy of container {container}: {message}")]
    Policy {
        /// The container.
        container: String,
        /// What is wrong.
        message: String,
    },
    /// The audit trail cannot be opened.
    #[error(transparent)]
    Audit(#[from] openshell_audit::AuditError),
}

/// Why a registered container's policy cannot be used for routing (its requests are then
/// refused, naming this).
#[derive(Debug, thiserror::Error)]
pub enum Unroutable {
    /// The compiled policy record does not verify.
    #[error(transparent)]
    Record(#[from] openshell_policy::compiled::RecordError),
    /// The policy's audit destination cannot be opened.
    #[error(transparent)]
    Audit(#[from] openshell_audit::AuditError),
}

/// A refusal or failure answered to the caller in the OpenAI error shape, so SDKs show the
/// message: `{"error": {"message", "type": "openshell_router", "code", "param": null}}`. It is
/// the node services' one [`ApiError`], rendered for an OpenAI-compatible API.
#[derive(Debug, Clone)]
pub struct OpenAiError(pub ApiError);

impl OpenAiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> OpenAiError {
        OpenAiError(ApiError::coded(status, code, message))
    }
}

impl From<ApiError> for OpenAiError {
    fn from(error: ApiError) -> Self {
        OpenAiError(error)
    }
}

impl IntoResponse for OpenAiError {
    fn into_response(self) -> Response {
        let error = &self.0;
        error.respond_with(serde_json::json!({
            "error": {
                "message": error.message,
                "type": "openshell_router",
                "code": error.code,
                "param": null,
            }
        }))
    }
}
