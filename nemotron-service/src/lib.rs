//! The openshell policy service ("Nemotron"): decides whether a sandbox may start and whether
//! an agent's action is allowed, denied or escalated; classifies intent; compiles
//! natural-language policies; audits every decision.
//!
//! # Layers
//! - [`service::PolicyService`]: the transport-independent core (the daemon serves it; the OCI
//!   hook runs it in-process when the node configures no service socket).
//! - [`intent`]: intent classification along sensitivity, reversibility, scope and compliance —
//!   the embedded engine ([`intent::EmbeddedEngine`]) or the model backend ([`model`]), as
//!   [`intent_backend`] chooses.
//! - [`nl`]: natural-language policies → an inspectable IR → Cedar.
//! - [`cedar`]: the Cedar schema, the compilation of a container's policy into strictly
//!   validated Cedar policies, and evaluation (forbid wins, `@decision("escalate")` escalates).
//! - [`escalation`]: what an escalation resolves to until approvals exist.
//! - [`replay`]: a recorded audit trail decided again under a candidate policy.
//! - [`sandboxes`]: a container's `createRuntime` and `poststop` done by the service for the
//!   thin hook `openshell-hook-client` (admission, registration record, registration).
//! - `http` (feature `server`): the HTTP/JSON API over a unix socket and TCP, `/healthz`,
//!   `/metrics`; `client` (feature `client`): a unix-socket client of that API.
//!
//! # Admission
//! A sandbox start is evaluated as the API `sandbox.start` (action `admit`). A policy denies
//! admission with `deniedAPIs: [sandbox.start]` (or a glob covering it such as `sandbox.*`),
//! with `gpuAccess: none` when the container requests GPUs, with network isolation other than
//! `host` when it asks for the host network, or with a natural-language sentence such as
//! "Sandboxes may not start with GPU access." A policy that does not compile (an unknown
//! sentence, a bad glob, an unresolvable audit destination) denies admission too.

pub mod admission_cache;
pub mod cedar;
#[cfg(feature = "client")]
pub mod client;
pub mod content;
pub mod destination;
pub mod escalation;
pub mod facts;
#[cfg(feature = "server")]
pub mod http;
pub mod intent;
pub mod intent_backend;
pub mod model;
pub mod nl;
pub mod replay;
pub mod sandboxes;
pub mod service;
pub mod taxonomy;

pub use service::{PolicyService, ServiceError, ServiceSettings};
