//! The node's floor: whether a policy is at least as strict as another on every axis.
//!
//! A node declares a floor (the policy every container gets at least). A workload may pick a
//! node-installed policy by name, and the runtime accepts that choice only when the chosen
//! policy is nowhere looser than the floor: [`PolicySet::loosenings_from`] lists every axis on
//! which it is. The comparison is conservative: where strictness cannot be shown from the
//! documents alone (a syscall the chosen policy escalates but the floor never mentions, ports
//! left to the engine's defaults on one side only), it counts as a loosening.

use std::collections::BTreeMap;
use std::fmt;

use crate::PolicySet;
use crate::documents::{
    ApprovalDefault, ApprovalSpec, EgressRule, FilesystemIsolation, GpuAccess, IngressRule,
    NetworkIsolation, NetworkSpec, Permissions, Resources, SandboxSpec, SyscallAction,
    SyscallProfile, Threshold, TmpfsMount,
};
use crate::harden::DEFAULT_TMPFS;
use crate::located::Located;
use crate::patterns::{ApiPattern, HttpMethod};
use crate::request_path::RequestPath;

/// One axis on which a policy is looser than the floor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Loosening {
    /// The policy field, as written in YAML (`isolation.network`, `resources.maxMemory`).
    pub axis: &'static str,
    /// What the floor requires and what the policy has instead.
    pub detail: String,
}

impl fmt::Display for Loosening {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.axis, self.detail)
    }
}

/// Collects loosenings.
#[derive(Default)]
struct Findings(Vec<Loosening>);

impl Findings {
    fn add(&mut self, axis: &'static str, detail: impl Into<String>) {
        self.0.push(Loosening {
            axis,
            detail: detail.into(),
        });
    }
}

impl PolicySet {
    /// Every axis on which this policy is looser than `floor`; empty when it is at least as
    /// strict everywhere (capabilities and syscalls, filesystem, network, limits, GPU, API
    /// permissions and their catalog, egress and ingress rules, inspection, approvals,
    /// natural-language rules, model routing, audit).
    pub fn loosenings_from(&self, floor: &PolicySet) -> Vec<Loosening> {
        let mut found = Findings::default();
        if let Some(floor_sandbox) = floor.sandbox() {
            match self.sandbox() {
                Some(sandbox) => sandbox_spec(&sandbox.spec, &floor_sandbox.spec, &mut found),
                None => found.add("SandboxPolicy", "the floor has one; this policy has none"),
            }
        }
        if let Some(floor_catalog) = floor.api_catalog() {
            let permissive = floor
                .sandbox()
                .is_none_or(|s| no_permissions(&s.spec.permissions));
            if !permissive && self.api_catalog().map(|c| &c.spec) != Some(&floor_catalog.spec) {
                found.add(
                    "ApiCatalog",
                    "the floor's API names must keep their meaning: use the same catalog",
                );
            }
        }
        let network_mode = self
            .sandbox()
            .map(|s| s.spec.isolation.network.value)
            .unwrap_or_default();
        let floor_mode = floor
            .sandbox()
            .map(|s| s.spec.isolation.network.value)
            .unwrap_or_default();
        if network_mode == NetworkIsolation::Restricted
            && floor_mode == NetworkIsolation::Restricted
        {
            network_spec(
                self.network().map(|n| &n.spec),
                floor.network().map(|n| &n.spec),
                &mut found,
            );
        }
        if let Some(floor_approval) = floor.approval() {
            match self.approval() {
                Some(approval) => approval_spec(&approval.spec, &floor_approval.spec, &mut found),
                None => found.add("ApprovalPolicy", "the floor has one; this policy has none"),
            }
        }
        for rule in floor.natural_language() {
            let kept = self
                .natural_language()
                .iter()
                .any(|mine| mine.spec.text.value == rule.spec.text.value);
            if !kept {
                found.add(
                    "NaturalLanguagePolicy",
                    format!("the floor's rule {:?} is missing", rule.metadata.name.value),
                );
            }
        }
        if let Some(floor_router) = floor.privacy_router()
            && self.privacy_router().map(|r| &r.spec) != Some(&floor_router.spec)
        {
            found.add(
                "PrivacyRouterPolicy",
                "model routing must be the floor's own (same endpoints, routes and residency)",
            );
        }
        found.0
    }
}

