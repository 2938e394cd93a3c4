//! One HTTP/1.1 exchange with the policy service over its unix socket, blocking, bounded by a
//! timeout. The answer ends where its `content-length` says, else where the service closes
//! the connection.

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
    // Read until the answer is whole: its head and the body its `content-length` announces,
    // not until the service closes the connection, which can come milliseconds later when the
    // service's thread is not running (23 ms seen in a container start on 2 vCPUs); without a
    // length, until the close.
    let mut answer = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(whole) = complete(&answer).map_err(failed)? {
            return Ok(whole);
        }
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
    match parse(&answer).map_err(failed)? {
        Some((status, head, None)) => Ok(Answer {
            status,
            body: answer[head..].to_vec(),
        }),
        Some((_, _, Some(_))) | None => Err(failed("the answer ended early".to_owned())),
    }
}

/// The answer in `bytes`, once its head and the whole body its `content-length` announces
/// have arrived.
fn complete(bytes: &[u8]) -> Result<Option<Answer>, String> {
    Ok(match parse(bytes)? {
        Some((status, head, Some(length))) if bytes.len() - head >= length => Some(Answer {
            status,
            body: bytes[head..head + length].to_vec(),
        }),
        _ => None,
    })
}

/// The status, the head's length and the announced body length of the answer `bytes` starts
/// with, once its head is whole.
fn parse(bytes: &[u8]) -> Result<Option<(u16, usize, Option<usize>)>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(bytes) {
        Ok(httparse::Status::Complete(head)) => {
            let length = response
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .map(|h| {
                    std::str::from_utf8(h.value)
                        .ok()
                        .and_then(|v| v.trim().parse::<usize>().ok())
                        .ok_or_else(|| "a malformed content-length".to_owned())
                })
                .transpose()?;
            Ok(Some((response.code.unwrap_or_default(), head, length)))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(e) => Err(format!("not an HTTP answer: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_ends_at_its_content_length() {
        let head = b"HTTP/1.1 201 Created\r\ncontent-length: 2\r\n\r\n";
        assert!(complete(&head[..20]).unwrap().is_none(), "a partial head");
        assert!(complete(head).unwrap().is_none(), "no body yet");
        let whole = [&head[..], b"{}"].concat();
        let answer = complete(&whole).unwrap().unwrap();
        assert_eq!((answer.status, answer.body.as_slice()), (201, &b"{}"[..]));
        // Bytes after the announced body are not part of the answer.
        let more = [&whole[..], b"junk"].concat();
        assert_eq!(complete(&more).unwrap().unwrap().body, b"{}");
        // Without a length the answer ends only where the connection does.
        assert!(complete(b"HTTP/1.1 200 OK\r\n\r\nbody").unwrap().is_none());
        assert!(
            complete(b"HTTP/1.1 200 OK\r\ncontent-length: x\r\n\r\n")
                .unwrap_err()
                .contains("content-length")
        );
        assert!(complete(b"SSH-2.0-OpenSSH\r\n\r\n").is_err());
    }
}
