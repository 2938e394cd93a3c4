//! A client of the policy service's API over its unix socket (used by the OCI hook, and by
//! anything else that asks the service). Every call opens a connection, is bounded by the
//! client's timeout as a whole (connect, send, receive), and maps answers to typed results.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use openshell_policy::wire::{AdmissionRequest, ContainerRegistration, Decision, EvaluateRequest};
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

/// Largest response read.
const MAX_RESPONSE: usize = 8 << 20;

/// Errors of a call to the service.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The socket cannot be connected (service not running, wrong path, permissions).
    #[error("cannot connect to the policy service at {socket}: {source}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The call did not complete in time.
    #[error("the policy service at {socket} did not answer within {timeout:?}")]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The limit.
        timeout: Duration,
    },
    /// The connection broke.
    #[error("talking to the policy service: {0}")]
    Transport(String),
    /// The service answered with an error status.
    #[error("the policy service answered {status}: {message}")]
    Status {
        /// The status.
        status: StatusCode,
        /// Its error message.
        message: String,
    },
    /// The answer is not what the API promises.
    #[error("the policy service's answer is malformed: {0}")]
    Decode(String),
}

/// The client.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    socket: PathBuf,
    timeout: Duration,
}

impl ServiceClient {
    /// A client of the service at `socket`; every call must finish within `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> ServiceClient {
        ServiceClient {
            socket: socket.into(),
            timeout,
        }
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// `POST /v1/admission`.
    pub async fn admission(&self, request: &AdmissionRequest) -> Result<Decision, ClientError> {
        self.json(Method::POST, "/v1/admission", Some(request), StatusCode::OK)
            .await
    }

    /// `POST /v1/evaluate`.
    pub async fn evaluate(&self, request: &EvaluateRequest) -> Result<Decision, ClientError> {
        self.json(Method::POST, "/v1/evaluate", Some(request), StatusCode::OK)
            .await
    }

    /// `PUT /v1/containers/{id}`.
    pub async fn register(&self, registration: &ContainerRegistration) -> Result<(), ClientError> {
        let path = format!("/v1/containers/{}", registration.container_id);
        let _: serde_json::Value = self
            .json(Method::PUT, &path, Some(registration), StatusCode::CREATED)
            .await?;
        Ok(())
    }

    /// `DELETE /v1/containers/{id}`: true if it was registered.
    pub async fn unregister(&self, container_id: &str) -> Result<bool, ClientError> {
        let (status, body) = self
            .call(
                Method::DELETE,
                &format!("/v1/containers/{container_id}"),
                None,
            )
            .await?;
        match status {
            StatusCode::NO_CONTENT => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(status_error(status, &body)),
        }
    }

    /// `GET /healthz`.
    pub async fn health(&self) -> Result<(), ClientError> {
        let _: serde_json::Value = self
            .json(Method::GET, "/healthz", None::<&()>, StatusCode::OK)
            .await?;
        Ok(())
    }

    async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&(impl serde::Serialize + ?Sized)>,
        expected: StatusCode,
    ) -> Result<T, ClientError> {
        let bytes = body
            .map(|b| serde_json::to_vec(b).map_err(|e| ClientError::Decode(e.to_string())))
            .transpose()?;
        let (status, answer) = self.call(method, path, bytes).await?;
        if status != expected {
            return Err(status_error(status, &answer));
        }
        serde_json::from_slice(&answer).map_err(|e| ClientError::Decode(e.to_string()))
    }

    /// One request; the whole exchange is bounded by the client's timeout.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let exchange = async {
            let stream =
                UnixStream::connect(&self.socket)
                    .await
                    .map_err(|source| ClientError::Connect {
                        socket: self.socket.clone(),
                        source,
                    })?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| ClientError::Transport(e.to_string()))?;
            let driver = tokio::spawn(connection);
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, "nemotron");
            if body.is_some() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            let request = request
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?;
            let status = response.status();
            let bytes = Limited::new(response.into_body(), MAX_RESPONSE)
                .collect()
                .await
                .map_err(|e| ClientError::Transport(e.to_string()))?
                .to_bytes();
            driver.abort();
            Ok((status, bytes))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| ClientError::Timeout {
                socket: self.socket.clone(),
                timeout: self.timeout,
            })?
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> ClientError {
    let message = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect());
    ClientError::Status { status, message }
}
