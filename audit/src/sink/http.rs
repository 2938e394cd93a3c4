//! `siem://NAME` → HTTP: each batch POSTed as one JSON array (`Content-Type:
//! application/json`). 2xx is delivered; 408, 429, 5xx and connection errors are retried;
//! other 4xx reject the batch for good (it is kept on disk, not resent).

use std::time::Duration;

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
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .http_status_as_error(false)
            .input_buffer_size(BUFFER_BYTES)
            .output_buffer_size(BUFFER_BYTES)
            .max_response_header_size(BUFFER_BYTES)
            .build()
            .into();
        HttpSink { url, agent }
    }
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
