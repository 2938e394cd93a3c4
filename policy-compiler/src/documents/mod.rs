//! The policy document kinds (`apiVersion: openshell.nvidia.com/v1`).
//!
//! Every kind is written in the Kubernetes shape (`apiVersion`, `kind`, `metadata`, `spec`).
//! `NetworkPolicy`, `PrivacyRouterPolicy` and `ApprovalPolicy` may also be written as the
//! architecture write-up shows them: a bare block (`networkPolicy: {...}`,
//! `privacyRouter: {...}`, `approvalPolicy: {...}`) holding the spec's fields plus an optional
//! `name`; without one the document is named after the file.

mod api_catalog;
mod approval;
mod natural_language;
mod network;
mod privacy_router;
mod sandbox;

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

pub use api_catalog::{
    ApiCatalog, ApiCatalogSpec, ApiEndpoint, ApiFields, FieldSource, form_pairs,
};
pub use approval::{ApprovalDefault, ApprovalPolicy, ApprovalSpec, ApprovalTrigger, Threshold};
pub use natural_language::{MAX_TEXT_BYTES, NaturalLanguagePolicy, NaturalLanguageSpec};
pub use network::NetworkSpec;
pub use network::{EgressRule, EgressRules, IngressRule, IngressRules, Inspection, NetworkPolicy};
pub use privacy_router::{
    DataSelector, DataType, DataTypeSet, Fallback, ModelEndpoint, PinError, Preference,
    PrivacyRouterPolicy, PrivacyRouterSpec, Redaction, RedactionEndpoints, ResidencyRule,
    Sensitivity, SpkiPin,
};
pub use sandbox::{
    AuditDestination, AuditLog, FilesystemIsolation, GpuAccess, Isolation, NetworkIsolation,
    Permissions, Resources, SandboxPolicy, SandboxSpec, SyscallAction, SyscallProfile, TmpfsMount,
};

use crate::located::Located;

/// The only `apiVersion` this crate reads.
pub const API_VERSION: &str = "openshell.nvidia.com/v1";

/// The document kinds, as written in `kind:`.
pub const KINDS: [&str; 6] = [
    "SandboxPolicy",
    "NetworkPolicy",
    "ApprovalPolicy",
    "PrivacyRouterPolicy",
    "NaturalLanguagePolicy",
    "ApiCatalog",
];

/// The bare-block spellings and the kinds they stand for.
pub(crate) const BARE_BLOCKS: [(&str, &str); 3] = [
    ("networkPolicy", "NetworkPolicy"),
    ("privacyRouter", "PrivacyRouterPolicy"),
    ("approvalPolicy", "ApprovalPolicy"),
];

/// `metadata` of a document.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Metadata {
    /// The document's name (DNS-label style: lower-case letters, digits, `-` and `.`).
    pub name: Located<String>,
    /// Free-form labels.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Free-form annotations.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

impl Metadata {
    /// Metadata holding only a name.
    pub fn named(name: Located<String>) -> Self {
        Metadata {
            name,
            labels: BTreeMap::new(),
            annotations: BTreeMap::new(),
        }
    }
}

/// A document in the Kubernetes shape, as read from YAML before its kind is checked.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct Envelope<S> {
    pub(crate) api_version: Located<String>,
    #[serde(rename = "kind")]
    pub(crate) _kind: Located<String>,
    pub(crate) metadata: Metadata,
    pub(crate) spec: S,
}

/// The fields a reader looks at to choose a document's kind; everything else is ignored here.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Header {
    pub(crate) kind: Option<Located<String>>,
    pub(crate) network_policy: Option<serde::de::IgnoredAny>,
    pub(crate) privacy_router: Option<serde::de::IgnoredAny>,
    pub(crate) approval_policy: Option<serde::de::IgnoredAny>,
}

/// A bare `networkPolicy:` block.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BareNetwork {
    pub(crate) network_policy: NetworkSpec,
}

/// A bare `privacyRouter:` block.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BarePrivacyRouter {
    pub(crate) privacy_router: PrivacyRouterSpec,
}

/// A bare `approvalPolicy:` block.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(crate) struct BareApproval {
    pub(crate) approval_policy: ApprovalSpec,
}
