//! Foreground `run` and `exec`: wait for the container process while forwarding signals to it,
//! and turn its end into an exit status the way a shell (and runc) does: its exit code, or
//! 128 + the signal number that killed it.

use anyhow::{Context, Result};
use nix::sys::signal::{Signal, kill};
use nix::sys::signalfd::SigSet;
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

/// Waits for `pid` (a child of this process) to end and returns its exit status.
///
/// All signals are blocked and taken synchronously; every signal but SIGCHLD, SIGURG and SIGWINCH
/// is forwarded to `pid`. Other children that end meanwhile (reparented orphans, since the runtime
/// is a subreaper) are reaped and ignored.
pub fn wait_forwarding_signals(pid: Pid) -> Result<i32> {
    let signals = SigSet::all();
    signals
        .thread_block()
        .context("cannot block signals while waiting for the container")?;
    loop {
        // Reap first: the child may have ended before signals were blocked, and a SIGCHLD sent
        // then was discarded.
        if let Some(status) = reap(pid)? {
            return Ok(status);
        }
        match signals.wait().context("sigwait")? {
            Signal::SIGCHLD | Signal::SIGURG | Signal::SIGWINCH => {}
            signal => {
                if let Err(err) = kill(pid, signal) {
                    tracing::warn!("cannot forward {signal} to {pid}: {err}");
                }
            }
        }
    }
}

/// Reaps every ended child; returns `pid`'s exit status once it is among them.
fn reap(pid: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(child, code)) if child == pid => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(child, signal, _)) if child == pid => {
                return Ok(Some(128 + signal as i32));
            }
            Ok(WaitStatus::StillAlive) | Err(nix::errno::Errno::ECHILD) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::EINTR) => continue,
            Err(err) => return Err(err).context("waitpid"),
        }
    }
}
