//! A seccomp filter as a map from syscall name to its rules, convertible to and from the OCI
//! `linux.seccomp` object, and the intersection of two filters.
//!
//! Argument checks follow the OCI runtime spec and runc: for `SCMP_CMP_MASKED_EQ` the mask is
//! `value` and the compared datum is `valueTwo` (`arg & value == valueTwo`). The runtime's
//! vendored libcontainer is patched to read them that way (upstream 0.7.0 swapped them), so a
//! hardened config.json means the same under openshell and runc.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompFilterFlag, LinuxSeccompOperator, LinuxSyscall,
};

use super::profiles::EPERM;

/// What happens to a syscall when the rule's argument checks hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) action: LinuxSeccompAction,
    pub(crate) errno: Option<u32>,
    /// All must hold; empty = always.
    pub(crate) args: Vec<LinuxSeccompArg>,
}

impl Entry {
    pub(crate) fn new(action: LinuxSeccompAction, errno: Option<u32>) -> Self {
        Entry {
            action,
            errno,
            args: Vec::new(),
        }
    }
}

/// A seccomp filter keyed by syscall name.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Filter {
    pub(crate) default_action: LinuxSeccompAction,
    pub(crate) default_errno: Option<u32>,
    pub(crate) architectures: Option<Vec<Arch>>,
    pub(crate) flags: Vec<LinuxSeccompFilterFlag>,
    pub(crate) listener_path: Option<PathBuf>,
    pub(crate) listener_metadata: Option<String>,
    pub(crate) syscalls: BTreeMap<String, Vec<Entry>>,
}

/// How a filter treats one syscall.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Treatment {
    /// Always allowed.
    Allowed,
    /// Allowed for some arguments only.
    Conditional,
    /// Held for the supervisor (`SCMP_ACT_NOTIFY`), possibly only for some arguments.
    Escalated,
    /// Never allowed.
    Denied,
}

pub(crate) fn allows(action: LinuxSeccompAction) -> bool {
    matches!(
        action,
        LinuxSeccompAction::ScmpActAllow | LinuxSeccompAction::ScmpActLog
    )
}

impl Filter {
    /// A filter with only a default action.
    pub(crate) fn empty(default_action: LinuxSeccompAction, default_errno: Option<u32>) -> Self {
        Filter {
            default_action,
            default_errno,
            architectures: None,
            flags: Vec::new(),
            listener_path: None,
            listener_metadata: None,
            syscalls: BTreeMap::new(),
        }
    }

    pub(crate) fn from_oci(seccomp: &LinuxSeccomp) -> Self {
        let mut filter = Filter::empty(seccomp.default_action(), seccomp.default_errno_ret());
        filter.architectures = seccomp.architectures().clone();
        filter.flags = seccomp.flags().clone().unwrap_or_default();
        filter.listener_path = seccomp.listener_path().clone();
        filter.listener_metadata = seccomp.listener_metadata().clone();
        for syscall in seccomp.syscalls().iter().flatten() {
            for name in syscall.names() {
                filter
                    .syscalls
                    .entry(name.clone())
                    .or_default()
                    .push(Entry {
                        action: syscall.action(),
                        errno: syscall.errno_ret(),
                        args: syscall.args().clone().unwrap_or_default(),
                    });
            }
        }
        filter
    }

    /// The OCI form; names sharing identical rules are grouped, in name order.
    pub(crate) fn to_oci(&self) -> LinuxSeccomp {
        let mut groups: Vec<(&Entry, Vec<String>)> = Vec::new();
        for (name, entries) in &self.syscalls {
            for entry in entries {
                match groups.iter_mut().find(|(existing, _)| *existing == entry) {
                    Some((_, names)) => names.push(name.clone()),
                    None => groups.push((entry, vec![name.clone()])),
                }
            }
        }
        let syscalls = groups
            .into_iter()
            .map(|(entry, names)| {
                let mut syscall = LinuxSyscall::default();
                syscall.set_names(names);
                syscall.set_action(entry.action);
                syscall.set_errno_ret(entry.errno);
                syscall.set_args((!entry.args.is_empty()).then(|| entry.args.clone()));
                syscall
            })
            .collect();
        let mut seccomp = LinuxSeccomp::default();
        seccomp.set_default_action(self.default_action);
        seccomp.set_default_errno_ret(self.default_errno);
        seccomp.set_architectures(self.architectures.clone());
        seccomp.set_flags((!self.flags.is_empty()).then(|| self.flags.clone()));
        seccomp.set_listener_path(self.listener_path.clone());
        seccomp.set_listener_metadata(self.listener_metadata.clone());
        seccomp.set_syscalls(Some(syscalls));
        seccomp
    }

