//! What hardening changed, in words a security reviewer reads. Every line is derived from the
//! difference between the caller's spec and the hardened one; the policy only supplies the
//! setting that caused it.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use oci_spec::runtime::{
    Capabilities, Capability, Hook, LinuxDeviceCgroup, LinuxDeviceType, LinuxNamespace,
    LinuxNamespaceType, Mount, Spec,
};

use crate::documents::{NetworkIsolation, SandboxPolicy, SyscallProfile};
use crate::policy_set::PolicySet;
use crate::seccomp::filter::{Filter, Treatment, allows};
use crate::seccomp::{self, syscalls};

/// A report of the changes hardening made to a container's spec.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Explanation {
    /// The policy's name.
    pub policy: String,
    /// The policy file's digest.
    pub digest: String,
    /// One section per area that changed, in a fixed order.
    pub sections: Vec<Section>,
}

/// The changes in one area.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Section {
    /// The area ("Namespaces", "Capabilities", …).
    pub title: &'static str,
    /// One change per line.
    pub lines: Vec<String>,
}

impl Explanation {
    /// The section titled `title`, if anything changed there.
    pub fn section(&self, title: &str) -> Option<&Section> {
        self.sections.iter().find(|section| section.title == title)
    }
}

impl fmt::Display for Explanation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Policy '{}' ({}): changes to the container's configuration",
            self.policy, self.digest
        )?;
        for section in &self.sections {
            writeln!(f, "\n{}", section.title)?;
            for line in &section.lines {
                writeln!(f, "  - {line}")?;
            }
        }
        Ok(())
    }
}

pub(crate) fn explain(caller: &Spec, hardened: &Spec, policy: &PolicySet) -> Explanation {
    let sandbox = policy.sandbox();
    let mut sections = Vec::new();
    let mut push = |title: &'static str, lines: Vec<String>| {
        if !lines.is_empty() {
            sections.push(Section { title, lines });
        }
    };
    push("Namespaces", namespaces(caller, hardened, sandbox));
    push("Capabilities", capabilities(caller, hardened));
    push("Filesystem", filesystem(caller, hardened));
    push("Devices", devices(caller, hardened));
    push("Limits", limits(caller, hardened));
    push("System calls", system_calls(caller, hardened, sandbox));
    push("Hooks", hooks(caller, hardened));
    push("Environment", environment(caller, hardened));
    push("Annotations", annotations(caller, hardened));
    Explanation {
        policy: policy.name().to_owned(),
        digest: policy.digest().to_owned(),
        sections,
    }
}

fn namespace_name(typ: LinuxNamespaceType) -> &'static str {
    match typ {
        LinuxNamespaceType::Mount => "mount",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "network",
        LinuxNamespaceType::Time => "time",
    }
}

fn namespace_list(spec: &Spec) -> Vec<LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|linux| linux.namespaces().clone())
        .unwrap_or_default()
}

fn namespaces(caller: &Spec, hardened: &Spec, sandbox: Option<&SandboxPolicy>) -> Vec<String> {
    let before = namespace_list(caller);
    let network = sandbox.map(|policy| policy.spec.isolation.network.value);
    let why_network = match network {
        Some(NetworkIsolation::Restricted) => {
            " (isolation.network: restricted; its only route out is the egress engine, wired \
             by the openshell hook)"
        }
        Some(NetworkIsolation::None) => " (isolation.network: none; loopback only)",
        _ => "",
    };
    let mut lines = Vec::new();
    for namespace in namespace_list(hardened) {
        let typ = namespace.typ();
        let name = namespace_name(typ);
        let why = if typ == LinuxNamespaceType::Network {
            why_network
        } else {
            ""
        };
        match before.iter().find(|old| old.typ() == typ) {
            None => lines.push(format!(
                "new {name} namespace; the caller shared the host's{why}"
            )),
            Some(old) => match (old.path(), namespace.path()) {
                (Some(path), None) => lines.push(format!(
                    "new {name} namespace instead of joining {}{why}",
                    path.display()
                )),
                (Some(path), Some(_)) => lines.push(format!(
                    "kept the caller's join of the {name} namespace at {}",
                    path.display()
                )),
                _ => {}
            },
        }
    }
    if network == Some(NetworkIsolation::Host) {
        lines.push(
            "network namespace left as the caller asked (isolation.network: host)".to_owned(),
        );
    }
    lines
}

