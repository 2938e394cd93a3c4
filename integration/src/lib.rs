//! Support for integration tests that drive the built binaries against real containers.
//!
//! - [`binaries`]: where the workspace's built binaries are.
//! - [`bundle`]: OCI bundles with a busybox rootfs from Debian's `busybox-static`.
//! - [`runtime`]: an `openshell` invocation on a private state root and node configuration,
//!   cleaned up on drop.
//! - [`node`]: private node configurations (`OPENSHELL_CONFIG`).
//! - [`leftovers`]: checks that a container left nothing behind.
//! - [`netns`]: network namespaces a test creates.
//! - [`egress_world`]: a node namespace running the egress engine, a test internet, and
//!   restricted busybox containers wired to them.
//! - [`http_load`]: a closed-loop HTTP/1.1 load generator for CONNECT tunnels and TLS.
//! - [`local_model`]: llama.cpp's OpenAI-compatible server with SmolLM2, the node's local model.
//! - [`node_router`]: the privacy router on an egress world's node.
//! - [`service`]: the `nemotron-service` daemon on a private socket.
//! - [`siem`]: a local stand-in for a SIEM's HTTP collector.

pub mod binaries;
pub mod bundle;
pub mod clients;
pub mod egress_world;
pub mod fd_passing;
pub mod http_load;
pub mod leftovers;
pub mod local_model;
pub mod netns;
pub mod node;
pub mod node_router;
pub mod operator;
pub mod policies;
pub mod probe;
pub mod runtime;
pub mod service;
pub mod siem;

use std::sync::atomic::{AtomicUsize, Ordering};

/// A container id unique to this test process: `<prefix>-<pid>-<n>`.
pub fn unique_id(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// Panics unless the tests run as root: containers, cgroups and namespaces need it.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "integration tests start real containers and must run as root"
    );
}

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_for(timeout: std::time::Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if condition() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The `KEY:  N kB` figure of a /proc file such as `/proc/meminfo` or `/proc/PID/status`, in KiB.
pub fn proc_kib(path: impl AsRef<std::path::Path>, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(path).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|value| value.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The value of `key` in a `/proc/PID/status` text (`CapEff`, `NoNewPrivs`), trimmed.
pub fn proc_status_field(status: &str, key: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .trim()
        .to_owned()
}
