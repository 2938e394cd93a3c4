//! The one compiled form of a container's policy ([`CompiledPolicy`]): what `create` writes into
//! the container's state and every other component reads — the hook, the egress engine, the
//! privacy router and the decision service — instead of the YAML it came from.
//!
//! The record is sealed with a digest over its canonical JSON (object keys and capability sets
//! sorted, so the digest does not depend on how a reader's maps and sets order them); [`CompiledPolicy::verify`]
//! recomputes it, and a reader refuses a record whose digest does not match.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use oci_spec::runtime::Spec;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::documents::{
    ApiCatalogSpec, ApprovalDefault, ApprovalSpec, GpuAccess, NetworkIsolation, NetworkSpec,
    Permissions, PrivacyRouterSpec,
};
use crate::wire::{AuditSettings, Enforcement};

/// A container's policy, compiled once at `create`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompiledPolicy {
    /// The policy's name (`metadata.name` of its SandboxPolicy).
    pub name: String,
    /// The file it was compiled from and that file's digest (`sha256:…`, also recorded in the
    /// spec's `openshell.nvidia.com/policy-digest` annotation).
    pub source: PolicySource,
    /// The container's data-residency region (annotation, else the node's), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The hardened OCI spec the container runs with.
    pub spec: Spec,
    /// For `network: restricted`: how the sandbox is wired to the egress engine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox_network: Option<SandboxNetwork>,
    /// What the egress engine enforces.
    pub egress: EgressPolicy,
    /// What the decision service decides with.
    pub decisions: DecisionRules,
    /// How the privacy router routes the sandbox's model traffic, when a PrivacyRouterPolicy
    /// is attached.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub routing: Option<RoutingRules>,
    /// SandboxPolicy `spec.auditLog`.
    pub audit: AuditSettings,
    /// `sha256:…` of the record's canonical JSON with this field empty.
    #[serde(default)]
    pub digest: String,
}

/// Where a compiled policy came from.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicySource {
    /// The policy file.
    pub file: PathBuf,
    /// The file's digest (`sha256:…`).
    pub digest: String,
}

/// A restricted sandbox's wiring to the egress engine: the proxy variables, the resolver and
/// the interception CA that `create` puts into the spec.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxNetwork {
    /// The engine's address on every sandbox link (the sandbox's gateway and resolver).
    pub gateway: Ipv4Addr,
    /// The engine's explicit proxy port.
    pub proxy_port: u16,
    /// The privacy router's port on the gateway.
    pub router_port: u16,
    /// The contents of the sandbox's `/etc/resolv.conf`.
    pub resolv_conf: String,
    /// The interception CA on the host, mounted read-only into the sandbox.
    pub ca_cert: PathBuf,
}

impl SandboxNetwork {
    /// `http://GATEWAY:PORT`, the sandbox's `HTTP_PROXY`/`HTTPS_PROXY`.
    pub fn proxy_url(&self) -> String {
        format!("http://{}:{}", self.gateway, self.proxy_port)
    }

    /// `http://GATEWAY:ROUTER_PORT/v1`, the sandbox's `OPENAI_BASE_URL`.
    pub fn router_url(&self) -> String {
        format!("http://{}:{}/v1", self.gateway, self.router_port)
    }
}

/// The egress-relevant part of a container's policy: its `NetworkPolicy`, its SandboxPolicy's
/// API permissions and audit settings, and the API catalog that gives the permissions meaning.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EgressPolicy {
    /// The policy's name (audit events carry it).
    pub name: String,
    /// The `NetworkPolicy` spec; absent = nothing allowed.
    #[serde(default)]
    pub network: NetworkSpec,
    /// `spec.permissions` of the SandboxPolicy.
    #[serde(default)]
    pub permissions: Permissions,
    /// The API catalog; absent = the engine's node-wide catalog, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<ApiCatalogSpec>,
    /// `spec.auditLog` of the SandboxPolicy.
    #[serde(default)]
    pub audit: AuditSettings,
}

/// What the decision service needs: the isolation settings admission checks, the typed API
/// permissions, the natural-language rules and the approval workflow. The default is the safe
/// side: no network, no GPUs, no API allowed, no approval workflow (escalations denied).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionRules {
    /// SandboxPolicy `spec.isolation.network`: admission refuses the host network unless `host`.
    pub network: NetworkIsolation,
    /// SandboxPolicy `spec.resources.gpuAccess`: admission refuses GPUs under `none`.
    pub gpu_access: GpuAccess,
    /// SandboxPolicy `spec.permissions` (allowedAPIs, deniedAPIs).
    #[serde(default)]
    pub permissions: Permissions,
    /// The text of every NaturalLanguagePolicy attached.
    #[serde(default)]
    pub natural_language: Vec<String>,
    /// The ApprovalPolicy: triggers, channels, timeout and default action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalSpec>,
}

impl DecisionRules {
    /// What an escalation resolves to while no human answers: the ApprovalPolicy's
    /// `defaultAction`, deny without one.
    pub fn approval_default(&self) -> Enforcement {
        match self.approval.as_ref().map(|a| a.default_action.value) {
            Some(ApprovalDefault::Allow) => Enforcement::Allow,
            Some(ApprovalDefault::Deny) | None => Enforcement::Deny,
        }
    }
}

