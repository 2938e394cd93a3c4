//! `delete`: remove a stopped (or, with `--force`, any) container and everything it holds.

use anyhow::{Context as _, Result, bail};
use libcontainer::container::ContainerStatus;

use super::{Context, status_name};
use crate::bundle::StagedBundle;

pub fn delete(ctx: &Context, args: liboci_cli::Delete) -> Result<()> {
    let id = &ctx.resolve_id(&args.container_id)?;
    if args.force && !ctx.exists(id)? {
        // runc: deleting a missing container with --force succeeds (but cleans a stale stage).
        StagedBundle::remove_for(&ctx.root()?, id);
        return Ok(());
    }
    let mut container = ctx.load(id)?;
    if !args.force
        && matches!(
            container.status(),
            ContainerStatus::Running | ContainerStatus::Paused
        )
    {
        bail!(
            "cannot delete container {id:?} that is not stopped: {}",
            status_name(container.status())
        );
    }
    container
        .delete(args.force)
        .with_context(|| format!("cannot delete container {id:?}"))?;
    StagedBundle::remove_for(&ctx.root()?, id);
    Ok(())
}