const ALL_CAPABILITIES: [Capability; 41] = [
    Capability::AuditControl,
    Capability::AuditRead,
    Capability::AuditWrite,
    Capability::BlockSuspend,
    Capability::Bpf,
    Capability::CheckpointRestore,
    Capability::Chown,
    Capability::DacOverride,
    Capability::DacReadSearch,
    Capability::Fowner,
    Capability::Fsetid,
    Capability::IpcLock,
    Capability::IpcOwner,
    Capability::Kill,
    Capability::Lease,
    Capability::LinuxImmutable,
    Capability::MacAdmin,
    Capability::MacOverride,
    Capability::Mknod,
    Capability::NetAdmin,
    Capability::NetBindService,
    Capability::NetBroadcast,
    Capability::NetRaw,
    Capability::Perfmon,
    Capability::Setgid,
    Capability::Setfcap,
    Capability::Setpcap,
    Capability::Setuid,
    Capability::SysAdmin,
    Capability::SysBoot,
    Capability::SysChroot,
    Capability::SysModule,
    Capability::SysNice,
    Capability::SysPacct,
    Capability::SysPtrace,
    Capability::SysRawio,
    Capability::SysResource,
    Capability::SysTime,
    Capability::SysTtyConfig,
    Capability::Syslog,
    Capability::WakeAlarm,
];

/// Every capability the process could hold under `spec` (no object = all of them).
fn held_capabilities(spec: &Spec) -> BTreeSet<String> {
    let process = spec.process().as_ref();
    let names = |set: &Capabilities| {
        set.iter()
            .map(|cap| format!("CAP_{cap}"))
            .collect::<Vec<String>>()
    };
    match process.and_then(|process| process.capabilities().as_ref()) {
        None => ALL_CAPABILITIES
            .iter()
            .map(|cap| format!("CAP_{cap}"))
            .collect(),
        Some(caps) => [
            caps.bounding(),
            caps.effective(),
            caps.permitted(),
            caps.inheritable(),
            caps.ambient(),
        ]
        .into_iter()
        .flatten()
        .flat_map(names)
        .collect(),
    }
}

fn capabilities(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let before = held_capabilities(caller);
    let after = held_capabilities(hardened);
    let removed: Vec<&str> = before.difference(&after).map(String::as_str).collect();
    let mut lines = Vec::new();
    if !removed.is_empty() {
        lines.push(format!("removed: {}", removed.join(", ")));
    }
    if before != after {
        let kept: Vec<&str> = after.iter().map(String::as_str).collect();
        lines.push(format!(
            "kept: {}",
            if kept.is_empty() {
                "none".to_owned()
            } else {
                kept.join(", ")
            }
        ));
    }
    let no_new_privileges =
        |spec: &Spec| spec.process().as_ref().and_then(|p| p.no_new_privileges());
    if no_new_privileges(caller) != Some(true) && no_new_privileges(hardened) == Some(true) {
        lines.push(
            "no new privileges: setuid binaries and file capabilities cannot raise them".to_owned(),
        );
    }
    lines
}

fn mounts(spec: &Spec) -> Vec<Mount> {
    spec.mounts().clone().unwrap_or_default()
}

fn paths(list: Option<&Vec<String>>) -> BTreeSet<String> {
    list.into_iter().flatten().cloned().collect()
}

fn size_of(mount: &Mount) -> String {
    mount
        .options()
        .iter()
        .flatten()
        .find_map(|option| option.strip_prefix("size="))
        .and_then(|bytes| bytes.parse::<u64>().ok())
        .map(human_bytes)
        .unwrap_or_else(|| "unlimited".to_owned())
}

