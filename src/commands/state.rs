//! `state`: the container's OCI state, as runc prints it.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use libcontainer::container::{Container, ContainerStatus};
use serde::Serialize;

use super::Context;
use crate::bundle::StagedBundle;

/// runc's state document (`runc state`, and one entry of `runc list --format json`).
#[derive(Serialize, Debug)]
#[serde(rename_all = "camelCase")]
pub struct StateDocument {
    pub oci_version: String,
    pub id: String,
    pub pid: i32,
    pub status: ContainerStatus,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub created: String,
    pub owner: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<HashMap<String, String>>,
}

impl StateDocument {
    /// Describes a loaded container; `bundle` is the caller's bundle, not the staged copy.
    pub fn of(ctx: &Context, container: &Container) -> Result<Self> {
        let root = ctx.root()?;
        let id = container.id();
        let bundle =
            StagedBundle::caller_bundle(&root, id).unwrap_or_else(|| container.bundle().clone());
        let rootfs = StagedBundle::load_spec(&root, id)
            .ok()
            .and_then(|spec| spec.root().as_ref().map(|r| r.path().clone()))
            .unwrap_or_default();
        let running = container.status() != ContainerStatus::Stopped;
        Ok(Self {
            oci_version: container.state.oci_version.clone(),
            id: id.to_owned(),
            pid: container
                .pid()
                .filter(|_| running)
                .map_or(0, |pid| pid.as_raw()),
            status: container.status(),
            bundle,
            rootfs,
            created: container
                .created()
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_default(),
            owner: container
                .creator()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
            annotations: container
                .state
                .annotations
                .clone()
                .filter(|a| !a.is_empty()),
        })
    }
}

pub fn state(ctx: &Context, args: liboci_cli::State) -> Result<()> {
    let container = ctx.load(&args.container_id)?;
    let document = StateDocument::of(ctx, &container)?;
    println!("{}", serde_json::to_string_pretty(&document)?);
    Ok(())
}
