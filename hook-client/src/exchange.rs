//! One HTTP/1.1 exchange with the policy service over its unix socket, blocking, bounded by a
//! timeout; the service closes the connection after answering.

use std::io::{ErrorKind, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::HookClientError;

/// Largest answer read from the service.
const MAX_ANSWER: usize = 64 * 1024;

/// The service's answer.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub body: Vec<u8>,
}

impl Answer {
    /// The `error` of a JSON error body, else the body's start.
    pub fn error_text(&self) -> String {
        serde_json::from_slice::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["error"].as_str().map(str::to_owned))
            .unwrap_or_else(|| {
                String::from_utf8_lossy(&self.body)
                    .chars()
                    .take(200)
                    .collect()
            })
    }

    /// The error for an answer the hook did not expect.
    pub fn refused(&self, socket: &Path) -> HookClientError {
        HookClientError::Service(format!(
            "the policy service at {} answered {}: {}",
            socket.display(),
            self.status,
            self.error_text()
        ))
    }
}

/// `method path` with `body` (JSON) to the service at `socket`, all of it within `timeout`.
pub fn call(
    socket: &Path,
    timeout: Duration,
    method: &str,
    path: &str,
    body: Option<&[u8]>,
) -> Result<Answer, HookClientError> {
    let deadline = Instant::now() + timeout;
    let failed = |what: String| {
        HookClientError::Service(format!(
            "the policy service at {}: {what}",
            socket.display()
        ))
    };
    let late = || {
        HookClientError::Service(format!(
            "the policy service at {} did not answer within {timeout:?}; failing closed",
            socket.display()
        ))
    };
    let io_failed = |e: std::io::Error| match e.kind() {
        ErrorKind::WouldBlock | ErrorKind::TimedOut => late(),
        _ => failed(e.to_string()),
    };
    let remaining = || {
        deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(late)
    };
    let mut stream = UnixStream::connect(socket).map_err(|e| {
        HookClientError::Service(format!(
            "cannot connect to the policy service at {}: {e}",
            socket.display()
        ))
    })?;
    let body = body.unwrap_or_default();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nhost: openshell\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    stream
        .set_write_timeout(Some(remaining()?))
        .map_err(io_failed)?;
    stream.write_all(&request).map_err(io_failed)?;
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        stream
            .set_read_timeout(Some(remaining()?))
            .map_err(io_failed)?;
        match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&chunk[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_failed(e)),
        }
        if answer.len() > MAX_ANSWER {
            return Err(failed(format!("answer larger than {MAX_ANSWER} bytes")));
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(&answer) {
        Ok(httparse::Status::Complete(head)) => Ok(Answer {
            status: response.code.unwrap_or_default(),
            body: answer[head..].to_vec(),
        }),
        Ok(httparse::Status::Partial) => Err(failed("the answer ended early".to_owned())),
        Err(e) => Err(failed(format!("not an HTTP answer: {e}"))),
    }
}
