//! One module per runc subcommand; each takes the parsed arguments and the global [`Context`].

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use libcgroups::common::{AnyCgroupManager, CgroupConfig, create_cgroup_manager};
use libcontainer::container::{Container, ContainerStatus};

pub mod audit;
pub mod create;
pub mod delete;
pub mod events;
pub mod exec;
pub mod features;
pub mod gpu;
pub mod kill;
pub mod list;
pub mod pause;
pub mod policy;
pub mod ps;
pub mod run;
pub mod spec;
pub mod start;
pub mod state;
pub mod update;

/// Global options every subcommand sees.
pub struct Context {
    /// State root (`--root`).
    pub root: PathBuf,
    /// Use the systemd cgroup driver (`--systemd-cgroup`).
    pub systemd_cgroup: bool,
    /// Policy for containers that attach none (`--default-policy`).
    pub default_policy: Option<String>,
}

impl Context {
    /// The state root, created (mode 0700) when missing, as an absolute path: for commands that
    /// create containers.
    pub fn create_root(&self) -> Result<PathBuf> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .with_context(|| format!("cannot create state root {}", self.root.display()))?;
        self.root()
    }

    /// The state root as an absolute path. Commands that only read or remove state never create
    /// it (a late `delete --force` from a client's cleanup must not bring it back).
    pub fn root(&self) -> Result<PathBuf> {
        match fs::canonicalize(&self.root) {
            Ok(root) => Ok(root),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(self.root.clone()),
            Err(err) => Err(err)
                .with_context(|| format!("cannot resolve state root {}", self.root.display())),
        }
    }

    /// Loads container `id`, or fails with runc's "container does not exist" wording.
    pub fn load(&self, id: &str) -> Result<Container> {
        validate_id(id)?;
        let dir = self.root()?.join(id);
        if !dir.join("state.json").exists() {
            bail!("container {id:?} does not exist");
        }
        Container::load(dir).with_context(|| format!("cannot load the state of container {id:?}"))
    }

    /// True when a container named `id` has state under the root.
    pub fn exists(&self, id: &str) -> Result<bool> {
        Ok(self.root()?.join(id).exists())
    }
}

/// Rejects ids that are not a plain file name, as runc does.
pub fn validate_id(id: &str) -> Result<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-' | '.');
    if id.is_empty() || id == "." || id == ".." || !id.chars().all(valid_char) {
        bail!("invalid container id {id:?}: use letters, digits, '_', '+', '-' and '.' only");
    }
    // The state root also holds the runtime's own directories (.openshell, .seccomp).
    if id.starts_with('.') {
        bail!("invalid container id {id:?}: ids starting with '.' are reserved for the runtime");
    }
    Ok(())
}

/// The cgroup manager of a loaded container.
pub fn cgroup_manager(container: &Container) -> Result<AnyCgroupManager> {
    let config = container
        .spec()
        .with_context(|| format!("cannot read the runtime config of {:?}", container.id()))?;
    create_cgroup_manager(CgroupConfig {
        cgroup_path: config.cgroup_path,
        systemd_cgroup: container.systemd(),
        container_name: container.id().to_owned(),
    })
    .with_context(|| format!("cannot open the cgroup of container {:?}", container.id()))
}

/// Fails unless the container is in one of `allowed` states, naming what it is instead.
pub fn require_status(
    container: &Container,
    allowed: &[ContainerStatus],
    action: &str,
) -> Result<()> {
    let status = container.status();
    if allowed.contains(&status) {
        return Ok(());
    }
    Err(anyhow!(
        "cannot {action} container {:?}: it is {}",
        container.id(),
        status_name(status)
    ))
}

/// A status as runc names it (`created`, `running`, `paused`, `stopped`).
pub fn status_name(status: ContainerStatus) -> String {
    status.to_string().to_ascii_lowercase()
}

/// The error for runc subcommands this runtime deliberately does not implement.
pub fn unsupported(subcommand: &str) -> anyhow::Error {
    anyhow!("{subcommand} is not supported by openshell (no CRIU integration)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_file_names() {
        for good in ["c1", "a.b_c+d-e", "ABC"] {
            validate_id(good).unwrap();
        }
        for bad in ["", ".", "..", "a/b", "a b", "x;y"] {
            assert!(validate_id(bad).is_err(), "{bad:?} accepted");
        }
    }
}
