//! Which policy a container runs under. The first of these that is present wins:
//!
//! 1. the annotation `openshell.nvidia.com/policy` (a name in the node's policy directory, or a
//!    path; a relative path is taken from the bundle) — set by orchestrators (Podman, CRI-O,
//!    containerd, Kubernetes);
//! 2. `OPENSHELL_POLICY` in the process environment (`docker run -e …`, since Docker 20.10 cannot
//!    pass annotations). Only a *name* is accepted: an image cannot point the runtime at a file
//!    of its choosing. The variable is removed before the agent starts;
//! 3. `openshell-policy.yaml` in the bundle;
//! 4. the runtime's `--default-policy` flag (Docker's daemon.json `runtimeArgs`);
//! 5. the node configuration's `default_policy`;
//! 6. otherwise none: plain runc behaviour.
//!
//! Names resolve to `<policy_dir>/<name>.yaml` (node configuration, default
//! `/etc/openshell/policies`).

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use oci_spec::runtime::Spec;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::{POLICY_ANNOTATION, POLICY_ENV, PolicySet, policy_from_env};

/// The bundle-local policy file.
pub const BUNDLE_POLICY_FILE: &str = "openshell-policy.yaml";

/// Where an attached policy came from (named in errors and logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    Annotation,
    Environment,
    BundleFile,
    DefaultFlag,
    NodeDefault,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Origin::Annotation => "annotation openshell.nvidia.com/policy",
            Origin::Environment => "process environment OPENSHELL_POLICY",
            Origin::BundleFile => "bundle file openshell-policy.yaml",
            Origin::DefaultFlag => "--default-policy",
            Origin::NodeDefault => "node configuration default_policy",
        })
    }
}

/// A policy attached to a container.
pub struct Attached {
    pub origin: Origin,
    pub policy: PolicySet,
}

/// Finds and loads the container's policy, if it has one.
pub fn resolve(
    spec: &Spec,
    bundle: &Path,
    default_flag: Option<&str>,
    node: &NodeConfig,
) -> Result<Option<Attached>> {
    let annotation = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(POLICY_ANNOTATION))
        .filter(|v| !v.is_empty());
    let found = if let Some(reference) = annotation {
        Some((
            Origin::Annotation,
            locate(reference, Some(bundle), node, Origin::Annotation)?,
        ))
    } else if let Some(name) = policy_from_env(spec).filter(|v| !v.is_empty()) {
        Some((
            Origin::Environment,
            locate(&name, None, node, Origin::Environment)?,
        ))
    } else if bundle.join(BUNDLE_POLICY_FILE).is_file() {
        Some((Origin::BundleFile, bundle.join(BUNDLE_POLICY_FILE)))
    } else if let Some(reference) = default_flag {
        Some((
            Origin::DefaultFlag,
            locate(reference, None, node, Origin::DefaultFlag)?,
        ))
    } else if let Some(reference) = &node.default_policy {
        Some((
            Origin::NodeDefault,
            locate(reference, None, node, Origin::NodeDefault)?,
        ))
    } else {
        None
    };
    let Some((origin, path)) = found else {
        return Ok(None);
    };
    let policy =
        PolicySet::load(&path).map_err(|err| anyhow::anyhow!("policy from {origin}: {err}"))?;
    Ok(Some(Attached { origin, policy }))
}

/// A policy name (`[A-Za-z0-9._-]+`) in the policy directory, or (where allowed) a path.
fn locate(
    reference: &str,
    relative_to: Option<&Path>,
    node: &NodeConfig,
    origin: Origin,
) -> Result<PathBuf> {
    let is_name = reference
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        && !reference.starts_with('.');
    if is_name {
        let path = node.policy_dir.join(format!("{reference}.yaml"));
        if !path.is_file() {
            bail!(
                "policy {reference:?} (from {origin}) not found: no {}",
                path.display()
            );
        }
        return Ok(path);
    }
    if origin == Origin::Environment {
        bail!(
            "{POLICY_ENV}={reference:?}: must name a policy in {} (letters, digits, '.', '_', '-'), not a path",
            node.policy_dir.display()
        );
    }
    let path = match relative_to {
        Some(base) if Path::new(reference).is_relative() => base.join(reference),
        _ => PathBuf::from(reference),
    };
    if !path.is_file() {
        bail!(
            "policy file {} (from {origin}) does not exist",
            path.display()
        );
    }
    Ok(path)
}
