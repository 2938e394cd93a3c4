//! The last step of `create-runtime` and the first of `poststop`: the container's registration
//! record, `<state root>/<id>.json` (read by the policy service at start, the egress engine and
//! the router), and its registration with the policy service.

use std::path::{Path, PathBuf};

use chrono::Utc;
use oci_spec::runtime::State;
use openshell_policy::CompiledPolicy;
use openshell_policy::container;
use openshell_policy::wire::ContainerRegistration;

use crate::backend::PolicyBackend;
use crate::steps::CreateContext;
use crate::{HookError, HookSettings};

/// The record of a container about to start.
pub fn record(
    state: &State,
    policy: &CompiledPolicy,
    settings: &HookSettings,
) -> ContainerRegistration {
    container::registration(state, policy, settings.node.region.as_deref())
}

/// The record's path.
pub fn record_path(settings: &HookSettings, container_id: &str) -> PathBuf {
    container::record_path(&settings.state_root, container_id)
}

/// Writes the record (atomically, mode 0600) and registers it with the service; a failed
/// registration removes the record again.
pub fn run(ctx: &mut CreateContext) -> Result<(), HookError> {
    ctx.registration.registered_at = Utc::now();
    let path = record_path(&ctx.settings, &ctx.registration.container_id);
    write_record(&path, &ctx.registration)?;
    if let Err(e) = ctx.backend.register(&ctx.registration) {
        let _ = container::remove_record(&path);
        return Err(e);
    }
    Ok(())
}

fn write_record(path: &Path, registration: &ContainerRegistration) -> Result<(), HookError> {
    container::write_record(path, registration).map_err(|source| HookError::Registry {
        path: path.to_owned(),
        source,
    })
}

/// Removes the record and unregisters the container; a missing record is not an error.
pub fn remove(
    state: &State,
    settings: &HookSettings,
    backend: &PolicyBackend,
) -> Result<(), HookError> {
    let path = record_path(settings, state.id());
    container::remove_record(&path).map_err(|source| HookError::Registry { path, source })?;
    backend.unregister(state.id())
}
