//! Host-side lookups: where the driver lives, and path resolution confined to it.
//!
//! Everything this crate mounts or exposes is found on the **host** side before the container
//! exists; nothing is ever resolved through a container's root filesystem (the class of bug
//! behind CVE-2024-0132, CVE-2024-0133 and CVE-2025-23359, where the toolkit followed
//! image-controlled symlinks while privileged). Inside the driver root, paths are resolved with
//! `openat2(RESOLVE_IN_ROOT)` through `pathrs`: an absolute symlink such as
//! `libcuda.so.1 -> /usr/lib/x86_64-linux-gnu/libcuda.so.550.54.15` is read relative to the
//! driver root, and `..` cannot climb out of it, so a driver root that is another filesystem
//! tree (the GPU Operator's `/run/nvidia/driver`) cannot point the runtime at host files.

use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::{FileStat, SFlag, fstat};
use pathrs::Root;
use pathrs::error::ErrorKind;
use pathrs::procfs::{ProcfsBase, ProcfsHandle};

/// Where the runtime looks for the driver on the host. Every root is injectable so tests run
/// against a fake driver tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRoots {
    /// Root of the user-space driver files (libraries, `nvidia-smi`); default `/`.
    pub driver_root: PathBuf,
    /// Root under which `dev/nvidia*` device nodes live; default `/`.
    pub dev_root: PathBuf,
    /// The host's procfs (`devices`, `driver/nvidia*`); default `/proc`.
    pub proc_root: PathBuf,
    /// The host's sysfs (`bus/pci/devices/<bus>/drm`); default `/sys`.
    pub sys_root: PathBuf,
}

impl Default for HostRoots {
    fn default() -> Self {
        Self {
            driver_root: "/".into(),
            dev_root: "/".into(),
            proc_root: "/proc".into(),
            sys_root: "/sys".into(),
        }
    }
}

impl HostRoots {
    /// All four roots inside one directory laid out like `/` (`dev/`, `proc/`, `sys/`, `usr/`),
    /// as `testing::FakeDriverRoot` builds it.
    pub fn under(root: &Path) -> Self {
        Self {
            driver_root: root.to_path_buf(),
            dev_root: root.to_path_buf(),
            proc_root: root.join("proc"),
            sys_root: root.join("sys"),
        }
    }
}

/// A host-side problem while computing GPU edits.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// A host file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// A host file has content this crate does not understand.
    #[error("{}: line {line}: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A path inside a root could not be resolved safely.
    #[error("resolving {} inside {}: {source}", path.display(), root.display())]
    Resolve {
        /// The confining root.
        root: PathBuf,
        /// The path inside it.
        path: PathBuf,
        /// pathrs's error (a safety violation means an escape attempt was refused).
        #[source]
        source: pathrs::error::Error,
    },
    /// A resolved path is not below its root (the kernel reported a path pathrs should have
    /// refused).
    #[error("{} resolved to {}, outside that root", root.display(), path.display())]
    OutsideRoot {
        /// The confining root.
        root: PathBuf,
        /// Where the path led.
        path: PathBuf,
    },
    /// A kernel module the access level needs has no entry in `/proc/devices`.
    #[error("kernel module {module} is not loaded: no {module:?} character device in {}", path.display())]
    ModuleNotLoaded {
        /// Module / device name.
        module: &'static str,
        /// The `/proc/devices` file read.
        path: PathBuf,
    },
    /// A device node the access level needs does not exist on the host.
    #[error("host device node {} is missing ({hint})", path.display())]
    MissingDeviceNode {
        /// Host path of the node.
        path: PathBuf,
        /// How to create it.
        hint: String,
    },
    /// A host device node is not the character device the driver registered.
    #[error("host device node {} is {found}, expected character device {expected}", path.display())]
    UnexpectedDeviceNode {
        /// Host path of the node.
        path: PathBuf,
        /// What was found.
        found: String,
        /// `major:minor` expected.
        expected: String,
    },
    /// A MIG capability has no minor in `/proc/driver/nvidia-caps/mig-minors`.
    #[error("MIG capability {name} has no entry in {}", path.display())]
    MissingMigCapability {
        /// Capability name, e.g. `gpu0/gi1/access`.
        name: String,
        /// The table read.
        path: PathBuf,
    },
    /// A driver file the access level requires is not in the driver root.
    #[error(
        "driver file {name} for driver {driver_version} not found under driver root {} (searched {searched})",
        root.display()
    )]
    MissingDriverFile {
        /// File name searched for.
        name: String,
        /// Driver version from NVML.
        driver_version: String,
        /// The driver root.
        root: PathBuf,
        /// Directories searched, comma-separated.
        searched: String,
    },
}

