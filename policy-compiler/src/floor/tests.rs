use super::*;

fn policy(yaml: &str) -> PolicySet {
    PolicySet::parse("test.yaml", yaml).unwrap_or_else(|e| panic!("{e}"))
}

const FLOOR: &str = "\
apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata: {name: floor}
spec:
  isolation:
    network: restricted
    filesystem: read-only
    syscalls: default
    syscallOverrides: {ptrace: deny}
    maskedPaths: [/proc/driver]
  resources: {maxMemory: 256Mi, maxCPU: 1, maxPids: 64, gpuAccess: none}
  permissions:
    allowedAPIs: [crm.*]
    deniedAPIs: [admin.*]
---
networkPolicy:
  egress:
    allow:
      - domain: \"*.example.test\"
        methods: [GET, POST]
    deny:
      - domain: \"evil.example.test\"
  inspection: {tlsDecrypt: true, scanForPII: true}
---
approvalPolicy:
  triggers:
    - {action: payment.process, threshold: above-100-usd}
  channels: [slack]
  timeout: 15m
  defaultAction: deny
";

/// The floor with one piece of text replaced (the text must exist).
fn floor_with(from: &str, to: &str) -> PolicySet {
    assert!(FLOOR.contains(from), "{from}");
    policy(&FLOOR.replacen(from, to, 1))
}

fn axes(candidate: &PolicySet) -> Vec<&'static str> {
    candidate
        .loosenings_from(&policy(FLOOR))
        .iter()
        .map(|l| l.axis)
        .collect()
}

#[test]
fn the_floor_itself_and_stricter_policies_pass() {
    assert!(axes(&policy(FLOOR)).is_empty());
    for (from, to) in [
        ("syscalls: default", "syscalls: minimal"),
        ("maxMemory: 256Mi", "maxMemory: 128Mi"),
        ("maxPids: 64", "maxPids: 8"),
        ("allowedAPIs: [crm.*]", "allowedAPIs: [crm.read]"),
        ("deniedAPIs: [admin.*]", "deniedAPIs: [admin.*, billing.*]"),
        ("{ptrace: deny}", "{ptrace: deny, mount: deny}"),
        ("domain: \"*.example.test\"", "domain: \"api.example.test\""),
        ("methods: [GET, POST]", "methods: [GET]"),
        ("threshold: above-100-usd", "threshold: always"),
    ] {
        let stricter = floor_with(from, to);
        assert_eq!(axes(&stricter), Vec::<&str>::new(), "{to}");
    }
}

#[test]
fn each_looser_axis_is_named() {
    for (from, to, axis) in [
        (
            "filesystem: read-only",
            "filesystem: read-write",
            "isolation.filesystem",
        ),
        (
            "syscalls: default",
            "syscalls: unconfined",
            "isolation.syscalls",
        ),
        ("{ptrace: deny}", "{}", "isolation.syscallOverrides"),
        (
            "{ptrace: deny}",
            "{ptrace: deny, kcmp: escalate}",
            "isolation.syscallOverrides",
        ),
        (
            "{ptrace: deny}",
            "{ptrace: escalate}",
            "isolation.syscallOverrides",
        ),
        (
            "maskedPaths: [/proc/driver]",
            "maskedPaths: []",
            "isolation.maskedPaths",
        ),
        ("maxMemory: 256Mi", "maxMemory: 2Gi", "resources.maxMemory"),
        ("maxMemory: 256Mi, ", "", "resources.maxMemory"),
        ("maxCPU: 1", "maxCPU: 1500m", "resources.maxCPU"),
        ("maxPids: 64", "maxPids: 100000", "resources.maxPids"),
        ("gpuAccess: none", "gpuAccess: full", "resources.gpuAccess"),
        (
            "allowedAPIs: [crm.*]",
            "allowedAPIs: [crm.*, billing.read]",
            "permissions.allowedAPIs",
        ),
        (
            "allowedAPIs: [crm.*]",
            "allowedAPIs: []",
            "permissions.allowedAPIs",
        ),
        (
            "deniedAPIs: [admin.*]",
            "deniedAPIs: [admin.users]",
            "permissions.deniedAPIs",
        ),
        (
            "domain: \"*.example.test\"",
            "domain: \"*.other.test\"",
            "egress.allow",
        ),
        ("methods: [GET, POST]", "methods: []", "egress.allow"),
        (
            "- domain: \"evil.example.test\"",
            "- domain: \"other.example.test\"",
            "egress.deny",
        ),
        (
            "tlsDecrypt: true",
            "tlsDecrypt: false",
            "inspection.tlsDecrypt",
        ),
        (
            "scanForPII: true",
            "scanForPII: false",
            "inspection.scanForPII",
        ),
        (
            "threshold: above-100-usd",
            "threshold: above-500-usd",
            "approval.triggers",
        ),
        (
            "defaultAction: deny",
            "defaultAction: allow",
            "approval.defaultAction",
        ),
    ] {
        let looser = floor_with(from, to);
        assert!(axes(&looser).contains(&axis), "{to}: {:?}", axes(&looser));
    }
}

#[test]
fn missing_documents_and_disabled_audit_are_loosenings() {
    // Without a NetworkPolicy a restricted sandbox reaches nothing: stricter on egress.
    let sandbox_only = FLOOR.split("---").next().unwrap();
    assert_eq!(axes(&policy(sandbox_only)), ["ApprovalPolicy"]);
    let without_carve_out = floor_with("    deny:\n      - domain: \"evil.example.test\"\n", "");
    assert!(axes(&without_carve_out).contains(&"egress.deny"));
    let no_audit = floor_with(
        "  permissions:",
        "  auditLog: {enabled: false}\n  permissions:",
    );
    assert!(axes(&no_audit).contains(&"auditLog.enabled"));
}

#[test]
fn the_network_mode_is_ranked() {
    // Without its NetworkPolicy, so that every mode is a valid policy.
    let sandbox_only = FLOOR.split("---").next().unwrap();
    let floor = policy(sandbox_only);
    let with_mode = |mode: &str| {
        policy(&sandbox_only.replacen("network: restricted", &format!("network: {mode}"), 1))
    };
    assert!(with_mode("none").loosenings_from(&floor).is_empty());
    let looser = with_mode("host").loosenings_from(&floor);
    assert_eq!(looser.len(), 1);
    assert_eq!(
        looser[0].to_string(),
        "isolation.network: host is looser than the floor's restricted"
    );
}

#[test]
fn a_loosening_reads_as_a_sentence() {
    let looser = floor_with("maxPids: 64", "maxPids: 100000");
    let text = looser.loosenings_from(&policy(FLOOR))[0].to_string();
    assert_eq!(text, "resources.maxPids: 100000 is above the floor's 64");
}
