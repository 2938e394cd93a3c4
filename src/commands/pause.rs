//! `pause` and `resume`: freeze and thaw every process of the container (freezer cgroup).

use anyhow::{Context as _, Result};
use libcontainer::container::ContainerStatus;

use super::{Context, require_status};

pub fn pause(ctx: &Context, args: liboci_cli::Pause) -> Result<()> {
    let mut container = ctx.load(&args.container_id)?;
    require_status(&container, &[ContainerStatus::Running], "pause")?;
    container
        .pause()
        .with_context(|| format!("cannot pause container {:?}", args.container_id))
}

pub fn resume(ctx: &Context, args: liboci_cli::Resume) -> Result<()> {
    let mut container = ctx.load(&args.container_id)?;
    require_status(&container, &[ContainerStatus::Paused], "resume")?;
    container
        .resume()
        .with_context(|| format!("cannot resume container {:?}", args.container_id))
}
