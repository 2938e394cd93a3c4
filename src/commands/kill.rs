//! `kill`: deliver a signal to the container's init, or with `--all` to every process in it.
//!
//! Implemented here rather than through libcontainer's `Container::kill`, which records the
//! container as stopped after any signal (even SIGUSR1) and so corrupts `created`/`paused` states.

use std::str::FromStr;

use anyhow::{Context as _, Result, anyhow, bail};
use libcgroups::common::{CgroupManager, FreezerState};
use libcontainer::container::ContainerStatus;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill as send};

use super::{Context, cgroup_manager};
use crate::cli::KillArgs;

pub fn kill(ctx: &Context, args: KillArgs) -> Result<()> {
    let signal = parse_signal(&args.signal)?;
    let container = ctx.load(&args.container_id)?;
    if args.all {
        let cgroup = cgroup_manager(&container)?;
        // Freeze first so nothing forks between listing the pids and signalling them.
        let frozen = cgroup.freeze(FreezerState::Frozen).is_ok();
        let pids = cgroup
            .get_all_pids()
            .context("cannot list the container's processes");
        let delivered = pids.and_then(|pids| {
            pids.into_iter()
                .try_for_each(|pid| match send(pid, signal) {
                    Ok(()) | Err(Errno::ESRCH) => Ok(()),
                    Err(err) => Err(anyhow!("cannot send {signal} to {pid}: {err}")),
                })
        });
        // A paused container stays paused unless it was only frozen for this signal.
        if frozen && container.status() != ContainerStatus::Paused {
            cgroup
                .freeze(FreezerState::Thawed)
                .context("cannot thaw the container after signalling it")?;
        }
        return delivered;
    }
    if container.status() == ContainerStatus::Stopped {
        bail!("container {:?} is not running", args.container_id);
    }
    let pid = container
        .pid()
        .ok_or_else(|| anyhow!("container {:?} has no init pid", args.container_id))?;
    match send(pid, signal) {
        Ok(()) | Err(Errno::ESRCH) => {}
        Err(err) => bail!(
            "cannot send {signal} to the init of {:?}: {err}",
            args.container_id
        ),
    }
    // A frozen (cgroup v1) process cannot act on SIGKILL until thawed.
    if signal == Signal::SIGKILL && container.status() == ContainerStatus::Paused {
        cgroup_manager(&container)?
            .freeze(FreezerState::Thawed)
            .context("cannot thaw the killed container")?;
    }
    Ok(())
}

/// Parses a signal as runc does: a number, or a name with or without the `SIG` prefix.
pub fn parse_signal(text: &str) -> Result<Signal> {
    let invalid =
        || anyhow!("invalid signal {text:?}: use a name like TERM or SIGKILL, or a number");
    if let Ok(number) = text.parse::<i32>() {
        return Signal::try_from(number).map_err(|_| invalid());
    }
    let upper = text.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_by_name_and_number() {
        assert_eq!(parse_signal("9").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("KILL").unwrap(), Signal::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), Signal::SIGTERM);
        assert_eq!(parse_signal("SIGUSR1").unwrap(), Signal::SIGUSR1);
        for bad in ["0", "65", "SIGNOPE", "", "-9"] {
            let err = parse_signal(bad).unwrap_err().to_string();
            assert!(err.contains("invalid signal"), "{bad}: {err}");
        }
    }
}
