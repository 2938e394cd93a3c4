//! `siem://NAME` → HTTP: each batch POSTed as one JSON array (`Content-Type:
//! application/json`). 2xx is delivered; 408, 429, 5xx and connection errors are retried;
//! other 4xx reject the batch for good (it is kept on disk, not resent).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{DefaultConnector, NextTimeout};

use super::{DeliveryError, Sink};

pub(crate) struct HttpSink {
    url: String,
    agent: ureq::Agent,
}

/// Bytes buffered each way on a connection: a batch and a collector's answer fit, and a
/// short-lived process delivering one event does not zero ureq's default 128 KiB twice.
const BUFFER_BYTES: usize = 16 * 1024;

impl HttpSink {
    pub(crate) fn new(url: String, timeout: Duration) -> HttpSink {
        let config = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .input_buffer_size(BUFFER_BYTES)
            .output_buffer_size(BUFFER_BYTES)
            .max_response_header_size(BUFFER_BYTES)
            .build();
        let agent =
            ureq::Agent::with_parts(config, DefaultConnector::new(), LiteralFirst::default());
        HttpSink { url, agent }
    }
}

/// Takes a collector written as an IP address as it is, and resolves any other host name as
/// ureq does by default. ureq's own resolver looks even an address up on a thread of its own
/// whenever a timeout is set, and a hook that delivers one event would start that thread, and
/// wait for it, to learn what the URL already says.
#[derive(Debug, Default)]
struct LiteralFirst(DefaultResolver);

impl Resolver for LiteralFirst {
    fn resolve(
        &self,
        uri: &Uri,
        config: &Config,
        timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        match literal_address(uri) {
            Some(address) => {
                let mut addresses = self.empty();
                addresses.push(address);
                Ok(addresses)
            }
            None => self.0.resolve(uri, config, timeout),
        }
    }
}

/// The address and port `uri` names when its host is an IP address (IPv6 in brackets).
fn literal_address(uri: &Uri) -> Option<SocketAddr> {
    let authority = uri.authority()?;
    let host = authority.host();
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let ip: IpAddr = host.parse().ok()?;
    let port = authority.port_u16().or(match uri.scheme_str()? {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    })?;
    Some(SocketAddr::new(ip, port))
}

impl Sink for HttpSink {
    fn deliver(&mut self, lines: &[String]) -> Result<(), DeliveryError> {
        let mut body = String::with_capacity(lines.iter().map(|l| l.len() + 1).sum::<usize>() + 2);
        body.push('[');
        for (i, line) in lines.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(line);
        }
        body.push(']');
        let response = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json")
            .send(body.as_bytes())
            .map_err(|e| DeliveryError::Transient(format!("POST {}: {e}", self.url)))?;
        let status = response.status().as_u16();
        match status {
            200..=299 => Ok(()),
            408 | 429 | 500..=599 => Err(DeliveryError::Transient(format!(
                "POST {}: HTTP {status}",
                self.url
            ))),
            _ => Err(DeliveryError::Rejected(format!(
                "POST {}: HTTP {status}",
                self.url
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_in_the_url_are_taken_as_they_are_and_names_are_left_to_resolve() {
        for (uri, expected) in [
            ("http://127.0.0.1:18999/", Some("127.0.0.1:18999")),
            ("http://10.0.0.7/events", Some("10.0.0.7:80")),
            ("https://10.0.0.7/", Some("10.0.0.7:443")),
            ("https://[::1]:8088/", Some("[::1]:8088")),
            ("https://siem.example.test:8088/", None),
            ("https://localhost/", None),
        ] {
            let expected = expected.map(|address| address.parse::<SocketAddr>().unwrap());
            assert_eq!(literal_address(&uri.parse().unwrap()), expected, "{uri}");
        }
    }
}
