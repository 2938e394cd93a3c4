//! Sinks deliver batches of serialized events (one JSON object per line, no newline) to a
//! destination. A sink never retries by itself: the logger decides, and spools on failure.

mod file;
mod http;
mod syslog;

pub(crate) use file::FileSink;
pub(crate) use http::HttpSink;
pub(crate) use syslog::SyslogSink;

use std::time::Duration;

use crate::destination::Destination;

/// Why a batch was not delivered.
#[derive(Debug)]
pub(crate) enum DeliveryError {
    /// Worth retrying later (destination down, timeout, 5xx, 429).
    Transient(String),
    /// The destination refused the batch for good (4xx): retrying cannot help.
    Rejected(String),
}

impl std::fmt::Display for DeliveryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeliveryError::Transient(why) => write!(f, "{why} (will retry)"),
            DeliveryError::Rejected(why) => write!(f, "{why} (rejected)"),
        }
    }
}

/// A destination's writer.
pub(crate) trait Sink: Send {
    /// Delivers `lines` in order, all or nothing as far as the destination allows.
    fn deliver(&mut self, lines: &[String]) -> Result<(), DeliveryError>;
}

/// The sink for a resolved destination.
pub(crate) fn open(destination: &Destination, request_timeout: Duration) -> Box<dyn Sink> {
    match destination {
        Destination::File(path) => Box::new(FileSink::new(path.clone())),
        Destination::Syslog(target) => Box::new(SyslogSink::new(target.clone())),
        Destination::Http { url, .. } => Box::new(HttpSink::new(url.clone(), request_timeout)),
    }
}
