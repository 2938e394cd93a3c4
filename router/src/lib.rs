//! openshell's privacy router: one OpenAI-compatible endpoint for every sandbox, deciding per
//! request which model endpoint may see it — by the sensitivity of its content, the data types
//! in it, the container's residency region and its `PrivacyRouterPolicy` — and auditing every
//! decision.
//!
//! `openshell-router --admin-socket PATH --listen ADDR [--config FILE]`
//!
//! # Modules
//! - [`openai`]: the OpenAI front's APIs, header rules and caller address.
//! - [`proxy`]: the OpenAI front (`/v1/chat/completions` with streaming, `/v1/completions`,
//!   `/v1/embeddings`, `/v1/models`), forwarding and streaming back unchanged.
//! - [`identity`]: who is calling (sandbox source address, or a caller token).
//! - [`content`] and [`classification`]: what of a request is classified, the shared
//!   `openshell-classifier` behind a keyed, plaintext-free cache, failing closed.
//! - [`policy`]: `PrivacyRouterPolicy` compiled, and the routing decision (routes, local-only
//!   for confidential and restricted data, residency rules, fallback).
//! - [`selection`]: ranking a route's allowed endpoints by observed latency, errors and cost.
//! - [`redaction`], [`restore`]: covered data replaced by placeholders before a request leaves,
//!   and restored in the answer (JSON and server-sent events).
//! - [`upstream`], [`tls`], [`health`]: pooled connections to endpoints, TLS with per-endpoint
//!   key pins, circuit breaking and probes.
//! - [`registry`]: registered containers (the hook's registry directory and the admin API).
//! - [`audit`], [`metrics`]: one `openshell-audit` event per decision; Prometheus metrics.
//! - [`admin`], [`server`], [`service`]: the admin API, listeners, and the core tying it all.
//! - [`config`], [`endpoint`], [`error`].
//!
//! See `router/README.md` for the contract with the hook and the runtime, the configuration,
//! the tests and the benchmark.

pub mod admin;
pub mod audit;
pub mod classification;
pub mod config;
pub mod content;
pub mod endpoint;
pub mod error;
pub mod health;
pub mod identity;
pub mod metrics;
pub mod openai;
pub mod policy;
pub mod proxy;
pub mod redaction;
pub mod registry;
pub mod restore;
pub mod selection;
pub mod server;
pub mod service;
pub mod tls;
pub mod upstream;

pub use config::RouterConfig;
pub use error::{OpenAiError, RouterError};
pub use server::Bound;
pub use service::{PrivacyRouter, RouterSettings};
