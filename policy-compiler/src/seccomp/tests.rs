//! The profiles checked against libseccomp itself: every name resolves, and every profile
//! builds into a BPF program the way libcontainer 0.7 builds it (nothing is loaded).

use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

use libseccomp::{
    ScmpAction, ScmpArch, ScmpArgCompare, ScmpCompareOp, ScmpFilterContext, ScmpSyscall,
    ScmpVersion,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, LinuxSyscall,
};

use super::*;
use crate::documents::{Isolation, SyscallProfile};
use crate::located::Located;

fn known_by_libseccomp(name: &str) -> Option<i32> {
    ScmpSyscall::from_name_by_arch(name, ScmpArch::X8664)
        .ok()
        .map(i32::from)
}

/// The highest x86_64 syscall number this libseccomp knows.
fn libseccomp_max() -> u32 {
    (0..1000u32)
        .filter(|number| {
            ScmpSyscall::from(*number as i32)
                .get_name_by_arch(ScmpArch::X8664)
                .is_ok()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn the_syscall_table_matches_libseccomp() {
    let max = libseccomp_max();
    assert!(max >= 334, "libseccomp knows too little: {max}");
    for (name, number) in syscalls::SYSCALLS {
        match known_by_libseccomp(name) {
            Some(resolved) => assert_eq!(resolved, *number as i32, "{name}"),
            None => assert!(*number > max, "{name} ({number}) should resolve"),
        }
    }
    for number in 0..=max {
        if let Ok(name) = ScmpSyscall::from(number as i32).get_name_by_arch(ScmpArch::X8664) {
            assert!(
                syscalls::SYSCALLS.contains(&(name.as_str(), number)),
                "libseccomp knows {name} ({number}), the table does not"
            );
        }
    }
    let version = ScmpVersion::current().unwrap();
    if (version.major, version.minor) >= (2, 6) {
        for name in ["cachestat", "fchmodat2", "map_shadow_stack"] {
            assert!(known_by_libseccomp(name).is_some(), "{name}");
        }
    }
}

fn every_table_name() -> BTreeSet<&'static str> {
    let mut names: BTreeSet<&str> = BTreeSet::new();
    for rule in profiles::rules(true).chain(profiles::rules(false)) {
        names.extend(rule.names);
    }
    for (group, _) in profiles::ALWAYS_DENIED {
        names.extend(*group);
    }
    names.extend(profiles::NEVER_ALLOW);
    names.extend(profiles::ESCALATABLE);
    names
}

#[test]
fn every_profile_name_is_a_real_syscall() {
    for name in every_table_name() {
        assert!(
            syscalls::is_known(name),
            "{name} is not in the syscall table"
        );
    }
}

#[test]
fn profiles_never_allow_the_always_denied_syscalls() {
    for minimal in [true, false] {
        for rule in profiles::rules(minimal) {
            if rule.verdict != profiles::Verdict::Allow {
                continue;
            }
            for name in rule.names {
                assert!(
                    denial_reason(name).is_none(),
                    "{name} is allowed by '{}' but always denied",
                    rule.why
                );
            }
        }
    }
    for name in profiles::NEVER_ALLOW {
        assert!(denial_reason(name).is_some(), "{name}");
    }
}

#[test]
fn minimal_is_a_subset_of_default() {
    let allowed = |minimal: bool| -> BTreeSet<&'static str> {
        profiles::rules(minimal)
            .filter(|rule| rule.verdict == profiles::Verdict::Allow)
            .flat_map(|rule| rule.names.iter().copied())
            .collect()
    };
    let (minimal, default) = (allowed(true), allowed(false));
    let extra: Vec<&&str> = minimal.difference(&default).collect();
    assert!(
        extra.is_empty(),
        "minimal allows what default does not: {extra:?}"
    );
    // Kernel surface Docker allows that agents do not need.
    for name in [
        "io_setup",
        "io_submit",
        "modify_ldt",
        "personality",
        "execveat",
        "seccomp",
        "setxattr",
        "mq_open",
        "shmget",
        "msgget",
        "semget",
        "vmsplice",
        "splice",
        "inotify_init1",
        "timerfd_create",
        "pkey_alloc",
        "sched_setattr",
        "mlock",
        "remap_file_pages",
        "landlock_create_ruleset",
        "name_to_handle_at",
    ] {
        assert!(default.contains(name) && !minimal.contains(name), "{name}");
    }
}

fn translate_action(action: LinuxSeccompAction, errno: Option<u32>) -> ScmpAction {
    let errno = errno.map_or(libc_eperm(), |errno| errno as i32);
    match action {
        LinuxSeccompAction::ScmpActAllow => ScmpAction::Allow,
        LinuxSeccompAction::ScmpActErrno => ScmpAction::Errno(errno),
        LinuxSeccompAction::ScmpActNotify => ScmpAction::Notify,
        LinuxSeccompAction::ScmpActLog => ScmpAction::Log,
        LinuxSeccompAction::ScmpActKillProcess => ScmpAction::KillProcess,
        LinuxSeccompAction::ScmpActTrap => ScmpAction::Trap,
        LinuxSeccompAction::ScmpActTrace => ScmpAction::Trace(errno as u16),
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => {
            ScmpAction::KillThread
        }
    }
}

fn libc_eperm() -> i32 {
    1
}

fn translate_arch(arch: Arch) -> ScmpArch {
    match arch {
        Arch::ScmpArchX86_64 => ScmpArch::X8664,
        Arch::ScmpArchX32 => ScmpArch::X32,
        Arch::ScmpArchX86 => ScmpArch::X86,
        Arch::ScmpArchAarch64 => ScmpArch::Aarch64,
        Arch::ScmpArchArm => ScmpArch::Arm,
        _ => ScmpArch::Native,
    }
}

/// Builds the filter exactly as libcontainer 0.7's `initialize_seccomp` does, short of
/// loading it; every name must resolve on x86_64 unless libseccomp predates it.
fn build_like_libcontainer(seccomp: &LinuxSeccomp) -> ScmpFilterContext {
    let default = translate_action(seccomp.default_action(), seccomp.default_errno_ret());
    let mut context = ScmpFilterContext::new(default).unwrap();
    for arch in seccomp.architectures().iter().flatten() {
        context.add_arch(translate_arch(*arch)).unwrap();
    }
    let max = libseccomp_max();
    for syscall in seccomp.syscalls().iter().flatten() {
        let action = translate_action(syscall.action(), syscall.errno_ret());
        if action == default {
            continue;
        }
        assert!(
            !(syscall.action() == LinuxSeccompAction::ScmpActNotify
                && syscall.names().iter().any(|name| name == "write")),
            "libcontainer refuses to notify on write"
        );
        for name in syscall.names() {
            let Ok(number) = ScmpSyscall::from_name(name) else {
                let newer = syscalls::SYSCALLS
                    .iter()
                    .any(|(known, number)| known == name && *number > max);
                assert!(newer, "{name} does not resolve on x86_64");
                continue;
            };
            let comparisons: Vec<ScmpArgCompare> = syscall
                .args()
                .iter()
                .flatten()
                .map(|arg| {
                    let op = match arg.op() {
                        LinuxSeccompOperator::ScmpCmpNe => ScmpCompareOp::NotEqual,
                        LinuxSeccompOperator::ScmpCmpLt => ScmpCompareOp::Less,
                        LinuxSeccompOperator::ScmpCmpLe => ScmpCompareOp::LessOrEqual,
                        LinuxSeccompOperator::ScmpCmpEq => ScmpCompareOp::Equal,
                        LinuxSeccompOperator::ScmpCmpGe => ScmpCompareOp::GreaterEqual,
                        LinuxSeccompOperator::ScmpCmpGt => ScmpCompareOp::Greater,
                        LinuxSeccompOperator::ScmpCmpMaskedEq => {
                            ScmpCompareOp::MaskedEqual(arg.value())
                        }
                    };
                    let datum = match arg.op() {
                        LinuxSeccompOperator::ScmpCmpMaskedEq => arg.value_two().unwrap_or(0),
                        _ => arg.value(),
                    };
                    ScmpArgCompare::new(arg.index() as u32, op, datum)
                })
                .collect();
            if comparisons.is_empty() {
                context.add_rule(action, number).unwrap();
            } else {
                context
                    .add_rule_conditional(action, number, &comparisons)
                    .unwrap_or_else(|error| panic!("{name}: {error}"));
            }
        }
    }
    context
}

/// The pseudo-filter-code block libseccomp generated for one syscall on x86_64.
fn block<'a>(text: &'a str, name: &str) -> &'a str {
    text.split(&format!("# filter for syscall \"{name}\" ("))
        .nth(1)
        .and_then(|rest| rest.split("# filter for syscall").next())
        .unwrap_or_else(|| panic!("no filter for {name} in:\n{text}"))
}

