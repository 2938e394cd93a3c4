//! openshell's network policy engine: every packet a restricted sandbox sends goes through it.
//!
//! One engine per node (`openshell-egress --admin-socket PATH [--config FILE]`) listens on the
//! sandboxes' gateway address: an explicit HTTP proxy (`HTTP_PROXY`/`HTTPS_PROXY`, CONNECT), a
//! transparent listener for the rest of their TCP, and a DNS responder. The node's nftables
//! table ([`firewall`]) sends each sandbox's traffic there and nowhere else; the network step
//! of the hook ([`sandbox_net`]) wires each sandbox to the node with a veth pair.
//!
//! Decisions, per request, against the policy registered at that moment, by one pure function
//! ([`decision::decide`]) that the listeners ask and obey, over:
//! - [`rules`]: the `NetworkPolicy` egress rules (domain globs, methods, ports; deny carve-outs;
//!   default deny);
//! - [`api_permissions`]: `allowedAPIs`/`deniedAPIs` through the API catalog (deny wins);
//! - [`body_scan`] and [`head_scan`]: `scanForPII` with the shared `openshell-classifier` on
//!   bodies (bounded, fail closed), query strings and header values;
//! - [`rate_limit`]: per-sandbox DNS and request rate limits, refusals audited in aggregate;
//! - [`resolver`] and [`address`]: a name is resolved once by the engine and only an address
//!   outside the refused classes (private, loopback, link-local, metadata, CGNAT, embedded
//!   forms) is dialled;
//! - [`interception`]: `tlsDecrypt` with leaves minted from the node CA;
//! - [`actions`]: the in-line decision of each catalogued API call under the sandbox's
//!   compiled policy record (the embedded decision engine, in process), and escalations held
//!   while the node's approval queue asks a human.
//!
//! Serving: [`proxy`] (explicit and transparent listeners, tunnels, upstream connections),
//! [`ingress`] (webhooks into sandboxes by `ingress.allow` rules),
//! [`dns`] (synthetic answers, see [`synthetic`]), [`admin`] (registrations, hot reload,
//! `/healthz`, `/metrics`), [`engine`] (startup, state restore, sweeps), [`state`] (what they
//! all share). Records: [`sandbox`] (the admin API's types), [`registry`] (state file),
//! [`audit`] (one `openshell-audit` event per decision), [`metrics`]. Callers: [`client`] (the
//! admin API from the hook or the CLI).
//!
//! See `egress/README.md` for the design, the contract with the hook and the runtime, the
//! configuration, and how to run the tests and the benchmark.

pub mod actions;
pub mod address;
pub mod admin;
pub mod api_permissions;
pub mod audit;
pub mod body_scan;
pub mod config;
pub mod decision;
pub mod dns;
pub mod engine;
pub mod firewall;
pub mod head_scan;
pub mod ingress;
pub mod interception;
pub mod metrics;
pub mod policy_admin;
pub mod proxy;
pub mod rate_limit;
pub mod registry;
pub mod resolver;
pub mod rules;
pub mod sandbox;
pub mod state;
pub mod synthetic;

pub use openshell_egress_client::{client, sandbox_net};
