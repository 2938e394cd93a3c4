//! The thin hook run in the runtime's own process. For the `openshell-hook-client` calls the
//! runtime injects (on a node running the policy service), libcontainer's hook runner hands
//! the call to this module, which makes the client's one request itself instead of starting
//! the client: the process start was most of what the hook cost each `createRuntime` and
//! `poststop`. The spec still names the client with the same arguments, so whoever reads the
//! container's `config.json`, or runs the bundle with another runtime, sees and runs the same
//! hook; a denial, an unreachable service or a timeout fails the hook as the client's non-zero
//! exit does.

use oci_spec::runtime::Hook;
use openshell_hook_client::HookCall;

use crate::hardening::{HOOK_CLIENT_BINARY, next_to_runtime};

/// Offers every hook this process runs to [`in_process`].
pub fn install() {
    libcontainer::hooks::set_in_process_hook(in_process);
}

/// The client's work for `hook`, if it is the client this runtime injects (its `args[0]`, at
/// the path next to this runtime): anything else, another program by the same name included,
/// is started as usual.
fn in_process(hook: &Hook, state: &[u8]) -> Option<libcontainer::hooks::InProcessWork> {
    let args = hook.args().as_ref()?;
    if args.first().map(String::as_str) != Some(HOOK_CLIENT_BINARY) {
        return None;
    }
    if *hook.path() != next_to_runtime(HOOK_CLIENT_BINARY).ok()? {
        return None;
    }
    let call = HookCall::from_args(args);
    let state = state.to_vec();
    Some(Box::new(move || {
        call.map_err(|e| e.to_string())
            .and_then(|call| call.run(&state).map_err(|e| e.to_string()))
            .map_err(|e| format!("{HOOK_CLIENT_BINARY}: {e}"))
    }))
}
