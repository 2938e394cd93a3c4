//! Listeners and connections: the OpenAI front on TCP (sandboxes), the admin API on a unix
//! socket (mode 0600: root on the node), hyper's HTTP/1 serving each connection with a
//! header-read timeout (slow clients are cut off), a per-source connection limit, graceful
//! shutdown, and the background work (registry polling, probes of down endpoints).
//!
//! The front's listener sets `IP_FREEBIND`, so it can bind the sandboxes' gateway address
//! (`10.200.0.1`) before the first sandbox's veth gives the node that address.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::server::graceful::GracefulShutdown;
use openshell_service_http::{accept_failed, bind_unix_socket, drain, serve_connection, stopped};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio::sync::watch;
use tower_service::Service;

use crate::openai::Peer;
use crate::service::PrivacyRouter;

/// How accept failures are reported.
const COMPONENT: &str = "openshell-router";

/// Listeners bound and ready to serve.
pub struct Bound {
    front: TcpListener,
    admin: UnixListener,
    admin_path: PathBuf,
}

impl Bound {
    /// Binds the admin socket (replacing a stale socket, refusing any other file; mode 0600)
    /// and the front's address.
    pub async fn bind(admin_socket: &Path, listen: SocketAddr) -> std::io::Result<Bound> {
        let admin = bind_unix_socket(admin_socket, 0o600)?;
        let socket = socket2::Socket::new(
            socket2::Domain::for_address(listen),
            socket2::Type::STREAM,
            Some(socket2::Protocol::TCP),
        )?;
        socket.set_reuse_address(true)?;
        socket.set_tcp_nodelay(true)?;
        if listen.is_ipv4() {
            socket.set_freebind_v4(true)?;
        }
        socket.set_nonblocking(true)?;
        socket.bind(&listen.into())?;
        socket.listen(1024)?;
        let front = TcpListener::from_std(socket.into())?;
        Ok(Bound {
            front,
            admin,
            admin_path: admin_socket.to_owned(),
        })
    }

    /// The front's bound address (useful with port 0).
    pub fn front_addr(&self) -> std::io::Result<SocketAddr> {
        self.front.local_addr()
    }

    /// Serves until `shutdown` turns true, then drains connections (up to 5 s) and removes the
    /// admin socket.
    pub async fn serve(self, router: Arc<PrivacyRouter>, mut shutdown: watch::Receiver<bool>) {
        if let Ok(addr) = self.front.local_addr() {
            router.set_listen(addr);
        }
        let generation = router.generation();
        let limits = generation.config.limits.clone();
        let front = crate::proxy::front(Arc::clone(&router));
        let admin = crate::admin::admin(Arc::clone(&router));
        let graceful = GracefulShutdown::new();
        let per_source = SourceLimits::new(limits.max_connections_per_source);
        let background = spawn_background(Arc::clone(&router), shutdown.clone());
        loop {
            tokio::select! {
                accepted = self.front.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let _ = stream.set_nodelay(true);
                        match per_source.admit(peer.ip()) {
                            Some(slot) => serve_app(
                                stream, front.clone(), Some(Peer(peer)), Some(slot),
                                limits.header_timeout(), &graceful,
                            ),
                            None => refuse(stream),
                        }
                    }
                    Err(e) => accept_failed(COMPONENT, e).await,
                },
                accepted = self.admin.accept() => match accepted {
                    Ok((stream, _)) => serve_app(
                        stream, admin.clone(), None, None, limits.header_timeout(), &graceful,
                    ),
                    Err(e) => accept_failed(COMPONENT, e).await,
                },
                _ = stopped(&mut shutdown) => break,
            }
        }
        drop(self.admin);
        let _ = std::fs::remove_file(&self.admin_path);
        drain(graceful, Duration::from_secs(5)).await;
        background.abort();
    }
}

/// Registry polling and probes of down endpoints, until shutdown.
fn spawn_background(
    router: Arc<PrivacyRouter>,
    mut shutdown: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let generation = router.generation();
        let mut poll =
            tokio::time::interval(Duration::from_millis(generation.config.registry_poll_ms));
        let mut probe = tokio::time::interval(Duration::from_millis(
            generation.config.health.probe_interval_ms,
        ));
        drop(generation);
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        probe.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = poll.tick() => {
                    for problem in router.scan(false).await.problems {
                        eprintln!("openshell-router: registration not loaded: {problem}");
                    }
                }
                _ = probe.tick() => router.probe_down_endpoints().await,
                _ = stopped(&mut shutdown) => break,
            }
        }
    })
}

/// Answers a connection over the per-source limit with 429 and closes it.
fn refuse(mut stream: TcpStream) {
    tokio::spawn(async move {
        let body = r#"{"error":{"message":"too many connections from this address","type":"openshell_router","code":"too_many_connections","param":null}}"#;
        let response = format!(
            "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = tokio::time::timeout(Duration::from_secs(1), async {
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        })
        .await;
    });
}

/// Serves one connection with `app`, each request carrying the connection's `peer`; the
/// connection holds its source's `slot` until it ends.
fn serve_app<I>(
    io: I,
    app: Router,
    peer: Option<Peer>,
    slot: Option<SourceSlot>,
    header_timeout: Duration,
    graceful: &GracefulShutdown,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |mut request: hyper::Request<Incoming>| {
        // The service owns the slot, so it is freed when the connection and its service end.
        let _slot = &slot;
        if let Some(peer) = peer {
            request.extensions_mut().insert(peer);
        }
        let mut app = app.clone();
        async move { app.call(request.map(axum::body::Body::new)).await }
    });
    serve_connection(io, service, header_timeout, graceful);
}

/// Open connections per source address.
#[derive(Clone)]
struct SourceLimits {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One admitted connection; frees its place when dropped.
struct SourceSlot {
    ip: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl SourceLimits {
    fn new(max: usize) -> SourceLimits {
        SourceLimits {
            max,
            open: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    fn admit(&self, ip: IpAddr) -> Option<SourceSlot> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let count = open.entry(ip).or_insert(0);
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(SourceSlot {
            ip,
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for SourceSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_limited_one_by_one() {
        let limits = SourceLimits::new(2);
        let a: IpAddr = "10.200.0.2".parse().unwrap();
        let b: IpAddr = "10.200.0.3".parse().unwrap();
        let first = limits.admit(a).unwrap();
        let _second = limits.admit(a).unwrap();
        assert!(limits.admit(a).is_none());
        assert!(limits.admit(b).is_some(), "another source is not affected");
        drop(first);
        assert!(limits.admit(a).is_some());
    }
}