    /// How `name` is treated.
    pub(crate) fn treatment(&self, name: &str) -> Treatment {
        let Some(entries) = self.syscalls.get(name) else {
            return if allows(self.default_action) {
                Treatment::Allowed
            } else {
                Treatment::Denied
            };
        };
        if entries
            .iter()
            .any(|entry| entry.action == LinuxSeccompAction::ScmpActNotify)
        {
            return Treatment::Escalated;
        }
        if entries
            .iter()
            .any(|e| !allows(e.action) && e.args.is_empty())
        {
            return Treatment::Denied;
        }
        let denies_some = entries.iter().any(|e| !allows(e.action));
        let allowing: Vec<&Entry> = entries.iter().filter(|e| allows(e.action)).collect();
        let always = allowing.iter().any(|e| e.args.is_empty())
            || (allowing.is_empty() && allows(self.default_action));
        if always && !denies_some {
            Treatment::Allowed
        } else if always || !allowing.is_empty() {
            Treatment::Conditional
        } else {
            Treatment::Denied
        }
    }

    /// Whether any rule holds a syscall for the supervisor.
    pub(crate) fn escalates(&self) -> bool {
        self.syscalls
            .values()
            .flatten()
            .any(|entry| entry.action == LinuxSeccompAction::ScmpActNotify)
    }
}

/// An OCI argument check.
pub(crate) fn seccomp_arg(
    index: usize,
    op: LinuxSeccompOperator,
    value: u64,
    value_two: Option<u64>,
) -> LinuxSeccompArg {
    let builder = LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value);
    let builder = match value_two {
        Some(value_two) => builder.value_two(value_two),
        None => builder,
    };
    builder
        .build()
        .expect("every LinuxSeccompArg field has a default, so building cannot fail")
}

/// An argument check as libseccomp evaluates it.
fn holds(check: &LinuxSeccompArg, value: u64) -> bool {
    let datum = check.value();
    match check.op() {
        LinuxSeccompOperator::ScmpCmpEq => value == datum,
        LinuxSeccompOperator::ScmpCmpNe => value != datum,
        LinuxSeccompOperator::ScmpCmpLt => value < datum,
        LinuxSeccompOperator::ScmpCmpLe => value <= datum,
        LinuxSeccompOperator::ScmpCmpGt => value > datum,
        LinuxSeccompOperator::ScmpCmpGe => value >= datum,
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            let (mask, datum) = (check.value(), check.value_two().unwrap_or(0));
            value & mask == datum & mask
        }
    }
}

/// A masked comparison with an empty mask holds for every value.
fn is_tautology(check: &LinuxSeccompArg) -> bool {
    check.op() == LinuxSeccompOperator::ScmpCmpMaskedEq && check.value() == 0
}

/// Whether `a` holding guarantees `b` holds (both on the same argument). Conservative: `false`
/// when unsure.
fn implies(a: &LinuxSeccompArg, b: &LinuxSeccompArg) -> bool {
    use LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpMaskedEq};
    if a == b || is_tautology(b) {
        return true;
    }
    match (a.op(), b.op()) {
        (ScmpCmpEq, _) => holds(b, a.value()),
        (ScmpCmpMaskedEq, ScmpCmpMaskedEq) => {
            let (mask_a, mask_b) = (a.value(), b.value());
            let (datum_a, datum_b) = (a.value_two().unwrap_or(0), b.value_two().unwrap_or(0));
            mask_b & !mask_a == 0 && datum_a & mask_b == datum_b & mask_b
        }
        _ => false,
    }
}

/// The check that holds exactly when `check` does not, if one comparison can say it.
fn negate(check: &LinuxSeccompArg) -> Option<LinuxSeccompArg> {
    use LinuxSeccompOperator::*;
    let op = match check.op() {
        ScmpCmpEq => ScmpCmpNe,
        ScmpCmpNe => ScmpCmpEq,
        ScmpCmpLt => ScmpCmpGe,
        ScmpCmpGe => ScmpCmpLt,
        ScmpCmpLe => ScmpCmpGt,
        ScmpCmpGt => ScmpCmpLe,
        ScmpCmpMaskedEq => return None,
    };
    Some(seccomp_arg(
        check.index(),
        op,
        check.value(),
        check.value_two(),
    ))
}

