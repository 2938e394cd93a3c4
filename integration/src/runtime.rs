//! `openshell` on a private state root and node configuration; every container still there is
//! force-deleted on drop.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;
use tempfile::TempDir;

use crate::node::TestNode;

/// One private `--root` for the runtime binary, run with `OPENSHELL_CONFIG` naming a node
/// configuration: the runtime's own private one, or a test's.
pub struct Runtime {
    root: TempDir,
    binary: PathBuf,
    config: PathBuf,
    _node: Option<TestNode>,
    netns: Option<PathBuf>,
}

impl Default for Runtime {
    fn default() -> Self {
        Self::new()
    }
}

impl Runtime {
    /// A fresh state root and a private node configuration (registry, audit trail and spool in
    /// a temporary directory), so hooks never write to the host's paths.
    pub fn new() -> Self {
        let node = TestNode::default();
        Self::build(node.config(), Some(node))
    }

    /// A fresh state root, run with the node configuration `config`.
    pub fn with_config(config: &Path) -> Self {
        Self::build(config.to_owned(), None)
    }

    fn build(config: PathBuf, node: Option<TestNode>) -> Self {
        crate::require_root();
        let root = tempfile::Builder::new()
            .prefix("openshell-root-")
            .tempdir()
            .expect("state root");
        Self {
            root,
            binary: crate::binaries::openshell(),
            config,
            _node: node,
            netns: None,
        }
    }

    /// A fresh state root whose runtime (and the hooks it runs) lives in the network namespace
    /// at `netns`, a test's stand-in for the node's.
    pub fn in_netns(netns: &Path) -> Self {
        let mut runtime = Self::new();
        runtime.netns = Some(netns.to_owned());
        runtime
    }

    /// Runs the runtime (and so its hooks) with `OPENSHELL_CONFIG=node_config`.
    pub fn with_node_config(mut self, node_config: &Path) -> Self {
        self.config = node_config.to_owned();
        self
    }

    /// The state root.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// The runtime binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// `openshell --root <root>` with `OPENSHELL_CONFIG` set, ready for more arguments; stdin
    /// is closed.
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.binary);
        command
            .env("OPENSHELL_CONFIG", &self.config)
            .arg("--root")
            .arg(self.root.path())
            .stdin(Stdio::null());
        if let Some(netns) = &self.netns {
            crate::netns::enter_before_exec(&mut command, netns);
        }
        command
    }

    /// Runs `openshell --root <root> ARGS` and returns its output.
    ///
    /// stdout and stderr go to files rather than pipes: a container started by `create`,
    /// `run --detach` or `exec --detach` inherits them and would hold a pipe open long after the
    /// runtime itself has exited.
    pub fn output(&self, args: &[&str]) -> Output {
        run_to_files(self.command().args(args))
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert!(
            out.status.success(),
            "openshell {args:?} failed ({}):\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs and asserts failure with exit status 1; returns stderr with each of runc's error
    /// lines (logrus text, `time="…" level=error msg="…"`) replaced by its decoded message.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.output(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "openshell {args:?} should fail with 1:\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        error_text(&out.stderr)
    }

    /// `openshell state ID` parsed.
    pub fn state(&self, id: &str) -> Value {
        serde_json::from_str(&self.ok(&["state", id])).expect("state is JSON")
    }

    /// The status string of `id`.
    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// The init pid of `id`.
    pub fn pid(&self, id: &str) -> i32 {
        self.state(id)["pid"].as_i64().expect("state has a pid") as i32
    }

    /// Container `id`'s cgroup directory in the v1 `controller` hierarchy, from its staged spec.
    pub fn cgroup_dir(&self, id: &str, controller: &str) -> PathBuf {
        Path::new("/sys/fs/cgroup")
            .join(controller)
            .join(self.cgroups_path(id))
    }

    /// `id`'s cgroup path as its staged spec names it, without the leading `/`.
    pub fn cgroups_path(&self, id: &str) -> String {
        let staged = self.root().join(".openshell").join(id).join("config.json");
        let staged: Value =
            serde_json::from_str(&std::fs::read_to_string(&staged).expect("staged spec"))
                .expect("staged spec is JSON");
        staged["linux"]["cgroupsPath"]
            .as_str()
            .expect("a cgroups path")
            .trim_start_matches('/')
            .to_owned()
    }

    /// Creates and starts `id` from `bundle` in the background.
    pub fn start_detached(&self, id: &str, bundle: &Path) {
        self.ok(&["run", "--detach", "--bundle", bundle.to_str().unwrap(), id]);
    }
}

/// The runtime's stderr with each of its logrus error lines replaced by the decoded message.
pub fn error_text(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .map(|line| logrus_message(line, "error").unwrap_or_else(|| line.to_owned()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The message of a logrus text line `time="RFC3339" level=LEVEL msg="…"` (what runc prints
/// on stderr), or None when `line` is not one at `level`.
pub fn logrus_message(line: &str, level: &str) -> Option<String> {
    let rest = line.strip_prefix("time=\"")?;
    let (time, rest) = rest.split_once("\" ")?;
    chrono::DateTime::parse_from_rfc3339(time).ok()?;
    let quoted = rest.strip_prefix(&format!("level={level} msg="))?;
    serde_json::from_str::<String>(quoted).ok()
}

/// Runs `command` with stdout and stderr captured through temporary files.
pub fn run_to_files(command: &mut Command) -> Output {
    let mut stdout = tempfile::tempfile().expect("stdout file");
    let mut stderr = tempfile::tempfile().expect("stderr file");
    let status = command
        .stdout(stdout.try_clone().expect("dup stdout file"))
        .stderr(stderr.try_clone().expect("dup stderr file"))
        .status()
        .expect("spawn command");
    let read = |file: &mut std::fs::File| {
        file.seek(SeekFrom::Start(0)).expect("rewind");
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).expect("read captured output");
        bytes
    };
    Output {
        status,
        stdout: read(&mut stdout),
        stderr: read(&mut stderr),
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        let Ok(out) = self.command().args(["list", "--quiet"]).output() else {
            return;
        };
        for id in String::from_utf8_lossy(&out.stdout).lines() {
            let _ = self.command().args(["delete", "--force", id]).output();
        }
    }
}