/// The PrivacyRouterPolicy a container's model traffic is routed by.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutingRules {
    /// The document's name.
    pub name: String,
    /// Its spec.
    pub spec: PrivacyRouterSpec,
}

/// Why a compiled policy record cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The file could not be read.
    #[error("cannot read compiled policy {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a compiled policy.
    #[error("compiled policy {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The record's digest does not match its contents.
    #[error(
        "compiled policy {name:?} was changed after it was compiled (digest {recorded}, contents {actual})"
    )]
    Digest {
        /// The policy's name.
        name: String,
        /// The digest the record carries.
        recorded: String,
        /// The digest of what it contains.
        actual: String,
    },
}

/// Largest compiled policy file read.
const MAX_RECORD_BYTES: u64 = 4 << 20;

impl CompiledPolicy {
    /// The file name of the record in a container's state (next to its staged `config.json`).
    pub const FILE: &str = "policy.json";

    /// Computes and stores the record's digest.
    pub fn seal(mut self) -> Self {
        self.digest = self.content_digest();
        self
    }

    /// Checks that the record's digest matches its contents.
    pub fn verify(&self) -> Result<(), RecordError> {
        let actual = self.content_digest();
        if actual == self.digest {
            Ok(())
        } else {
            Err(RecordError::Digest {
                name: self.name.clone(),
                recorded: self.digest.clone(),
                actual,
            })
        }
    }

    /// Reads and verifies a record written by `create` (a regular file, not followed through
    /// a symlink at its last component, at most 4 MiB).
    pub fn read(path: &Path) -> Result<Self, RecordError> {
        use std::io::Read as _;
        use std::os::unix::fs::OpenOptionsExt as _;
        let read_error = |source| RecordError::Read {
            path: path.to_owned(),
            source,
        };
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NOFOLLOW)
            .open(path)
            .map_err(read_error)?;
        let mut text = Vec::new();
        file.take(MAX_RECORD_BYTES + 1)
            .read_to_end(&mut text)
            .map_err(read_error)?;
        let invalid = |message: String| RecordError::Invalid {
            path: path.to_owned(),
            message,
        };
        if text.len() as u64 > MAX_RECORD_BYTES {
            return Err(invalid(format!("larger than {MAX_RECORD_BYTES} bytes")));
        }
        let record: CompiledPolicy =
            serde_json::from_slice(&text).map_err(|e| invalid(e.to_string()))?;
        record.verify()?;
        Ok(record)
    }

    /// The record as the digest covers it: without its digest, capability sets in sorted order
    /// (oci-spec holds them in hash sets).
    fn digested_value(&self) -> serde_json::Value {
        let mut value = serde_json::to_value(self).expect("a compiled policy serializes");
        value["digest"] = serde_json::Value::String(String::new());
        if let Some(sets) = value
            .pointer_mut("/spec/process/capabilities")
            .and_then(serde_json::Value::as_object_mut)
        {
            for set in sets.values_mut() {
                if let Some(names) = set.as_array_mut() {
                    names.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                }
            }
        }
        value
    }

    fn content_digest(&self) -> String {
        let mut value = self.digested_value();
        // Canonical JSON: compact, every object's keys in sorted order (serialised in one
        // pass, then hashed in one call).
        value.sort_all_objects();
        let canonical = serde_json::to_vec(&value).expect("a JSON value serializes");
        let digest = Sha256::digest(&canonical);
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for byte in digest {
            out.push_str(&format!("{byte:02x}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The canonical form as it was first defined: keys sorted at every level, each piece
    /// hashed as it is written.
    fn write_canonical(value: &serde_json::Value, hasher: &mut Sha256) {
        use serde_json::Value;
        match value {
            Value::Object(map) => {
                let mut keys: Vec<&String> = map.keys().collect();
                keys.sort();
                hasher.update(b"{");
                for (index, key) in keys.into_iter().enumerate() {
                    if index > 0 {
                        hasher.update(b",");
                    }
                    hasher.update(serde_json::to_string(key).unwrap_or_default().as_bytes());
                    hasher.update(b":");
                    write_canonical(&map[key], hasher);
                }
                hasher.update(b"}");
            }
            Value::Array(items) => {
                hasher.update(b"[");
                for (index, item) in items.iter().enumerate() {
                    if index > 0 {
                        hasher.update(b",");
                    }
                    write_canonical(item, hasher);
                }
                hasher.update(b"]");
            }
            scalar => hasher.update(scalar.to_string().as_bytes()),
        }
    }

    /// The digest of every example policy is the SHA-256 of its canonical JSON as first
    /// defined, so records sealed by an earlier build still verify.
    #[test]
    fn digest_is_the_hash_of_the_canonical_form() {
        let bundles = Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles");
        for file in [
            "bench-hardened.yaml",
            "customer-support/openshell-policy.yaml",
            "payments/openshell-policy.yaml",
            "research-assistant/openshell-policy.yaml",
            "sales-ops/openshell-policy.yaml",
        ] {
            let text = std::fs::read_to_string(bundles.join(file)).unwrap();
            let policy = crate::compile_default(file, &text).unwrap();
            let value = policy.digested_value();
            let mut hasher = Sha256::new();
            write_canonical(&value, &mut hasher);
            let want: String = hasher
                .finalize()
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            assert_eq!(policy.digest, format!("sha256:{want}"), "{file}");
            policy.verify().unwrap();
        }
    }
}