/// Both conjunctions at once, as one conjunction; `None` when that cannot be written as one
/// libseccomp rule (two different checks on one argument) or can never hold.
fn conjoin(a: &[LinuxSeccompArg], b: &[LinuxSeccompArg]) -> Option<Vec<LinuxSeccompArg>> {
    let mut merged: Vec<LinuxSeccompArg> = a.iter().filter(|c| !is_tautology(c)).copied().collect();
    for check in b.iter().filter(|c| !is_tautology(c)) {
        match merged.iter().position(|c| c.index() == check.index()) {
            None => merged.push(*check),
            Some(at) if implies(&merged[at], check) => {}
            Some(at) if implies(check, &merged[at]) => merged[at] = *check,
            Some(_) => return None,
        }
    }
    merged.sort_by_key(|c| c.index());
    Some(merged)
}

/// When the caller's filter lets `name` through, as alternatives (each a conjunction of
/// checks); empty = never. Denials win over allowances where both match; a denial that cannot
/// be negated exactly makes the whole syscall count as denied.
fn caller_allowance(caller: &Filter, name: &str) -> Vec<Vec<LinuxSeccompArg>> {
    let entries = caller.syscalls.get(name).map(Vec::as_slice).unwrap_or(&[]);
    let mut allowed: Vec<Vec<LinuxSeccompArg>> = entries
        .iter()
        .filter(|entry| allows(entry.action))
        .map(|entry| entry.args.clone())
        .collect();
    if allowed.is_empty() && allows(caller.default_action) {
        allowed.push(Vec::new());
    }
    for denial in entries.iter().filter(|entry| !allows(entry.action)) {
        let Some(negations) = denial
            .args
            .iter()
            .map(negate)
            .collect::<Option<Vec<LinuxSeccompArg>>>()
        else {
            return Vec::new();
        };
        allowed = allowed
            .iter()
            .flat_map(|conjunction| {
                negations
                    .iter()
                    .filter_map(|negation| conjoin(conjunction, std::slice::from_ref(negation)))
            })
            .collect();
    }
    allowed
}

/// A filter that lets a syscall through only when both `policy` and `caller` would.
///
/// The result's default action is EPERM unless both defaults allow. Where both default to
/// allow (an `unconfined` policy with overrides over a permissive caller profile), the caller's
/// rules are kept and the policy's overrides replace them only where they are stricter.
pub(crate) fn intersect(policy: &Filter, caller: &Filter) -> Filter {
    let permissive = allows(policy.default_action) && allows(caller.default_action);
    let mut result = if permissive {
        Filter::empty(LinuxSeccompAction::ScmpActAllow, None)
    } else {
        Filter::empty(LinuxSeccompAction::ScmpActErrno, Some(EPERM))
    };
    result.architectures = match (&policy.architectures, &caller.architectures) {
        (Some(mine), Some(theirs)) => Some(
            mine.iter()
                .filter(|a| theirs.contains(a))
                .copied()
                .collect(),
        ),
        (mine, theirs) => mine.clone().or_else(|| theirs.clone()),
    };
    let mut flags: Vec<LinuxSeccompFilterFlag> = caller
        .flags
        .iter()
        .chain(&policy.flags)
        .filter(|flag| **flag != LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow)
        .copied()
        .collect();
    flags.dedup();
    result.flags = flags;
    let names: BTreeSet<&String> = policy
        .syscalls
        .keys()
        .chain(caller.syscalls.keys())
        .collect();
    for name in names {
        let entries = if permissive {
            permissive_entries(policy, caller, name)
        } else {
            restrictive_entries(policy, caller, name, &result)
        };
        if !entries.is_empty() {
            result.syscalls.insert(name.clone(), entries);
        }
    }
    if result.escalates() {
        result.listener_path = policy.listener_path.clone();
        result.listener_metadata = policy.listener_metadata.clone();
    }
    result
}

fn restrictive_entries(
    policy: &Filter,
    caller: &Filter,
    name: &str,
    result: &Filter,
) -> Vec<Entry> {
    let default = [Entry::new(policy.default_action, policy.default_errno)];
    let policy_entries = policy
        .syscalls
        .get(name)
        .map(Vec::as_slice)
        .unwrap_or(&default);
    let allowance = caller_allowance(caller, name);
    let mut entries: Vec<Entry> = Vec::new();
    for entry in policy_entries {
        let passes = allows(entry.action) || entry.action == LinuxSeccompAction::ScmpActNotify;
        if passes {
            for conjunction in &allowance {
                if let Some(args) = conjoin(&entry.args, conjunction) {
                    let merged = Entry {
                        action: entry.action,
                        errno: entry.errno,
                        args,
                    };
                    if !entries.contains(&merged) {
                        entries.push(merged);
                    }
                }
            }
        } else {
            let same_as_default = entry.action == result.default_action
                && entry.errno.unwrap_or(EPERM) == result.default_errno.unwrap_or(EPERM)
                && entry.args.is_empty();
            if !same_as_default && !entries.contains(entry) {
                entries.push(entry.clone());
            }
        }
    }
    // An unconditional allowance makes conditional ones of the same action redundant.
    if entries
        .iter()
        .any(|e| e.args.is_empty() && allows(e.action))
    {
        entries.retain(|e| !allows(e.action) || e.args.is_empty());
    }
    entries
}

