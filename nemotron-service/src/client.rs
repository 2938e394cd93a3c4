//! A client of the policy service's API over its unix socket (used by the OCI hook, and by
//! anything else that asks the service). Every call opens a connection, is bounded by the
//! client's timeout as a whole (connect, send, receive), and maps answers to typed results.

use std::path::{Path, PathBuf};
use std::time::Duration;

use hyper::body::Bytes;
use hyper::{Method, StatusCode};
use openshell_policy::wire::{AdmissionRequest, ContainerRegistration, Decision, EvaluateRequest};
use openshell_service_http::{CallError, UnixClient, error_text};
use serde::de::DeserializeOwned;

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

impl From<CallError> for ClientError {
    fn from(error: CallError) -> ClientError {
        match error {
            CallError::Connect { socket, source } => ClientError::Connect { socket, source },
            CallError::Timeout { socket, timeout } => ClientError::Timeout { socket, timeout },
            CallError::Transport(message) => ClientError::Transport(message),
        }
    }
}

/// The client.
#[derive(Debug, Clone)]
pub struct ServiceClient {
    api: UnixClient,
}

impl ServiceClient {
    /// A client of the service at `socket`; every call must finish within `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> ServiceClient {
        ServiceClient {
            api: UnixClient::new(socket, timeout, "nemotron", MAX_RESPONSE),
        }
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        self.api.socket()
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
        Ok(self.api.call(method, path, body).await?)
    }
}

fn status_error(status: StatusCode, body: &[u8]) -> ClientError {
    ClientError::Status {
        status,
        message: error_text(body),
    }
}