fn sandbox_spec(mine: &SandboxSpec, floor: &SandboxSpec, found: &mut Findings) {
    let (iso, floor_iso) = (&mine.isolation, &floor.isolation);
    ranked(
        "isolation.network",
        network_rank,
        iso.network.value,
        floor_iso.network.value,
        found,
    );
    ranked(
        "isolation.filesystem",
        filesystem_rank,
        iso.filesystem.value,
        floor_iso.filesystem.value,
        found,
    );
    ranked(
        "isolation.syscalls",
        syscall_rank,
        iso.syscalls.value,
        floor_iso.syscalls.value,
        found,
    );
    syscall_overrides(&iso.syscall_overrides, &floor_iso.syscall_overrides, found);
    for (axis, paths, floor_paths) in [
        (
            "isolation.maskedPaths",
            &iso.masked_paths,
            &floor_iso.masked_paths,
        ),
        (
            "isolation.readOnlyPaths",
            &iso.read_only_paths,
            &floor_iso.read_only_paths,
        ),
    ] {
        for path in floor_paths {
            if !paths.contains(path) {
                found.add(axis, format!("the floor's {} is missing", path.value));
            }
        }
    }
    if iso.filesystem.value == FilesystemIsolation::ReadOnly
        && floor_iso.filesystem.value == FilesystemIsolation::ReadOnly
    {
        tmpfs(iso.tmpfs.as_deref(), floor_iso.tmpfs.as_deref(), found);
    }
    resources(&mine.resources, &floor.resources, found);
    permissions(&mine.permissions, &floor.permissions, found);
    if floor.audit_log.enabled.value && !mine.audit_log.enabled.value {
        found.add(
            "auditLog.enabled",
            "the floor records decisions; this policy does not",
        );
    }
}

/// Looseness ranks: 0 is the strictest setting of an axis.
fn network_rank(mode: NetworkIsolation) -> u8 {
    match mode {
        NetworkIsolation::None => 0,
        NetworkIsolation::Restricted => 1,
        NetworkIsolation::Host => 2,
    }
}

fn filesystem_rank(mode: FilesystemIsolation) -> u8 {
    match mode {
        FilesystemIsolation::ReadOnly => 0,
        FilesystemIsolation::ReadWrite => 1,
    }
}

fn syscall_rank(profile: SyscallProfile) -> u8 {
    match profile {
        SyscallProfile::Minimal => 0,
        SyscallProfile::Default => 1,
        SyscallProfile::Unconfined => 2,
    }
}

fn gpu_rank(access: GpuAccess) -> u8 {
    match access {
        GpuAccess::None => 0,
        GpuAccess::InferenceOnly => 1,
        GpuAccess::Full => 2,
    }
}

fn ranked<T: fmt::Debug + Copy + serde::Serialize>(
    axis: &'static str,
    rank: fn(T) -> u8,
    mine: T,
    floor: T,
    found: &mut Findings,
) {
    if rank(mine) > rank(floor) {
        found.add(
            axis,
            format!(
                "{} is looser than the floor's {}",
                yaml_word(mine),
                yaml_word(floor)
            ),
        );
    }
}

