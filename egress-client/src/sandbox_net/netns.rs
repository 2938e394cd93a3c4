//! Entering a container's network namespace for the one thread that needs it.

use std::fs::File;
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};

use super::NetError;

/// An open network namespace (`/proc/PID/ns/net` or a bind mount of one).
pub struct NetNs {
    file: File,
    path: PathBuf,
}

impl NetNs {
    /// Opens the namespace at `path`.
    pub fn open(path: &Path) -> Result<NetNs, NetError> {
        let file = File::open(path).map_err(|source| NetError::Netns {
            path: path.to_owned(),
            source,
        })?;
        Ok(NetNs {
            file,
            path: path.to_owned(),
        })
    }

    /// The path it was opened from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open namespace file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Runs `f` with the calling thread inside this namespace, then puts the thread back.
    ///
    /// Sockets created by `f` stay in this namespace whatever thread uses them later. Panics if
    /// the thread cannot return to its own namespace: it must not go on in the container's.
    pub fn within<T>(&self, f: impl FnOnce() -> T) -> Result<T, NetError> {
        let home_path = Path::new("/proc/thread-self/ns/net");
        let home = File::open(home_path).map_err(|source| NetError::Netns {
            path: home_path.to_owned(),
            source,
        })?;
        setns(&self.file, CloneFlags::CLONE_NEWNET).map_err(|errno| NetError::Netns {
            path: self.path.clone(),
            source: errno.into(),
        })?;
        let result = f();
        if let Err(errno) = setns(&home, CloneFlags::CLONE_NEWNET) {
            panic!("cannot return to the node's network namespace: {errno}");
        }
        Ok(result)
    }
}
