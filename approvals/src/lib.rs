//! The node's approval queue (`openshell-approvals`): when a policy escalates an agent action
//! (an API call the egress engine holds, a system call the seccomp supervisor holds), the
//! holder asks this daemon, which keeps the request durably, notifies the policy's channels
//! (Slack, Teams, PagerDuty) with signed Approve / Deny links, takes the first answer from an
//! operator (API, CLI, link), enforces the policy's default when nobody answers in time, and
//! audits every step.
//!
//! # Features
//! `server` (default) is the daemon: the store, the HTTP server, notifications, audit and
//! metrics. Without it (`default-features = false, features = ["client"]`) the crate is the
//! API's client and the operator commands only, with no database, axum, TLS or Prometheus
//! dependencies: what a component that asks for approvals links.
//!
//! # Modules
//! - [`api`]: the header, limits and words the daemon and its clients share.
//! - [`config`]: the TOML configuration (state directory, listeners, channels).
//! - [`store`]: the redb database of approvals and undelivered notifications.
//! - [`queue`]: validation, timers, answers, waiters, notifications in the background.
//! - [`notify`]: the channels' messages and their delivery with retries.
//! - [`secrets`]: ids, the link-signing key and the operator token.
//! - [`http`]: the API on the unix socket and the TCP listener.
//! - [`audit`], [`metrics`]: audit events and Prometheus metrics.
//! - [`client`]: the API's client over the unix socket; [`cli`]: the operator's commands.
//! - [`daemon`]: starting it all.

pub mod api;
#[cfg(feature = "server")]
pub mod audit;
pub mod cli;
pub mod client;
#[cfg(feature = "server")]
pub mod config;
#[cfg(feature = "server")]
pub mod daemon;
#[cfg(feature = "server")]
pub mod http;
#[cfg(feature = "server")]
pub mod metrics;
#[cfg(feature = "server")]
pub mod notify;
#[cfg(feature = "server")]
pub mod queue;
#[cfg(feature = "server")]
pub mod secrets;
#[cfg(feature = "server")]
pub mod store;

pub use client::{ApprovalsClient, ClientError};
