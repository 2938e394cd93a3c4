//! The hooks' steps, in order. `create-runtime`: [`admission`], then [`registration`] (the
//! sandbox-network step goes between them). `poststop`: [`registration::remove`].

pub mod admission;
pub mod registration;

use oci_spec::runtime::{Spec, State};
use openshell_policy::wire::{ContainerPolicy, ContainerRegistration};

use crate::backend::PolicyBackend;
use crate::{HookError, HookSettings};

/// Longest wait for the embedded engine's audit events at the end of a hook.
const AUDIT_FLUSH: std::time::Duration = std::time::Duration::from_secs(2);

/// What the `create-runtime` steps share.
pub struct CreateContext {
    /// The OCI state.
    pub state: State,
    /// The bundle's spec.
    pub spec: Spec,
    /// The container's policy.
    pub policy: ContainerPolicy,
    /// Settings.
    pub settings: HookSettings,
    /// The decision backend.
    pub backend: PolicyBackend,
    /// The record the last step writes; earlier steps fill it in.
    pub registration: ContainerRegistration,
}

/// Runs `create-runtime`: admission, then registration.
pub fn create_runtime(mut ctx: CreateContext) -> Result<(), HookError> {
    let result = admission::run(&ctx).and_then(|()| registration::run(&mut ctx));
    let flushed = ctx.backend.finish(AUDIT_FLUSH.min(ctx.settings.timeout));
    result.and(flushed)
}

/// Runs `poststop`: removes the registration.
pub fn poststop(
    state: &State,
    settings: &HookSettings,
    backend: &PolicyBackend,
) -> Result<(), HookError> {
    let result = registration::remove(state, settings, backend);
    let flushed = backend.finish(AUDIT_FLUSH.min(settings.timeout));
    result.and(flushed)
}
