//! A client of the daemon's API over its unix socket, for the components that ask (the egress
//! engine, the seccomp supervisor) and for operators' tools (the `openshell-approvals` CLI).

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use openshell_policy::wire::{Approval, ApprovalAnswer, ApprovalRequest, ApprovalState};
use openshell_service_http::{CallError, UnixClient, error_text};
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::api::{CHANNEL_HEADER, MAX_WAIT, state_name};

/// Time limit of a call other than a wait.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest answer read (a long list).
const MAX_ANSWER: usize = 16 * 1024 * 1024;
/// The `Host` the calls name.
const HOST: &str = "openshell-approvals";

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The daemon cannot be reached at its socket.
    #[error("approvals daemon unreachable at {socket}: {message}")]
    Unreachable {
        /// The socket.
        socket: PathBuf,
        /// Why.
        message: String,
    },
    /// The daemon refused the call.
    #[error("approvals daemon refused ({status}): {message}")]
    Refused {
        /// The answer's status.
        status: StatusCode,
        /// Its error message.
        message: String,
    },
    /// The answer is not what the API answers.
    #[error("approvals daemon at {socket} answered unreadably: {message}")]
    Invalid {
        /// The socket.
        socket: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl ClientError {
    /// The status of a refusal.
    pub fn status(&self) -> Option<StatusCode> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// The daemon's API at a socket.
#[derive(Debug, Clone)]
pub struct ApprovalsClient {
    socket: PathBuf,
    channel: Option<&'static str>,
}

impl ApprovalsClient {
    /// A client of the daemon at `socket`.
    pub fn new(socket: impl Into<PathBuf>) -> ApprovalsClient {
        ApprovalsClient {
            socket: socket.into(),
            channel: None,
        }
    }

    /// Answers through this client name `channel` (`cli`) instead of `api`.
    pub fn with_channel(mut self, channel: &'static str) -> ApprovalsClient {
        self.channel = Some(channel);
        self
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    fn unreachable(&self, e: CallError) -> ClientError {
        let message = match &e {
            CallError::Connect { source, .. } => source.to_string(),
            other => other.to_string(),
        };
        ClientError::Unreachable {
            socket: self.socket.clone(),
            message,
        }
    }

    fn decode<T: DeserializeOwned>(
        &self,
        expected: StatusCode,
        (status, body): (StatusCode, Bytes),
    ) -> Result<T, ClientError> {
        if status != expected {
            return Err(ClientError::Refused {
                status,
                message: error_text(&body),
            });
        }
        serde_json::from_slice(&body).map_err(|e| ClientError::Invalid {
            socket: self.socket.clone(),
            message: e.to_string(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
        expected: StatusCode,
    ) -> Result<T, ClientError> {
        let client = UnixClient::new(&self.socket, timeout, HOST, MAX_ANSWER);
        let answer = client
            .call(method, path, body)
            .await
            .map_err(|e| self.unreachable(e))?;
        self.decode(expected, answer)
    }

    /// Asks for an approval; answers it pending.
    pub async fn submit(&self, request: &ApprovalRequest) -> Result<Approval, ClientError> {
        let body = serde_json::to_vec(request).expect("a request serializes");
        self.call(
            Method::POST,
            "/v1/approvals",
            Some(body),
            CALL_TIMEOUT,
            StatusCode::CREATED,
        )
        .await
    }

    /// One approval.
    pub async fn get(&self, id: &str) -> Result<Approval, ClientError> {
        self.call(
            Method::GET,
            &format!("/v1/approvals/{id}"),
            None,
            CALL_TIMEOUT,
            StatusCode::OK,
        )
        .await
    }

    /// Every approval, or those in `state`.
    pub async fn list(&self, state: Option<ApprovalState>) -> Result<Vec<Approval>, ClientError> {
        let path = match state {
            Some(state) => format!("/v1/approvals?state={}", state_name(state)),
            None => "/v1/approvals".to_owned(),
        };
        self.call(Method::GET, &path, None, CALL_TIMEOUT, StatusCode::OK)
            .await
    }

    /// Waits (at most `timeout`, capped at 60 s) for the approval to become final; answers it
    /// as it then stands (possibly still pending).
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<Approval, ClientError> {
        let timeout = timeout.min(MAX_WAIT);
        self.call(
            Method::GET,
            &format!("/v1/approvals/{id}/wait?timeout_ms={}", timeout.as_millis()),
            None,
            timeout + CALL_TIMEOUT,
            StatusCode::OK,
        )
        .await
    }

    /// What a holder of an escalated action (the egress engine, the seccomp supervisor) does:
    /// asks for an approval and waits until it is final. The daemon times it out by the
    /// request's `timeout_ms`; an approval still pending `grace` after that is an error, as is
    /// an unreachable daemon: the holder then refuses the action (fail closed).
    pub async fn hold(
        &self,
        request: &ApprovalRequest,
        grace: Duration,
    ) -> Result<Approval, ClientError> {
        let deadline =
            std::time::Instant::now() + Duration::from_millis(request.timeout_ms) + grace;
        let mut approval = self.submit(request).await?;
        while !approval.state.is_final() {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            if left.is_zero() {
                return Err(ClientError::Invalid {
                    socket: self.socket.clone(),
                    message: format!("approval {} still pending after its timeout", approval.id),
                });
            }
            approval = self.wait(&approval.id, left).await?;
        }
        Ok(approval)
    }

    /// Approves; answers the final approval.
    pub async fn approve(
        &self,
        id: &str,
        answer: &ApprovalAnswer,
    ) -> Result<Approval, ClientError> {
        self.answer(id, "approve", answer).await
    }

    /// Denies; answers the final approval.
    pub async fn deny(&self, id: &str, answer: &ApprovalAnswer) -> Result<Approval, ClientError> {
        self.answer(id, "deny", answer).await
    }

    async fn answer(
        &self,
        id: &str,
        verdict: &str,
        answer: &ApprovalAnswer,
    ) -> Result<Approval, ClientError> {
        let path = format!("/v1/approvals/{id}/{verdict}");
        let body = serde_json::to_vec(answer).expect("an answer serializes");
        match self.channel {
            None => {
                self.call(
                    Method::POST,
                    &path,
                    Some(body),
                    CALL_TIMEOUT,
                    StatusCode::OK,
                )
                .await
            }
            Some(channel) => {
                let answer = tokio::time::timeout(
                    CALL_TIMEOUT,
                    post_with_channel(&self.socket, &path, body, channel),
                )
                .await
                .map_err(|_| ClientError::Unreachable {
                    socket: self.socket.clone(),
                    message: format!("no answer within {} ms", CALL_TIMEOUT.as_millis()),
                })?
                .map_err(|message| ClientError::Unreachable {
                    socket: self.socket.clone(),
                    message,
                })?;
                self.decode(StatusCode::OK, answer)
            }
        }
    }
}

/// A POST naming its channel in [`CHANNEL_HEADER`] (the shared client sends no extra headers).
async fn post_with_channel(
    socket: &Path,
    path: &str,
    body: Vec<u8>,
    channel: &str,
) -> Result<(StatusCode, Bytes), String> {
    let stream = UnixStream::connect(socket)
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    let driver = tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::POST)
        .uri(path)
        .header(header::HOST, HOST)
        .header(header::CONTENT_TYPE, "application/json")
        .header(CHANNEL_HEADER, channel)
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let answer = Limited::new(response.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    driver.abort();
    Ok((status, answer))
}
