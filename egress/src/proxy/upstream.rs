//! Upstream connections: to exactly the address the resolver checked, with TLS verified
//! against the configured trust store when the request was decrypted, kept per client
//! connection for the next request to the same place.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use super::responses::ProxyBody;

/// Where an upstream connection goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UpstreamKey {
    /// The checked address and port.
    pub address: SocketAddr,
    /// Whether TLS is spoken (re-encrypting a decrypted request).
    pub tls: bool,
    /// The host name (TLS server name and certificate check).
    pub host: String,
}

/// Why an upstream connection failed.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// TCP connect failed or timed out.
    #[error("cannot connect to {address}: {message}")]
    Connect {
        /// The address.
        address: SocketAddr,
        /// Why.
        message: String,
    },
    /// The TLS handshake failed (certificate not trusted, wrong name, …).
    #[error("TLS to {host} failed: {message}")]
    Tls {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
    /// The HTTP exchange failed.
    #[error("HTTP to {host} failed: {message}")]
    Http {
        /// The host.
        host: String,
        /// Why.
        message: String,
    },
}

/// An open upstream HTTP/1 connection.
pub struct Upstream {
    /// Where it goes.
    pub key: UpstreamKey,
    /// Its request handle.
    pub sender: SendRequest<ProxyBody>,
}

/// Opens a TCP connection to `address` within `timeout`.
pub async fn connect_tcp(
    address: SocketAddr,
    timeout: Duration,
) -> Result<TcpStream, UpstreamError> {
    let connect_error = |message: String| UpstreamError::Connect { address, message };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(address))
        .await
        .map_err(|_| connect_error(format!("timed out after {} ms", timeout.as_millis())))?
        .map_err(|e| connect_error(e.to_string()))?;
    // Small requests and responses: do not wait to coalesce.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Opens an upstream HTTP/1 connection for `key`.
pub async fn open(
    key: UpstreamKey,
    tls: &Arc<rustls::ClientConfig>,
    timeout: Duration,
) -> Result<Upstream, UpstreamError> {
    let stream = connect_tcp(key.address, timeout).await?;
    let http_error = |e: hyper::Error| UpstreamError::Http {
        host: key.host.clone(),
        message: e.to_string(),
    };
    let sender = if key.tls {
        let tls_error = |message: String| UpstreamError::Tls {
            host: key.host.clone(),
            message,
        };
        let name = ServerName::try_from(key.host.clone()).map_err(|e| tls_error(e.to_string()))?;
        let stream = tokio::time::timeout(
            timeout,
            TlsConnector::from(Arc::clone(tls)).connect(name, stream),
        )
        .await
        .map_err(|_| tls_error("handshake timed out".to_owned()))?
        .map_err(|e| tls_error(e.to_string()))?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http_error)?;
        tokio::spawn(connection);
        sender
    } else {
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(http_error)?;
        tokio::spawn(connection);
        sender
    };
    Ok(Upstream { key, sender })
}
