//! A SandboxPolicy compiled into a container's spec with everything the node contributes: GPU
//! edits from its inventory, and the `openshell-hook` calls that ask for admission, wire the
//! sandbox's network and register it.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};
use oci_spec::runtime::Spec;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::SECCOMP_SUPERVISOR_SOCKET;
use openshell_policy::{
    Compiled, CompiledPolicy, EgressWiring, HookInjection, NetworkIsolation, NodeFacts, PolicySet,
};

use crate::{exe_seal, gpu_edits};

/// The hook binary's file name, looked up next to the runtime unless the node names a path; also
/// the `args[0]` of the hooks the runtime injects with it.
pub const HOOK_BINARY: &str = "openshell-hook";
/// The thin hook's file name (next to the runtime), and its `args[0]`: on a node that runs the
/// policy service it asks the service to do a sandbox's `createRuntime` and `poststop` in one
/// request each, for sandboxes without a network to wire.
pub const HOOK_CLIENT_BINARY: &str = "openshell-hook-client";
/// The only environment hooks get (CVE-2025-23266: nothing inherited from the container).
pub const HOOK_PATH: &str = "/usr/sbin:/usr/bin:/sbin:/bin";

/// True for a hook the runtime injected (by its `args[0]`).
pub fn is_injected_hook(args0: Option<&str>) -> bool {
    matches!(args0, Some(HOOK_BINARY | HOOK_CLIENT_BINARY))
}

/// The hook calls for a container under `policy` whose compiled record the runtime writes to
/// `policy_file`. On a node that runs the policy service and names no `[hooks] binary`, a
/// sandbox without a network to wire gets the thin client (the service admits, records and
/// registers it); every other gets `openshell-hook`.
pub fn hook_injection(
    node: &NodeConfig,
    policy: &PolicySet,
    policy_file: &Path,
) -> Result<HookInjection> {
    // The hook enforces the node's timeout itself; the runtime's limit is a backstop above it.
    let timeout_seconds =
        i64::try_from(node.hooks.timeout_ms.div_ceil(1000)).unwrap_or(i64::MAX / 2) + 5;
    let restricted = policy
        .sandbox()
        .is_some_and(|s| s.spec.isolation.network.value == NetworkIsolation::Restricted);
    let thin_client_socket = node
        .services
        .nemotron
        .as_ref()
        .filter(|_| node.hooks.binary.is_none() && !restricted);
    let (program, path, common) = match thin_client_socket {
        Some(socket) => (
            HOOK_CLIENT_BINARY,
            next_to_runtime(HOOK_CLIENT_BINARY)?,
            vec![
                "--socket".to_owned(),
                socket.display().to_string(),
                "--timeout-ms".to_owned(),
                node.hooks.timeout_ms.to_string(),
            ],
        ),
        None => {
            let config = NodeConfig::default_path();
            let common = if config.is_file() {
                vec!["--config".to_owned(), config.display().to_string()]
            } else {
                Vec::new()
            };
            (HOOK_BINARY, hook_binary(node)?, common)
        }
    };
    let mut create_runtime_args = vec![
        program.to_owned(),
        "create-runtime".to_owned(),
        "--policy".to_owned(),
        policy_file.display().to_string(),
    ];
    create_runtime_args.extend(common.iter().cloned());
    let mut poststop_args = vec![program.to_owned(), "poststop".to_owned()];
    poststop_args.extend(common);
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
    match &node.hooks.binary {
        Some(path) => existing(path.clone()),
        None => next_to_runtime(HOOK_BINARY),
    }
}

/// The binary `name` next to the runtime's own.
pub(crate) fn next_to_runtime(name: &str) -> Result<PathBuf> {
    existing(
        exe_seal::original_exe()
            .parent()
            .map(|dir| dir.join(name))
            .unwrap_or_else(|| PathBuf::from(name)),
    )
}

