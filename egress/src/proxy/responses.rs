//! The engine's own responses: JSON bodies that name what was refused and by which rule.
//!
//! Every refusal carries `error` (`egress_denied`, `api_denied`, `pii_blocked`,
//! `address_refused`, `bad_request`, `upstream_unreachable`), `reason`, and where one decided,
//! `rule`; plus `host`, `port`, `method` (and `api` for API denials). The header
//! `x-openshell-egress: denied` marks them apart from upstream responses.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde_json::Value;

/// The body type the proxy answers with: upstream bodies streamed, or its own.
pub type ProxyBody = http_body_util::combinators::BoxBody<Bytes, hyper::Error>;

/// A complete body from bytes.
pub fn full(bytes: impl Into<Bytes>) -> ProxyBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// An empty body.
pub fn empty() -> ProxyBody {
    full(Bytes::new())
}

/// A refusal with status `status` and JSON body `body`.
pub fn refusal(status: StatusCode, body: Value) -> Response<ProxyBody> {
    let text = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(full(text));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    headers.insert("x-openshell-egress", HeaderValue::from_static("denied"));
    response
}

/// A 400 for a request the engine will not parse further.
pub fn bad_request(reason: &str) -> Response<ProxyBody> {
    refusal(
        StatusCode::BAD_REQUEST,
        serde_json::json!({"error": "bad_request", "reason": reason}),
    )
}
