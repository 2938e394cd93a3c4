//! The JSON error answer and bounded JSON request bodies.

use std::time::Duration;

use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use serde::de::DeserializeOwned;

/// The error every node service answers with: a status, a stable machine-readable code and a
/// message. It is answered as `{"error": message, "code": code}`; an OpenAI-compatible front
/// renders the same error in the OpenAI shape instead (the router's `OpenAiError`). A 503
/// carries `Retry-After: 1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The status.
    pub status: StatusCode,
    /// A stable code (`not_found`, `invalid_body`, `no_compliant_endpoint`, …).
    pub code: &'static str,
    /// What went wrong; never a request's content.
    pub message: String,
}

impl ApiError {
    /// An error with a status and message; the code is the status's (`not_found`).
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError::coded(status, status_code_name(status), message)
    }

    /// An error with its own code.
    pub fn coded(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// Answers `body` with the error's status (and `Retry-After` on 503).
    pub fn respond_with(&self, body: serde_json::Value) -> Response {
        let mut response = (self.status, axum::Json(body)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.respond_with(serde_json::json!({ "error": self.message, "code": self.code }))
    }
}

/// The default code of a status.
fn status_code_name(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "invalid_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        408 => "request_timeout",
        409 => "conflict",
        413 => "payload_too_large",
        415 => "unsupported_media_type",
        429 => "rate_limited",
        502 => "bad_gateway",
        503 => "unavailable",
        504 => "gateway_timeout",
        _ if status.is_server_error() => "internal_error",
        _ => "error",
    }
}

/// Limits on request bodies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body accepted, bytes.
    pub max_bytes: usize,
    /// Longest time to receive a body.
    pub timeout: Duration,
}

/// Whether `headers` declare a JSON body (`Content-Type: application/json`, any parameters).
pub fn is_json(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let mime = v.split(';').next().unwrap_or("").trim();
            mime.eq_ignore_ascii_case("application/json")
        })
}

/// Reads the JSON body of `request`: only `application/json` (415), at most `limits.max_bytes`
/// (413), received within `limits.timeout` (408), parsed into `T` (400 naming what is wrong).
pub async fn read_json<T: DeserializeOwned>(
    request: Request,
    limits: BodyLimits,
) -> Result<T, ApiError> {
    if !is_json(request.headers()) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "expected Content-Type: application/json",
        ));
    }
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limits.max_bytes as u64) {
        return Err(too_large(limits.max_bytes));
    }
    let body = Limited::new(request.into_body(), limits.max_bytes);
    let bytes = match tokio::time::timeout(limits.timeout, body.collect()).await {
        Err(_) => {
            return Err(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!("request body not received within {:?}", limits.timeout),
            ));
        }
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(too_large(limits.max_bytes));
        }
        Ok(Err(e)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("cannot read body: {e}"),
            ));
        }
        Ok(Ok(collected)) => collected.to_bytes(),
    };
    serde_json::from_slice(&bytes).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("invalid request body: {e}"),
        )
    })
}

fn too_large(limit: usize) -> ApiError {
    ApiError::new(
        StatusCode::PAYLOAD_TOO_LARGE,
        format!("request body exceeds {limit} bytes"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;

    const LIMITS: BodyLimits = BodyLimits {
        max_bytes: 16,
        timeout: Duration::from_secs(1),
    };

    fn request(content_type: &str, body: &'static str) -> Request {
        axum::http::Request::builder()
            .header(header::CONTENT_TYPE, content_type)
            .body(Body::from(body))
            .unwrap()
    }

    #[tokio::test]
    async fn bodies_are_read_within_their_limits() {
        let value: serde_json::Value = read_json(
            request("application/json; charset=utf-8", r#"{"a":1}"#),
            LIMITS,
        )
        .await
        .unwrap();
        assert_eq!(value["a"], 1);
        let status = |r: Result<serde_json::Value, ApiError>| r.unwrap_err().status;
        assert_eq!(
            status(read_json(request("text/plain", "{}"), LIMITS).await),
            StatusCode::UNSUPPORTED_MEDIA_TYPE
        );
        assert_eq!(
            status(
                read_json(
                    request("application/json", r#"{"a":"0123456789abcdef"}"#),
                    LIMITS
                )
                .await
            ),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(
            status(read_json(request("application/json", "{"), LIMITS).await),
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn errors_answer_with_their_status_and_message() {
        let response = ApiError::new(StatusCode::NOT_FOUND, "no such sandbox").into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        let body = response.into_body().collect().await.unwrap().to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"error": "no such sandbox", "code": "not_found"})
        );
        let busy = ApiError::coded(StatusCode::SERVICE_UNAVAILABLE, "draining", "later");
        let response = busy.into_response();
        assert_eq!(response.headers()[header::RETRY_AFTER], "1");
    }
}
