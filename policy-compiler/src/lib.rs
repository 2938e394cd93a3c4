//! openshell policy documents and the types every openshell component shares.
//!
//! - `wire`: the records services exchange (decisions, registrations, audit events).
//! - `node_config`: the node configuration (`/etc/openshell/config.toml`).
pub mod node_config;
pub mod wire;
