//! openshell policy documents and the types every openshell component shares.
//!
//! - `wire`: the records services exchange (decisions, registrations, audit events).
pub mod wire;