fn pfc(context: &ScmpFilterContext) -> String {
    let mut file = tempfile::tempfile().unwrap();
    context.export_pfc(&file).unwrap();
    let mut text = String::new();
    use std::io::Seek;
    file.rewind().unwrap();
    file.read_to_string(&mut text).unwrap();
    text
}

fn isolation(profile: SyscallProfile, overrides: &[(&str, crate::SyscallAction)]) -> Isolation {
    Isolation {
        syscalls: Located::unplaced(profile),
        syscall_overrides: overrides
            .iter()
            .map(|(name, action)| {
                (
                    Located::unplaced((*name).to_owned()),
                    Located::unplaced(*action),
                )
            })
            .collect(),
        ..Isolation::default()
    }
}

fn compiled(profile: SyscallProfile, overrides: &[(&str, crate::SyscallAction)]) -> LinuxSeccomp {
    policy_filter(
        &isolation(profile, overrides),
        Some(Path::new("/run/openshell/seccomp.sock")),
        "x86_64",
    )
    .unwrap()
    .unwrap()
    .to_oci()
}

#[test]
fn minimal_and_default_build_with_libseccomp() {
    for profile in [SyscallProfile::Minimal, SyscallProfile::Default] {
        let seccomp = compiled(profile, &[]);
        let context = build_like_libcontainer(&seccomp);
        let bpf = tempfile::tempfile().unwrap();
        context.export_bpf(&bpf).unwrap();
        assert!(bpf.metadata().unwrap().len() > 0);
        let text = pfc(&context);
        // The clone rule checks the namespace bits (it is not an unconditional allow).
        let clone = block(&text, "clone");
        assert!(clone.contains("& 0x7e020000 == 0"), "{clone}");
        assert!(block(&text, "clone3").contains("action ERRNO(38)"));
        assert!(
            !text.contains("\"mount\""),
            "mount must not be mentioned:\n{text}"
        );
    }
}

