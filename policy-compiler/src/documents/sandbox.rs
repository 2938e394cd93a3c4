//! `SandboxPolicy`: how a container is confined.
//!
//! ```yaml
//! apiVersion: openshell.nvidia.com/v1
//! kind: SandboxPolicy
//! metadata:
//!   name: customer-support-agent
//! spec:
//!   isolation:
//!     network: restricted        # none (default) | restricted | host
//!     filesystem: read-only      # read-only (default) | read-write
//!     syscalls: minimal          # minimal | default (default) | unconfined
//!     syscallOverrides:          # per-syscall: allow | deny | escalate (ask a human)
//!       ptrace: escalate
//!     tmpfs:                     # scratch space under read-only (default: /tmp 64Mi, /run 16Mi)
//!       - {path: /tmp, size: 64Mi}
//!     maskedPaths: [/proc/driver]       # added to runc's and Docker's defaults
//!     readOnlyPaths: [/proc/sys/vm]     # added to the defaults
//!   resources:
//!     maxMemory: 4Gi             # memory limit, no swap
//!     maxCPU: 2                  # CPUs (2, 1.5, 500m)
//!     maxPids: 256
//!     gpuAccess: inference-only  # none (default) | inference-only | full
//!   permissions:
//!     allowedAPIs: [crm.read]    # names from the API catalog; a trailing .* covers a family
//!     deniedAPIs: [admin.*]
//!   auditLog:
//!     enabled: true              # default true
//!     destination: siem://security-events   # file:///abs/path | syslog:// | syslog://host:port
//! ```
//!
//! Omitted isolation settings take the safe side: `network: none`, `filesystem: read-only`,
//! `syscalls: default`, `gpuAccess: none`, audit enabled (to the node's trail).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use schemars::JsonSchema;
use serde::de::{self, Deserializer};
use serde::{Deserialize, Serialize, Serializer};

use super::Metadata;
use crate::located::Located;
use crate::patterns::ApiPattern;
use crate::quantity::{CpuQuantity, MemoryQuantity};
use crate::yaml::HINT_SEPARATOR;

/// A `SandboxPolicy` document.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct SandboxPolicy {
    /// Name and labels.
    pub metadata: Metadata,
    /// The confinement.
    pub spec: SandboxSpec,
}

/// `spec` of a `SandboxPolicy`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SandboxSpec {
    /// Namespaces, filesystem and syscall confinement.
    #[serde(default)]
    pub isolation: Isolation,
    /// Memory, CPU, process and GPU limits.
    #[serde(default)]
    pub resources: Resources,
    /// Which catalogued APIs the agent may call.
    #[serde(default)]
    pub permissions: Permissions,
    /// Where decisions about this sandbox are recorded.
    #[serde(default)]
    pub audit_log: AuditLog,
}

/// `spec.isolation`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Isolation {
    /// Network namespace mode.
    #[serde(default)]
    pub network: Located<NetworkIsolation>,
    /// Root filesystem mode.
    #[serde(default)]
    pub filesystem: Located<FilesystemIsolation>,
    /// Seccomp profile.
    #[serde(default)]
    pub syscalls: Located<SyscallProfile>,
    /// Per-syscall decisions applied on top of the profile.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub syscall_overrides: BTreeMap<Located<String>, Located<SyscallAction>>,
    /// Writable tmpfs mounts under a read-only root; left out = the defaults (/tmp 64Mi,
    /// /run 16Mi), an empty list = none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<Vec<TmpfsMount>>,
    /// Paths hidden from the container, on top of the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub masked_paths: Vec<Located<String>>,
    /// Paths made read-only, on top of the defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub read_only_paths: Vec<Located<String>>,
}

/// `spec.isolation.network`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum NetworkIsolation {
    /// A new network namespace with only loopback.
    #[default]
    None,
    /// A new network namespace whose only way out is the egress engine (wired by the hook).
    Restricted,
    /// The network namespace the caller asked for (often the host's).
    Host,
}

/// `spec.isolation.filesystem`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum FilesystemIsolation {
    /// Read-only root filesystem with small tmpfs scratch mounts.
    #[default]
    ReadOnly,
    /// The root filesystem as the caller asked.
    ReadWrite,
}

/// `spec.isolation.syscalls`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SyscallProfile {
    /// A tight allowlist for agent processes.
    Minimal,
    /// Docker's default coverage minus the agent-escape syscalls.
    #[default]
    Default,
    /// No seccomp profile from the policy (overrides still apply).
    Unconfined,
}

/// A decision in `spec.isolation.syscallOverrides`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SyscallAction {
    /// Let the syscall through.
    Allow,
    /// Fail it with EPERM.
    Deny,
    /// Hold it until the supervisor (approval workflow) answers (`SCMP_ACT_NOTIFY`).
    Escalate,
}

/// One writable tmpfs mount.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TmpfsMount {
    /// Absolute path in the container.
    pub path: Located<String>,
    /// Size limit.
    pub size: Located<MemoryQuantity>,
}