/// The YAML spelling of an enum value (`read-write`, `inference-only`).
fn yaml_word(value: impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

type Overrides = BTreeMap<Located<String>, Located<SyscallAction>>;

fn syscall_overrides(mine: &Overrides, floor: &Overrides, found: &mut Findings) {
    let action_of = |overrides: &Overrides, name: &str| {
        overrides
            .iter()
            .find(|(key, _)| key.value == name)
            .map(|(_, action)| action.value)
    };
    for (name, action) in floor {
        let kept = matches!(
            (action.value, action_of(mine, name)),
            (SyscallAction::Deny, Some(SyscallAction::Deny))
                | (
                    SyscallAction::Escalate,
                    Some(SyscallAction::Deny | SyscallAction::Escalate)
                )
                | (SyscallAction::Allow, _)
        );
        if !kept {
            found.add(
                "isolation.syscallOverrides",
                format!("the floor says {}: {}", name.value, yaml_word(action.value)),
            );
        }
    }
    for (name, action) in mine {
        let floor_action = action_of(floor, name);
        let loosens = match action.value {
            SyscallAction::Allow => floor_action != Some(SyscallAction::Allow),
            SyscallAction::Escalate => !matches!(
                floor_action,
                Some(SyscallAction::Allow | SyscallAction::Escalate)
            ),
            SyscallAction::Deny => false,
        };
        if loosens {
            found.add(
                "isolation.syscallOverrides",
                format!(
                    "{}: {} lets through what the floor does not",
                    name.value,
                    yaml_word(action.value)
                ),
            );
        }
    }
}

/// Under a read-only root, every writable tmpfs must be one the floor has, no larger.
fn tmpfs(mine: Option<&[TmpfsMount]>, floor: Option<&[TmpfsMount]>, found: &mut Findings) {
    let sizes = |mounts: Option<&[TmpfsMount]>| -> Vec<(String, u64)> {
        match mounts {
            None => DEFAULT_TMPFS
                .iter()
                .map(|(path, size)| ((*path).to_owned(), *size))
                .collect(),
            Some(mounts) => mounts
                .iter()
                .map(|m| (m.path.value.clone(), m.size.value.bytes()))
                .collect(),
        }
    };
    let floor_sizes = sizes(floor);
    for (path, size) in sizes(mine) {
        match floor_sizes.iter().find(|(p, _)| *p == path) {
            Some((_, limit)) if size <= *limit => {}
            Some((_, limit)) => found.add(
                "isolation.tmpfs",
                format!("{path} is {size} bytes; the floor allows {limit}"),
            ),
            None => found.add(
                "isolation.tmpfs",
                format!("{path} is writable; the floor has no tmpfs there"),
            ),
        }
    }
}

fn resources(mine: &Resources, floor: &Resources, found: &mut Findings) {
    let limits = [
        (
            "resources.maxMemory",
            mine.max_memory.as_ref().map(|q| q.value.bytes()),
            floor.max_memory.as_ref().map(|q| q.value.bytes()),
        ),
        (
            "resources.maxCPU",
            mine.max_cpu.as_ref().map(|q| q.value.millicores()),
            floor.max_cpu.as_ref().map(|q| q.value.millicores()),
        ),
        (
            "resources.maxPids",
            mine.max_pids.as_ref().map(|q| q.value),
            floor.max_pids.as_ref().map(|q| q.value),
        ),
    ];
    for (axis, limit, floor_limit) in limits {
        match (limit, floor_limit) {
            (_, None) => {}
            (None, Some(floor_limit)) => {
                found.add(axis, format!("unlimited; the floor sets {floor_limit}"))
            }
            (Some(limit), Some(floor_limit)) if limit > floor_limit => {
                found.add(axis, format!("{limit} is above the floor's {floor_limit}"))
            }
            _ => {}
        }
    }
    ranked(
        "resources.gpuAccess",
        gpu_rank,
        mine.gpu_access.value,
        floor.gpu_access.value,
        found,
    );
}

fn no_permissions(permissions: &Permissions) -> bool {
    permissions.allowed_apis.is_empty() && permissions.denied_apis.is_empty()
}

fn covered_by(pattern: &ApiPattern, by: &[Located<ApiPattern>]) -> bool {
    by.iter().any(|p| p.value.covers(pattern))
}

fn permissions(mine: &Permissions, floor: &Permissions, found: &mut Findings) {
    if !floor.allowed_apis.is_empty() {
        if mine.allowed_apis.is_empty() {
            found.add(
                "permissions.allowedAPIs",
                "any API; the floor lists the allowed ones",
            );
        }
        for api in &mine.allowed_apis {
            if !covered_by(&api.value, &floor.allowed_apis) {
                found.add(
                    "permissions.allowedAPIs",
                    format!("{} is not allowed by the floor", api.value),
                );
            }
        }
    }
    for api in &floor.denied_apis {
        if !covered_by(&api.value, &mine.denied_apis) {
            found.add(
                "permissions.deniedAPIs",
                format!("the floor denies {}", api.value),
            );
        }
    }
}

fn network_spec(mine: Option<&NetworkSpec>, floor: Option<&NetworkSpec>, found: &mut Findings) {
    let empty = NetworkSpec::default();
    let (mine, floor) = (mine.unwrap_or(&empty), floor.unwrap_or(&empty));
    for rule in &mine.egress.allow {
        if !floor.egress.allow.iter().any(|f| egress_covers(f, rule)) {
            found.add(
                "egress.allow",
                format!("{} is not allowed by the floor", describe_egress(rule)),
            );
        }
    }
    // A floor's carve-out matters where one of this policy's allow rules reaches its hosts.
    for rule in &floor.egress.deny {
        let reachable = mine.egress.allow.iter().any(|allow| {
            allow.domain.value.covers(&rule.domain.value)
                || rule.domain.value.covers(&allow.domain.value)
        });
        if reachable && !mine.egress.deny.iter().any(|m| egress_covers(m, rule)) {
            found.add(
                "egress.deny",
                format!("the floor denies {}", describe_egress(rule)),
            );
        }
    }
    for rule in &mine.ingress.allow {
        if !floor.ingress.allow.iter().any(|f| ingress_covers(f, rule)) {
            found.add(
                "ingress.allow",
                format!(
                    "{} {} is not allowed by the floor",
                    rule.source.value, rule.path.value
                ),
            );
        }
    }
    if mine.egress.allow.is_empty() {
        return;
    }
    let (inspect, floor_inspect) = (&mine.inspection, &floor.inspection);
    if floor_inspect.tls_decrypt.value && !inspect.tls_decrypt.value {
        found.add("inspection.tlsDecrypt", "the floor inspects TLS");
    }
    if floor_inspect.scan_for_pii.value && !inspect.scan_for_pii.value {
        found.add("inspection.scanForPII", "the floor scans for PII");
    }
}

/// Whether `outer` matches everything `inner` matches (domain, methods, ports; an empty list
/// of methods is any method, an empty list of ports the engine's HTTP ports).
fn egress_covers(outer: &EgressRule, inner: &EgressRule) -> bool {
    outer.domain.value.covers(&inner.domain.value)
        && methods_cover(&outer.methods, &inner.methods)
        && (outer.ports.is_empty() && inner.ports.is_empty()
            || !outer.ports.is_empty()
                && !inner.ports.is_empty()
                && inner.ports.iter().all(|p| outer.ports.contains(p)))
}

fn methods_cover(outer: &[Located<HttpMethod>], inner: &[Located<HttpMethod>]) -> bool {
    outer.is_empty() || !inner.is_empty() && inner.iter().all(|m| outer.contains(m))
}

fn ingress_covers(outer: &IngressRule, inner: &IngressRule) -> bool {
    let path = inner.path.value.as_str();
    let path_covered = outer.path.value == inner.path.value
        || !path.contains('*')
            && RequestPath::parse(path).is_ok_and(|path| outer.path.value.matches(&path));
    outer.source.value.covers(&inner.source.value)
        && path_covered
        && methods_cover(&outer.methods, &inner.methods)
}

fn describe_egress(rule: &EgressRule) -> String {
    let mut text = rule.domain.value.to_string();
    if !rule.methods.is_empty() {
        let methods: Vec<&str> = rule.methods.iter().map(|m| m.value.as_str()).collect();
        text.push_str(&format!(" [{}]", methods.join(",")));
    }
    if !rule.ports.is_empty() {
        let ports: Vec<String> = rule.ports.iter().map(|p| p.value.to_string()).collect();
        text.push_str(&format!(" ports {}", ports.join(",")));
    }
    text
}

fn approval_spec(mine: &ApprovalSpec, floor: &ApprovalSpec, found: &mut Findings) {
    for trigger in &floor.triggers {
        let kept = mine.triggers.iter().any(|t| {
            t.action.value.covers(&trigger.action.value)
                && threshold_at_least_as_strict(&t.threshold.value, &trigger.threshold.value)
        });
        if !kept {
            found.add(
                "approval.triggers",
                format!(
                    "the floor asks a human for {} ({})",
                    trigger.action.value, trigger.threshold.value
                ),
            );
        }
    }
    if floor.default_action.value == ApprovalDefault::Deny
        && mine.default_action.value != ApprovalDefault::Deny
    {
        found.add(
            "approval.defaultAction",
            "the floor denies what no one approved in time",
        );
    }
}

/// Whether `mine` asks for approval in every case `floor` does.
fn threshold_at_least_as_strict(mine: &Threshold, floor: &Threshold) -> bool {
    match (mine, floor) {
        (Threshold::Always, _) => true,
        (Threshold::ExternalOnly, Threshold::ExternalOnly) => true,
        (Threshold::AboveUsdCents(mine), Threshold::AboveUsdCents(floor)) => mine <= floor,
        _ => false,
    }
}

#[cfg(test)]
mod tests;