#[test]
fn overrides_and_escalation_build_with_libseccomp() {
    use crate::SyscallAction::{Allow, Deny, Escalate};
    let seccomp = compiled(
        SyscallProfile::Minimal,
        &[
            ("ptrace", Escalate),
            ("personality", Allow),
            ("uname", Deny),
        ],
    );
    let text = pfc(&build_like_libcontainer(&seccomp));
    // SCMP_ACT_NOTIFY is 0x7fc00000.
    assert!(
        block(&text, "ptrace").contains("action 0x7fc00000"),
        "{text}"
    );
    assert!(
        block(&text, "personality").contains("action ALLOW"),
        "{text}"
    );
    assert!(!text.contains("\"uname\""), "{text}");
    let seccomp = compiled(
        SyscallProfile::Unconfined,
        &[("mount", Escalate), ("ptrace", Deny)],
    );
    assert_eq!(seccomp.default_action(), LinuxSeccompAction::ScmpActAllow);
    let text = pfc(&build_like_libcontainer(&seccomp));
    assert!(
        block(&text, "mount").contains("action 0x7fc00000"),
        "{text}"
    );
    assert!(block(&text, "ptrace").contains("action ERRNO(1)"), "{text}");
}

/// Docker's default profile as Docker writes it into config.json (an excerpt with each kind of
/// rule it has: plain allows, runc-convention masked clone check, socket family denylist,
/// personality values, capability-gated calls as ERRNO).
fn docker_profile() -> LinuxSeccomp {
    let allow = |names: &[&str]| {
        let mut syscall = LinuxSyscall::default();
        syscall.set_names(names.iter().map(|n| (*n).to_owned()).collect());
        syscall.set_action(LinuxSeccompAction::ScmpActAllow);
        syscall
    };
    let mut clone = allow(&["clone"]);
    clone.set_args(Some(vec![filter::seccomp_arg(
        0,
        LinuxSeccompOperator::ScmpCmpMaskedEq,
        0x7E02_0000,
        None,
    )]));
    let mut socket = allow(&["socket"]);
    socket.set_args(Some(vec![filter::seccomp_arg(
        0,
        LinuxSeccompOperator::ScmpCmpNe,
        40,
        None,
    )]));
    let mut personality = allow(&["personality"]);
    personality.set_args(Some(vec![filter::seccomp_arg(
        0,
        LinuxSeccompOperator::ScmpCmpEq,
        0,
        None,
    )]));
    let mut clone3 = allow(&["clone3"]);
    clone3.set_action(LinuxSeccompAction::ScmpActErrno);
    clone3.set_errno_ret(Some(38));
    let mut seccomp = LinuxSeccomp::default();
    seccomp.set_default_action(LinuxSeccompAction::ScmpActErrno);
    seccomp.set_default_errno_ret(Some(1));
    seccomp.set_architectures(Some(vec![
        Arch::ScmpArchX86_64,
        Arch::ScmpArchX86,
        Arch::ScmpArchX32,
    ]));
    seccomp.set_syscalls(Some(vec![
        allow(&[
            "read",
            "write",
            "openat",
            "close",
            "execve",
            "exit_group",
            "mmap",
            "brk",
            "ptrace",
            "memfd_create",
            "io_uring_setup",
            "fstat",
            "futex",
        ]),
        clone,
        clone3,
        socket,
        personality,
    ]));
    seccomp
}

