//! The hooks' steps, in order. `create-runtime`: [`admission`], [`network`],
//! [`registration`], then [`router`]. `poststop`: [`registration::remove`],
//! [`router::remove`], then [`network::remove`].

pub mod admission;
pub mod network;
pub mod registration;
pub mod router;

use oci_spec::runtime::State;
use openshell_policy::CompiledPolicy;
use openshell_policy::wire::ContainerRegistration;

use crate::backend::PolicyBackend;
use crate::{HookError, HookSettings};

/// Longest wait for the embedded engine's audit events at the end of a hook.
const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// What the `create-runtime` steps share.
pub struct CreateContext {
    /// The OCI state.
    pub state: State,
    /// The container's compiled policy (its spec included).
    pub policy: CompiledPolicy,
    /// Settings.
    pub settings: HookSettings,
    /// The decision backend.
    pub backend: PolicyBackend,
    /// The record the last step writes; earlier steps fill it in.
    pub registration: ContainerRegistration,
}

/// Runs `create-runtime`: admission, the sandbox network, registration, then the router (a
/// failed registration unwires the network again; a failed router registration also removes
/// the registration).
pub fn create_runtime(mut ctx: CreateContext) -> Result<(), HookError> {
    let result = admission::run(&ctx)
        .and_then(|()| network::run(&mut ctx))
        .and_then(|()| {
            registration::run(&mut ctx)
                .and_then(|()| {
                    router::run(&ctx).inspect_err(|_| {
                        let _ = registration::remove(&ctx.state, &ctx.settings, &ctx.backend);
                    })
                })
                .inspect_err(|_| {
                    let _ = network::remove(&ctx.state, &ctx.settings);
                })
        });
    let flushed = ctx.backend.finish(AUDIT_FLUSH.min(ctx.settings.timeout));
    result.and(flushed)
}

/// Runs `poststop`: removes the registration, then the sandbox network.
pub fn poststop(
    state: &State,
    settings: &HookSettings,
    backend: &PolicyBackend,
) -> Result<(), HookError> {
    let registration = registration::remove(state, settings, backend);
    // After the record is gone. Its removal revokes the sandbox at the router's next scan
    // anyway: a router that does not answer now is reported, not a reason to keep the rest.
    if let Err(e) = router::remove(state, settings) {
        eprintln!("openshell-hook: {e}");
    }
    let result = registration.and(network::remove(state, settings));
    let flushed = backend.finish(AUDIT_FLUSH.min(settings.timeout));
    result.and(flushed)
}
