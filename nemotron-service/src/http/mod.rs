//! The HTTP/JSON API over a unix socket (and optionally TCP).
//!
//! axum supplies routing and extractors; connections are served by hyper's HTTP/1 builder
//! directly so the header-read timeout applies to every connection, unix or TCP (slow clients
//! are cut off), and graceful shutdown drains them. Bodies are read under a size limit and a
//! timeout by [`StrictJson`].

mod extract;
mod metrics;
mod routes;

pub use extract::{ApiError, BodyLimits, StrictJson};
pub use metrics::Metrics;
pub use routes::{ROUTES, router};

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::watch;

use crate::service::PolicyService;

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
    /// Binds the unix socket (replacing a stale file) and the TCP address.
    pub async fn bind(config: ServerConfig) -> std::io::Result<Bound> {
        if let Some(parent) = config.socket.parent() {
            std::fs::create_dir_all(parent)?;
        }
        match std::fs::remove_file(&config.socket) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let unix = UnixListener::bind(&config.socket)?;
        std::fs::set_permissions(&config.socket, std::fs::Permissions::from_mode(0o600))?;
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
                    Ok((stream, _)) => serve_connection(stream, &app, header_timeout, &graceful),
                    Err(e) => accept_failed(e).await,
                },
                accepted = accept_tcp(self.tcp.as_ref()) => match accepted {
                    Ok(stream) => serve_connection(stream, &app, header_timeout, &graceful),
                    Err(e) => accept_failed(e).await,
                },
                _ = shutdown.wait_for(|stop| *stop) => break,
            }
        }
        drop(self.unix);
        let _ = std::fs::remove_file(&self.config.socket);
        let _ = tokio::time::timeout(self.config.shutdown_grace, graceful.shutdown()).await;
    }
}

async fn accept_tcp(listener: Option<&TcpListener>) -> std::io::Result<tokio::net::TcpStream> {
    match listener {
        Some(l) => l.accept().await.map(|(s, _)| s),
        None => std::future::pending().await,
    }
}

/// Accept errors (out of file descriptors, mostly) must not spin the loop.
async fn accept_failed(e: std::io::Error) {
    eprintln!("nemotron-service: accept failed: {e}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

fn serve_connection<I>(
    io: I,
    app: &axum::Router,
    header_timeout: Duration,
    graceful: &GracefulShutdown,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = TowerToHyperService::new(app.clone());
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        let _ = connection.await;
    });
}
