//! Serving connections: hyper's HTTP/1 per connection with a header-read timeout (slow clients
//! are cut off), each watched by a graceful shutdown that drains for a bounded time.

use std::time::Duration;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::Service;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::watch;

/// Serves one connection on a task of its own with `service`, cutting it off when the request
/// headers take longer than `header_timeout`; `graceful` drains it at shutdown.
pub fn serve_connection<I, S, B>(
    io: I,
    service: S,
    header_timeout: Duration,
    graceful: &GracefulShutdown,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Service<hyper::Request<Incoming>, Response = hyper::Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service);
    let connection = graceful.watch(connection);
    tokio::spawn(async move {
        let _ = connection.await;
    });
}

/// After a failed accept (out of file descriptors, mostly): reports it as `component` and
/// pauses, so the accept loop does not spin.
pub async fn accept_failed(component: &str, error: std::io::Error) {
    eprintln!("{component}: accept failed: {error}");
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Resolves once `shutdown` turns true (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Waits for the open connections to finish, for at most `grace`.
pub async fn drain(graceful: GracefulShutdown, grace: Duration) {
    let _ = tokio::time::timeout(grace, graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bind_unix_socket;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn connections_are_served_and_slow_headers_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let listener = bind_unix_socket(&path, 0o600).unwrap();
        let graceful = GracefulShutdown::new();
        let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
        let server = tokio::spawn(async move {
            for _ in 0..2 {
                let (stream, _) = listener.accept().await.unwrap();
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                serve_connection(stream, service, Duration::from_millis(200), &graceful);
            }
            drain(graceful, Duration::from_secs(2)).await;
        });

        let mut client = tokio::net::UnixStream::connect(&path).await.unwrap();
        client
            .write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("hello"), "{answer}");

        let mut slow = tokio::net::UnixStream::connect(&path).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), slow.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "a client that never ends its headers is cut off"
        );
        server.await.unwrap();
    }
}
