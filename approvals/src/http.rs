//! The HTTP API, on the unix socket (mode 0600: trusted by its file mode) and optionally on a
//! TCP listener for consoles and chat-link callbacks, where reads and answers need the operator
//! token, callbacks need a valid link signature, and asking (`POST /v1/approvals`) is refused.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use openshell_policy::wire::{Approval, ApprovalAnswer, ApprovalRequest, ApprovalState};
use openshell_service_http::{
    ApiError, BodyLimits, accept_failed, bind_unix_socket, drain, read_json, serve_connection,
    stopped,
};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;
use tower_service::Service;

use crate::api::{CHANNEL_HEADER, MAX_WAIT};
use crate::queue::{AnswerError, Queue, SubmitError, Verdict};
use crate::secrets::OperatorToken;

/// How accept failures are reported.
const COMPONENT: &str = "openshell-approvals";
/// Long-poll when the request names none.
const DEFAULT_WAIT: Duration = Duration::from_secs(30);
const LIMITS: BodyLimits = BodyLimits {
    max_bytes: 64 * 1024,
    timeout: Duration::from_secs(10),
};
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Which listener a request came in on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// The unix socket: root on the node.
    Unix,
    /// The TCP listener: operators with the token, and signed links.
    Tcp,
}

/// What the handlers share.
#[derive(Clone)]
struct Api {
    queue: Arc<Queue>,
    token: Arc<OperatorToken>,
}

/// The routes.
pub fn app(queue: Arc<Queue>, token: Arc<OperatorToken>) -> Router {
    Router::new()
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/metrics", get(metrics))
        .route("/v1/approvals", post(submit).get(list))
        .route("/v1/approvals/{id}", get(show))
        .route("/v1/approvals/{id}/wait", get(wait))
        .route(
            "/v1/approvals/{id}/approve",
            post(
                |state: State<Api>, id: UrlPath<String>, request: Request| async move {
                    answer(state, id, Verdict::Approve, request).await
                },
            ),
        )
        .route(
            "/v1/approvals/{id}/deny",
            post(
                |state: State<Api>, id: UrlPath<String>, request: Request| async move {
                    answer(state, id, Verdict::Deny, request).await
                },
            ),
        )
        .route("/v1/callback/{id}/{verdict}", get(callback))
        .with_state(Api { queue, token })
}

fn transport(request: &Request) -> Transport {
    request
        .extensions()
        .get::<Transport>()
        .copied()
        .unwrap_or(Transport::Unix)
}

/// On TCP, the operator token is required: the refusal when it is missing or wrong.
fn authorize(api: &Api, request: &Request) -> Option<Response> {
    if transport(request) == Transport::Unix {
        return None;
    }
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if api.token.accepts(presented) {
        return None;
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "this listener needs Authorization: Bearer <operator token>",
    )
    .into_response();
    response
        .headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    Some(response)
}

fn not_found(id: &str) -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, format!("no approval {id}"))
}

fn created(approval: Approval) -> Response {
    (StatusCode::CREATED, axum::Json(approval)).into_response()
}

async fn metrics(State(api): State<Api>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        api.queue.metrics().render(),
    )
        .into_response()
}

async fn submit(State(api): State<Api>, request: Request) -> Response {
    if transport(&request) == Transport::Tcp {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "approvals are asked for on the local socket only",
        )
        .into_response();
    }
    let body: ApprovalRequest = match read_json(request, LIMITS).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    match api.queue.submit(body) {
        Ok(approval) => created(approval),
        Err(SubmitError::Invalid(e)) => {
            ApiError::coded(StatusCode::BAD_REQUEST, "invalid_request", e.to_string())
                .into_response()
        }
        Err(SubmitError::Store(e)) => {
            ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

async fn list(
    State(api): State<Api>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    if let Some(denied) = authorize(&api, &request) {
        return denied;
    }
    let state = match query.get("state") {
        None => None,
        Some(word) => match serde_json::from_value::<ApprovalState>(word.as_str().into()) {
            Ok(state) => Some(state),
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("state: {word:?} is not pending, approved, denied or timed-out"),
                )
                .into_response();
            }
        },
    };
    axum::Json(api.queue.list(state)).into_response()
}

async fn show(State(api): State<Api>, UrlPath(id): UrlPath<String>, request: Request) -> Response {
    if let Some(denied) = authorize(&api, &request) {
        return denied;
    }
    match api.queue.get(&id) {
        Some(approval) => axum::Json(approval).into_response(),
        None => not_found(&id).into_response(),
    }
}

