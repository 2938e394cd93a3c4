//! `NaturalLanguagePolicy`: plain-English rules the Nemotron service compiles into rules.
//!
//! ```yaml
//! apiVersion: openshell.nvidia.com/v1
//! kind: NaturalLanguagePolicy
//! metadata:
//!   name: customer-support-rules
//! spec:
//!   text: >-
//!     Customer support agents may access customer records for active tickets only. …
//! ```

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::located::Located;

/// Longest text accepted (bytes): the policy service compiles it with a model.
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// A `NaturalLanguagePolicy` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NaturalLanguagePolicy {
    /// Name and labels.
    pub metadata: Metadata,
    /// The text.
    pub spec: NaturalLanguageSpec,
}

/// `spec` of a `NaturalLanguagePolicy`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct NaturalLanguageSpec {
    /// The rules, in plain English.
    pub text: Located<String>,
}