fn existing(path: PathBuf) -> Result<PathBuf> {
    if !path.is_file() {
        bail!(
            "{} not found: install it next to openshell or set [hooks] binary in {}",
            path.display(),
            NodeConfig::default_path().display()
        );
    }
    Ok(path)
}

/// Compiles `policy` for a container from `spec` on this node: its one record (hardened spec,
/// sandbox network wiring, egress, decision, approval and routing rules) and the explanation of
/// every effect. `staged_dir` is the container's staged bundle, where the record and the
/// resolver configuration go; `hooks` are the hook calls to inject, if any. The same function
/// serves `create` and `policy compile|explain`, so what those print is what runs.
pub fn compile(
    spec: &Spec,
    policy: &PolicySet,
    node: &NodeConfig,
    staged_dir: &Path,
    hooks: Option<HookInjection>,
) -> Result<Compiled> {
    let gpu_access = policy
        .sandbox()
        .map(|sandbox| sandbox.spec.resources.gpu_access.value)
        .unwrap_or_default();
    let region = spec
        .annotations()
        .as_ref()
        .and_then(|a| a.get(REGION_ANNOTATION).cloned())
        .or_else(|| node.region.clone());
    let facts = NodeFacts {
        gpu: gpu_edits::for_container(spec, gpu_access, &node.gpu)?,
        hooks,
        seccomp_listener: Some(
            node.services
                .seccomp
                .clone()
                .unwrap_or_else(|| PathBuf::from(SECCOMP_SUPERVISOR_SOCKET)),
        ),
        egress: EgressWiring {
            gateway: node.egress.gateway(),
            proxy_port: node.egress.proxy_port,
            router_port: node.egress.router_port,
            ca_cert: node.egress.ca_cert_path(),
            resolv_conf: staged_dir.join(RESOLV_CONF),
        },
        region,
    };
    Ok(openshell_policy::compile(policy, spec, &facts)?)
}

/// The resolver configuration a restricted sandbox gets, in its staged bundle (bind-mounted as
/// /etc/resolv.conf).
pub const RESOLV_CONF: &str = "resolv.conf";

/// The annotation naming a container's data-residency region (else the node's `region`).
pub const REGION_ANNOTATION: &str = "openshell.nvidia.com/region";

/// Refuses a sandbox whose policy escalates system calls while no seccomp supervisor listens:
/// its held calls would have nobody to ask (libcontainer would fail later, less clearly).
pub fn check_seccomp_supervisor(compiled: &CompiledPolicy) -> Result<()> {
    let listener = compiled
        .spec
        .linux()
        .as_ref()
        .and_then(|linux| linux.seccomp().as_ref())
        .and_then(|seccomp| seccomp.listener_path().as_ref());
    if let Some(socket) = listener
        && std::os::unix::net::UnixStream::connect(socket).is_err()
    {
        bail!(
            "policy {:?} escalates system calls, but no seccomp supervisor listens at {}: start \
             openshell-supervisor or set [services] seccomp",
            compiled.name,
            socket.display()
        );
    }
    Ok(())
}

/// Refuses a restricted sandbox on a node whose egress engine has not created its interception
/// CA yet (the sandbox could not trust what the engine presents).
pub fn check_egress_ca(compiled: &CompiledPolicy) -> Result<()> {
    if let Some(wiring) = &compiled.sandbox_network
        && !wiring.ca_cert.is_file()
    {
        bail!(
            "egress CA {} not found: start openshell-egress (it creates it) or set [egress] ca_cert",
            wiring.ca_cert.display()
        );
    }
    Ok(())
}

/// Sets `name=value` in the spec's process environment, replacing any value of that name.
pub fn set_env(spec: &mut Spec, name: &str, value: &str) {
    if let Some(process) = spec.process_mut() {
        let mut env = process.env().clone().unwrap_or_default();
        env.retain(|entry| entry.split('=').next() != Some(name));
        env.push(format!("{name}={value}"));
        process.set_env(Some(env));
    }
}