/// A path resolved inside a root.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// The path as seen from inside the root (absolute, no symlinks).
    pub in_root: PathBuf,
    /// The same file's path on the host.
    pub host: PathBuf,
    /// Its metadata.
    pub stat: FileStat,
}

impl Resolved {
    pub(crate) fn file_type(&self) -> SFlag {
        SFlag::from_bits_truncate(self.stat.st_mode & SFlag::S_IFMT.bits())
    }
}

/// A root directory with confined resolution.
pub(crate) struct InRoot {
    root: Root,
    root_path: PathBuf,
    procfs: ProcfsHandle,
}

impl InRoot {
    pub(crate) fn open(path: &Path) -> Result<Self, HostError> {
        let resolve_error = |source| HostError::Resolve {
            root: path.to_path_buf(),
            path: "/".into(),
            source,
        };
        let root = Root::open(path).map_err(resolve_error)?;
        let procfs = ProcfsHandle::new().map_err(resolve_error)?;
        let root_path = fd_path(&procfs, &root).map_err(resolve_error)?;
        Ok(Self {
            root,
            root_path,
            procfs,
        })
    }

    /// The canonical host path of the root.
    pub(crate) fn path(&self) -> &Path {
        &self.root_path
    }

    /// Resolves `path` (relative to the root, `..` and symlinks confined), following a
    /// trailing symlink when `follow` is set. `None` when it does not exist.
    pub(crate) fn resolve(&self, path: &Path, follow: bool) -> Result<Option<Resolved>, HostError> {
        let resolve_error = |source| HostError::Resolve {
            root: self.root_path.clone(),
            path: path.to_path_buf(),
            source,
        };
        let handle = match if follow {
            self.root.resolve(path)
        } else {
            self.root.resolve_nofollow(path)
        } {
            Ok(handle) => handle,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(error) => return Err(resolve_error(error)),
        };
        let host = fd_path(&self.procfs, &handle).map_err(resolve_error)?;
        let stat = fstat(handle.as_fd().as_raw_fd()).map_err(|errno| HostError::Read {
            path: host.clone(),
            source: errno.into(),
        })?;
        let in_root = match host.strip_prefix(&self.root_path) {
            Ok(inner) => Path::new("/").join(inner),
            Err(_) => {
                return Err(HostError::OutsideRoot {
                    root: self.root_path.clone(),
                    path: host,
                });
            }
        };
        Ok(Some(Resolved {
            in_root,
            host,
            stat,
        }))
    }

    /// Metadata of `path` (trailing symlink followed), without computing its host path.
    /// `None` when it does not exist.
    pub(crate) fn stat(&self, path: &Path) -> Result<Option<FileStat>, HostError> {
        let handle = match self.root.resolve(path) {
            Ok(handle) => handle,
            Err(error) if is_not_found(&error) => return Ok(None),
            Err(source) => {
                return Err(HostError::Resolve {
                    root: self.root_path.clone(),
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        fstat(handle.as_fd().as_raw_fd())
            .map(Some)
            .map_err(|errno| HostError::Read {
                path: self.root_path.join(relative(path)),
                source: errno.into(),
            })
    }

    /// Names in a directory inside the root (empty when it does not exist).
    pub(crate) fn list(&self, dir: &Path) -> Result<Vec<String>, HostError> {
        let Some(resolved) = self.resolve(dir, true)? else {
            return Ok(Vec::new());
        };
        if resolved.file_type() != SFlag::S_IFDIR {
            return Ok(Vec::new());
        }
        list_dir(&resolved.host)
    }
}

fn is_not_found(error: &pathrs::error::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::OsError(Some(libc::ENOENT | libc::ENOTDIR))
    )
}

/// The path the kernel reports for an open handle.
fn fd_path(procfs: &ProcfsHandle, fd: &impl AsFd) -> Result<PathBuf, pathrs::error::Error> {
    procfs.readlink(
        ProcfsBase::ProcThreadSelf,
        format!("fd/{}", fd.as_fd().as_raw_fd()),
    )
}

/// Sorted names of a host directory; empty when it does not exist.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<String>, HostError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(HostError::Read {
                path: dir.to_path_buf(),
                source,
            });
        }
    };
    let mut names = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| HostError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        if let Some(name) = entry.file_name().to_str() {
            names.push(name.to_owned());
        }
    }
    names.sort();
    Ok(names)
}

/// Reads a host file to a string; `None` when it does not exist.
pub(crate) fn read_optional(path: &Path) -> Result<Option<String>, HostError> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(HostError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// `path` made relative (for joining under a root): `/dev/nvidia0` → `dev/nvidia0`.
pub(crate) fn relative(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect()
}
