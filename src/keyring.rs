//! Session keyrings: like runc, every container gets a fresh session keyring (`_ses.<id>`) so its
//! processes cannot reach the keys of whoever started the runtime. The runtime joins the new
//! keyring itself just before libcontainer clones the container's processes, which inherit it.

use anyhow::{Result, bail};
use nix::errno::Errno;

const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
const KEYCTL_SETPERM: libc::c_long = 5;
/// Possessor: all permissions; user: view, read, search, link (what runc grants).
const SESSION_KEYRING_PERMS: libc::c_ulong = 0x3f1b_0000;

/// Joins a new anonymous-to-the-caller session keyring named `_ses.<id>`.
///
/// `ENOSYS` (kernels without keyrings) is tolerated, as runc tolerates it.
pub fn join_new_session_keyring(id: &str) -> Result<()> {
    let name = std::ffi::CString::new(format!("_ses.{id}"))?;
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING, const char *name) reads a NUL-terminated string.
    let serial =
        unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    if serial < 0 {
        match Errno::last() {
            Errno::ENOSYS => return Ok(()),
            errno => bail!("cannot join a new session keyring for container {id:?}: {errno}"),
        }
    }
    // SAFETY: keyctl(KEYCTL_SETPERM, key_serial_t, key_perm_t) takes plain integers.
    let set = unsafe {
        libc::syscall(
            libc::SYS_keyctl,
            KEYCTL_SETPERM,
            serial,
            SESSION_KEYRING_PERMS,
        )
    };
    if set < 0 {
        bail!(
            "cannot set the permissions of the session keyring of {id:?}: {}",
            Errno::last()
        );
    }
    Ok(())
}
