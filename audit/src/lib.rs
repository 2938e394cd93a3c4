//! Audit trail: one JSON event per decision, PII redacted, delivered to the SandboxPolicy's
//! `auditLog.destination`.
//!
//! # Public API
//! - [`new_event`], [`decision_event`]: build an [`AuditEvent`](openshell_policy::wire::AuditEvent)
//!   (the record lives in `openshell_policy::wire` so readers need no extra dependency).
//! - [`AuditLogger`]: one destination — `file://PATH` (JSON lines, `O_APPEND`, fdatasync per
//!   batch), `syslog://` (RFC 5424 over a unix socket path or UDP `host:port`), `siem://NAME`
//!   (resolved by the node configuration's `[siem]` table to an HTTP endpoint, batched as JSON
//!   arrays, or to a syslog target). [`AuditLogger::log`] never blocks on the destination: a
//!   bounded queue feeds a writer thread; when the queue is full the caller spools. Failed
//!   batches are spooled to disk and retried with exponential backoff; the spool is replayed
//!   when a logger starts, so nothing is lost across restarts (delivery is at least once; the
//!   event `id` de-duplicates). A spool holds at most `[audit] spool_max_bytes` (64 MiB): past
//!   it the newest events are dropped, counted ([`AuditStats::dropped`],
//!   [`AuditHub::dropped_events`]) and reported to the destination by one `audit.dropped`
//!   event (`component: audit`, `decision: dropped`, the count in `reason`) once it is back.
//! - [`AuditHub`]: a process's loggers by destination, plus the node's local trail
//!   (`[audit] trail`) that every event is also written to.
//! - [`read_trail`]: a container's events from a trail file; [`TrailCursor`]: the events
//!   appended to a trail since the last look (`openshell audit CONTAINER [--follow]`).
//! - [`redact_event`]: the redaction applied to every event before it leaves the process.
//!
//! # Features
//! `delivery` (default) is everything that writes events. Without it the crate is the trail
//! reader alone, with no HTTP, TLS, syslog or content-detector dependencies: what the runtime
//! binary links for `openshell audit`.

#[cfg(feature = "delivery")]
mod destination;
#[cfg(feature = "delivery")]
mod event;
#[cfg(feature = "delivery")]
mod hub;
#[cfg(feature = "delivery")]
mod logger;
mod reader;
#[cfg(feature = "delivery")]
mod sink;
#[cfg(feature = "delivery")]
mod spool;

use std::path::PathBuf;
use std::time::Duration;

#[cfg(feature = "delivery")]
pub use destination::{Destination, SyslogTarget};
#[cfg(feature = "delivery")]
pub use event::{decision_event, new_event, prepare_redaction, redact_event};
#[cfg(feature = "delivery")]
pub use hub::AuditHub;
#[cfg(feature = "delivery")]
pub use logger::{AuditLogger, AuditStats, FlushReport, LoggerOptions};
pub use reader::{Trail, TrailCursor, TrailQuery, read_trail};

/// Errors of the audit library.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// The destination string is malformed or names an unknown SIEM.
    #[error("audit destination {destination:?}: {why}")]
    Destination {
        /// The destination as written in the policy.
        destination: String,
        /// What is wrong.
        why: String,
    },
    /// The spool directory cannot be created or written.
    #[error("audit spool {dir}: {source}")]
    Spool {
        /// The spool directory.
        dir: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A trail file cannot be read.
    #[error("cannot read audit trail {path}: {source}")]
    Read {
        /// The trail file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The writer did not confirm a flush in time.
    #[error("audit flush did not complete within {0:?}")]
    FlushTimeout(Duration),
}
