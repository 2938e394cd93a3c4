//! Which policy a container runs under, and why.
//!
//! Two kinds of source, kept apart:
//! - **operator** sources set *floors*: the node configuration's `[policy] floor`, and the
//!   operator's default — the runtime's `--default-policy` flag (Docker's `runtimeArgs`), else
//!   the node configuration's `default_policy`. Each may be a name or a path.
//! - **workload** sources *pick* a policy, first found wins: the annotation
//!   `openshell.nvidia.com/policy` (set by Podman, containerd, CRI-O, Kubernetes), then
//!   `OPENSHELL_POLICY` in the process environment (`docker run -e`, or an image's `ENV`; removed
//!   before the agent starts), then `openshell-policy.yaml` in the bundle. Annotation and
//!   environment give a *name* only, resolved in the node's policy directory (never a path,
//!   never a file inside the container's root); the node may forbid the choice or limit it to
//!   listed names.
//!
//! The container runs under the workload's pick if there is one, else the operator's default,
//! else the floor, else no policy at all (plain runc behaviour). Whatever is picked must be no
//! looser than every floor on any axis ([`PolicySet::loosenings_from`]); otherwise `create`
//! fails naming each axis. A workload-picked policy may only audit to the destinations the
//! node configures. This is gVisor's and Kubernetes' rule for sandbox classes: the node
//! operator bounds what a pod may ask for; the pod can only ask for less.
//!
//! Names resolve to `<policy_dir>/<name>.yaml` (node configuration, default
//! `/etc/openshell/policies`).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use oci_spec::runtime::Spec;
use openshell_policy::node_config::{NodeConfig, WorkloadChoice};
use openshell_policy::{
    AuditDestination, POLICY_ANNOTATION, POLICY_ENV, PolicySet, policy_from_env,
};

/// The bundle-local policy file.
pub const BUNDLE_POLICY_FILE: &str = "openshell-policy.yaml";

/// Where a policy came from (named in errors, logs and `policy explain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Annotation,
    Environment,
    BundleFile,
    DefaultFlag,
    NodeDefault,
    NodeFloor,
}

impl Origin {
    /// Whether the workload (its image, its orchestrator's request) chose this source.
    fn is_workload(self) -> bool {
        matches!(
            self,
            Origin::Annotation | Origin::Environment | Origin::BundleFile
        )
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Annotation => "annotation openshell.nvidia.com/policy",
            Origin::Environment => "process environment OPENSHELL_POLICY",
            Origin::BundleFile => "bundle file openshell-policy.yaml",
            Origin::DefaultFlag => "--default-policy",
            Origin::NodeDefault => "node configuration default_policy",
            Origin::NodeFloor => "node configuration [policy] floor",
        })
    }
}

/// A policy loaded from one source.
pub struct Sourced {
    pub origin: Origin,
    pub path: PathBuf,
    pub policy: PolicySet,
}

/// The policy a container runs under, with the floors it was held to.
pub struct Attached {
    pub origin: Origin,
    pub policy: PolicySet,
    /// How it was chosen, one line a step (for logs and `policy explain`).
    pub derivation: String,
}

/// Finds the container's policy, if it has one, and checks it against the node's floors.
pub fn resolve(
    spec: &Spec,
    bundle: &Path,
    default_flag: Option<&str>,
    node: &NodeConfig,
) -> Result<Option<Attached>> {
    let floor = node
        .policy
        .floor
        .as_deref()
        .map(|reference| operator_policy(reference, Origin::NodeFloor, node))
        .transpose()?;
    let default = match (default_flag, &node.default_policy) {
        (Some(reference), _) => Some(operator_policy(reference, Origin::DefaultFlag, node)?),
        (None, Some(reference)) => Some(operator_policy(reference, Origin::NodeDefault, node)?),
        (None, None) => None,
    };
    let workload = workload_policy(spec, bundle, node)?;
    let floors: Vec<&Sourced> = [floor.as_ref(), default.as_ref()]
        .into_iter()
        .flatten()
        .collect();
    let Some(chosen) = workload.as_ref().or(default.as_ref()).or(floor.as_ref()) else {
        return Ok(None);
    };
    let mut derivation = format!(
        "policy {:?} from {} ({}, {})\n",
        chosen.policy.name(),
        chosen.origin,
        chosen.path.display(),
        chosen.policy.digest()
    );
    for held_to in floors {
        if std::ptr::eq(held_to, chosen) {
            continue;
        }
        let loosenings = chosen.policy.loosenings_from(&held_to.policy);
        if !loosenings.is_empty() {
            let mut message = format!(
                "policy {:?} from {} is looser than the floor {:?} from {} ({}):",
                chosen.policy.name(),
                chosen.origin,
                held_to.policy.name(),
                held_to.origin,
                held_to.path.display()
            );
            for loosening in &loosenings {
                let _ = write!(message, "\n  - {loosening}");
            }
            bail!(message);
        }
        let _ = writeln!(
            derivation,
            "no looser than the floor {:?} from {} ({}) on any axis",
            held_to.policy.name(),
            held_to.origin,
            held_to.path.display()
        );
    }
    Ok(Some(Attached {
        origin: chosen.origin,
        policy: chosen.policy.clone(),
        derivation,
    }))
}

