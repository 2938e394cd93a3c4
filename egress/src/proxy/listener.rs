//! The gateway's TCP listeners: the explicit proxy and the transparent (redirected) one.
//!
//! A connection is identified by its source address (each sandbox has its own, and the
//! node's nftables table only lets a sandbox's veth speak with its own address); an unknown
//! source is closed at once. Each sandbox may hold a bounded number of connections, so one
//! hostile sandbox cannot starve the others.

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::OwnedSemaphorePermit;

use super::http::{self, Origin};
use super::stream::original_destination;
use super::tunnel::{self, Target};
use crate::decision::{Seen, Verdict, decide};
use crate::state::EngineState;

/// Admits a connection from `peer`: its sandbox has room for one more.
fn admit(state: &EngineState, peer: SocketAddr) -> Option<(Ipv4Addr, Arc<OwnedSemaphorePermit>)> {
    let SocketAddr::V4(peer) = peer else {
        state.metrics.refused_connections.inc();
        return None;
    };
    let source = *peer.ip();
    let Some(sandbox) = state.registry.by_source(source) else {
        state.metrics.refused_connections.inc();
        return None;
    };
    match Arc::clone(&sandbox.connections).try_acquire_owned() {
        Ok(permit) => Some((source, Arc::new(permit))),
        Err(_) => {
            tracing::warn!(container = sandbox.id(), "connection limit reached");
            state.metrics.refused_connections.inc();
            None
        }
    }
}

/// Accepts with a pause on errors (e.g. out of file descriptors) instead of spinning.
async fn accept(listener: &TcpListener) -> (TcpStream, SocketAddr) {
    loop {
        match listener.accept().await {
            Ok(accepted) => return accepted,
            Err(error) => {
                tracing::warn!("accept failed: {error}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serves the explicit proxy.
pub async fn serve_explicit(state: Arc<EngineState>, listener: TcpListener) {
    loop {
        let (stream, peer) = accept(&listener).await;
        let Some((source, permit)) = admit(&state, peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            state.metrics.open_connections.inc();
            http::serve(Arc::clone(&state), source, Origin::Explicit, permit, stream).await;
            state.metrics.open_connections.dec();
        });
    }
}

/// Serves redirected connections.
pub async fn serve_transparent(state: Arc<EngineState>, listener: TcpListener) {
    loop {
        let (stream, peer) = accept(&listener).await;
        let Some((source, permit)) = admit(&state, peer) else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            state.metrics.open_connections.inc();
            redirected(Arc::clone(&state), source, stream, permit).await;
            state.metrics.open_connections.dec();
        });
    }
}

async fn redirected(
    state: Arc<EngineState>,
    source: Ipv4Addr,
    stream: TcpStream,
    permit: Arc<OwnedSemaphorePermit>,
) {
    let started = Instant::now();
    let Some(sandbox) = state.registry.by_source(source) else {
        return;
    };
    let destination = match original_destination(&stream) {
        Ok(destination) => destination,
        Err(error) => {
            tracing::debug!(%source, "no original destination: {error}");
            return;
        }
    };
    let name = state
        .synthetic
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .name_for(*destination.ip())
        .map(str::to_owned);
    let seen = Seen::Redirected {
        destination,
        host: name.as_deref(),
    };
    match (decide(&sandbox, seen), name) {
        (Verdict::Allow(_), Some(host)) => {
            let target = Target {
                host,
                port: destination.port(),
            };
            http::serve_tunnel(state, source, target, stream, permit).await;
        }
        (Verdict::Deny(refusal), _) => tunnel::refuse(&state, &sandbox, refusal, started),
        (Verdict::Allow(_), None) => unreachable!("decide refuses connections by address"),
    }
}
