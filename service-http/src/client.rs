//! A client call over a unix socket: one connection per call, the whole exchange (connect,
//! send, receive) bounded by a timeout, the answer's size limited.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode, header};
use hyper_util::rt::TokioIo;
use tokio::net::UnixStream;

/// Why a call got no answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The socket cannot be connected (service not running, wrong path, permissions).
    #[error("{source}")]
    Connect {
        /// The socket.
        socket: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The call did not complete in time.
    #[error("no answer within {} ms", timeout.as_millis())]
    Timeout {
        /// The socket.
        socket: PathBuf,
        /// The limit.
        timeout: Duration,
    },
    /// The connection broke, or the answer exceeded the size limit.
    #[error("{0}")]
    Transport(String),
}

/// An HTTP/1 API at a unix socket.
#[derive(Debug, Clone)]
pub struct UnixClient {
    socket: PathBuf,
    timeout: Duration,
    host: &'static str,
    max_answer: usize,
}

impl UnixClient {
    /// A client of the API at `socket`, naming `host` in its requests; every call must finish
    /// within `timeout` and its answer fit in `max_answer` bytes.
    pub fn new(
        socket: impl Into<PathBuf>,
        timeout: Duration,
        host: &'static str,
        max_answer: usize,
    ) -> UnixClient {
        UnixClient {
            socket: socket.into(),
            timeout,
            host,
            max_answer,
        }
    }

    /// The socket.
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// One request (a JSON body when there is one); the status and the whole answer.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<(StatusCode, Bytes), CallError> {
        let transport = |e: &dyn std::fmt::Display| CallError::Transport(e.to_string());
        let exchange = async {
            let stream =
                UnixStream::connect(&self.socket)
                    .await
                    .map_err(|source| CallError::Connect {
                        socket: self.socket.clone(),
                        source,
                    })?;
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .map_err(|e| transport(&e))?;
            let driver = tokio::spawn(connection);
            let mut request = Request::builder()
                .method(method)
                .uri(path)
                .header(header::HOST, self.host);
            if body.is_some() {
                request = request.header(header::CONTENT_TYPE, "application/json");
            }
            let request = request
                .body(Full::new(Bytes::from(body.unwrap_or_default())))
                .map_err(|e| transport(&e))?;
            let response = sender
                .send_request(request)
                .await
                .map_err(|e| transport(&e))?;
            let status = response.status();
            let answer = Limited::new(response.into_body(), self.max_answer)
                .collect()
                .await
                .map_err(|e| transport(&e))?
                .to_bytes();
            driver.abort();
            Ok((status, answer))
        };
        tokio::time::timeout(self.timeout, exchange)
            .await
            .map_err(|_| CallError::Timeout {
                socket: self.socket.clone(),
                timeout: self.timeout,
            })?
    }
}

/// What an error answer says: its JSON `error` text, or else the start of the body.
pub fn error_text(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).chars().take(200).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::UnixListener;

    /// A server that reads one request and answers `answer` (or nothing, when `None`).
    fn answer_once(path: &Path, answer: Option<&'static str>) -> tokio::task::JoinHandle<String> {
        let listener = UnixListener::bind(path).unwrap();
        tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut request = vec![0; 4096];
            let n = stream.read(&mut request).await.unwrap();
            match answer {
                Some(answer) => stream.write_all(answer.as_bytes()).await.unwrap(),
                None => tokio::time::sleep(Duration::from_secs(5)).await,
            }
            String::from_utf8_lossy(&request[..n]).into_owned()
        })
    }

    #[tokio::test]
    async fn a_call_sends_json_and_reads_the_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let server = answer_once(
            &path,
            Some("HTTP/1.1 404 Not Found\r\ncontent-length: 22\r\n\r\n{\"error\":\"no such id\"}"),
        );
        let client = UnixClient::new(&path, Duration::from_secs(2), "test", 1024);
        let (status, answer) = client
            .call(Method::PUT, "/v1/x", Some(b"{}".to_vec()))
            .await
            .unwrap();
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(error_text(&answer), "no such id");
        let request = server.await.unwrap();
        assert!(request.starts_with("PUT /v1/x HTTP/1.1\r\n"), "{request}");
        assert!(
            request.contains("content-type: application/json"),
            "{request}"
        );
        assert!(request.contains("host: test"), "{request}");
    }

    #[tokio::test]
    async fn a_call_fails_on_no_socket_a_silent_server_and_a_large_answer() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("api.sock");
        let client = UnixClient::new(&path, Duration::from_millis(200), "test", 8);
        let missing = client.call(Method::GET, "/", None).await.unwrap_err();
        assert!(matches!(missing, CallError::Connect { .. }), "{missing:?}");

        let _silent = answer_once(&path, None);
        let silent = client.call(Method::GET, "/", None).await.unwrap_err();
        assert_eq!(silent.to_string(), "no answer within 200 ms");

        std::fs::remove_file(&path).unwrap();
        let _large = answer_once(
            &path,
            Some("HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\n123456789"),
        );
        let large = client.call(Method::GET, "/", None).await.unwrap_err();
        assert!(matches!(large, CallError::Transport(_)), "{large:?}");
    }

    #[test]
    fn error_text_reads_the_error_field_or_the_body() {
        assert_eq!(error_text(br#"{"error":"refused"}"#), "refused");
        assert_eq!(error_text(b"plain"), "plain");
        assert_eq!(error_text(&[b'x'; 300]).len(), 200);
    }
}
