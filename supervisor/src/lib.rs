//! The node's seccomp supervisor: the system calls a policy marks `escalate` wait here for a
//! human.
//!
//! A container whose filter has `SCMP_ACT_NOTIFY` rules is created with
//! `linux.seccomp.listenerPath` naming this supervisor's socket. libcontainer connects once the
//! filter is loaded and sends the container process state (JSON: id, pid, bundle) with the
//! filter's notification descriptor (`SCM_RIGHTS`) — [`listener`]. For every held call the
//! supervisor reads the container's compiled policy record from its staged bundle, asks the
//! node's approval queue (origin `syscall`, action `syscall.<name>`) and lets the call go on
//! only when a human approved it; anything else — a denial, the policy's default on timeout,
//! no ApprovalPolicy, a record that does not verify, an unreachable queue — answers `EPERM`
//! ([`held`], [`ask`]). Only syscalls whose arguments are numbers or descriptors can be marked
//! `escalate` (the policy crate's validation), so what was approved is what runs.
//!
//! If the supervisor is gone the kernel fails the held calls (`ENOSYS`) rather than blocking
//! them: never a hang.

pub mod ask;
pub mod held;
pub mod listener;
