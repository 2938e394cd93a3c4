//! `NetworkPolicy`: what the egress engine lets a sandbox reach, and what may reach it.
//!
//! ```yaml
//! networkPolicy:                  # or apiVersion/kind: NetworkPolicy/metadata/spec
//!   name: sales-ops-agent
//!   egress:
//!     allow:
//!       - domain: "*.salesforce.com"
//!         methods: [GET, POST, PATCH]
//!       - domain: "smtp.company.com"
//!         ports: [587]
//!       - domain: "api.openai.com"    # a model API: refused unless this is set, since the
//!         directModelAccess: true     # privacy router is the way to models (OPENAI_BASE_URL)
//!     deny:
//!       - domain: "*"             # deny all other outbound traffic
//!   ingress:
//!     allow:
//!       - source: "webhook.salesforce.com"
//!         path: "/api/v1/events"
//!   inspection:
//!     tlsDecrypt: true
//!     logPayloads: false
//!     scanForPII: true
//! ```
//!
//! Rule semantics: traffic is denied unless an allow rule matches it; a deny rule naming
//! particular hosts wins over allow rules (carve-outs); `domain: "*"` in `deny` states the
//! default explicitly. In a rule, empty `methods` means any method and empty `ports` means the
//! egress engine's HTTP(S) ports.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Metadata;
use crate::located::Located;
use crate::patterns::{DomainPattern, HttpMethod, PathPattern};

/// A `NetworkPolicy` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct NetworkPolicy {
    /// Name and labels.
    pub metadata: Metadata,
    /// The rules.
    pub spec: NetworkSpec,
}

/// `spec` of a `NetworkPolicy` (also the body of a bare `networkPolicy:` block).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NetworkSpec {
    /// The document name; only in the bare-block form (elsewhere it is `metadata.name`).
    #[serde(default, skip_serializing)]
    pub name: Option<Located<String>>,
    /// Outbound rules.
    #[serde(default)]
    pub egress: EgressRules,
    /// Inbound rules.
    #[serde(default)]
    pub ingress: IngressRules,
    /// What the egress engine does with the traffic it lets through.
    #[serde(default)]
    pub inspection: Inspection,
}

/// `egress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EgressRules {
    /// Destinations the sandbox may reach.
    #[serde(default)]
    pub allow: Vec<EgressRule>,
    /// Destinations it may not reach, even if an allow rule matches.
    #[serde(default)]
    pub deny: Vec<EgressRule>,
}

/// One egress rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct EgressRule {
    /// Host pattern.
    pub domain: Located<DomainPattern>,
    /// HTTP methods; empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Located<HttpMethod>>,
    /// TCP ports; empty = the HTTP(S) ports.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Located<u16>>,
    /// In an allow rule: the sandbox may call a known model API on this host directly,
    /// bypassing the privacy router's routing by sensitivity (without it, such calls are
    /// refused and the sandbox is pointed to the router).
    #[serde(default, skip_serializing_if = "is_false")]
    pub direct_model_access: Located<bool>,
}

fn is_false(value: &Located<bool>) -> bool {
    !value.value
}

/// `ingress`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressRules {
    /// Sources allowed to reach the sandbox.
    #[serde(default)]
    pub allow: Vec<IngressRule>,
}

/// One ingress rule.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct IngressRule {
    /// Host the request comes from.
    pub source: Located<DomainPattern>,
    /// Path it may call.
    pub path: Located<PathPattern>,
    /// Methods; empty = any.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<Located<HttpMethod>>,
}

/// `inspection`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Inspection {
    /// Terminate TLS at the egress engine (with the node's CA) to inspect HTTPS.
    #[serde(default)]
    pub tls_decrypt: Located<bool>,
    /// Write request and response bodies to the audit log (after PII redaction).
    #[serde(default)]
    pub log_payloads: Located<bool>,
    /// Block requests whose payload carries PII.
    #[serde(default = "scan_by_default", rename = "scanForPII")]
    pub scan_for_pii: Located<bool>,
}

fn scan_by_default() -> Located<bool> {
    Located::unplaced(true)
}

impl Default for Inspection {
    fn default() -> Self {
        Inspection {
            tls_decrypt: Located::unplaced(false),
            log_payloads: Located::unplaced(false),
            scan_for_pii: scan_by_default(),
        }
    }
}
