//! The first request head of a connection, read and checked before hyper parses it.
//!
//! hyper resolves a request carrying both `Content-Length` and `Transfer-Encoding` the safe way
//! (chunked wins, the length is dropped, the connection closes after the response, so nothing
//! can be smuggled behind it) but does so silently. The engine refuses such a request outright
//! with 400, which needs the raw head: the first head is read here (within the header timeout,
//! up to the header size limit) and checked with httparse. Later requests on a kept-alive
//! connection keep hyper's behaviour, which closes the connection after any such request.
//!
//! A first head that starts with empty lines (`\r\nGET / HTTP/1.1`) is refused with 400 too:
//! RFC 9112 §2.2 lets a server skip them, but a proxy that skips them reads a different
//! request start than a filter that does not, and this is where tunnels decide what a
//! connection carries (see [`super::stream::sniff`]).

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Limits;

/// What the first head says.
pub enum FirstHead {
    /// Nothing wrong: every byte read so far, to replay to hyper.
    Pass(Bytes),
    /// Refused (conflicting framing headers, leading empty lines): answered with 400 and
    /// closed; the reason, to audit.
    Refused(&'static str),
    /// The client sent nothing usable in time, or too much: closed (hyper's statuses apply
    /// otherwise; here the connection has not reached it).
    Closed,
}

/// Headers parsed at most; a head with more is left for hyper to refuse (431).
const MAX_HEADERS: usize = 128;

fn conflicting_framing(head: &[u8]) -> bool {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    if !matches!(request.parse(head), Ok(httparse::Status::Complete(_))) {
        return false;
    }
    let has = |name: &str| {
        request
            .headers
            .iter()
            .any(|h| h.name.eq_ignore_ascii_case(name))
    };
    has("content-length") && has("transfer-encoding")
}

const CONFLICT: &str = "conflicting Content-Length and Transfer-Encoding";
const LEADING_EMPTY_LINES: &str = "empty lines before the request line";

/// Answers 400 with `reason` and closes.
async fn refuse<S: AsyncWrite + Unpin>(io: &mut S, reason: &'static str) -> FirstHead {
    let body = serde_json::json!({"error": "bad_request", "reason": reason}).to_string();
    let response = format!(
        "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
         x-openshell-egress: denied\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    );
    let _ = io.write_all(response.as_bytes()).await;
    let _ = io.shutdown().await;
    FirstHead::Refused(reason)
}

/// Reads the first head from `io` and checks it.
pub async fn check<S>(io: &mut S, limits: &Limits) -> FirstHead
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(4096);
    let deadline = tokio::time::Instant::now() + limits.header_timeout();
    loop {
        if matches!(buffer.first(), Some(b'\r' | b'\n')) {
            return refuse(io, LEADING_EMPTY_LINES).await;
        }
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            if conflicting_framing(&buffer[..end + 4]) {
                return refuse(io, CONFLICT).await;
            }
            return FirstHead::Pass(buffer.freeze());
        }
        if buffer.len() >= limits.max_header_bytes {
            // Oversized: hyper answers 431 for the same head.
            return FirstHead::Pass(buffer.freeze());
        }
        match tokio::time::timeout_at(deadline, io.read_buf(&mut buffer)).await {
            Ok(Ok(n)) if n > 0 => {}
            _ => return FirstHead::Closed,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_framing_headers_in_any_order_and_case_conflict() {
        assert!(conflicting_framing(
            b"POST / HTTP/1.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
        assert!(conflicting_framing(
            b"POST / HTTP/1.1\r\ntransfer-encoding: chunked\r\ncontent-LENGTH: 4\r\n\r\n"
        ));
        assert!(!conflicting_framing(
            b"POST / HTTP/1.1\r\nContent-Length: 4\r\n\r\n"
        ));
        assert!(!conflicting_framing(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
        ));
    }

    #[tokio::test]
    async fn a_conflicting_head_is_answered_and_a_clean_one_replayed() {
        let limits = Limits::default();
        let (mut client, mut server) = tokio::io::duplex(4096);
        client
            .write_all(
                b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
            )
            .await
            .unwrap();
        assert!(matches!(
            check(&mut server, &limits).await,
            FirstHead::Refused(CONFLICT)
        ));
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

        let (mut client, mut server) = tokio::io::duplex(4096);
        client
            .write_all(b"\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        assert!(matches!(
            check(&mut server, &limits).await,
            FirstHead::Refused(LEADING_EMPTY_LINES)
        ));
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains(LEADING_EMPTY_LINES), "{answer}");

        let (mut client, mut server) = tokio::io::duplex(4096);
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\nnext")
            .await
            .unwrap();
        let FirstHead::Pass(bytes) = check(&mut server, &limits).await else {
            panic!("a clean head passes");
        };
        assert!(bytes.starts_with(b"GET / HTTP/1.1"));
    }
}
