//! Network namespaces a test creates (`ip netns add`), deleted on drop; commands and threads
//! run inside them. Tests never touch the host's own namespace.

use std::fs::File;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sched::{CloneFlags, setns};

/// A named network namespace under `/run/netns`.
pub struct TestNetns {
    name: String,
    path: PathBuf,
}

impl TestNetns {
    /// Creates `<prefix>-<pid>-<n>` with its loopback up.
    pub fn create(prefix: &str) -> TestNetns {
        crate::require_root();
        let name = crate::unique_id(prefix);
        let status = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .expect("run ip netns add");
        assert!(status.success(), "ip netns add {name} failed");
        let netns = TestNetns {
            path: PathBuf::from(format!("/run/netns/{name}")),
            name,
        };
        netns.ip(&["link", "set", "lo", "up"]);
        netns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `/run/netns/<name>`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A command that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut command = Command::new(program);
        enter_before_exec(&mut command, &self.path);
        command
    }

    /// Runs `ip ARGS` inside the namespace and asserts success.
    pub fn ip(&self, args: &[&str]) {
        let output = self.command("ip").args(args).output().expect("run ip");
        assert!(
            output.status.success(),
            "ip {args:?} in {} failed: {}",
            self.name,
            String::from_utf8_lossy(&output.stderr)
        );
    }

    /// Moves the calling thread into the namespace (for threads that serve inside it).
    pub fn enter_current_thread(&self) {
        let file = File::open(&self.path).expect("open netns");
        setns(&file, CloneFlags::CLONE_NEWNET).expect("setns");
    }
}

/// Makes `command` join the network namespace at `path` between fork and exec.
pub fn enter_before_exec(command: &mut Command, path: &Path) {
    let file = File::open(path).unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    // SAFETY: the closure only calls setns(2), async-signal-safe, on a descriptor the parent
    // keeps open (the File moves into the closure, which lives as long as the command).
    unsafe {
        command.pre_exec(move || {
            let fd = BorrowedFd::borrow_raw(file.as_raw_fd());
            setns(fd, CloneFlags::CLONE_NEWNET).map_err(std::io::Error::from)
        });
    }
}

impl Drop for TestNetns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "delete", &self.name])
            .status();
    }
}
