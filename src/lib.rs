//! openshell: a runc-compatible OCI runtime built on youki's `libcontainer`.
//!
//! With no policy attached it behaves like runc; with a SandboxPolicy it hardens the OCI spec
//! before the container is created.

mod bundle;
mod cgroup_path;
pub mod cli;
mod commands;
mod container_floor;
mod exe_seal;
mod foreground;
mod gpu_edits;
mod hardening;
mod in_process_hooks;
mod keyring;
mod logging;
mod loopback;
mod policy_attach;
mod seccomp_cache;
