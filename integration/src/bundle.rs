//! OCI bundles with a busybox rootfs built from Debian's `busybox-static` (no registry).

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use tempfile::TempDir;

/// Host path of the static busybox binary (package `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// A bundle directory holding `config.json` and `rootfs/`, removed on drop.
pub struct Bundle {
    dir: TempDir,
    config: Value,
}

impl Bundle {
    /// A bundle whose process runs `args`, from `openshell spec` with terminal off.
    pub fn new(args: &[&str]) -> Self {
        let dir = tempfile::Builder::new()
            .prefix("openshell-bundle-")
            .tempdir()
            .expect("bundle tempdir");
        write_rootfs(&dir.path().join("rootfs"));
        let status = Command::new(crate::binaries::openshell())
            .args(["spec", "--bundle"])
            .arg(dir.path())
            .status()
            .expect("run openshell spec");
        assert!(status.success(), "openshell spec failed");
        let text = fs::read_to_string(dir.path().join("config.json")).expect("read config.json");
        let mut config: Value = serde_json::from_str(&text).expect("parse config.json");
        config["process"]["terminal"] = json!(false);
        config["process"]["args"] = json!(args);
        config["hostname"] = json!("sandbox");
        let mut bundle = Self { dir, config };
        bundle.save();
        bundle
    }

    /// The bundle directory.
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The rootfs directory.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }

    /// Edits `config.json` in place.
    pub fn edit(&mut self, edit: impl FnOnce(&mut Value)) -> &mut Self {
        edit(&mut self.config);
        self.save();
        self
    }

    /// The current `config.json` contents.
    pub fn config(&self) -> &Value {
        &self.config
    }

    fn save(&mut self) {
        let text = serde_json::to_string_pretty(&self.config).expect("serialize config");
        fs::write(self.dir.path().join("config.json"), text).expect("write config.json");
    }
}

/// Populates `rootfs` with busybox and a symlink per applet.
pub fn write_rootfs(rootfs: &Path) {
    for dir in ["bin", "proc", "sys", "dev", "tmp", "etc", "root", "run"] {
        fs::create_dir_all(rootfs.join(dir)).expect("create rootfs dir");
    }
    fs::copy(BUSYBOX, rootfs.join("bin/busybox"))
        .unwrap_or_else(|err| panic!("copy {BUSYBOX} (install busybox-static): {err}"));
    let list = Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .expect("busybox --list");
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            symlink("busybox", rootfs.join("bin").join(applet)).expect("applet symlink");
        }
    }
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    )
    .expect("write passwd");
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").expect("write group");
}