#[test]
fn intersection_with_dockers_profile_builds_and_only_narrows() {
    let docker = docker_profile();
    let ours = policy_filter(&isolation(SyscallProfile::Default, &[]), None, "x86_64")
        .unwrap()
        .unwrap();
    let merged = filter::intersect(&ours, &Filter::from_oci(&docker));
    let oci = merged.to_oci();
    build_like_libcontainer(&oci);
    let docker_filter = Filter::from_oci(&docker);
    use filter::Treatment::{Allowed, Conditional, Denied};
    for name in syscalls::names() {
        let before = docker_filter.treatment(name);
        let after = merged.treatment(name);
        if before == Denied {
            assert_eq!(after, Denied, "{name} was denied by the caller");
        }
        if ours.treatment(name) == Denied {
            assert_eq!(after, Denied, "{name} is denied by the policy");
        }
        if after == Allowed {
            assert_eq!(before, Allowed, "{name}");
        }
    }
    assert_eq!(merged.treatment("read"), Allowed);
    assert_eq!(merged.treatment("ptrace"), Denied);
    assert_eq!(merged.treatment("clone"), Conditional);
    assert_eq!(merged.treatment("personality"), Conditional);
    assert_eq!(merged.treatment("socket"), Conditional);
    assert_eq!(
        merged.architectures,
        Some(vec![Arch::ScmpArchX86_64, Arch::ScmpArchX32])
    );
}

#[test]
fn escape_syscalls_are_denied_by_minimal_and_default() {
    let escapes = [
        "mount",
        "umount2",
        "unshare",
        "ptrace",
        "keyctl",
        "add_key",
        "request_key",
        "bpf",
        "kexec_load",
        "kexec_file_load",
        "init_module",
        "finit_module",
        "delete_module",
        "perf_event_open",
        "userfaultfd",
        "io_uring_setup",
        "io_uring_enter",
        "io_uring_register",
        "open_by_handle_at",
        "pivot_root",
        "setns",
        "process_vm_readv",
        "process_vm_writev",
        "reboot",
        "swapon",
        "swapoff",
        "sethostname",
        "memfd_create",
        "pidfd_open",
        "pidfd_send_signal",
        "pidfd_getfd",
        "fsopen",
        "fsmount",
        "move_mount",
        "open_tree",
        "mount_setattr",
    ];
    for profile in [SyscallProfile::Minimal, SyscallProfile::Default] {
        let filter = policy_filter(&isolation(profile, &[]), None, "x86_64")
            .unwrap()
            .unwrap();
        for name in escapes {
            assert_eq!(
                filter.treatment(name),
                filter::Treatment::Denied,
                "{profile:?} {name}"
            );
        }
        assert_eq!(filter.treatment("clone"), filter::Treatment::Conditional);
        assert_eq!(filter.treatment("socket"), filter::Treatment::Conditional);
    }
    let default = policy_filter(&isolation(SyscallProfile::Default, &[]), None, "x86_64")
        .unwrap()
        .unwrap();
    for name in ["execveat", "seccomp", "personality"] {
        assert_eq!(
            default.treatment(name),
            filter::Treatment::Conditional,
            "{name}"
        );
    }
}

#[test]
fn architectures_per_machine() {
    use SyscallProfile::{Default, Minimal};
    assert_eq!(architectures(Minimal, "x86_64"), [Arch::ScmpArchX86_64]);
    assert_eq!(
        architectures(Default, "x86_64"),
        [Arch::ScmpArchX86_64, Arch::ScmpArchX32]
    );
    assert_eq!(architectures(Default, "aarch64"), [Arch::ScmpArchAarch64]);
    assert_eq!(architectures(Minimal, "riscv64"), [Arch::ScmpArchNative]);
}
