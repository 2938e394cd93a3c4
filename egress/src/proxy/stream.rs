//! Stream helpers: replaying bytes already read, recovering a redirected connection's original
//! destination, and telling TLS from HTTP from anything else by the first bytes.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::AsFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A stream that yields `prefix` before reading from `inner`.
pub struct Prefixed<S> {
    prefix: Bytes,
    inner: S,
}

impl<S> Prefixed<S> {
    /// Replays `prefix`, then reads `inner`.
    pub fn new(prefix: Bytes, inner: S) -> Prefixed<S> {
        Prefixed { prefix, inner }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Prefixed<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.prefix.is_empty() {
            let n = self.prefix.len().min(buf.remaining());
            buf.put_slice(&self.prefix[..n]);
            self.prefix.advance(n);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Prefixed<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// The destination a connection had before nftables redirected it (`SO_ORIGINAL_DST`).
pub fn original_destination(socket: &impl AsFd) -> io::Result<SocketAddrV4> {
    let address = nix::sys::socket::getsockopt(socket, nix::sys::socket::sockopt::OriginalDst)
        .map_err(io::Error::from)?;
    Ok(SocketAddrV4::new(
        Ipv4Addr::from(u32::from_be(address.sin_addr.s_addr)),
        u16::from_be(address.sin_port),
    ))
}

/// What the first bytes of a connection look like.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// A TLS handshake record.
    Tls,
    /// An HTTP/1 request line.
    Http,
    /// Anything else, or nothing within the sniff timeout.
    Opaque,
}

/// Classifies the first bytes a client sent. Anything that may be an HTTP request is `Http`,
/// so it is parsed and decided rather than relayed raw: a known method (or a prefix of one),
/// after any leading whitespace or empty lines (which the HTTP server then refuses), or a
/// first line that ends like a request line (`EXTENSION /x HTTP/1.1`).
pub fn sniff(first: &[u8]) -> Protocol {
    const METHODS: [&[u8]; 9] = [
        b"GET ",
        b"HEAD ",
        b"POST ",
        b"PUT ",
        b"PATCH ",
        b"DELETE ",
        b"OPTIONS ",
        b"TRACE ",
        b"CONNECT ",
    ];
    match first.first() {
        None => Protocol::Opaque,
        Some(0x16) => Protocol::Tls,
        Some(_) => {
            let start = first.trim_ascii_start();
            let known_method = METHODS.iter().any(|method| {
                let n = method.len().min(start.len());
                start[..n] == method[..n]
            });
            let first_line = start.split(|b| *b == b'\n').next().unwrap_or_default();
            let request_line = first_line
                .windows(7)
                .any(|w| w == b" HTTP/1" || w == b" HTTP/2");
            if known_method || request_line {
                Protocol::Http
            } else {
                Protocol::Opaque
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt;

    #[test]
    fn first_bytes_are_told_apart() {
        assert_eq!(sniff(&[0x16, 0x03, 0x01]), Protocol::Tls);
        assert_eq!(sniff(b"GET / HTTP/1.1\r\n"), Protocol::Http);
        assert_eq!(sniff(b"POS"), Protocol::Http);
        assert_eq!(sniff(b"EHLO mail\r\n"), Protocol::Opaque);
        assert_eq!(sniff(b"SSH-2.0-OpenSSH"), Protocol::Opaque);
        assert_eq!(sniff(b""), Protocol::Opaque);
        // What a lenient server would still read as a request is inspected, not relayed.
        assert_eq!(sniff(b"\r\nGET / HTTP/1.1\r\n"), Protocol::Http);
        assert_eq!(sniff(b"\r\n\r\n"), Protocol::Http);
        assert_eq!(sniff(b"PROPFIND /x HTTP/1.1\r\n"), Protocol::Http);
    }

    #[tokio::test]
    async fn prefixed_streams_replay_then_continue() {
        let (mut a, b) = tokio::io::duplex(64);
        tokio::io::AsyncWriteExt::write_all(&mut a, b" world")
            .await
            .unwrap();
        drop(a);
        let mut stream = Prefixed::new(Bytes::from_static(b"hello"), b);
        let mut text = String::new();
        stream.read_to_string(&mut text).await.unwrap();
        assert_eq!(text, "hello world");
    }
}
