//! A SandboxPolicy compiled into a container's spec with everything the node contributes: GPU
//! edits from its inventory, and the `openshell-hook` calls that ask for admission, wire the
//! sandbox's network and register it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use oci_spec::runtime::{Mount, MountBuilder, Spec};
use openshell_policy::node_config::NodeConfig;
use openshell_policy::{
    HardenOptions, Hardened, HookInjection, NetworkIsolation, PolicySet, harden,
};

use crate::{exe_seal, gpu_edits};

/// The hook binary's file name, looked up next to the runtime unless the node names a path; also
/// the `args[0]` of every hook the runtime injects.
pub const HOOK_BINARY: &str = "openshell-hook";
/// The only environment hooks get (CVE-2025-23266: nothing inherited from the container).
pub const HOOK_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// The hook calls for a container whose plain policy the runtime wrote to `policy_file`.
pub fn hook_injection(node: &NodeConfig, policy_file: &Path) -> Result<HookInjection> {
    let path = hook_binary(node)?;
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
        env: vec![format!("PATH={HOOK_PATH}")],
        timeout_seconds: Some(timeout_seconds),
    })
}

/// `openshell-hook`: `[hooks] binary`, else next to the runtime's own binary.
pub fn hook_binary(node: &NodeConfig) -> Result<PathBuf> {
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
    Ok(path)
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

/// Where a restricted sandbox finds the egress engine's interception CA.
pub const EGRESS_CA_IN_SANDBOX: &str = "/etc/ssl/certs/openshell-egress-ca.pem";

/// For `network: restricted`: everything the sandbox needs to reach the egress engine — the
/// proxy variables, a resolver pointing at the engine's DNS responder (the file at
/// `resolv_conf`, in the runtime's state, whose contents are returned for the caller to write),
/// and the interception CA as a trusted certificate. Other network settings are left alone.
pub fn wire_restricted_network(
    spec: &mut Spec,
    policy: &PolicySet,
    node: &NodeConfig,
    resolv_conf: &Path,
) -> Result<Option<String>> {
    let restricted = policy
        .sandbox()
        .is_some_and(|s| s.spec.isolation.network.value == NetworkIsolation::Restricted);
    if !restricted {
        return Ok(None);
    }
    let egress = &node.egress;
    let ca = egress.ca_cert_path();
    if !ca.is_file() {
        bail!(
            "egress CA {} not found: start openshell-egress (it creates it) or set [egress] ca_cert",
            ca.display()
        );
    }
    let proxy = format!("http://{}:{}", egress.gateway, egress.proxy_port);
    let settings = [
        ("HTTP_PROXY", proxy.as_str()),
        ("HTTPS_PROXY", proxy.as_str()),
        ("http_proxy", proxy.as_str()),
        ("https_proxy", proxy.as_str()),
        ("NO_PROXY", "localhost,127.0.0.1"),
        ("no_proxy", "localhost,127.0.0.1"),
        ("SSL_CERT_FILE", EGRESS_CA_IN_SANDBOX),
    ];
    if let Some(process) = spec.process_mut() {
        let mut env: Vec<String> = process.env().clone().unwrap_or_default();
        env.retain(|entry| {
            let name = entry.split('=').next().unwrap_or_default();
            !settings.iter().any(|(key, _)| *key == name)
        });
        env.extend(settings.iter().map(|(key, value)| format!("{key}={value}")));
        process.set_env(Some(env));
    }
    let mut mounts = spec.mounts().clone().unwrap_or_default();
    mounts.retain(|m| {
        m.destination() != Path::new("/etc/resolv.conf")
            && m.destination() != Path::new(EGRESS_CA_IN_SANDBOX)
    });
    mounts.push(read_only_bind(resolv_conf, "/etc/resolv.conf")?);
    mounts.push(read_only_bind(&ca, EGRESS_CA_IN_SANDBOX)?);
    spec.set_mounts(Some(mounts));
    Ok(Some(format!("nameserver {}\n", egress.gateway)))
}

fn read_only_bind(source: &Path, destination: &str) -> Result<Mount> {
    Ok(MountBuilder::default()
        .destination(destination)
        .typ("bind")
        .source(source)
        .options(
            ["rbind", "ro", "nosuid", "nodev", "noexec"]
                .map(String::from)
                .to_vec(),
        )
        .build()?)
}
