//! The node's approval queue (`openshell-approvals`): when a policy escalates an agent action
//! (an API call the egress engine holds, a system call the seccomp supervisor holds), the
//! holder asks this daemon, which keeps the request durably, notifies the policy's channels
//! (Slack, Teams, PagerDuty) with signed Approve / Deny links, takes the first answer from an
//! operator (API, CLI, link), enforces the policy's default when nobody answers in time, and
//! audits every step.
//!
//! # Modules
//! - [`config`]: the TOML configuration (state directory, listeners, channels).
//! - [`store`]: the redb database of approvals and undelivered notifications.
//! - [`queue`]: validation, timers, answers, waiters, notifications in the background.
//! - [`notify`]: the channels' messages and their delivery with retries.
//! - [`secrets`]: ids, the link-signing key and the operator token.
//! - [`http`]: the API on the unix socket and the TCP listener.
//! - [`audit`], [`metrics`]: audit events and Prometheus metrics.
//! - [`client`]: the API's client over the unix socket; [`cli`]: the operator's commands.
//! - [`daemon`]: starting it all.

pub mod audit;
pub mod cli;
pub mod client;
pub mod config;
pub mod daemon;
pub mod http;
pub mod metrics;
pub mod notify;
pub mod queue;
pub mod secrets;
pub mod store;

pub use client::{ApprovalsClient, ClientError};
