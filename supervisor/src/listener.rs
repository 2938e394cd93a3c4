//! The listener socket libcontainer hands notification descriptors to.

use std::io::IoSliceMut;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::sys::socket::{ControlMessageOwned, MsgFlags, recvmsg};
use oci_spec::runtime::ContainerProcessState;

/// Largest state message read.
const MAX_STATE: usize = 1 << 20;

/// Why the listener could not start or a hand-over could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ListenerError {
    /// The socket could not be bound.
    #[error("cannot listen on {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The peer closed without handing anything over (the runtime checking that the
    /// supervisor listens).
    #[error("a connection closed without a hand-over")]
    Empty,
    /// A hand-over could not be received.
    #[error("receiving a notification descriptor: {0}")]
    Receive(String),
}

/// Binds `path` (mode 0600; a stale socket file is replaced).
pub fn bind(path: &Path) -> Result<UnixListener, ListenerError> {
    let bind_error = |source| ListenerError::Bind {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(bind_error)?;
    }
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(bind_error(e)),
    }
    let listener = UnixListener::bind(path).map_err(bind_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(bind_error)?;
    Ok(listener)
}

/// One hand-over: the container's process state and its notification descriptor.
pub struct HandOver {
    /// What libcontainer says about the container.
    pub state: ContainerProcessState,
    /// The seccomp notification descriptor.
    pub fd: OwnedFd,
}

/// Reads one hand-over from a connection: the state JSON with one descriptor attached.
pub fn receive(stream: &UnixStream) -> Result<HandOver, ListenerError> {
    let mut buffer = vec![0u8; MAX_STATE];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 1]);
    let (bytes, fd) = {
        let mut iov = [IoSliceMut::new(&mut buffer)];
        let message = recvmsg::<()>(
            stream.as_raw_fd(),
            &mut iov,
            Some(&mut space),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| ListenerError::Receive(e.to_string()))?;
        let mut fd = None;
        for control in message
            .cmsgs()
            .map_err(|e| ListenerError::Receive(e.to_string()))?
        {
            if let ControlMessageOwned::ScmRights(fds) = control {
                for raw in fds {
                    // SAFETY: the kernel just installed `raw` in this process for us.
                    let owned = unsafe { OwnedFd::from_raw_fd(raw) };
                    if fd.is_none() {
                        fd = Some(owned);
                    }
                }
            }
        }
        (message.bytes, fd)
    };
    if bytes == 0 && fd.is_none() {
        return Err(ListenerError::Empty);
    }
    let fd = fd.ok_or_else(|| ListenerError::Receive("no descriptor was attached".into()))?;
    let state: ContainerProcessState = serde_json::from_slice(&buffer[..bytes])
        .map_err(|e| ListenerError::Receive(format!("the container state: {e}")))?;
    Ok(HandOver { state, fd })
}
