//! A SandboxPolicy compiled into a container's spec with everything the node contributes:
//! GPU edits from its inventory (and, with the hooks, admission and networking).

use anyhow::Result;
use oci_spec::runtime::Spec;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::{HardenOptions, Hardened, PolicySet, harden};

use crate::gpu_edits;

/// Hardens `spec` by `policy` on this node. The caller's spec is not modified.
pub fn harden_spec(spec: &Spec, policy: &PolicySet, node: &NodeConfig) -> Result<Hardened> {
    let gpu_access = policy
        .sandbox()
        .map(|sandbox| sandbox.spec.resources.gpu_access.value)
        .unwrap_or_default();
    let options = HardenOptions {
        gpu: gpu_edits::for_container(spec, gpu_access, &node.gpu)?,
        ..HardenOptions::default()
    };
    Ok(harden(spec, policy, &options)?)
}