fn permissive_entries(policy: &Filter, caller: &Filter, name: &str) -> Vec<Entry> {
    let caller_entries = caller.syscalls.get(name).cloned().unwrap_or_default();
    let Some(policy_entries) = policy.syscalls.get(name) else {
        return caller_entries;
    };
    let deny = Entry::new(LinuxSeccompAction::ScmpActErrno, Some(EPERM));
    if policy_entries
        .iter()
        .any(|e| !allows(e.action) && e.action != LinuxSeccompAction::ScmpActNotify)
    {
        return vec![deny];
    }
    if policy_entries
        .iter()
        .any(|e| e.action == LinuxSeccompAction::ScmpActNotify)
    {
        // Holding a call the caller restricts could let the supervisor pass what the caller
        // refuses; refuse it instead.
        if caller_entries.iter().all(|e| allows(e.action)) {
            return policy_entries.clone();
        }
        return vec![deny];
    }
    caller_entries
}

#[cfg(test)]
mod tests {
    use super::*;
    use LinuxSeccompAction::{ScmpActAllow, ScmpActErrno, ScmpActNotify};
    use LinuxSeccompOperator::{ScmpCmpEq, ScmpCmpMaskedEq, ScmpCmpNe};

    fn check(
        index: usize,
        op: LinuxSeccompOperator,
        value: u64,
        value_two: Option<u64>,
    ) -> LinuxSeccompArg {
        seccomp_arg(index, op, value, value_two)
    }

    fn allow(args: Vec<LinuxSeccompArg>) -> Entry {
        Entry {
            action: ScmpActAllow,
            errno: None,
            args,
        }
    }

    fn deny_all() -> Filter {
        Filter::empty(ScmpActErrno, Some(EPERM))
    }

    #[test]
    fn a_syscall_passes_only_when_both_filters_let_it() {
        let mut policy = deny_all();
        policy.syscalls.insert("read".into(), vec![allow(vec![])]);
        policy.syscalls.insert("write".into(), vec![allow(vec![])]);
        let mut caller = deny_all();
        caller.syscalls.insert("read".into(), vec![allow(vec![])]);
        caller.syscalls.insert("mount".into(), vec![allow(vec![])]);
        let result = intersect(&policy, &caller);
        assert_eq!(result.treatment("read"), Treatment::Allowed);
        assert_eq!(result.treatment("write"), Treatment::Denied);
        assert_eq!(result.treatment("mount"), Treatment::Denied);
        assert_eq!(result.default_action, ScmpActErrno);
    }

    #[test]
    fn conditions_of_both_sides_are_combined() {
        let mut policy = deny_all();
        policy.syscalls.insert(
            "socket".into(),
            vec![
                allow(vec![check(0, ScmpCmpEq, 1, None)]),
                allow(vec![check(0, ScmpCmpEq, 40, None)]),
            ],
        );
        // Docker-style: every family but AF_VSOCK (40).
        let mut caller = deny_all();
        caller.syscalls.insert(
            "socket".into(),
            vec![allow(vec![check(0, ScmpCmpNe, 40, None)])],
        );
        let result = intersect(&policy, &caller);
        assert_eq!(
            result.syscalls["socket"],
            vec![allow(vec![check(0, ScmpCmpEq, 1, None)])]
        );
    }

    #[test]
    fn a_runc_style_masked_check_is_honoured() {
        // Docker writes its clone rule as mask 0x7E020000, datum 0: no namespace flags.
        let dockers = check(0, ScmpCmpMaskedEq, 0x7E02_0000, Some(0));
        let empty_mask = check(0, ScmpCmpMaskedEq, 0, Some(0));
        assert!(holds(&dockers, 0x11));
        assert!(
            !holds(&dockers, 0x1000_0000),
            "CLONE_NEWUSER must fail the check"
        );
        assert!(is_tautology(&empty_mask) && !is_tautology(&dockers));
        let mut policy = deny_all();
        policy
            .syscalls
            .insert("clone".into(), vec![allow(vec![empty_mask])]);
        let mut caller = deny_all();
        caller
            .syscalls
            .insert("clone".into(), vec![allow(vec![dockers])]);
        assert_eq!(
            intersect(&policy, &caller).syscalls["clone"],
            vec![allow(vec![dockers])]
        );
    }

