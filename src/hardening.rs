//! A SandboxPolicy compiled into a container's spec with everything the node contributes: GPU
//! edits from its inventory, and the `openshell-hook` calls that ask for admission, wire the
//! sandbox's network and register it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use oci_spec::runtime::Spec;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::{HardenOptions, Hardened, HookInjection, PolicySet, harden};

use crate::{exe_seal, gpu_edits};

/// The hook binary's file name, looked up next to the runtime unless the node names a path.
const HOOK_BINARY: &str = "openshell-hook";
/// The only environment hooks get (CVE-2025-23266: nothing inherited from the container).
const HOOK_PATH_ENV: &str = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";

/// The hook calls for a container whose plain policy the runtime wrote to `policy_file`.
pub fn hook_injection(node: &NodeConfig, policy_file: &Path) -> Result<HookInjection> {
    let path = match &node.hooks.binary {
        Some(path) => path.clone(),
        None => exe_seal::original_exe()
            .parent()
            .map(|dir| dir.join(HOOK_BINARY))
            .unwrap_or_else(|| PathBuf::from(HOOK_BINARY)),
    };
    if !path.is_file() {
        bail!(
            "{} not found: install it next to openshell or set [hooks] binary in {}",
            path.display(),
            NodeConfig::default_path().display()
        );
    }
    let config = NodeConfig::default_path();
    let mut common = Vec::new();
    if config.is_file() {
        common = vec!["--config".to_owned(), config.display().to_string()];
    }
    let mut create_runtime_args = vec![
        HOOK_BINARY.to_owned(),
        "create-runtime".to_owned(),
        "--policy".to_owned(),
        policy_file.display().to_string(),
    ];
    create_runtime_args.extend(common.iter().cloned());
    let mut poststop_args = vec![HOOK_BINARY.to_owned(), "poststop".to_owned()];
    poststop_args.extend(common);
    // The hook enforces the node's timeout itself; the runtime's limit is a backstop above it.
    let timeout_seconds =
        i64::try_from(node.hooks.timeout_ms.div_ceil(1000)).unwrap_or(i64::MAX / 2) + 5;
    Ok(HookInjection {
        path,
        create_runtime_args,
        poststop_args,
        env: vec![HOOK_PATH_ENV.to_owned()],
        timeout_seconds: Some(timeout_seconds),
    })
}

/// Hardens `spec` by `policy` on this node. The caller's spec is not modified.
pub fn harden_spec(
    spec: &Spec,
    policy: &PolicySet,
    node: &NodeConfig,
    hooks: Option<HookInjection>,
) -> Result<Hardened> {
    let gpu_access = policy
        .sandbox()
        .map(|sandbox| sandbox.spec.resources.gpu_access.value)
        .unwrap_or_default();
    let options = HardenOptions {
        gpu: gpu_edits::for_container(spec, gpu_access, &node.gpu)?,
        hooks,
        ..HardenOptions::default()
    };
    Ok(harden(spec, policy, &options)?)
}
