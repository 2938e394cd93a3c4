//! `start`: let a created container's init exec the workload.

use anyhow::{Context as _, Result};
use libcontainer::container::ContainerStatus;

use super::{Context, require_status};

pub fn start(ctx: &Context, args: liboci_cli::Start) -> Result<()> {
    let mut container = ctx.load(&args.container_id)?;
    require_status(&container, &[ContainerStatus::Created], "start")?;
    container
        .start()
        .with_context(|| format!("cannot start container {:?}", args.container_id))
}
