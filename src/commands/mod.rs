//! One module per runc subcommand; each takes the parsed arguments and the global [`Context`].

use std::fs;
use std::os::unix::fs::DirBuilderExt;
use std::path::PathBuf;

use anyhow::{Context as _, Result, anyhow, bail};
use libcgroups::common::{AnyCgroupManager, CgroupConfig, create_cgroup_manager};
use libcontainer::container::{Container, ContainerStatus};

pub mod approvals;
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

    /// Loads container `id` (or the one a unique id prefix names, see [`Context::resolve_id`]),
    /// or fails with runc's "container does not exist" wording.
    pub fn load(&self, id: &str) -> Result<Container> {
        let id = &self.resolve_id(id)?;
        let dir = self.root()?.join(id);
        if !dir.join("state.json").exists() {
            bail!("container {id:?} does not exist");
        }
        Container::load(dir).with_context(|| format!("cannot load the state of container {id:?}"))
    }

    /// The container id `id` stands for: `id` itself when a container has that id (or none
    /// matches), else the one container whose generated id it begins.
    ///
    /// Like Docker and Podman, a unique prefix of an id names the container; unlike them, only
    /// ids of 64 hex digits (what Docker, Podman and the CRI generate) are matched by prefix.
    /// Orchestrators pass full ids and retry `delete` for containers already gone, so a name
    /// they chose (`demo`) must never resolve to another container (`demo2`), and no 64-digit
    /// id is a proper prefix of another. A prefix matching several ids is an error naming them.
    pub fn resolve_id(&self, id: &str) -> Result<String> {
        validate_id(id)?;
        let root = self.root()?;
        if root.join(id).join("state.json").exists() || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(id.to_owned());
        }
        let entries = match fs::read_dir(&root) {
            Ok(entries) => entries,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(id.to_owned()),
            Err(err) => {
                return Err(err)
                    .with_context(|| format!("cannot list the state root {}", root.display()));
            }
        };
        let mut matches: Vec<String> = entries
            .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
            .filter(|name| {
                name.len() == GENERATED_ID_LEN
                    && name.starts_with(id)
                    && name.bytes().all(|b| b.is_ascii_hexdigit())
                    && root.join(name).join("state.json").exists()
            })
            .collect();
        matches.sort();
        match matches.len() {
            0 => Ok(id.to_owned()),
            1 => Ok(matches.remove(0)),
            _ => bail!(
                "container id prefix {id:?} is ambiguous: it begins {}; give more of the id",
                matches.join(", ")
            ),
        }
    }

    /// True when a container named `id` has state under the root.
    pub fn exists(&self, id: &str) -> Result<bool> {
        Ok(self.root()?.join(id).exists())
    }
}

/// Length of the ids Docker, Podman and the CRI generate (hex digits), which a unique prefix
/// may name.
const GENERATED_ID_LEN: usize = 64;

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

    fn context_with(ids: &[&str]) -> (tempfile::TempDir, Context) {
        let root = tempfile::tempdir().unwrap();
        for id in ids {
            fs::create_dir(root.path().join(id)).unwrap();
            fs::write(root.path().join(id).join("state.json"), "{}").unwrap();
        }
        let ctx = Context {
            root: root.path().to_owned(),
            systemd_cgroup: false,
            default_policy: None,
        };
        (root, ctx)
    }

    #[test]
    fn unique_prefixes_of_generated_ids_resolve() {
        let first = format!("ab12{}", "0".repeat(60));
        let second = format!("ab34{}", "0".repeat(60));
        let (_root, ctx) = context_with(&[&first, &second, "demo2", "abc"]);
        assert_eq!(ctx.resolve_id("ab1").unwrap(), first);
        assert_eq!(ctx.resolve_id(&second).unwrap(), second);
        // An exact id wins over a longer id it begins.
        assert_eq!(ctx.resolve_id("abc").unwrap(), "abc");
        // Names chosen by the caller are never matched by prefix.
        assert_eq!(ctx.resolve_id("demo").unwrap(), "demo");
        assert_eq!(ctx.resolve_id("ffff").unwrap(), "ffff");
        let error = ctx.resolve_id("ab").unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "container id prefix \"ab\" is ambiguous: it begins {first}, {second}; give more of the id"
            )
        );
    }
}