async fn wait(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Response {
    if let Some(denied) = authorize(&api, &request) {
        return denied;
    }
    let timeout = match query.get("timeout_ms") {
        None => DEFAULT_WAIT,
        Some(ms) => match ms.parse::<u64>() {
            Ok(ms) => Duration::from_millis(ms).min(MAX_WAIT),
            Err(_) => {
                return ApiError::new(
                    StatusCode::BAD_REQUEST,
                    format!("timeout_ms: {ms:?} is not a number of milliseconds"),
                )
                .into_response();
            }
        },
    };
    match api.queue.wait(&id, timeout).await {
        Some(approval) => axum::Json(approval).into_response(),
        None => not_found(&id).into_response(),
    }
}

fn answer_error(e: AnswerError) -> ApiError {
    let status = match &e {
        AnswerError::NotFound(_) => StatusCode::NOT_FOUND,
        AnswerError::Final { .. } => StatusCode::CONFLICT,
        AnswerError::Expired(_) => StatusCode::GONE,
        AnswerError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    };
    ApiError::new(status, e.to_string())
}

async fn answer(
    State(api): State<Api>,
    UrlPath(id): UrlPath<String>,
    verdict: Verdict,
    request: Request,
) -> Response {
    if let Some(denied) = authorize(&api, &request) {
        return denied;
    }
    let channel = match request
        .headers()
        .get(CHANNEL_HEADER)
        .and_then(|v| v.to_str().ok())
    {
        Some(c) if c.eq_ignore_ascii_case("cli") => "cli",
        _ => "api",
    };
    let body: ApprovalAnswer = match read_json(request, LIMITS).await {
        Ok(body) => body,
        Err(e) => return e.into_response(),
    };
    if body.by.trim().is_empty() {
        return ApiError::new(StatusCode::BAD_REQUEST, "by: must name who answers").into_response();
    }
    match api.queue.answer(&id, verdict, body, channel) {
        Ok(approval) => axum::Json(approval).into_response(),
        Err(e) => answer_error(e).into_response(),
    }
}

/// A short page for a person who clicked a link (JSON when the client asks for it).
fn page(headers: &HeaderMap, status: StatusCode, message: &str) -> Response {
    let wants_json = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("application/json"));
    if wants_json {
        let body = if status.is_success() {
            serde_json::json!({ "message": message })
        } else {
            serde_json::json!({ "error": message })
        };
        return (status, axum::Json(body)).into_response();
    }
    let escaped = message
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    (
        status,
        Html(format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>openshell approval</title>\
             </head><body><p>{escaped}</p></body></html>\n"
        )),
    )
        .into_response()
}

async fn callback(
    State(api): State<Api>,
    UrlPath((id, word)): UrlPath<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let refuse = |status, message: &str| page(&headers, status, message);
    let Some(verdict) = Verdict::parse(&word) else {
        return refuse(StatusCode::NOT_FOUND, "unknown verdict: approve or deny");
    };
    let Some(links) = api.queue.links() else {
        return refuse(StatusCode::NOT_FOUND, "signed links are not configured");
    };
    let expires = query.get("expires").and_then(|e| e.parse::<i64>().ok());
    let signed = match (expires, query.get("sig")) {
        (Some(expires), Some(sig)) => links.key().verify(&id, &word, expires, sig),
        _ => false,
    };
    let Some(expires) = expires.filter(|_| signed) else {
        return refuse(StatusCode::FORBIDDEN, "this link's signature is not valid");
    };
    if chrono::Utc::now().timestamp() > expires {
        return refuse(
            StatusCode::GONE,
            "this link has expired: the default action was enforced",
        );
    }
    let answer = ApprovalAnswer {
        by: "signed-link".to_owned(),
        note: None,
    };
    match api.queue.answer(&id, verdict, answer, "link") {
        Ok(approval) => refuse(
            StatusCode::OK,
            &format!(
                "{} {} for container {}: {}.",
                approval.request.action,
                match verdict {
                    Verdict::Approve => "approved",
                    Verdict::Deny => "denied",
                },
                approval.request.container_id,
                match verdict {
                    Verdict::Approve => "it goes ahead",
                    Verdict::Deny => "it is refused",
                }
            ),
        ),
        Err(e) => {
            let error = answer_error(e);
            refuse(error.status, &error.message)
        }
    }
}

/// Listeners bound and ready to serve.
pub struct Bound {
    unix: UnixListener,
    unix_path: PathBuf,
    tcp: Option<TcpListener>,
}

impl Bound {
    /// Binds the socket (mode 0600; a stale socket is replaced) and the TCP listener, if any.
    pub async fn bind(socket: &Path, listen: Option<SocketAddr>) -> std::io::Result<Bound> {
        let unix = bind_unix_socket(socket, 0o600)?;
        let tcp = match listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Bound {
            unix,
            unix_path: socket.to_owned(),
            tcp,
        })
    }

    /// The unix socket's path.
    pub fn socket(&self) -> &Path {
        &self.unix_path
    }

    /// The TCP listener's address (useful with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` turns true, then drains connections (up to 5 s) and removes
    /// the socket.
    pub async fn serve(self, app: Router, mut shutdown: watch::Receiver<bool>) {
        let graceful = GracefulShutdown::new();
        loop {
            tokio::select! {
                accepted = self.unix.accept() => match accepted {
                    Ok((stream, _)) => serve_app(stream, app.clone(), Transport::Unix, &graceful),
                    Err(e) => accept_failed(COMPONENT, e).await,
                },
                accepted = accept_tcp(self.tcp.as_ref()) => match accepted {
                    Ok(stream) => {
                        let _ = stream.set_nodelay(true);
                        serve_app(stream, app.clone(), Transport::Tcp, &graceful);
                    }
                    Err(e) => accept_failed(COMPONENT, e).await,
                },
                _ = stopped(&mut shutdown) => break,
            }
        }
        drop(self.unix);
        let _ = std::fs::remove_file(&self.unix_path);
        drain(graceful, Duration::from_secs(5)).await;
    }
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(listener) => listener.accept().await.map(|(stream, _)| stream),
        None => std::future::pending().await,
    }
}

fn serve_app<I>(io: I, app: Router, transport: Transport, graceful: &GracefulShutdown)
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(transport);
        let mut app = app.clone();
        async move { app.call(request.map(axum::body::Body::new)).await }
    });
    serve_connection(io, service, HEADER_TIMEOUT, graceful);
}
