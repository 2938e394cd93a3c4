//! Compilation of a `SandboxPolicy` into OCI hardening, merged into the caller's `config.json`
//! so that the policy only ever tightens what the caller asked for:
//!
//! | area | rule |
//! |---|---|
//! | namespaces | pid, ipc, uts, mount, cgroup always new; network new unless `host`; a network join by path is replaced by a new namespace, a mount join too; pid/ipc/uts/cgroup joins by path are kept (pod sharing); user and time as asked |
//! | capabilities | each set intersected with [`AGENT_CAPABILITIES`] (and clamped to the bounding set; ambient to inheritable ∩ permitted) |
//! | privileges | `noNewPrivileges: true` |
//! | filesystem | `read-only`: root read-only plus size-limited tmpfs scratch (unless the caller mounts the path); sysfs and cgroup mounts read-only; masked and read-only paths = caller's ∪ Docker's defaults ∪ the policy's |
//! | devices | only the standard nodes (null, zero, full, random, urandom, tty) plus the GPU edits; device cgroup default-deny; NVIDIA devices, mounts and hooks from the caller removed |
//! | limits | memory (and memory+swap, equal: no swap), CFS quota over a 100 ms period, pids: the lower of caller and policy |
//! | seccomp | the policy's profile intersected with the caller's (a call passes only if both let it) |
//! | hooks | `createRuntime` (first) and `poststop` (last) run the openshell hook with an explicit environment |
//! | env | `OPENSHELL_POLICY` removed; `NVIDIA_VISIBLE_DEVICES` from the image cannot widen GPU access |
//! | annotations | policy name and digest recorded |

mod capabilities;
mod devices;
mod env;
mod filesystem;
mod hooks;
mod namespaces;
mod resources;

use std::path::PathBuf;

use oci_spec::runtime::{Linux, LinuxDevice, LinuxDeviceCgroup, Mount, Spec};

pub use capabilities::AGENT_CAPABILITIES;
pub use env::{POLICY_ENV, policy_from_env};
pub(crate) use filesystem::DEFAULT_TMPFS;

use crate::documents::{GpuAccess, SandboxPolicy};
use crate::error::PolicyError;
use crate::explain::{self, Explanation};
use crate::policy_set::PolicySet;
use crate::seccomp::{self, filter::Filter, filter::intersect};

/// Annotation naming the policy (set by callers to choose one; recorded in the hardened spec).
pub const POLICY_ANNOTATION: &str = "openshell.nvidia.com/policy";
/// Annotation recording the digest of the policy file that hardened the spec.
pub const DIGEST_ANNOTATION: &str = "openshell.nvidia.com/policy-digest";

/// What the runtime adds to the compilation besides the policy.
#[derive(Clone, Debug, Default)]
pub struct HardenOptions {
    /// The openshell hook to inject, if any.
    pub hooks: Option<HookInjection>,
    /// Socket of the seccomp supervisor; required when the policy escalates a syscall.
    pub seccomp_listener: Option<PathBuf>,
    /// GPU edits computed by the GPU component for this container (only with `gpuAccess`
    /// other than `none`).
    pub gpu: Option<GpuEdits>,
}

/// The hook binary and the arguments of its two invocations.
#[derive(Clone, Debug)]
pub struct HookInjection {
    /// Absolute path of the hook binary.
    pub path: PathBuf,
    /// `args` of the `createRuntime` hook (the full argv, program name first).
    pub create_runtime_args: Vec<String>,
    /// `args` of the `poststop` hook (the full argv, program name first).
    pub poststop_args: Vec<String>,
    /// The hooks' whole environment (`KEY=VALUE`); nothing is inherited. Empty = a bare PATH.
    pub env: Vec<String>,
    /// Seconds before the runtime kills a hook.
    pub timeout_seconds: Option<i64>,
}

/// Container edits granting GPU access, computed elsewhere and merged here.
#[derive(Clone, Debug, Default)]
pub struct GpuEdits {
    /// Device nodes to create.
    pub devices: Vec<LinuxDevice>,
    /// Device cgroup rules (applied after the default deny).
    pub device_rules: Vec<LinuxDeviceCgroup>,
    /// Mounts (driver libraries, masked /proc/driver/nvidia).
    pub mounts: Vec<Mount>,
    /// Environment (`KEY=VALUE`), replacing the process's variables of the same name.
    pub env: Vec<String>,
    /// Paths hidden from the container (e.g. `/proc/driver/nvidia/gpus/<bus>` of GPUs it was
    /// not given).
    pub masked_paths: Vec<String>,
}