/// `spec.resources`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Resources {
    /// Memory limit (memory + swap is set to the same value: no swap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_memory: Option<Located<MemoryQuantity>>,
    /// CPU limit, as CFS quota over a 100 ms period.
    #[serde(default, rename = "maxCPU", skip_serializing_if = "Option::is_none")]
    pub max_cpu: Option<Located<CpuQuantity>>,
    /// Process (task) limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_pids: Option<Located<u64>>,
    /// GPU access; enforced with the edits the GPU component computes.
    #[serde(default)]
    pub gpu_access: Located<GpuAccess>,
}

/// `spec.resources.gpuAccess`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum GpuAccess {
    /// No GPU device reaches the container.
    #[default]
    None,
    /// Compute nodes only, no management or profiling.
    InferenceOnly,
    /// Everything the GPU component grants.
    Full,
}

/// `spec.permissions`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Permissions {
    /// APIs the agent may call.
    #[serde(default, rename = "allowedAPIs")]
    pub allowed_apis: Vec<Located<ApiPattern>>,
    /// APIs the agent may never call (deny wins).
    #[serde(default, rename = "deniedAPIs")]
    pub denied_apis: Vec<Located<ApiPattern>>,
}

/// `spec.auditLog`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AuditLog {
    /// Whether decisions are recorded.
    #[serde(default = "enabled_by_default")]
    pub enabled: Located<bool>,
    /// Where to; `None` = the node's audit trail (`[audit] trail`) alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Located<AuditDestination>>,
}

fn enabled_by_default() -> Located<bool> {
    Located::unplaced(true)
}

impl Default for AuditLog {
    fn default() -> Self {
        AuditLog {
            enabled: enabled_by_default(),
            destination: None,
        }
    }
}

/// `spec.auditLog.destination`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuditDestination {
    /// `file:///absolute/path`: JSON lines appended to a file.
    File(PathBuf),
    /// `syslog://` (the node's syslog socket) or `syslog://host[:port]`.
    Syslog(Option<String>),
    /// `siem://NAME`: an endpoint named in the node configuration.
    Siem(String),
}

impl AuditDestination {
    /// Parses a destination URI.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        if let Some(path) = text.strip_prefix("file://") {
            if !path.starts_with('/') || path.split('/').any(|part| part == "..") {
                return Err(format!("'{text}' does not name an absolute file path"));
            }
            return Ok(AuditDestination::File(PathBuf::from(path)));
        }
        if let Some(address) = text.strip_prefix("syslog://") {
            if address.is_empty() {
                return Ok(AuditDestination::Syslog(None));
            }
            let (host, port) = address.rsplit_once(':').unwrap_or((address, "514"));
            let valid_host = !host.is_empty()
                && host
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
            if !valid_host || port.parse::<u16>().map_or(true, |port| port == 0) {
                return Err(format!("'{text}' is not syslog://host[:port]"));
            }
            return Ok(AuditDestination::Syslog(Some(address.to_owned())));
        }
        if let Some(name) = text.strip_prefix("siem://") {
            let valid = name.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !valid {
                return Err(format!(
                    "'{text}' does not name a SIEM endpoint (lower-case letters, digits, '-')"
                ));
            }
            return Ok(AuditDestination::Siem(name.to_owned()));
        }
        Err(format!(
            "'{text}' is not a file://, syslog:// or siem:// destination"
        ))
    }
}

impl fmt::Display for AuditDestination {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuditDestination::File(path) => write!(f, "file://{}", path.display()),
            AuditDestination::Syslog(None) => f.write_str("syslog://"),
            AuditDestination::Syslog(Some(address)) => write!(f, "syslog://{address}"),
            AuditDestination::Siem(name) => write!(f, "siem://{name}"),
        }
    }
}

impl<'de> Deserialize<'de> for AuditDestination {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        AuditDestination::parse(&text).map_err(|error| {
            de::Error::custom(format!(
                "{error}{HINT_SEPARATOR}write file:///var/log/openshell/audit.jsonl, syslog:// \
                 or siem://NAME"
            ))
        })
    }
}

impl Serialize for AuditDestination {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_destinations() {
        assert_eq!(
            AuditDestination::parse("siem://security-events"),
            Ok(AuditDestination::Siem("security-events".into()))
        );
        assert_eq!(
            AuditDestination::parse("file:///var/log/a.jsonl"),
            Ok(AuditDestination::File("/var/log/a.jsonl".into()))
        );
        assert_eq!(
            AuditDestination::parse("syslog://"),
            Ok(AuditDestination::Syslog(None))
        );
        assert_eq!(
            AuditDestination::parse("syslog://logs.example.test:6514"),
            Ok(AuditDestination::Syslog(Some(
                "logs.example.test:6514".into()
            )))
        );
        for bad in [
            "file://relative",
            "file:///a/../b",
            "siem://",
            "siem://Bad",
            "syslog://h:0",
            "syslog://h:x",
            "http://x",
        ] {
            assert!(AuditDestination::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            AuditDestination::Siem("a".into()).to_string(),
            "siem://a".to_owned()
        );
    }
}
