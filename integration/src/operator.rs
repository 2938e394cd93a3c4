//! The operator's side of the approval queue, as tests and the demo drive it: `openshell
//! approvals ...` against a queue's socket.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

/// `openshell approvals --socket SOCKET ARGS` (answers recorded as `demo-operator`).
pub fn approvals(socket: &Path, args: &[&str]) -> Output {
    Command::new(crate::binaries::openshell())
        .arg("approvals")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env("SUDO_USER", "demo-operator")
        .output()
        .expect("run openshell approvals")
}

/// The ids of the pending approvals `openshell approvals list` shows.
pub fn pending(socket: &Path) -> Vec<String> {
    String::from_utf8_lossy(&approvals(socket, &["list"]).stdout)
        .lines()
        .filter(|line| line.contains("pending"))
        .filter_map(|line| line.split_whitespace().next().map(str::to_owned))
        .collect()
}

/// One approval as `openshell approvals show ID` prints it.
pub fn show(socket: &Path, id: &str) -> Value {
    serde_json::from_slice(&approvals(socket, &["show", id]).stdout).unwrap_or_default()
}
