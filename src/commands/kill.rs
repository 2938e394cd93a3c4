//! `kill`: deliver a signal to the container's init, or with `--all` to every process in it.
//!
//! Implemented here rather than through libcontainer's `Container::kill`, which records the
//! container as stopped after any signal (even SIGUSR1) and so corrupts `created`/`paused` states.
//!
//! After SIGKILL, `kill` returns once the init has died (at most [`KILL_WAIT`]): a `delete` right
//! after `kill KILL` (containerd's and youki's conformance suite's sequence) otherwise races the
//! dying init, finds it still running, fails, and leaves the container and its cgroups behind.
//! runc has that race; waiting costs the time the kernel takes to tear the init down.

use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::str::FromStr;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail};
use libcgroups::common::{CgroupManager, FreezerState};
use libcontainer::container::ContainerStatus;
use nix::errno::Errno;
use nix::sys::signal::{Signal, kill as send};
use nix::unistd::Pid;

use super::{Context, cgroup_manager};
use crate::cli::KillArgs;

/// How long `kill KILL` waits for the container's init to die before returning anyway.
pub const KILL_WAIT: Duration = Duration::from_secs(2);

pub fn kill(ctx: &Context, args: KillArgs) -> Result<()> {
    let signal = parse_signal(&args.signal)?;
    let container = ctx.load(&args.container_id)?;
    // Opened before signalling, so the wait follows this init and not a later process that
    // reuses its pid. None when there is no init to wait for.
    let init = (signal == Signal::SIGKILL && container.status() != ContainerStatus::Stopped)
        .then(|| container.pid().and_then(Pidfd::open))
        .flatten();
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
        let stays_frozen = container.status() == ContainerStatus::Paused;
        if frozen && !stays_frozen {
            cgroup
                .freeze(FreezerState::Thawed)
                .context("cannot thaw the container after signalling it")?;
        }
        delivered?;
        // A frozen (cgroup v1) process acts on SIGKILL only once thawed: no use waiting.
        if !stays_frozen {
            wait_for_death(init.as_ref(), &args.container_id);
        }
        return Ok(());
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
    wait_for_death(init.as_ref(), &args.container_id);
    Ok(())
}

/// Waits (at most [`KILL_WAIT`]) until the SIGKILLed init has exited; the signal is delivered
/// either way, so a slow death is only logged.
fn wait_for_death(init: Option<&Pidfd>, id: &str) {
    if let Some(init) = init
        && !init.wait_exit(KILL_WAIT)
    {
        tracing::warn!(
            "the init of {id:?} was sent SIGKILL but had not exited after {KILL_WAIT:?}"
        );
    }
}

/// A pidfd: a handle on one process that a reused pid cannot redirect.
struct Pidfd(OwnedFd);

impl Pidfd {
    /// None when the process is gone (or the kernel predates pidfds, Linux 5.3).
    fn open(pid: Pid) -> Option<Self> {
        // SAFETY: pidfd_open(2) takes a pid and flags and returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid.as_raw(), 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the kernel just returned this descriptor; nothing else owns it.
        Some(Self(unsafe { OwnedFd::from_raw_fd(fd) }))
    }

    /// True once the process has exited (a zombie, or reaped), false after `timeout`. A pidfd
    /// polls readable when its process exits.
    fn wait_exit(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        loop {
            let mut poll = libc::pollfd {
                fd: self.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let left = deadline.saturating_duration_since(Instant::now());
            let millis = i32::try_from(left.as_millis()).unwrap_or(i32::MAX);
            // SAFETY: one valid pollfd, for the duration of the call.
            match unsafe { libc::poll(&mut poll, 1, millis) } {
                ready if ready > 0 => return true,
                0 => return false,
                _ if Errno::last() == Errno::EINTR => continue,
                _ => return false,
            }
        }
    }
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
    fn pidfd_waits_for_the_exit_of_its_process() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pidfd = Pidfd::open(Pid::from_raw(child.id() as i32)).unwrap();
        assert!(
            !pidfd.wait_exit(Duration::from_millis(50)),
            "sleep exited early"
        );
        child.kill().unwrap();
        // Readable as soon as it is a zombie, before anyone reaps it.
        assert!(pidfd.wait_exit(Duration::from_secs(5)));
        child.wait().unwrap();
        assert!(pidfd.wait_exit(Duration::ZERO));
    }

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
