//! The openshell OCI hooks, injected into a container's spec by the policy compiler.
//!
//! # Contract (what the policy compiler injects)
//!
//! ```json
//! "hooks": {
//!   "createRuntime": [{
//!     "path": "/usr/libexec/openshell/openshell-hook",
//!     "args": ["openshell-hook", "create-runtime", "--policy", "<state dir>/<id>/policy.json"],
//!     "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
//!     "timeout": 10
//!   }],
//!   "poststop": [{
//!     "path": "/usr/libexec/openshell/openshell-hook",
//!     "args": ["openshell-hook", "poststop"],
//!     "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
//!   }]
//! }
//! ```
//!
//! - `create-runtime --policy FILE [--state-root DIR] [--config FILE] [--timeout-ms N]`:
//!   reads the OCI state from stdin; `FILE` is the [`CompiledPolicy`] (JSON) the runtime wrote
//!   into its own state directory at `create`. Asks for admission — the policy service over its
//!   socket when the node configuration names one (`[services] nemotron`), else the embedded
//!   engine in-process — then writes the registration record to `DIR/<id>.json` (default: the
//!   node's `registry_dir`) and registers it with the service. Exits non-zero, with the reason
//!   on stderr, on deny, on any error, and when `N` milliseconds pass (default: the node's
//!   `[hooks] timeout_ms`, 5000): the runtime then aborts the container.
//! - `poststop [--state-root DIR] [--config FILE] [--timeout-ms N]`: removes the record and
//!   unregisters the container.
//! - `--config FILE` defaults to `$OPENSHELL_CONFIG`, else `/etc/openshell/config.toml`.
//!
//! On a node whose configuration names the policy service and no `[hooks] binary`, a sandbox
//! without a network to wire gets the thin `openshell-hook-client` (crate `hook-client/`)
//! instead.
//!
//! # Never trusting the container (CVE-2025-23266)
//! The hook is a host binary named by absolute path, run in the runtime's namespaces. It refuses
//! to run with any `LD_*` variable in its environment (a preloaded library would be the
//! container's code running as root on the host), works from `/` rather than any directory the
//! runtime or container chose, resolves and executes no program, and reads only the compiled
//! policy file (opened without following symlinks, its digest checked) — never anything under
//! the container's root filesystem.
//!
//! # Steps
//! `create-runtime` runs [`steps`] in order — admission, the sandbox network (for
//! `isolation.network: restricted`: a veth pair into the container's namespace, wired to the
//! egress engine, whose addresses go into [`steps::CreateContext::registration`]), then
//! registration — each in its own module. `poststop` undoes them in reverse.

pub mod backend;
pub mod inputs;
pub mod steps;

pub use openshell_policy::CompiledPolicy;

use std::path::PathBuf;
use std::time::Duration;

/// Errors of a hook run; each is reported on stderr and makes the hook exit non-zero.
#[derive(Debug, thiserror::Error)]
pub enum HookError {
    /// The environment is unsafe to run in.
    #[error("refusing to run: {0}")]
    Environment(String),
    /// An input (stdin state, policy file, bundle config, node configuration) is unusable.
    #[error("{0}")]
    Input(String),
    /// The policy denied the sandbox.
    #[error("admission denied for container {container}: {reasons} (policies: {policies})")]
    Denied {
        /// The container id.
        container: String,
        /// Why, joined.
        reasons: String,
        /// Deciding policy ids, joined.
        policies: String,
    },
    /// The policy service failed or is unreachable.
    #[error("policy service: {0}")]
    Service(String),
    /// The sandbox network could not be set up or removed (egress engine, netlink).
    #[error("sandbox network: {0}")]
    Network(String),
    /// The privacy router refused the sandbox or did not answer.
    #[error("privacy router: {0}")]
    Router(String),
    /// The registration record could not be written or removed.
    #[error("registration record {path}: {source}")]
    Registry {
        /// The record.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Settings common to both hooks, from the command line and the node configuration.
#[derive(Debug, Clone)]
pub struct HookSettings {
    /// The node configuration.
    pub node: openshell_policy::node_config::NodeConfig,
    /// Where registration records live.
    pub state_root: PathBuf,
    /// The overall deadline.
    pub timeout: Duration,
}
