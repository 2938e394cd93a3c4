//! Bringing `lo` up in a container's new network namespace, as runc does (libcontainer leaves
//! it down, so even 127.0.0.1 is unreachable).

use std::fs::File;
use std::os::fd::AsRawFd;

use anyhow::{Context, Result, bail};
use nix::sched::{CloneFlags, setns};

/// Sets `lo` up in the network namespace of process `pid`.
///
/// Runs on a short-lived thread: `setns(CLONE_NEWNET)` moves only the calling thread.
pub fn bring_up(pid: i32) -> Result<()> {
    let netns = File::open(format!("/proc/{pid}/ns/net"))
        .with_context(|| format!("cannot open the network namespace of {pid}"))?;
    std::thread::spawn(move || -> Result<()> {
        setns(&netns, CloneFlags::CLONE_NEWNET)
            .context("setns into the container network namespace")?;
        set_loopback_up()
    })
    .join()
    .map_err(|_| anyhow::anyhow!("loopback thread panicked"))?
}

fn set_loopback_up() -> Result<()> {
    // SAFETY: a plain datagram socket used only for interface ioctls, closed by File's drop.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        bail!("socket: {}", std::io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh socket we own.
    let socket = unsafe { <File as std::os::fd::FromRawFd>::from_raw_fd(fd) };
    // SAFETY: ifreq is plain old data; zeroed is a valid value.
    let mut request: libc::ifreq = unsafe { std::mem::zeroed() };
    for (slot, byte) in request.ifr_name.iter_mut().zip(b"lo\0") {
        *slot = *byte as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS/SIOCSIFFLAGS read and write the flags of the named interface in ifreq.
    unsafe {
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCGIFFLAGS, &mut request) < 0 {
            bail!("SIOCGIFFLAGS lo: {}", std::io::Error::last_os_error());
        }
        request.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
        if libc::ioctl(socket.as_raw_fd(), libc::SIOCSIFFLAGS, &request) < 0 {
            bail!("SIOCSIFFLAGS lo: {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}
