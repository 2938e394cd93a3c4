//! `run`: create and start a container, then (unless detached) wait for it and delete it.

use anyhow::{Context as _, Result, anyhow};
use libcontainer::container::Container;

use super::Context;
use super::create::{InitRequest, create_container};
use crate::bundle::StagedBundle;
use crate::foreground;

/// Returns the container's exit status (0 when detached).
pub fn run(ctx: &Context, args: liboci_cli::Run) -> Result<i32> {
    if !args.detach && !args.no_subreaper {
        // Orphans of the container are reparented to us and reaped, as with runc.
        nix::sys::prctl::set_child_subreaper(true).context("cannot become a child subreaper")?;
    }
    let mut container = create_container(
        ctx,
        &InitRequest {
            id: &args.container_id,
            bundle: &args.bundle,
            console_socket: args.console_socket.as_ref(),
            pid_file: args.pid_file.as_ref(),
            preserve_fds: args.preserve_fds,
            no_pivot: args.no_pivot,
            no_new_keyring: args.no_new_keyring,
            detach: args.detach,
        },
    )?;
    if let Err(err) = container.start() {
        destroy(ctx, &mut container);
        return Err(err).context(format!("cannot start container {:?}", args.container_id));
    }
    if args.detach {
        return Ok(0);
    }
    let pid = container
        .pid()
        .ok_or_else(|| anyhow!("container {:?} has no init pid", args.container_id))?;
    let status = foreground::wait_forwarding_signals(pid);
    if !args.keep {
        destroy(ctx, &mut container);
    }
    status
}

/// Deletes the container and its staged bundle, logging (not failing on) errors: `run` reports
/// the container's own outcome.
fn destroy(ctx: &Context, container: &mut Container) {
    if let Err(err) = container.delete(true) {
        tracing::error!("cannot delete container {:?}: {err}", container.id());
    }
    StagedBundle::remove_for(&ctx.root, container.id());
}
