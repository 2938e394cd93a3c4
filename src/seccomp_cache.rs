//! Compiled seccomp programs, cached per profile under the state root.
//!
//! libseccomp needs a few milliseconds to compile a Docker-sized profile, and libcontainer would
//! do it inside every container's init. The runtime instead compiles a profile once, keeps the
//! BPF program in `<root>/.seccomp/<key>.bpf` (key: SHA-256 of the profile, the libseccomp
//! version and the architecture), and hands it to libcontainer before the init is cloned. The
//! directory is the root's, mode 0700; a cache that is not is ignored. Any failure here only
//! means the init compiles the profile itself, as before.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::LinuxSeccomp;
use sha2::{Digest, Sha256};

/// The cache directory below the state root.
const CACHE_DIR: &str = ".seccomp";

/// Makes the container's init load `seccomp` precompiled, from the cache or compiled now.
pub fn prepare(root: &Path, seccomp: Option<&LinuxSeccomp>) {
    let Some(seccomp) = seccomp else {
        return;
    };
    match cached_or_compiled(root, seccomp) {
        Ok(program) => libcontainer::seccomp::use_precompiled(seccomp.clone(), program),
        Err(err) => tracing::debug!("seccomp profile not precompiled: {err:#}"),
    }
}

fn cached_or_compiled(root: &Path, seccomp: &LinuxSeccomp) -> Result<Vec<u8>> {
    let dir = cache_dir(root)?;
    let path = dir.join(format!("{}.bpf", cache_key(seccomp)?));
    if let Ok(program) = fs::read(&path) {
        return Ok(program);
    }
    let program = libcontainer::seccomp::compile_bpf(seccomp).context("compile the profile")?;
    if let Err(err) = store(&dir, &path, &program) {
        tracing::debug!("seccomp program not cached: {err:#}");
    }
    Ok(program)
}

/// SHA-256 over the profile as JSON, the libseccomp version and the target architecture.
fn cache_key(seccomp: &LinuxSeccomp) -> Result<String> {
    let version = libseccomp::ScmpVersion::current().context("libseccomp version")?;
    let mut hasher = Sha256::new();
    hasher.update(serde_json::to_vec(seccomp).context("serialise the profile")?);
    hasher.update(format!(
        "\0libseccomp {}.{}.{}\0{}",
        version.major,
        version.minor,
        version.micro,
        std::env::consts::ARCH
    ));
    Ok(hasher
        .finalize()
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect())
}

/// `<root>/.seccomp`, created 0700 if missing; refused unless owned by us and not writable by
/// anyone else, since the programs in it are loaded into containers as they are.
fn cache_dir(root: &Path) -> Result<PathBuf> {
    let dir = root.join(CACHE_DIR);
    match fs::DirBuilder::new().mode(0o700).create(&dir) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(err) => return Err(err).with_context(|| format!("create {}", dir.display())),
    }
    let meta = fs::symlink_metadata(&dir).with_context(|| format!("stat {}", dir.display()))?;
    if !meta.is_dir()
        || meta.uid() != nix::unistd::geteuid().as_raw()
        || meta.permissions().mode() & 0o022 != 0
    {
        bail!(
            "{} is not a directory of ours that only we can write",
            dir.display()
        );
    }
    Ok(dir)
}

/// Writes the program beside its final name and renames it into place, so a concurrent reader
/// sees the whole program or none.
fn store(dir: &Path, path: &Path, program: &[u8]) -> Result<()> {
    let partial = dir.join(format!(".partial-{}", std::process::id()));
    let written = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&partial)
        .and_then(|mut file| file.write_all(program))
        .and_then(|()| fs::rename(&partial, path));
    if written.is_err() {
        let _ = fs::remove_file(&partial);
    }
    written.with_context(|| format!("write {}", path.display()))
}
