//! The CVE-2019-5736 guard: never let a container process reach a writable copy of this binary.
//!
//! libcontainer starts the container's init (and every `exec`) as a clone of this process, so until
//! that clone execs the workload, `/proc/<pid>/exe` inside the container is the runtime's own
//! binary. A hostile container that opens it could overwrite the host's `openshell` once we exit.
//! Before any command that clones into a container, the runtime therefore re-executes itself from a
//! copy nobody can write:
//!
//! 1. **Sealed overlayfs view (zero-copy).** A detached overlayfs mount (new mount API, never attached
//!    to any mount namespace) whose only layers are read-only lower directories: the binary's own
//!    directory on top of an empty one. Writes through it fail with `EROFS` and there is nothing to
//!    remount. The page cache stays shared, so this costs a few syscalls instead of a copy of the
//!    binary per container (runc ≥ 1.2 does the same). Needs `CAP_SYS_ADMIN`.
//! 2. **Sealed memfd copy (fallback).** Where the mount API is unavailable (rootless, old kernels,
//!    seccomp-filtered callers) the binary is copied into a sealed `memfd` by `pentacle`.
//!
//! Commands that never clone into a container (`state`, `kill`, `delete`, …) skip the guard.

use std::ffi::{CString, OsString};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow};
use nix::fcntl::AtFlags;
use rustix::fs::{Mode, OFlags, openat};
use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_string, fsmount,
    fsopen,
};

/// Set on the re-executed process (and removed at once by [`record_original_exe`]): the path the
/// binary was started from, since `/proc/self/exe` then names the sealed copy. Its presence also
/// tells the second incarnation that it was re-executed; the filesystem check decides whether
/// the copy is sealed.
const REEXEC_ENV: &str = "_OPENSHELL_ORIGINAL_EXE";

struct Origin {
    exe: PathBuf,
    reexecuted: bool,
}

static ORIGIN: OnceLock<Origin> = OnceLock::new();

/// Records where the binary was started from. Call first in `main`, before any thread starts.
pub fn record_original_exe() {
    let passed = std::env::var_os(REEXEC_ENV);
    // SAFETY: called at the start of main, before any other thread exists.
    unsafe { std::env::remove_var(REEXEC_ENV) };
    let reexecuted = passed.is_some();
    let exe = passed
        .map(PathBuf::from)
        .or_else(|| std::fs::read_link("/proc/self/exe").ok())
        .unwrap_or_default();
    let _ = ORIGIN.set(Origin { exe, reexecuted });
}

fn origin() -> &'static Origin {
    ORIGIN.get_or_init(|| Origin {
        exe: std::fs::read_link("/proc/self/exe").unwrap_or_default(),
        reexecuted: false,
    })
}

/// The path of this binary on the host (not of its sealed copy): siblings such as
/// `openshell-hook` are found next to it.
pub fn original_exe() -> &'static Path {
    &origin().exe
}

/// The program `name` installed next to this binary, if there is one.
pub fn sibling(name: &str) -> Option<PathBuf> {
    original_exe()
        .parent()
        .map(|dir| dir.join(name))
        .filter(|path| path.is_file())
}

/// Re-executes the current process from a sealed view of its binary unless it already runs from one.
///
/// `scratch_dir` must be an existing directory on the host (the state root); it serves as the
/// empty lower layer of the overlay. Returns only when the process already runs sealed.
pub fn ensure_sealed(scratch_dir: &Path) -> Result<()> {
    if pentacle::is_sealed() {
        return Ok(());
    }
    let overlay = if origin().reexecuted {
        // We were re-executed through an overlay view; trust it only if it really is one.
        if runs_from_readonly_overlay()? {
            return Ok(());
        }
        Err(anyhow!(
            "the re-executed binary is not on a read-only overlayfs"
        ))
    } else {
        sealed_overlay_view(scratch_dir)
    };
    // SAFETY: guarded commands seal before starting any thread.
    unsafe { std::env::set_var(REEXEC_ENV, original_exe()) };
    match overlay {
        Ok(exe) => Err(reexec(&exe)).context("cannot re-execute from the sealed overlay view"),
        Err(err) => {
            tracing::debug!("sealed overlay view unavailable ({err:#}); using a sealed memfd copy");
            pentacle::ensure_sealed()
                .context("cannot re-execute from a sealed memfd copy of /proc/self/exe")
        }
    }
}