    #[test]
    fn caller_denials_under_a_permissive_default_are_negated() {
        let mut policy = deny_all();
        policy.syscalls.insert("socket".into(), vec![allow(vec![])]);
        let mut caller = Filter::empty(ScmpActAllow, None);
        caller.syscalls.insert(
            "socket".into(),
            vec![Entry {
                action: ScmpActErrno,
                errno: Some(97),
                args: vec![check(0, ScmpCmpEq, 40, None)],
            }],
        );
        caller
            .syscalls
            .insert("ptrace".into(), vec![Entry::new(ScmpActErrno, Some(EPERM))]);
        let result = intersect(&policy, &caller);
        assert_eq!(
            result.syscalls["socket"],
            vec![allow(vec![check(0, ScmpCmpNe, 40, None)])]
        );
        assert_eq!(result.treatment("ptrace"), Treatment::Denied);
    }

    #[test]
    fn conflicting_checks_on_one_argument_are_refused() {
        let mut policy = deny_all();
        policy
            .syscalls
            .insert("x".into(), vec![allow(vec![check(1, ScmpCmpNe, 3, None)])]);
        let mut caller = deny_all();
        caller
            .syscalls
            .insert("x".into(), vec![allow(vec![check(1, ScmpCmpNe, 4, None)])]);
        assert_eq!(
            intersect(&policy, &caller).treatment("x"),
            Treatment::Denied
        );
    }

    #[test]
    fn escalation_is_kept_only_within_the_callers_allowance() {
        let mut policy = deny_all();
        policy.listener_path = Some("/run/openshell/seccomp.sock".into());
        policy
            .syscalls
            .insert("ptrace".into(), vec![Entry::new(ScmpActNotify, None)]);
        policy
            .syscalls
            .insert("mount".into(), vec![Entry::new(ScmpActNotify, None)]);
        let mut caller = deny_all();
        caller.syscalls.insert("ptrace".into(), vec![allow(vec![])]);
        let result = intersect(&policy, &caller);
        assert_eq!(result.treatment("ptrace"), Treatment::Escalated);
        assert_eq!(result.treatment("mount"), Treatment::Denied);
        assert_eq!(result.listener_path, policy.listener_path);
    }

    #[test]
    fn permissive_both_sides_keep_the_callers_rules_and_the_overrides() {
        let mut policy = Filter::empty(ScmpActAllow, None);
        policy
            .syscalls
            .insert("ptrace".into(), vec![Entry::new(ScmpActErrno, Some(EPERM))]);
        policy
            .syscalls
            .insert("mount".into(), vec![Entry::new(ScmpActNotify, None)]);
        let mut caller = Filter::empty(ScmpActAllow, None);
        caller
            .syscalls
            .insert("mount".into(), vec![Entry::new(ScmpActErrno, Some(EPERM))]);
        caller.syscalls.insert(
            "kexec_load".into(),
            vec![Entry::new(ScmpActErrno, Some(EPERM))],
        );
        let result = intersect(&policy, &caller);
        assert_eq!(result.default_action, ScmpActAllow);
        assert_eq!(result.treatment("ptrace"), Treatment::Denied);
        assert_eq!(result.treatment("mount"), Treatment::Denied);
        assert_eq!(result.treatment("kexec_load"), Treatment::Denied);
        assert_eq!(result.treatment("read"), Treatment::Allowed);
    }

    #[test]
    fn oci_round_trip_groups_identical_rules() {
        let mut filter = deny_all();
        filter.syscalls.insert("read".into(), vec![allow(vec![])]);
        filter.syscalls.insert("write".into(), vec![allow(vec![])]);
        let oci = filter.to_oci();
        let syscalls = oci.syscalls().as_ref().unwrap();
        assert_eq!(syscalls.len(), 1);
        assert_eq!(
            syscalls[0].names(),
            &vec!["read".to_owned(), "write".to_owned()]
        );
        assert_eq!(Filter::from_oci(&oci), filter);
    }

    #[test]
    fn spec_allow_flag_is_dropped() {
        let policy = deny_all();
        let mut caller = Filter::empty(ScmpActAllow, None);
        caller.flags = vec![
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow,
            LinuxSeccompFilterFlag::SeccompFilterFlagLog,
        ];
        assert_eq!(
            intersect(&policy, &caller).flags,
            vec![LinuxSeccompFilterFlag::SeccompFilterFlagLog]
        );
    }
}
