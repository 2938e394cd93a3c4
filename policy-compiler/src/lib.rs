//! openshell policy documents and the types every openshell component shares.
//!
//! - `wire`: the records services exchange (decisions, registrations, audit events).
pub mod wire;

mod documents;
mod error;
mod explain;
mod harden;
mod located;
mod patterns;
mod policy_set;
mod quantity;
mod seccomp;
mod suggest;
mod validate;
mod yaml;

pub use documents::*;
pub use error::{PolicyError, Problem};
pub use explain::{Explanation, Section};
pub use harden::{
    AGENT_CAPABILITIES, DIGEST_ANNOTATION, GpuEdits, HardenOptions, Hardened, HookInjection,
    POLICY_ANNOTATION, POLICY_ENV, harden, policy_from_env,
};
pub use located::{Located, Position};
pub use patterns::{ApiPattern, DomainPattern, HttpMethod, PathPattern, PatternError};
pub use policy_set::PolicySet;
pub use quantity::{CpuQuantity, MemoryQuantity, QuantityError, Timeout};
pub use validate::MIN_MEMORY_BYTES;