fn filesystem(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let mut lines = Vec::new();
    let read_only = |spec: &Spec| spec.root().as_ref().and_then(|root| root.readonly());
    if read_only(caller) != Some(true) && read_only(hardened) == Some(true) {
        lines.push("root filesystem made read-only (isolation.filesystem: read-only)".to_owned());
    }
    let before = mounts(caller);
    let after = mounts(hardened);
    for mount in &after {
        match before
            .iter()
            .find(|old| old.destination() == mount.destination())
        {
            None if mount.typ().as_deref() == Some("tmpfs") => lines.push(format!(
                "writable tmpfs at {} ({}, nosuid, nodev)",
                mount.destination().display(),
                size_of(mount)
            )),
            None => lines.push(format!("mount added at {}", mount.destination().display())),
            Some(old) if old.options() != mount.options() => {
                let read_only = |m: &Mount| m.options().iter().flatten().any(|o| o == "ro");
                if read_only(mount) && !read_only(old) {
                    lines.push(format!(
                        "{} ({}) mounted read-only",
                        mount.destination().display(),
                        mount.typ().as_deref().unwrap_or("mount")
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for mount in &before {
        if !after
            .iter()
            .any(|new| new.destination() == mount.destination())
        {
            lines.push(format!(
                "mount at {} removed (GPU devices come only from the GPU component)",
                mount.destination().display()
            ));
        }
    }
    let linux = |spec: &Spec| spec.linux().clone().unwrap_or_default();
    let (old, new) = (linux(caller), linux(hardened));
    let masked: Vec<String> = paths(new.masked_paths().as_ref())
        .difference(&paths(old.masked_paths().as_ref()))
        .cloned()
        .collect();
    if !masked.is_empty() {
        lines.push(format!("hidden (masked): {}", masked.join(", ")));
    }
    let read_only_paths: Vec<String> = paths(new.readonly_paths().as_ref())
        .difference(&paths(old.readonly_paths().as_ref()))
        .cloned()
        .collect();
    if !read_only_paths.is_empty() {
        lines.push(format!("read-only: {}", read_only_paths.join(", ")));
    }
    lines
}

fn rule_text(rule: &LinuxDeviceCgroup) -> String {
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => "all",
        LinuxDeviceType::B => "b",
        LinuxDeviceType::C | LinuxDeviceType::U => "c",
        LinuxDeviceType::P => "p",
    };
    let number = |n: Option<i64>| n.map_or("*".to_owned(), |n| n.to_string());
    if typ == "all" {
        "all devices".to_owned()
    } else {
        format!("{typ} {}:{}", number(rule.major()), number(rule.minor()))
    }
}

fn devices(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let list = |spec: &Spec| {
        spec.linux()
            .as_ref()
            .and_then(|linux| linux.devices().clone())
            .unwrap_or_default()
    };
    let rules = |spec: &Spec| {
        spec.linux()
            .as_ref()
            .and_then(|linux| linux.resources().as_ref())
            .and_then(|resources| resources.devices().clone())
            .unwrap_or_default()
    };
    let (before, after) = (list(caller), list(hardened));
    let mut lines = Vec::new();
    for device in &before {
        if !after.iter().any(|d| d.path() == device.path()) {
            lines.push(format!(
                "device {} ({}:{}) removed",
                device.path().display(),
                device.major(),
                device.minor()
            ));
        }
    }
    for device in &after {
        if !before.iter().any(|d| d.path() == device.path()) {
            lines.push(format!(
                "device {} added (GPU edits)",
                device.path().display()
            ));
        }
    }
    let (old_rules, new_rules) = (rules(caller), rules(hardened));
    if old_rules != new_rules {
        let describe = |allow: bool| {
            new_rules
                .iter()
                .filter(|rule| rule.allow() == allow)
                .map(rule_text)
                .collect::<Vec<String>>()
                .join(", ")
        };
        lines.push(format!(
            "device access: denied by default; allowed: {}; denied: {}",
            describe(true),
            describe(false)
        ));
    }
    lines
}

fn human_bytes(bytes: u64) -> String {
    const UNITS: [(&str, u64); 4] = [
        ("TiB", 1 << 40),
        ("GiB", 1 << 30),
        ("MiB", 1 << 20),
        ("KiB", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= size && bytes.is_multiple_of(size) {
            return format!("{} {unit}", bytes / size);
        }
    }
    format!("{bytes} bytes")
}

fn limits(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let resources = |spec: &Spec| {
        spec.linux()
            .as_ref()
            .and_then(|linux| linux.resources().clone())
            .unwrap_or_default()
    };
    let (old, new) = (resources(caller), resources(hardened));
    let bytes = |value: Option<i64>| match value {
        Some(value) if value > 0 => human_bytes(value.unsigned_abs()),
        _ => "none".to_owned(),
    };
    let mut lines = Vec::new();
    let (old_memory, new_memory) = (
        old.memory().unwrap_or_default(),
        new.memory().unwrap_or_default(),
    );
    if old_memory.limit() != new_memory.limit() {
        lines.push(format!(
            "memory: {} → {}",
            bytes(old_memory.limit()),
            bytes(new_memory.limit())
        ));
    }
    if old_memory.swap() != new_memory.swap() {
        lines.push(format!(
            "memory+swap: {} → {} (no swap)",
            bytes(old_memory.swap()),
            bytes(new_memory.swap())
        ));
    }
    let cpus = |cpu: &Option<oci_spec::runtime::LinuxCpu>| {
        cpu.as_ref()
            .and_then(|cpu| {
                Some((
                    cpu.quota().filter(|q| *q > 0)?,
                    cpu.period().unwrap_or(100_000),
                ))
            })
            .map_or("none".to_owned(), |(quota, period)| {
                format!(
                    "{quota} µs per {period} µs ({:.2} CPUs)",
                    quota as f64 / period as f64
                )
            })
    };
    let (old_cpu, new_cpu) = (cpus(old.cpu()), cpus(new.cpu()));
    if old_cpu != new_cpu {
        lines.push(format!("CPU quota: {old_cpu} → {new_cpu}"));
    }
    let pids = |limit: Option<i64>| match limit {
        Some(limit) if limit > 0 => limit.to_string(),
        _ => "none".to_owned(),
    };
    let (old_pids, new_pids) = (
        old.pids().as_ref().map(|p| p.limit()),
        new.pids().as_ref().map(|p| p.limit()),
    );
    if old_pids != new_pids {
        lines.push(format!(
            "processes: {} → {}",
            pids(old_pids),
            pids(new_pids)
        ));
    }
    lines
}

fn filter_of(spec: &Spec) -> Option<Filter> {
    spec.linux()
        .as_ref()
        .and_then(|linux| linux.seccomp().as_ref())
        .map(Filter::from_oci)
}

fn treatment(filter: &Option<Filter>, name: &str) -> Treatment {
    filter
        .as_ref()
        .map_or(Treatment::Allowed, |filter| filter.treatment(name))
}

fn system_calls(caller: &Spec, hardened: &Spec, sandbox: Option<&SandboxPolicy>) -> Vec<String> {
    let (before, after) = (filter_of(caller), filter_of(hardened));
    if before == after {
        return Vec::new();
    }
    let Some(filter) = &after else {
        return vec!["no seccomp filter".to_owned()];
    };
    let profile = sandbox.map_or(SyscallProfile::Unconfined, |p| {
        p.spec.isolation.syscalls.value
    });
    let mut names: BTreeSet<String> = syscalls::names().into_iter().map(str::to_owned).collect();
    names.extend(filter.syscalls.keys().cloned());
    if let Some(before) = &before {
        names.extend(before.syscalls.keys().cloned());
    }
    let mut denied: BTreeMap<&'static str, Vec<String>> = BTreeMap::new();
    let mut conditional = Vec::new();
    let mut escalated = Vec::new();
    let mut allowed: BTreeMap<&'static str, Vec<&str>> = BTreeMap::new();
    for name in &names {
        let was = treatment(&before, name);
        match filter.treatment(name) {
            Treatment::Denied if was != Treatment::Denied => {
                let errno = filter.syscalls.get(name).and_then(|entries| {
                    entries
                        .iter()
                        .find_map(|e| e.errno.filter(|errno| *errno != 1))
                });
                let why = seccomp::denial_reason(name).unwrap_or("not needed by the profile");
                denied.entry(why).or_default().push(match errno {
                    Some(38) => format!("{name} (ENOSYS)"),
                    Some(errno) => format!("{name} (errno {errno})"),
                    None => name.clone(),
                });
            }
            Treatment::Conditional => {
                let why = seccomp::reasons(profile, name);
                conditional.push(if why.is_empty() {
                    name.clone()
                } else {
                    format!("{name} ({})", why.join("; "))
                });
            }
            Treatment::Escalated => escalated.push(name.as_str()),
            Treatment::Allowed => {
                let why = seccomp::reasons(profile, name);
                let why = why
                    .first()
                    .copied()
                    .unwrap_or("allowed by the caller's profile");
                allowed.entry(why).or_default().push(name);
            }
            Treatment::Denied => {}
        }
    }
    let mut lines = Vec::new();
    if allows(filter.default_action) {
        lines.push("default: allowed unless listed below".to_owned());
    } else {
        let profile = match profile {
            SyscallProfile::Minimal => "minimal",
            SyscallProfile::Default => "default",
            SyscallProfile::Unconfined => "unconfined",
        };
        lines.push(format!(
            "default: every syscall not allowed below fails with EPERM (syscalls: {profile}); \
             calls from an ABI not listed under architectures kill the process"
        ));
    }
    if let Some(architectures) = &filter.architectures {
        let names: Vec<String> = architectures.iter().map(ToString::to_string).collect();
        lines.push(format!("architectures: {}", names.join(", ")));
    }
    let mut denied: Vec<(&str, Vec<String>)> = denied.into_iter().collect();
    denied.sort_by_key(|(why, _)| seccomp::reason_rank(why));
    for (why, names) in denied {
        lines.push(format!("denied: {} — {why}", names.join(", ")));
    }
    if !escalated.is_empty() {
        let listener = filter
            .listener_path
            .as_ref()
            .map_or(String::new(), |path| format!(" at {}", path.display()));
        lines.push(format!(
            "escalated to the supervisor{listener}: {}",
            escalated.join(", ")
        ));
    }
    if !conditional.is_empty() {
        lines.push(format!(
            "allowed only with argument checks: {}",
            conditional.join("; ")
        ));
    }
    let mut allowed: Vec<(&str, Vec<&str>)> = allowed.into_iter().collect();
    allowed.sort_by_key(|(why, _)| seccomp::reason_rank(why));
    for (why, names) in allowed {
        lines.push(format!("allowed: {} — {why}", names.join(", ")));
    }
    lines
}

fn hook_lists(spec: &Spec) -> Vec<(&'static str, Hook)> {
    let Some(hooks) = spec.hooks() else {
        return Vec::new();
    };
    [
        ("prestart", hooks.prestart()),
        ("createRuntime", hooks.create_runtime()),
        ("createContainer", hooks.create_container()),
        ("startContainer", hooks.start_container()),
        ("poststart", hooks.poststart()),
        ("poststop", hooks.poststop()),
    ]
    .into_iter()
    .flat_map(|(stage, list)| list.iter().flatten().map(move |hook| (stage, hook.clone())))
    .collect()
}

fn hook_text(hook: &Hook) -> String {
    let args = hook.args().clone().unwrap_or_default();
    if args.len() > 1 {
        format!("{} {}", hook.path().display(), args[1..].join(" "))
    } else {
        hook.path().display().to_string()
    }
}

fn hooks(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let (before, after) = (hook_lists(caller), hook_lists(hardened));
    let mut lines = Vec::new();
    for (stage, hook) in &after {
        if !before.iter().any(|(s, h)| s == stage && h == hook) {
            let variables = hook.env().as_ref().map_or(0, Vec::len);
            lines.push(format!(
                "{stage}: runs {} (explicit environment of {variables} variable(s), nothing \
                 inherited)",
                hook_text(hook)
            ));
        }
    }
    for (stage, hook) in &before {
        if !after.iter().any(|(s, h)| s == stage && h == hook) {
            lines.push(format!(
                "{stage}: removed {} (GPUs come only from the GPU component)",
                hook_text(hook)
            ));
        }
    }
    lines
}

fn environment(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let variables = |spec: &Spec| -> BTreeMap<String, String> {
        spec.process()
            .as_ref()
            .and_then(|process| process.env().clone())
            .unwrap_or_default()
            .into_iter()
            .map(|entry| match entry.split_once('=') {
                Some((key, value)) => (key.to_owned(), value.to_owned()),
                None => (entry, String::new()),
            })
            .collect()
    };
    let (before, after) = (variables(caller), variables(hardened));
    let mut lines = Vec::new();
    for key in before.keys() {
        if !after.contains_key(key) {
            lines.push(format!("removed {key}"));
        }
    }
    for (key, value) in &after {
        if before.get(key) != Some(value) {
            lines.push(format!("set {key}={value}"));
        }
    }
    lines
}

fn annotations(caller: &Spec, hardened: &Spec) -> Vec<String> {
    let (before, after) = (
        caller.annotations().clone().unwrap_or_default(),
        hardened.annotations().clone().unwrap_or_default(),
    );
    let mut keys: Vec<&String> = after
        .iter()
        .filter(|(key, value)| before.get(*key) != Some(value))
        .map(|(key, _)| key)
        .collect();
    keys.sort();
    keys.into_iter()
        .map(|key| format!("{key}={}", after[key]))
        .collect()
}
