//! The caller's OCI bundle, read with errors that name the file, line and column, and the staged
//! copy of its spec that the runtime actually runs.
//!
//! The runtime never edits the caller's `config.json`. It writes the spec it runs (with a cgroup
//! path derived as runc derives it, absolute paths, and any policy hardening) to its own state
//! directory, `<root>/.openshell/<id>/config.json`, and hands that directory to libcontainer as the
//! bundle. The caller's bundle path is kept beside it (`origin.json`) so `state` reports it.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use oci_spec::runtime::Spec;
use openshell_policy::CompiledPolicy;
use serde::{Deserialize, Serialize};

use crate::container_floor::ContainerFloor;

/// Directory under the state root that holds the staged bundles.
const STAGING_DIR: &str = ".openshell";
const ORIGIN_FILE: &str = "origin.json";

/// The caller's bundle and its parsed spec.
pub struct CallerBundle {
    /// Canonical path of the bundle directory.
    pub dir: PathBuf,
    /// The spec as the caller wrote it, with `root.path` made absolute.
    pub spec: Spec,
}

impl CallerBundle {
    /// Reads `<dir>/config.json`; every failure names the file and, for syntax errors, the line.
    pub fn load(dir: &Path) -> Result<Self> {
        let canonical = fs::canonicalize(dir)
            .with_context(|| format!("bundle directory {} is not accessible", dir.display()))?;
        if !canonical.is_dir() {
            bail!("bundle {} is not a directory", dir.display());
        }
        let config_path = canonical.join("config.json");
        let text = match fs::read_to_string(&config_path) {
            Ok(text) => text,
            Err(err) if err.kind() == ErrorKind::NotFound => {
                bail!(
                    "{} not found: the bundle has no OCI config",
                    config_path.display()
                )
            }
            Err(err) => return Err(err).context(format!("cannot read {}", config_path.display())),
        };
        let mut spec: Spec = serde_json::from_str(&text).map_err(|err| {
            anyhow::anyhow!(
                "{}:{}:{}: invalid OCI config: {}",
                config_path.display(),
                err.line(),
                err.column(),
                strip_position(&err.to_string())
            )
        })?;
        if !spec.version().starts_with("1.") {
            bail!(
                "{}: ociVersion {:?} is not supported (expected 1.x)",
                config_path.display(),
                spec.version()
            );
        }
        absolutize(&mut spec, &canonical, &config_path)?;
        Ok(Self {
            dir: canonical,
            spec,
        })
    }
}

/// serde_json appends " at line L column C"; the runtime puts the position in front instead.
fn strip_position(message: &str) -> &str {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
}

/// Makes `root.path` and relative bind-mount sources absolute against the bundle, as runc does by
/// resolving them from the bundle directory, so the staged spec works from anywhere.
fn absolutize(spec: &mut Spec, bundle: &Path, config_path: &Path) -> Result<()> {
    let root = spec
        .root()
        .as_ref()
        .with_context(|| format!("{}: missing \"root\"", config_path.display()))?;
    let rootfs = bundle.join(root.path());
    let rootfs = fs::canonicalize(&rootfs).with_context(|| {
        format!(
            "rootfs {} (root.path in {}) does not exist",
            rootfs.display(),
            config_path.display()
        )
    })?;
    if !rootfs.is_dir() {
        bail!(
            "rootfs {} (root.path in {}) is not a directory",
            rootfs.display(),
            config_path.display()
        );
    }
    let mut root = root.clone();
    root.set_path(rootfs);
    spec.set_root(Some(root));

    if let Some(mounts) = spec.mounts_mut() {
        for mount in mounts.iter_mut() {
            let is_bind = mount.typ().as_deref() == Some("bind")
                || mount
                    .options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind");
            match mount.source() {
                Some(source) if is_bind && source.is_relative() => {
                    let absolute = bundle.join(source);
                    mount.set_source(Some(absolute));
                }
                _ => {}
            }
        }
    }
    Ok(())
}

