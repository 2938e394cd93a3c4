//! A client of the engine's admin API (for the `createRuntime`/`poststop` hook and for
//! `openshell policy get|set`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use hyper::{Method, StatusCode};
use openshell_service_http::{UnixClient, error_text};
use serde::Serialize;
use serde::de::DeserializeOwned;

use openshell_policy::compiled::EgressPolicy;

use crate::records::{NetworkInfo, RegisterRequest, SandboxNetwork, SandboxRecord};

/// Largest answer read.
const MAX_ANSWER: usize = 16 << 20;

/// Why a call failed.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The engine is not reachable (not running, socket missing): callers fail closed.
    #[error("egress engine at {socket} is not reachable: {message}")]
    Unreachable {
        /// The admin socket.
        socket: PathBuf,
        /// Why.
        message: String,
    },
    /// The engine answered with an error.
    #[error("egress engine refused {what}: {status} {message}")]
    Refused {
        /// The call.
        what: String,
        /// HTTP status.
        status: StatusCode,
        /// The engine's `error` text.
        message: String,
    },
    /// The answer was not what the API promises.
    #[error("egress engine answer to {what} is malformed: {message}")]
    Malformed {
        /// The call.
        what: String,
        /// Why.
        message: String,
    },
}

impl ClientError {
    /// Whether the engine said the sandbox is not registered.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Refused { status, .. } if *status == StatusCode::NOT_FOUND)
    }
}

/// The admin API at a unix socket.
#[derive(Clone, Debug)]
pub struct EgressClient {
    api: UnixClient,
}

impl EgressClient {
    /// A client of the engine at `socket`; every call must finish within `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> EgressClient {
        EgressClient {
            api: UnixClient::new(socket, timeout, "openshell-egress", MAX_ANSWER),
        }
    }

    /// The admin socket.
    pub fn socket(&self) -> &Path {
        self.api.socket()
    }

    /// One request; the status and the whole answer.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        self.api
            .call(method, path, body)
            .await
            .map_err(|e| ClientError::Unreachable {
                socket: self.socket().to_owned(),
                message: e.to_string(),
            })
    }

    /// The answer of a plain-text endpoint, or what its refusal said.
    async fn text(&self, path: &str) -> Result<String, ClientError> {
        let (status, answer) = self.exchange(Method::GET, path, None).await?;
        if !status.is_success() {
            return Err(ClientError::Refused {
                what: format!("GET {path}"),
                status,
                message: error_text(&answer),
            });
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
    }

    /// One JSON call: `None` for 204.
    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<Option<T>, ClientError> {
        let what = format!("{method} {path}");
        let malformed = |message: String| ClientError::Malformed {
            what: what.clone(),
            message,
        };
        let bytes = body
            .map(|body| serde_json::to_vec(body).map_err(|e| malformed(e.to_string())))
            .transpose()?;
        let (status, answer) = self.exchange(method, path, bytes).await?;
        if !status.is_success() {
            return Err(ClientError::Refused {
                what,
                status,
                message: error_text(&answer),
            });
        }
        if status == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        serde_json::from_slice(&answer)
            .map(Some)
            .map_err(|e| malformed(e.to_string()))
    }

    async fn expect<B: Serialize, T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let what = format!("{method} {path}");
        self.call(method, path, body)
            .await?
            .ok_or_else(|| ClientError::Malformed {
                what,
                message: "no body".to_owned(),
            })
    }

    /// `GET /healthz`: whether the engine is up and sandboxes are confined.
    pub async fn healthy(&self) -> Result<(), ClientError> {
        self.text("/healthz").await.map(|_| ())
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        self.text("/metrics").await
    }

    /// `GET /v1/network`.
    pub async fn network(&self) -> Result<NetworkInfo, ClientError> {
        self.expect::<(), _>(Method::GET, "/v1/network", None).await
    }

    /// `POST /v1/sandboxes`.
    pub async fn register(&self, request: &RegisterRequest) -> Result<SandboxNetwork, ClientError> {
        self.expect(Method::POST, "/v1/sandboxes", Some(request))
            .await
    }

    /// `GET /v1/sandboxes/{id}`: the registration with its active policy.
    pub async fn sandbox(&self, container_id: &str) -> Result<SandboxRecord, ClientError> {
        self.expect::<(), _>(Method::GET, &format!("/v1/sandboxes/{container_id}"), None)
            .await
    }

    /// `PUT /v1/sandboxes/{id}/policy`: hot reload.
    pub async fn replace_policy(
        &self,
        container_id: &str,
        policy: &EgressPolicy,
    ) -> Result<SandboxRecord, ClientError> {
        self.expect(
            Method::PUT,
            &format!("/v1/sandboxes/{container_id}/policy"),
            Some(policy),
        )
        .await
    }

    /// `DELETE /v1/sandboxes/{id}`.
    pub async fn unregister(&self, container_id: &str) -> Result<(), ClientError> {
        self.call::<(), serde_json::Value>(
            Method::DELETE,
            &format!("/v1/sandboxes/{container_id}"),
            None,
        )
        .await
        .map(|_| ())
    }
}

/// Runs `future` on a single-threaded runtime of its own: the blocking entry points of the
/// hook and the CLI.
pub fn block_on<F: std::future::Future>(future: F) -> std::io::Result<F::Output> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    Ok(runtime.block_on(future))
}