/// A hardened spec and what changed, in words.
#[derive(Clone, Debug)]
pub struct Hardened {
    /// The spec to run the container with.
    pub spec: Spec,
    /// The differences from the caller's spec.
    pub explanation: Explanation,
}

/// Compiles `policy`'s `SandboxPolicy` into `caller`'s spec. The caller's spec is not modified.
pub fn harden(
    caller: &Spec,
    policy: &PolicySet,
    options: &HardenOptions,
) -> Result<Hardened, PolicyError> {
    let name = policy.name().to_owned();
    let refuse = |reason: String| PolicyError::Harden {
        policy: name.clone(),
        reason,
    };
    let sandbox = policy.sandbox().ok_or_else(|| {
        refuse(format!(
            "{} has no SandboxPolicy document to compile",
            policy.file()
        ))
    })?;
    let mut spec = caller.clone();
    let process = spec
        .process_mut()
        .as_mut()
        .ok_or_else(|| refuse("the container's config.json has no process".to_owned()))?;
    process.set_no_new_privileges(Some(true));
    capabilities::apply(process);
    env::apply(
        process,
        sandbox.spec.resources.gpu_access.value,
        options.gpu.as_ref(),
    );

    let gpu_edits = gpu_edits(sandbox, options).map_err(&refuse)?;
    filesystem::apply(&mut spec, &sandbox.spec.isolation).map_err(&refuse)?;
    devices::apply(&mut spec, gpu_edits);
    hooks::apply(&mut spec, options.hooks.as_ref()).map_err(&refuse)?;

    let linux = spec.linux_mut().get_or_insert_with(empty_linux);
    namespaces::apply(linux, sandbox.spec.isolation.network.value);
    resources::apply(linux, &sandbox.spec.resources);
    let seccomp = seccomp_for(linux, sandbox, policy, options).map_err(&refuse)?;
    linux.set_seccomp(seccomp);

    let annotations = spec.annotations_mut().get_or_insert_with(Default::default);
    annotations.insert(POLICY_ANNOTATION.to_owned(), name.clone());
    annotations.insert(DIGEST_ANNOTATION.to_owned(), policy.digest().to_owned());

    let explanation = explain::explain(caller, &spec, policy);
    Ok(Hardened { spec, explanation })
}

/// A `linux` section with nothing in it (the OCI default fills in namespaces and paths).
fn empty_linux() -> Linux {
    let mut linux = Linux::default();
    linux.set_namespaces(None);
    linux.set_masked_paths(None);
    linux.set_readonly_paths(None);
    linux.set_resources(None);
    linux
}

fn gpu_edits<'a>(
    sandbox: &SandboxPolicy,
    options: &'a HardenOptions,
) -> Result<Option<&'a GpuEdits>, String> {
    let access = &sandbox.spec.resources.gpu_access;
    match (access.value, &options.gpu) {
        (GpuAccess::None, Some(_)) => Err(format!(
            "GPU edits were supplied but the policy says gpuAccess: none{}",
            located_at(access.position)
        )),
        (GpuAccess::None, None) => Ok(None),
        (_, edits) => Ok(edits.as_ref()),
    }
}

fn located_at(position: crate::located::Position) -> String {
    if position.is_known() {
        format!(" (line {})", position.line)
    } else {
        String::new()
    }
}

fn seccomp_for(
    linux: &Linux,
    sandbox: &SandboxPolicy,
    policy: &PolicySet,
    options: &HardenOptions,
) -> Result<Option<oci_spec::runtime::LinuxSeccomp>, String> {
    let isolation = &sandbox.spec.isolation;
    let filter = seccomp::policy_filter(
        isolation,
        options.seccomp_listener.as_deref(),
        std::env::consts::ARCH,
    )
    .map_err(|missing| {
        let position = isolation
            .syscall_overrides
            .keys()
            .find(|name| name.value == missing.syscall)
            .map(|name| name.position)
            .unwrap_or_default();
        format!(
            "{}:{position}: syscall '{}' is escalated but the runtime gave no seccomp listener \
             socket to hold it",
            policy.file(),
            missing.syscall
        )
    })?;
    let Some(filter) = filter else {
        return Ok(linux.seccomp().clone());
    };
    Ok(Some(match linux.seccomp() {
        Some(caller) => intersect(&filter, &Filter::from_oci(caller)).to_oci(),
        None => filter.to_oci(),
    }))
}

#[cfg(test)]
mod tests;