/// The files an attached policy adds to the staged bundle.
#[derive(Default)]
pub struct PolicyFiles {
    /// The container's compiled policy, which the hook and the node services read.
    pub compiled: Option<CompiledPolicy>,
    /// What exec'd processes and updates are held to.
    pub floor: Option<ContainerFloor>,
    /// The digest of the sandbox's router caller token, for its registration.
    pub caller_token: Option<String>,
}

/// Where the caller's bundle was, recorded next to the staged spec.
#[derive(Serialize, Deserialize)]
struct Origin {
    bundle: PathBuf,
}

/// The runtime's own copy of a container's bundle.
pub struct StagedBundle {
    dir: PathBuf,
}

impl StagedBundle {
    /// Path of container `id`'s staged bundle under `root`.
    pub fn path(root: &Path, id: &str) -> PathBuf {
        root.join(STAGING_DIR).join(id)
    }

    /// The container's compiled policy (JSON), when a policy is attached.
    pub const POLICY_FILE: &str = CompiledPolicy::FILE;

    /// Writes `spec` (and the container's compiled policy, if any) as the staged bundle of container
    /// `id`. Fails if one already exists, which also keeps two concurrent `create`s of the same
    /// id apart.
    pub fn write(
        root: &Path,
        id: &str,
        caller_bundle: &Path,
        spec: &Spec,
        policy: &PolicyFiles,
    ) -> Result<Self> {
        let parent = root.join(STAGING_DIR);
        fs::create_dir_all(&parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
        let dir = parent.join(id);
        match fs::create_dir(&dir) {
            Ok(()) => {}
            Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                bail!(
                    "container {id:?} already exists (state in {})",
                    dir.display()
                )
            }
            Err(err) => return Err(err).context(format!("cannot create {}", dir.display())),
        }
        let staged = Self { dir };
        let written = staged.write_files(caller_bundle, spec, policy);
        if written.is_err() {
            staged.remove();
        }
        written.map(|()| staged)
    }

