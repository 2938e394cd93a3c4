//! The last step of `create-runtime` and the first of `poststop`: the container's registration
//! record, `<state root>/<id>.json` (read by the policy service at start, the egress engine and
//! the router), and its registration with the policy service.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::Utc;
use oci_spec::runtime::State;
use openshell_policy::CompiledPolicy;
use openshell_policy::wire::{ContainerRegistration, SandboxAddresses};

use crate::backend::PolicyBackend;
use crate::steps::CreateContext;
use crate::{HookError, HookSettings};

/// The record of a container about to start.
pub fn record(
    state: &State,
    policy: &CompiledPolicy,
    settings: &HookSettings,
) -> ContainerRegistration {
    let pid = state
        .pid()
        .and_then(|p| u32::try_from(p).ok())
        .filter(|p| *p > 0);
    ContainerRegistration {
        container_id: state.id().clone(),
        bundle: state.bundle().clone(),
        pid,
        region: policy
            .region
            .clone()
            .or_else(|| settings.node.region.clone()),
        netns_path: pid.map(|p| PathBuf::from(format!("/proc/{p}/ns/net"))),
        sandbox: SandboxAddresses::default(),
        policy: policy.clone(),
        registered_at: Utc::now(),
        caller_token: std::fs::read_to_string(
            state
                .bundle()
                .join(openshell_policy::caller_token::DIGEST_FILE),
        )
        .ok()
        .map(|digest| digest.trim().to_owned()),
    }
}

/// The record's path.
pub fn record_path(settings: &HookSettings, container_id: &str) -> PathBuf {
    settings.state_root.join(format!("{container_id}.json"))
}

/// Writes the record (atomically, mode 0600) and registers it with the service; a failed
/// registration removes the record again.
pub fn run(ctx: &mut CreateContext) -> Result<(), HookError> {
    ctx.registration.registered_at = Utc::now();
    let path = record_path(&ctx.settings, &ctx.registration.container_id);
    write_record(&path, &ctx.registration)?;
    if let Err(e) = ctx.backend.register(&ctx.registration) {
        let _ = fs::remove_file(&path);
        return Err(e);
    }
    Ok(())
}

fn write_record(path: &Path, registration: &ContainerRegistration) -> Result<(), HookError> {
    let fail = |source: std::io::Error| HookError::Registry {
        path: path.to_owned(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("/"));
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(fail)?;
    let tmp = dir.join(format!(
        ".{}.tmp",
        path.file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("record")
    ));
    // Compact: every reader (policy service, egress engine, router) parses it by machine.
    let json = serde_json::to_vec(registration).map_err(|e| fail(std::io::Error::other(e)))?;
    let mut file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&tmp)
        .map_err(fail)?;
    // Written aside and renamed, so a reader sees a whole record or none. Not synced to disk:
    // a record describes a running container, which a crash of the node ends as well (the
    // default registry is on a tmpfs), while syncing a disk-backed registry costs each start
    // milliseconds.
    file.write_all(&json).map_err(fail)?;
    fs::rename(&tmp, path).map_err(fail)
}

/// Removes the record and unregisters the container; a missing record is not an error.
pub fn remove(
    state: &State,
    settings: &HookSettings,
    backend: &PolicyBackend,
) -> Result<(), HookError> {
    let path = record_path(settings, state.id());
    match fs::remove_file(&path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(HookError::Registry { path, source }),
    }
    backend.unregister(state.id())
}
