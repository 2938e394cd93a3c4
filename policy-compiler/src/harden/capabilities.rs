//! Capabilities: every set cut down to what an agent process needs.

use oci_spec::runtime::{Capabilities, Capability, LinuxCapabilities, Process};

/// The capabilities a sandboxed agent may keep, and why:
///
/// - `CAP_CHOWN`, `CAP_FOWNER`: a root agent unpacking archives or installing packages into
///   its scratch space sets owners and modes on files it did not create.
/// - `CAP_SETUID`, `CAP_SETGID`: entrypoints that drop from root to an unprivileged user.
/// - `CAP_KILL`: signalling its own worker processes when they run under another uid.
/// - `CAP_NET_BIND_SERVICE`: serving webhooks on ports below 1024 (ingress rules).
///
/// Dropped from Docker's default set: `CAP_DAC_OVERRIDE` (bypasses file permissions, also on
/// volumes), `CAP_FSETID`, `CAP_MKNOD` (no device nodes), `CAP_NET_RAW` (raw sockets, ARP and
/// ping spoofing), `CAP_SETFCAP`/`CAP_SETPCAP` (granting capabilities), `CAP_SYS_CHROOT`,
/// `CAP_AUDIT_WRITE`. Everything else (SYS_ADMIN, NET_ADMIN, SYS_PTRACE, PERFMON, …) was never
/// in it.
pub const AGENT_CAPABILITIES: [Capability; 6] = [
    Capability::Chown,
    Capability::Fowner,
    Capability::Kill,
    Capability::NetBindService,
    Capability::Setgid,
    Capability::Setuid,
];

fn agent_set() -> Capabilities {
    AGENT_CAPABILITIES.into_iter().collect()
}

fn meet(a: &Capabilities, b: &Capabilities) -> Capabilities {
    a.intersection(b).copied().collect()
}

/// Intersects every set with [`AGENT_CAPABILITIES`]. Absent sets are read as libcontainer
/// applies them: no `capabilities` object = full root capabilities; an absent bounding set =
/// empty; absent effective/permitted = unchanged (full); absent inheritable/ambient = empty.
pub(super) fn apply(process: &mut Process) {
    let agent = agent_set();
    let (bounding, effective, permitted, inheritable, ambient) = match process.capabilities() {
        None => (agent.clone(), agent.clone(), agent.clone(), None, None),
        Some(caller) => {
            let bounding = meet(&caller.bounding().clone().unwrap_or_default(), &agent);
            let full = |set: &Option<Capabilities>| meet(set.as_ref().unwrap_or(&agent), &bounding);
            (
                bounding.clone(),
                full(caller.effective()),
                full(caller.permitted()),
                caller.inheritable().clone(),
                caller.ambient().clone(),
            )
        }
    };
    let inheritable = meet(&inheritable.unwrap_or_default(), &bounding);
    let ambient = meet(
        &meet(&ambient.unwrap_or_default(), &inheritable),
        &permitted,
    );
    let mut capabilities = LinuxCapabilities::default();
    capabilities.set_bounding(Some(bounding));
    capabilities.set_effective(Some(effective));
    capabilities.set_permitted(Some(permitted));
    capabilities.set_inheritable(Some(inheritable));
    capabilities.set_ambient(Some(ambient));
    process.set_capabilities(Some(capabilities));
}