/// True when `/proc/self/exe` lives on a read-only overlayfs mount.
fn runs_from_readonly_overlay() -> Result<bool> {
    let exe = File::open("/proc/self/exe").context("cannot open /proc/self/exe")?;
    let fs = rustix::fs::fstatfs(&exe).context("fstatfs /proc/self/exe")?;
    let vfs = rustix::fs::fstatvfs(&exe).context("fstatvfs /proc/self/exe")?;
    // `f_type` and the magic have different integer types on other architectures.
    #[allow(clippy::unnecessary_cast)]
    let overlay = fs.f_type as i64 == libc::OVERLAYFS_SUPER_MAGIC as i64;
    Ok(overlay && vfs.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
}

/// Opens this binary through a private, read-only, detached overlayfs mount.
fn sealed_overlay_view(scratch_dir: &Path) -> Result<OwnedFd> {
    let exe_path = std::fs::read_link("/proc/self/exe").context("readlink /proc/self/exe")?;
    let dir = exe_path
        .parent()
        .ok_or_else(|| anyhow!("{} has no parent directory", exe_path.display()))?;
    let name = exe_path
        .file_name()
        .ok_or_else(|| anyhow!("{} has no file name", exe_path.display()))?;
    let ctx = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC).context("fsopen overlay")?;
    // The binary's directory must be the upper of the two lower layers so nothing shadows it.
    let lower = format!(
        "{}:{}",
        escape_lowerdir(dir.as_os_str().as_bytes()),
        escape_lowerdir(scratch_dir.as_os_str().as_bytes())
    );
    fsconfig_set_string(ctx.as_fd(), "lowerdir", lower.as_str())
        .with_context(|| format!("fsconfig lowerdir={lower}"))?;
    // xino only produces log noise here; failing to turn it off is harmless.
    let _ = fsconfig_set_string(ctx.as_fd(), "xino", "off");
    fsconfig_create(ctx.as_fd()).context("fsconfig create overlay")?;
    let mount = fsmount(
        ctx.as_fd(),
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::MOUNT_ATTR_RDONLY
            | MountAttrFlags::MOUNT_ATTR_NODEV
            | MountAttrFlags::MOUNT_ATTR_NOSUID,
    )
    .context("fsmount overlay")?;
    openat(
        mount.as_fd(),
        name,
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .with_context(|| format!("open {} through the overlay", name.to_string_lossy()))
}

/// overlayfs separates lower directories with `:`, so `:` and `\` in a path must be escaped.
fn escape_lowerdir(path: &[u8]) -> String {
    String::from_utf8_lossy(path)
        .replace('\\', "\\\\")
        .replace(':', "\\:")
}

/// Replaces the process image with `exe`, keeping argv and the environment.
fn reexec(exe: &OwnedFd) -> anyhow::Error {
    let to_cstring = |arg: OsString| CString::new(arg.as_bytes()).ok();
    let Some(args) = std::env::args_os()
        .map(to_cstring)
        .collect::<Option<Vec<_>>>()
    else {
        return anyhow!("argument contains a NUL byte");
    };
    let env: Vec<CString> = std::env::vars_os()
        .filter_map(|(key, value)| {
            let mut pair = key.as_bytes().to_vec();
            pair.push(b'=');
            pair.extend_from_slice(value.as_bytes());
            CString::new(pair).ok()
        })
        .collect();
    let fd = std::os::fd::AsRawFd::as_raw_fd(exe);
    match nix::unistd::execveat(Some(fd), c"", &args, &env, AtFlags::AT_EMPTY_PATH) {
        Ok(never) => match never {},
        Err(errno) => anyhow!("execveat: {errno}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowerdir_escaping() {
        assert_eq!(escape_lowerdir(b"/usr/bin"), "/usr/bin");
        assert_eq!(escape_lowerdir(b"/a:b\\c"), "/a\\:b\\\\c");
    }
}
