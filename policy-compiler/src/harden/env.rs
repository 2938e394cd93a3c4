//! The container process's environment.

use oci_spec::runtime::{Process, Spec};

use super::GpuEdits;
use crate::documents::GpuAccess;

/// Environment variable naming the policy, for callers that cannot set annotations
/// (Docker 20.10). It is removed from the hardened spec: the agent never sees it.
pub const POLICY_ENV: &str = "OPENSHELL_POLICY";

/// The variable through which images and toolkits pick GPUs; it may not widen access.
const NVIDIA_VISIBLE_DEVICES: &str = "NVIDIA_VISIBLE_DEVICES";

/// The policy named by `OPENSHELL_POLICY` in the process environment (the last one wins, as
/// in `execve`), if any.
pub fn policy_from_env(spec: &Spec) -> Option<String> {
    spec.process()
        .as_ref()?
        .env()
        .iter()
        .flatten()
        .filter_map(|entry| entry.strip_prefix(POLICY_ENV)?.strip_prefix('='))
        .next_back()
        .map(str::to_owned)
}

fn key(entry: &str) -> &str {
    entry.split_once('=').map_or(entry, |(key, _)| key)
}

/// Sets `KEY=VALUE`, replacing every earlier definition of `KEY`.
fn set(env: &mut Vec<String>, entry: &str) {
    env.retain(|existing| key(existing) != key(entry));
    env.push(entry.to_owned());
}

pub(super) fn apply(process: &mut Process, gpu_access: GpuAccess, gpu: Option<&GpuEdits>) {
    let edits = gpu.filter(|_| gpu_access != GpuAccess::None);
    let had_env = process.env().is_some();
    let env = process.env_mut().get_or_insert_with(Vec::new);
    env.retain(|entry| key(entry) != POLICY_ENV);
    let mut granted = false;
    for entry in edits.iter().flat_map(|edits| &edits.env) {
        granted |= key(entry) == NVIDIA_VISIBLE_DEVICES;
        set(env, entry);
    }
    if !granted && env.iter().any(|entry| key(entry) == NVIDIA_VISIBLE_DEVICES) {
        set(env, &format!("{NVIDIA_VISIBLE_DEVICES}=void"));
    }
    if env.is_empty() && !had_env {
        process.set_env(None);
    }
}
