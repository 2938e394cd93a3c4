//! The HTTP/JSON API over a unix socket (and optionally TCP).
//!
//! axum supplies routing and extractors; connections are served by hyper's HTTP/1 builder
//! directly so the header-read timeout applies to every connection, unix or TCP (slow clients
//! are cut off), and graceful shutdown drains them. Bodies are read under a size limit and a
//! timeout by [`StrictJson`].

mod extract;
mod metrics;
mod routes;

pub use extract::StrictJson;
pub use metrics::Metrics;
pub use openshell_service_http::{ApiError, BodyLimits};
pub use routes::{ROUTES, router};

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use openshell_service_http::{accept_failed, bind_unix_socket, drain, serve_connection, stopped};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::service::PolicyService;

/// How accept failures are reported.
const COMPONENT: &str = "nemotron-service";

/// Shared state of the handlers.
#[derive(Clone)]
pub struct AppState {
    /// The service core.
    pub service: Arc<PolicyService>,
    /// Metrics.
    pub metrics: Arc<Metrics>,
    /// Body limits.
    pub limits: BodyLimits,
}

/// Where and how to serve.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// The unix socket (created, mode 0600; a stale one is replaced).
    pub socket: PathBuf,
    /// An optional TCP address.
    pub listen: Option<SocketAddr>,
    /// Longest time to receive a request's headers.
    pub header_timeout: Duration,
    /// Body limits.
    pub limits: BodyLimits,
    /// Longest time shutdown waits for open connections.
    pub shutdown_grace: Duration,
}

impl ServerConfig {
    /// Defaults: 1 MiB bodies, 5 s to send headers and body, 5 s shutdown grace.
    pub fn new(socket: PathBuf) -> ServerConfig {
        ServerConfig {
            socket,
            listen: None,
            header_timeout: Duration::from_secs(5),
            limits: BodyLimits {
                max_bytes: 1 << 20,
                timeout: Duration::from_secs(5),
            },
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Listeners bound and ready to serve.
pub struct Bound {
    unix: UnixListener,
    tcp: Option<TcpListener>,
    config: ServerConfig,
}

impl Bound {
    /// Binds the unix socket (replacing a stale socket, refusing any other file) and the TCP
    /// address.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Bound> {
        let unix = bind_unix_socket(&config.socket, 0o600)?;
        let tcp = match config.listen {
            Some(addr) => Some(TcpListener::bind(addr).await?),
            None => None,
        };
        Ok(Bound { unix, tcp, config })
    }

    /// The TCP address actually bound (useful with port 0).
    pub fn tcp_addr(&self) -> Option<SocketAddr> {
        self.tcp.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Serves until `shutdown` turns true, then drains connections for up to the grace period
    /// and removes the socket file.
    pub async fn serve(self, service: Arc<PolicyService>, mut shutdown: watch::Receiver<bool>) {
        let state = AppState {
            service,
            metrics: Arc::new(Metrics::new()),
            limits: self.config.limits,
        };
        let app = router(state);
        let graceful = GracefulShutdown::new();
        let header_timeout = self.config.header_timeout;
        loop {
            tokio::select! {
                accepted = self.unix.accept() => match accepted {
                    Ok((stream, _)) => serve_connection(
                        stream, TowerToHyperService::new(app.clone()), header_timeout, &graceful,
                    ),
                    Err(e) => accept_failed(COMPONENT, e).await,
                },
                accepted = accept_tcp(self.tcp.as_ref()) => match accepted {
                    Ok(stream) => serve_connection(
                        stream, TowerToHyperService::new(app.clone()), header_timeout, &graceful,
                    ),
                    Err(e) => accept_failed(COMPONENT, e).await,
                },
                _ = stopped(&mut shutdown) => break,
            }
        }
        drop(self.unix);
        let _ = std::fs::remove_file(&self.config.socket);
        drain(graceful, self.config.shutdown_grace).await;
    }
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}
