//! The first request head of a connection, read and checked before hyper parses it.
//!
//! hyper resolves a request carrying both `Content-Length` and `Transfer-Encoding` the safe way
//! (chunked wins, the length is dropped, the connection closes after the response, so nothing
//! can be smuggled behind it) but does so silently. The engine refuses such a request outright
//! with 400, which needs the raw head: the first head is read here (within the header timeout,
//! up to the header size limit) and checked with httparse. Later requests on a kept-alive
//! connection keep hyper's behaviour, which closes the connection after any such request.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::config::Limits;

/// What the first head says.
pub enum FirstHead {
    /// Nothing wrong: every byte read so far, to replay to hyper.
    Pass(Bytes),
    /// Conflicting framing headers: answered with 400 and closed.
    Conflict,
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

const CONFLICT_BODY: &str =
    r#"{"error":"bad_request","reason":"conflicting Content-Length and Transfer-Encoding"}"#;

/// Reads the first head from `io` and checks it.
pub async fn check<S>(io: &mut S, limits: &Limits) -> FirstHead
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let mut buffer = BytesMut::with_capacity(4096);
    let deadline = tokio::time::Instant::now() + limits.header_timeout();
    loop {
        if let Some(end) = buffer.windows(4).position(|w| w == b"\r\n\r\n") {
            if conflicting_framing(&buffer[..end + 4]) {
                let response = format!(
                    "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n\
                     x-openshell-egress: denied\r\nconnection: close\r\ncontent-length: {}\r\n\r\n{}",
                    CONFLICT_BODY.len(),
                    CONFLICT_BODY
                );
                let _ = io.write_all(response.as_bytes()).await;
                let _ = io.shutdown().await;
                return FirstHead::Conflict;
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
            FirstHead::Conflict
        ));
        let mut answer = String::new();
        client.read_to_string(&mut answer).await.unwrap();
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

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
