//! A private node configuration for tests (`OPENSHELL_CONFIG`): registration records, the audit
//! trail and the audit spool in a temporary directory, plus whatever a test adds (services,
//! SIEM endpoints, the hook timeout). Nothing on the host's `/run/openshell`,
//! `/var/log/openshell` or `/var/lib/openshell` is touched.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::Value;
use tempfile::TempDir;

/// A node configuration file and the directory its paths live in.
pub struct TestNode {
    dir: TempDir,
    /// Where the registration records go when not in `dir` (see [`TestNode::on_tmpfs_registry`]).
    registry: Option<TempDir>,
}

impl Default for TestNode {
    fn default() -> Self {
        Self::new("")
    }
}

impl TestNode {
    /// A node whose configuration is the private base plus `extra` (top-level keys and TOML
    /// tables other than `[audit]`, e.g. `[services]`, `[hooks]`, `[siem]`).
    pub fn new(extra: &str) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("openshell-node-")
            .tempdir()
            .expect("node tempdir");
        let node = Self {
            dir,
            registry: None,
        };
        node.configure(extra);
        node
    }

    /// [`TestNode::new`] with the registration records on a tmpfs, as a node keeps them
    /// (`/run/openshell/registry`): `/run` where it is a tmpfs, else `/dev/shm`. The records
    /// are written at every sandbox start, and creating a file on a disk file system's journal
    /// costs a start about 0.35 ms on the project's VM that a node does not pay.
    pub fn on_tmpfs_registry(extra: &str) -> Self {
        let base = ["/run", "/dev/shm"]
            .into_iter()
            .find(|dir| {
                nix::sys::statfs::statfs(*dir)
                    .is_ok_and(|fs| fs.filesystem_type() == nix::sys::statfs::TMPFS_MAGIC)
            })
            .expect("a tmpfs at /run or /dev/shm");
        let registry = tempfile::Builder::new()
            .prefix("openshell-registry-")
            .tempdir_in(base)
            .expect("registry tempdir");
        let node = Self {
            dir: tempfile::Builder::new()
                .prefix("openshell-node-")
                .tempdir()
                .expect("node tempdir"),
            registry: Some(registry),
        };
        node.configure(extra);
        node
    }

    /// The directory of the registration records.
    fn registry_dir(&self) -> PathBuf {
        self.registry
            .as_ref()
            .map_or_else(|| self.path("registry"), |r| r.path().to_owned())
    }

    /// Rewrites the configuration: the private base plus `extra` (top-level keys first, then
    /// tables), with the base's `[audit]` table last.
    pub fn configure(&self, extra: &str) {
        let audit = format!(
            "[audit]\n\
             spool_dir = \"{0}/spool\"\n\
             trail = \"{0}/trail.jsonl\"\n\
             initial_backoff_ms = 100\n\
             max_backoff_ms = 400\n\
             request_timeout_ms = 1000\n",
            self.dir.path().display()
        );
        let registry = format!("registry_dir = \"{}\"\n", self.registry_dir().display());
        fs::write(self.config(), format!("{registry}{extra}\n{audit}")).expect("write node config");
    }

    /// The configuration file (what `OPENSHELL_CONFIG` names).
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config.toml")
    }

    /// A path in the node's directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Container `id`'s registration record (written by the createRuntime hook).
    pub fn record(&self, id: &str) -> PathBuf {
        self.registry_dir().join(format!("{id}.json"))
    }

    /// The node's local audit trail.
    pub fn trail(&self) -> PathBuf {
        self.path("trail.jsonl")
    }

    /// The audit spool directory of `siem://NAME`.
    pub fn siem_spool(&self, name: &str) -> PathBuf {
        self.path("spool").join(format!("siem-{name}"))
    }

    /// The events of the trail about container `id`, oldest first.
    pub fn trail_events(&self, id: &str) -> Vec<Value> {
        json_lines(&self.trail())
            .into_iter()
            .filter(|e| e["container_id"] == id)
            .collect()
    }
}

/// The JSON objects of a JSON-lines file (none if it does not exist).
pub fn json_lines(path: &Path) -> Vec<Value> {
    fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{}: {e}: {l}", path.display())))
        .collect()
}
