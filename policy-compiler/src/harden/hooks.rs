//! The openshell hook: admission and sandbox wiring at `createRuntime`, clean-up at `poststop`.

use std::path::Path;

use oci_spec::runtime::{Hook, Hooks, Spec};

use super::HookInjection;

/// The environment hooks get when the runtime names none.
const BARE_ENV: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn hook(path: &Path, args: &[String], injection: &HookInjection) -> Hook {
    let mut hook = Hook::default();
    hook.set_path(path.to_owned());
    hook.set_args(Some(args.to_vec()));
    // Always explicit: a hook must never inherit the container's environment (LD_PRELOAD,
    // CVE-2025-23266) or the runtime's.
    let env = if injection.env.is_empty() {
        vec![BARE_ENV.to_owned()]
    } else {
        injection.env.clone()
    };
    hook.set_env(Some(env));
    hook.set_timeout(injection.timeout_seconds);
    hook
}

pub(super) fn apply(spec: &mut Spec, injection: Option<&HookInjection>) -> Result<(), String> {
    let Some(injection) = injection else {
        return Ok(());
    };
    if !injection.path.is_absolute() {
        return Err(format!(
            "the hook path {} is not absolute",
            injection.path.display()
        ));
    }
    if injection
        .timeout_seconds
        .is_some_and(|seconds| seconds <= 0)
    {
        return Err("the hook timeout must be at least one second".to_owned());
    }
    let hooks = spec.hooks_mut().get_or_insert_with(Hooks::default);
    let create = hook(&injection.path, &injection.create_runtime_args, injection);
    let mut create_runtime = vec![create];
    create_runtime.extend(hooks.create_runtime().clone().unwrap_or_default());
    hooks.set_create_runtime(Some(create_runtime));
    let stop = hook(&injection.path, &injection.poststop_args, injection);
    hooks.poststop_mut().get_or_insert_with(Vec::new).push(stop);
    Ok(())
}