    fn write_files(&self, caller_bundle: &Path, spec: &Spec, policy: &PolicyFiles) -> Result<()> {
        if let Some(compiled) = &policy.compiled {
            let path = self.dir.join(Self::POLICY_FILE);
            // Compact: the hook parses it on every start (`openshell policy compile --format
            // json` prints the same record for people to read).
            fs::write(&path, serde_json::to_vec(compiled)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
            if let Some(wiring) = &compiled.sandbox_network {
                let path = self.dir.join(crate::hardening::RESOLV_CONF);
                fs::write(&path, &wiring.resolv_conf)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
        }
        if let Some(digest) = &policy.caller_token {
            let path = self.dir.join(openshell_policy::caller_token::DIGEST_FILE);
            fs::write(&path, digest).with_context(|| format!("cannot write {}", path.display()))?;
        }
        if let Some(floor) = &policy.floor {
            let path = self.dir.join(ContainerFloor::FILE);
            fs::write(&path, serde_json::to_vec_pretty(floor)?)
                .with_context(|| format!("cannot write {}", path.display()))?;
        }
        let config = self.dir.join("config.json");
        let json = serde_json::to_vec(spec).context("cannot serialize the staged spec")?;
        fs::write(&config, json).with_context(|| format!("cannot write {}", config.display()))?;
        let origin = Origin {
            bundle: caller_bundle.to_path_buf(),
        };
        let origin_path = self.dir.join(ORIGIN_FILE);
        fs::write(&origin_path, serde_json::to_vec(&origin)?)
            .with_context(|| format!("cannot write {}", origin_path.display()))
    }

    /// The staged bundle directory (what libcontainer is given as the bundle).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Removes the staged bundle; used when `create` fails and by `delete`.
    pub fn remove(&self) {
        remove_dir(&self.dir);
    }

    /// Removes container `id`'s staged bundle if there is one.
    pub fn remove_for(root: &Path, id: &str) {
        remove_dir(&Self::path(root, id));
    }

    /// The caller's bundle path for container `id`, if its staged bundle records one.
    pub fn caller_bundle(root: &Path, id: &str) -> Option<PathBuf> {
        let text = fs::read(Self::path(root, id).join(ORIGIN_FILE)).ok()?;
        serde_json::from_slice::<Origin>(&text)
            .ok()
            .map(|o| o.bundle)
    }

    /// Replaces container `id`'s staged spec (used by `update`).
    pub fn rewrite_spec(root: &Path, id: &str, spec: &Spec) -> Result<()> {
        let path = Self::path(root, id).join("config.json");
        let tmp = path.with_extension("json.tmp");
        fs::write(&tmp, serde_json::to_vec(spec)?)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        fs::rename(&tmp, &path).with_context(|| format!("cannot replace {}", path.display()))
    }

    /// The spec container `id` runs with.
    pub fn load_spec(root: &Path, id: &str) -> Result<Spec> {
        let path = Self::path(root, id).join("config.json");
        let text = fs::read(&path)
            .with_context(|| format!("cannot read staged spec {}", path.display()))?;
        serde_json::from_slice(&text)
            .with_context(|| format!("invalid staged spec {}", path.display()))
    }
}

fn remove_dir(dir: &Path) {
    match fs::remove_dir_all(dir) {
        Ok(()) => {}
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => tracing::warn!("cannot remove {}: {err}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle_with(config: &str) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir(dir.path().join("rootfs")).unwrap();
        fs::write(dir.path().join("config.json"), config).unwrap();
        dir
    }

    fn minimal_config() -> String {
        serde_json::json!({
            "ociVersion": "1.0.2",
            "root": {"path": "rootfs"},
            "process": {"cwd": "/", "args": ["sh"], "user": {"uid": 0, "gid": 0}},
            "mounts": [
                {"destination": "/data", "type": "bind", "source": "data", "options": ["rbind"]},
                {"destination": "/proc", "type": "proc", "source": "proc"}
            ],
            "linux": {}
        })
        .to_string()
    }

    #[test]
    fn malformed_config_names_file_line_and_column() {
        let dir = bundle_with("{\n  \"ociVersion\": \"1.0.2\",\n  \"root\": {\"path\": 7}\n}\n");
        let err = CallerBundle::load(dir.path()).err().unwrap().to_string();
        let config = fs::canonicalize(dir.path()).unwrap().join("config.json");
        assert!(
            err.starts_with(&format!("{}:3:", config.display())),
            "error should start with file:line: {err}"
        );
    }

    #[test]
    fn missing_config_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let err = CallerBundle::load(dir.path()).err().unwrap().to_string();
        assert!(err.contains("config.json not found"), "{err}");
    }

    #[test]
    fn missing_rootfs_is_named() {
        let dir = bundle_with(&minimal_config());
        fs::remove_dir(dir.path().join("rootfs")).unwrap();
        let err = format!("{:#}", CallerBundle::load(dir.path()).err().unwrap());
        assert!(
            err.contains("rootfs") && err.contains("does not exist"),
            "{err}"
        );
    }

    #[test]
    fn paths_become_absolute() {
        let dir = bundle_with(&minimal_config());
        let bundle = CallerBundle::load(dir.path()).unwrap();
        let canonical = fs::canonicalize(dir.path()).unwrap();
        assert_eq!(
            bundle.spec.root().as_ref().unwrap().path(),
            &canonical.join("rootfs")
        );
        let mounts = bundle.spec.mounts().as_ref().unwrap();
        assert_eq!(
            mounts[0].source().as_deref(),
            Some(canonical.join("data").as_path())
        );
        assert_eq!(mounts[1].source().as_deref(), Some(Path::new("proc")));
    }

    #[test]
    fn staging_refuses_a_second_copy_and_records_the_origin() {
        let root = tempfile::tempdir().unwrap();
        let spec = Spec::default();
        let staged = StagedBundle::write(
            root.path(),
            "c1",
            Path::new("/b"),
            &spec,
            &PolicyFiles::default(),
        )
        .unwrap();
        assert!(staged.dir().join("config.json").is_file());
        assert_eq!(
            StagedBundle::caller_bundle(root.path(), "c1").as_deref(),
            Some(Path::new("/b"))
        );
        let err = StagedBundle::write(
            root.path(),
            "c1",
            Path::new("/b"),
            &spec,
            &PolicyFiles::default(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("already exists"), "{err}");
        staged.remove();
        assert!(!StagedBundle::path(root.path(), "c1").exists());
    }
}
