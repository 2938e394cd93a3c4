//! The OpenAI front's vocabulary, shared by the front ([`crate::proxy`]), the listeners, the
//! configuration and the audit: the APIs forwarded, which headers pass, and the caller's address.

use std::net::SocketAddr;

/// The address a front request came from (a request extension).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Peer(pub SocketAddr);

/// Request headers forwarded upstream by default.
pub const FORWARDED_REQUEST_HEADERS: &[&str] =
    &["accept", "user-agent", "openai-beta", "x-request-id"];
/// Headers that are never forwarded upstream, whatever `forward_headers` says: credentials
/// (the router injects the endpoint's own) and hop-by-hop headers.
pub const NEVER_FORWARDED: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "api-key",
    "x-api-key",
    "cookie",
    "host",
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
    "content-type",
];
/// Response headers passed back to the caller (and every `x-ratelimit-*`).
pub const FORWARDED_RESPONSE_HEADERS: &[&str] = &[
    "content-type",
    "cache-control",
    "retry-after",
    "x-request-id",
    "openai-model",
    "openai-organization",
    "openai-processing-ms",
    "openai-version",
];
/// The response header naming the endpoint that answered.
pub const ENDPOINT_HEADER: &str = "x-openshell-endpoint";

/// The OpenAI APIs the router forwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Api {
    /// `POST /v1/chat/completions`.
    ChatCompletions,
    /// `POST /v1/completions`.
    Completions,
    /// `POST /v1/embeddings`.
    Embeddings,
}

impl Api {
    /// The path below the endpoint's base URL.
    pub fn path(self) -> &'static str {
        match self {
            Api::ChatCompletions => "/chat/completions",
            Api::Completions => "/completions",
            Api::Embeddings => "/embeddings",
        }
    }

    /// The audit action.
    pub fn action(self) -> &'static str {
        match self {
            Api::ChatCompletions => "router.chat.completions",
            Api::Completions => "router.completions",
            Api::Embeddings => "router.embeddings",
        }
    }
}
