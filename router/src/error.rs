//! Errors: [`RouterError`] for configuration and start-up, [`ApiError`] for what a caller is
//! answered (the OpenAI error shape, so SDKs show the message).

use std::path::PathBuf;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

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

/// A refusal or failure answered to the caller as
/// `{"error": {"message", "type": "openshell_router", "code"}}`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable machine-readable code (`caller_not_registered`, `no_compliant_endpoint`, …).
    pub code: &'static str,
    /// What happened and why; never the request's content.
    pub message: String,
}

impl ApiError {
    /// An error with a status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({
            "error": {
                "message": self.message,
                "type": "openshell_router",
                "code": self.code,
                "param": null,
            }
        });
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}
