//! HTTP over unix sockets as the node services share it: binding a socket safely, serving
//! connections with graceful shutdown, bounded JSON bodies, one JSON error answer, and a
//! client call with a timeout; an error with its sources, for messages; and the trust roots of
//! an operator's CA file, for a service's outbound TLS.

mod chain;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "server")]
mod error;
#[cfg(feature = "tls-roots")]
mod roots;
#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
mod socket;

pub use chain::error_chain;
#[cfg(feature = "client")]
pub use client::{CallError, UnixClient, error_text};
#[cfg(feature = "server")]
pub use error::{ApiError, BodyLimits, is_json, read_json};
#[cfg(feature = "tls-roots")]
pub use roots::{RootsError, load_roots};
#[cfg(feature = "server")]
pub use serve::{accept_failed, drain, serve_connection, stopped};
#[cfg(feature = "server")]
pub use socket::bind_unix_socket;
