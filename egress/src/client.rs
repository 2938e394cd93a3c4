//! A client of the engine's admin API (for the `createRuntime`/`poststop` hook and for
//! `openshell policy get|set`).

use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::header::{CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::net::UnixStream;

use crate::sandbox::{EgressPolicy, NetworkInfo, RegisterRequest, SandboxNetwork, SandboxRecord};

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
    socket: PathBuf,
    timeout: Duration,
}

impl EgressClient {
    /// A client of the engine at `socket`; every call must finish within `timeout`.
    pub fn new(socket: impl Into<PathBuf>, timeout: Duration) -> EgressClient {
        EgressClient {
            socket: socket.into(),
            timeout,
        }
    }

    /// The admin socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request; the status and the whole answer.
    async fn exchange(
        &self,
        method: Method,
        path: &str,
        body: Vec<u8>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let unreachable = |message: String| ClientError::Unreachable {
            socket: self.socket.clone(),
            message,
        };
        let exchange = async {
            let stream = UnixStream::connect(&self.socket)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| unreachable(e.to_string()))?;
            tokio::spawn(connection);
            let request = Request::builder()
                .method(method)
                .uri(path)
                .header(HOST, "openshell-egress")
                .header(CONTENT_TYPE, "application/json")
                .body(Full::new(Bytes::from(body)))
                .map_err(|e| unreachable(e.to_string()))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let status = response.status();
            let answer = Limited::new(response.into_body(), MAX_ANSWER)
                .collect()
                .await
                .map_err(|e| unreachable(e.to_string()))?
                .to_bytes();
            Ok((status, answer))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| unreachable(format!("no answer within {} ms", self.timeout.as_millis())))?
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
        let bytes = match body {
            Some(body) => serde_json::to_vec(body).map_err(|e| malformed(e.to_string()))?,
            None => Vec::new(),
        };
        let (status, answer) = self.exchange(method, path, bytes).await?;
        if !status.is_success() {
            let message = serde_json::from_slice::<serde_json::Value>(&answer)
                .ok()
                .and_then(|v| v["error"].as_str().map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(&answer).into_owned());
            return Err(ClientError::Refused {
                what,
                status,
                message,
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
        let (status, answer) = self.exchange(Method::GET, "/healthz", Vec::new()).await?;
        if status.is_success() {
            Ok(())
        } else {
            Err(ClientError::Refused {
                what: "GET /healthz".to_owned(),
                status,
                message: String::from_utf8_lossy(&answer).into_owned(),
            })
        }
    }

    /// `GET /metrics`: the Prometheus text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        let (status, answer) = self.exchange(Method::GET, "/metrics", Vec::new()).await?;
        if !status.is_success() {
            return Err(ClientError::Refused {
                what: "GET /metrics".to_owned(),
                status,
                message: String::from_utf8_lossy(&answer).into_owned(),
            });
        }
        Ok(String::from_utf8_lossy(&answer).into_owned())
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