/// An operator's policy: a name in the policy directory, or a path.
fn operator_policy(reference: &str, origin: Origin, node: &NodeConfig) -> Result<Sourced> {
    let path = if is_name(reference) {
        named(reference, origin, node)?
    } else {
        let path = PathBuf::from(reference);
        if !path.is_file() {
            bail!(
                "policy file {} (from {origin}) does not exist",
                path.display()
            );
        }
        path
    };
    load(origin, path)
}

/// The policy the workload picked, if any, within what the node lets workloads pick.
fn workload_policy(spec: &Spec, bundle: &Path, node: &NodeConfig) -> Result<Option<Sourced>> {
    let annotation = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(POLICY_ANNOTATION))
        .filter(|v| !v.is_empty())
        .cloned();
    let bundle_file = bundle.join(BUNDLE_POLICY_FILE);
    let picked = if let Some(name) = annotation {
        Some((Origin::Annotation, Some(name)))
    } else if let Some(name) = policy_from_env(spec).filter(|v| !v.is_empty()) {
        Some((Origin::Environment, Some(name)))
    } else if bundle_file.is_file() {
        Some((Origin::BundleFile, None))
    } else {
        None
    };
    let Some((origin, name)) = picked else {
        return Ok(None);
    };
    let settings = &node.policy;
    let config = NodeConfig::default_path();
    if settings.workload_choice == WorkloadChoice::None {
        bail!(
            "the {origin} asks for a policy, but this node does not let workloads pick one \
             ([policy] workload_choice = \"none\" in {}): remove it to run under the operator's policy",
            config.display()
        );
    }
    let path = match &name {
        Some(name) => {
            if !is_name(name) {
                let variable = if origin == Origin::Environment {
                    format!("{POLICY_ENV}=")
                } else {
                    String::new()
                };
                bail!(
                    "{variable}{name:?} (from {origin}) must name a policy installed in {} \
                     (letters, digits, '.', '_', '-'), not a path",
                    node.policy_dir.display()
                );
            }
            if !settings.workload_policies.is_empty()
                && !settings.workload_policies.iter().any(|n| n == name)
            {
                bail!(
                    "policy {name:?} (from {origin}) is not one workloads may pick on this node \
                     ([policy] workload_policies in {}: {})",
                    config.display(),
                    settings.workload_policies.join(", ")
                );
            }
            named(name, origin, node)?
        }
        None if !settings.workload_policies.is_empty() => bail!(
            "{} (the {origin}): this node only lets workloads pick the policies named in \
             [policy] workload_policies of {}; name one by annotation instead",
            bundle_file.display(),
            config.display()
        ),
        None => bundle_file,
    };
    let sourced = load(origin, path)?;
    check_audit_destination(&sourced, node)?;
    Ok(Some(sourced))
}

/// A workload-picked policy audits only where the node sends audit: its `[siem]` endpoints,
/// the destinations `[policy] workload_audit_destinations` lists, or the node trail (none
/// named). Anything else would let a workload make the runtime write files or send datagrams
/// of its choosing.
fn check_audit_destination(sourced: &Sourced, node: &NodeConfig) -> Result<()> {
    debug_assert!(sourced.origin.is_workload());
    let Some(destination) = sourced
        .policy
        .sandbox()
        .and_then(|s| s.spec.audit_log.destination.as_ref())
    else {
        return Ok(());
    };
    let allowed = match &destination.value {
        AuditDestination::Siem(name) => node.siem.contains_key(name),
        other => node
            .policy
            .workload_audit_destinations
            .contains(&other.to_string()),
    };
    if !allowed {
        bail!(
            "{}:{}: auditLog.destination {} (policy {:?} from {}) is not a destination this node \
             lets workloads use: name a siem:// endpoint of [siem], one listed in [policy] \
             workload_audit_destinations of {}, or none (the node trail)",
            sourced.path.display(),
            destination.position,
            destination.value,
            sourced.policy.name(),
            sourced.origin,
            NodeConfig::default_path().display()
        );
    }
    Ok(())
}

fn load(origin: Origin, path: PathBuf) -> Result<Sourced> {
    let policy =
        PolicySet::load(&path).map_err(|err| anyhow::anyhow!("policy from {origin}: {err}"))?;
    Ok(Sourced {
        origin,
        path,
        policy,
    })
}

/// A policy name: `[A-Za-z0-9._-]+`, not starting with '.'.
fn is_name(reference: &str) -> bool {
    !reference.is_empty()
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !reference.starts_with('.')
}

/// `<policy_dir>/<name>.yaml`, which must exist.
fn named(name: &str, origin: Origin, node: &NodeConfig) -> Result<PathBuf> {
    let path = node.policy_dir.join(format!("{name}.yaml"));
    if !path.is_file() {
        bail!(
            "policy {name:?} (from {origin}) not found: no {}",
            path.display()
        );
    }
    Ok(path)
}
