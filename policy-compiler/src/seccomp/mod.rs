//! Seccomp: the policy's profile as a filter, merged with the caller's.

pub(crate) mod filter;
pub(crate) mod profiles;
pub(crate) mod syscalls;

use std::path::Path;

use oci_spec::runtime::{Arch, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompOperator};

use crate::documents::{Isolation, SyscallAction, SyscallProfile};
use filter::{Entry, Filter};
use profiles::{Check, EPERM, Verdict};

/// The architectures a profile admits on the machine the runtime was built for.
///
/// Only 64-bit native ABIs (and x32 for `default`, as Docker lists it): libcontainer resolves
/// syscall names on the native architecture only, so 32-bit x86 could not get its own calls
/// (`mmap2`, `fcntl64`, …) allowed, and libseccomp turns argument checks on `socket` into
/// checks on `socketcall`'s call number there, which would undo the socket-family filter.
/// Syscalls from an architecture not listed are killed by libseccomp's bad-arch action.
pub(crate) fn architectures(profile: SyscallProfile, target_arch: &str) -> Vec<Arch> {
    match (target_arch, profile) {
        ("x86_64", SyscallProfile::Minimal) => vec![Arch::ScmpArchX86_64],
        ("x86_64", _) => vec![Arch::ScmpArchX86_64, Arch::ScmpArchX32],
        ("aarch64", _) => vec![Arch::ScmpArchAarch64],
        _ => vec![Arch::ScmpArchNative],
    }
}

fn oci_arg(index: usize, check: Check) -> LinuxSeccompArg {
    match check {
        Check::Eq(value) => {
            filter::seccomp_arg(index, LinuxSeccompOperator::ScmpCmpEq, value, None)
        }
        // OCI convention: the mask in `value`, the compared datum in `valueTwo`.
        Check::MaskedEq { mask, value } => filter::seccomp_arg(
            index,
            LinuxSeccompOperator::ScmpCmpMaskedEq,
            mask,
            Some(value),
        ),
    }
}

/// Why the policy's seccomp filter cannot be built with the given options.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct MissingListener {
    pub(crate) syscall: String,
}

/// The policy's filter: its profile with the overrides applied; `None` when the policy leaves
/// syscalls alone (`unconfined` with no overrides).
pub(crate) fn policy_filter(
    isolation: &Isolation,
    listener: Option<&Path>,
    target_arch: &str,
) -> Result<Option<Filter>, MissingListener> {
    let profile = isolation.syscalls.value;
    let mut filter = match profile {
        SyscallProfile::Unconfined if isolation.syscall_overrides.is_empty() => return Ok(None),
        SyscallProfile::Unconfined => Filter::empty(LinuxSeccompAction::ScmpActAllow, None),
        SyscallProfile::Minimal | SyscallProfile::Default => {
            let mut filter = Filter::empty(LinuxSeccompAction::ScmpActErrno, Some(EPERM));
            for rule in profiles::rules(profile == SyscallProfile::Minimal) {
                let entry = match rule.verdict {
                    Verdict::Allow => Entry::new(LinuxSeccompAction::ScmpActAllow, None),
                    Verdict::Errno(errno) => {
                        Entry::new(LinuxSeccompAction::ScmpActErrno, Some(errno))
                    }
                };
                let entry = Entry {
                    args: rule
                        .args
                        .iter()
                        .map(|check| oci_arg(check.index, check.check))
                        .collect(),
                    ..entry
                };
                for name in rule.names {
                    filter
                        .syscalls
                        .entry((*name).to_owned())
                        .or_default()
                        .push(entry.clone());
                }
            }
            filter
        }
    };
    filter.architectures = Some(architectures(profile, target_arch));
    for (name, action) in &isolation.syscall_overrides {
        let entry = match action.value {
            SyscallAction::Allow => Entry::new(LinuxSeccompAction::ScmpActAllow, None),
            SyscallAction::Deny => Entry::new(LinuxSeccompAction::ScmpActErrno, Some(EPERM)),
            SyscallAction::Escalate => {
                let Some(listener) = listener else {
                    return Err(MissingListener {
                        syscall: name.value.clone(),
                    });
                };
                filter.listener_path = Some(listener.to_owned());
                Entry::new(LinuxSeccompAction::ScmpActNotify, None)
            }
        };
        let default_denies = !filter::allows(filter.default_action);
        if default_denies && action.value == SyscallAction::Deny {
            filter.syscalls.remove(&name.value);
        } else {
            filter.syscalls.insert(name.value.clone(), vec![entry]);
        }
    }
    Ok(Some(filter))
}

/// The reasons, from the profile tables, why `name` is allowed.
pub(crate) fn reasons(profile: SyscallProfile, name: &str) -> Vec<&'static str> {
    if profile == SyscallProfile::Unconfined {
        return Vec::new();
    }
    profiles::rules(profile == SyscallProfile::Minimal)
        .filter(|rule| rule.verdict == Verdict::Allow && rule.names.contains(&name))
        .map(|rule| rule.why)
        .collect()
}

/// Why the profiles refuse `name` whatever else they allow, if they do.
pub(crate) fn denial_reason(name: &str) -> Option<&'static str> {
    let refusing_rule = profiles::rules(false)
        .chain(profiles::rules(true))
        .find(|rule| matches!(rule.verdict, Verdict::Errno(_)) && rule.names.contains(&name))
        .map(|rule| rule.why);
    refusing_rule.or_else(|| {
        profiles::ALWAYS_DENIED
            .iter()
            .find(|(names, _)| names.contains(&name))
            .map(|(_, why)| *why)
    })
}

/// Where a reason comes in the tables, so explanations follow the tables' order.
pub(crate) fn reason_rank(why: &str) -> usize {
    profiles::rules(true)
        .chain(profiles::rules(false))
        .position(|rule| rule.why == why)
        .or_else(|| {
            profiles::ALWAYS_DENIED
                .iter()
                .position(|(_, reason)| *reason == why)
                .map(|index| 1000 + index)
        })
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests;
