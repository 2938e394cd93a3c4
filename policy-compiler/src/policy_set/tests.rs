use super::*;
use crate::documents::{
    ApprovalDefault, AuditDestination, DataSelector, DataType, Fallback, FilesystemIsolation,
    GpuAccess, NetworkIsolation, Preference, RedactionEndpoints, Sensitivity, SyscallProfile,
    Threshold,
};
use crate::patterns::HttpMethod;
use crate::request_path::RequestPath;
use crate::yaml::MAX_POLICY_DOCUMENTS;

const CUSTOMER_SUPPORT: &str =
    include_str!("../../../bundles/customer-support/openshell-policy.yaml");
const SALES_OPS: &str = include_str!("../../../bundles/sales-ops/openshell-policy.yaml");
const API_CATALOG: &str = include_str!("../../../bundles/api-catalog.yaml");

/// The customer-support example's natural-language paragraph, as a folded scalar reads it.
const SEED_PARAGRAPH: &str = "Customer support agents may access customer records for active \
    tickets only. They may not access financial data, modify account settings, or communicate \
    with customers outside of the ticketing system. All PII must be redacted from internal logs.";

const SEED_PRIVACY_ROUTER: &str = "privacyRouter:
  residencyRules:
    - region: EU
      dataTypes: [personalData, financialData]
      allowedEndpoints: [eu-west-1-local, eu-central-1-local]
    - region: CN
      dataTypes: [all]
      allowedEndpoints: [cn-north-1-local]
  fallback: local-only
";

const SEED_APPROVAL: &str = "approvalPolicy:
  triggers:
    - { action: 'data.delete', threshold: 'always' }
    - { action: 'infra.modify', threshold: 'always' }
    - { action: 'email.send', threshold: 'external-only' }
    - { action: 'payment.process', threshold: 'above-100-usd' }
  channels: ['slack', 'teams', 'pagerduty']
  timeout: '15m'
  defaultAction: 'deny'
";

fn problems(text: &str) -> Vec<String> {
    match PolicySet::parse("policy.yaml", text) {
        Ok(_) => panic!("expected problems in:\n{text}"),
        Err(error) => {
            let list: Vec<String> = error.problems().iter().map(ToString::to_string).collect();
            eprintln!("{list:#?}");
            list
        }
    }
}

#[test]
fn hints_link_to_the_reference() {
    let error = PolicySet::parse(
        "policy.yaml",
        &sandbox("  isolation:\n    syscallOverrides:\n      ptrce: deny\n"),
    )
    .unwrap_err();
    let hint = &error.problems()[0].hint;
    assert!(
        hint.ends_with(
            "(see docs/policy-reference.md#sandboxpolicy-spec-isolation-syscalloverrides)"
        ),
        "{hint}"
    );
    let error = PolicySet::parse(
        "policy.yaml",
        &sandbox("  isolation:\n    maskedPaths: [x]\n"),
    )
    .unwrap_err();
    assert!(
        error.problems()[0]
            .hint
            .contains("(see docs/policy-reference.md#sandboxpolicy"),
        "{}",
        error.problems()[0].hint
    );
}

/// As [`problems`], without the reference link that ends each hint: the semantic checks' tests
/// compare the words (`hints_link_to_the_reference` checks the links).
fn problem_words(text: &str) -> Vec<String> {
    problems(text)
        .into_iter()
        .map(|line| match line.rfind(" (see docs/policy-reference.md") {
            Some(at) if line.ends_with(')') => line[..at].to_owned(),
            _ => line,
        })
        .collect()
}

fn only_problem_words(text: &str) -> String {
    let problems = problem_words(text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap_or_default()
}

fn only_problem(text: &str) -> String {
    let problems = problems(text);
    assert_eq!(problems.len(), 1, "{problems:#?}");
    problems.into_iter().next().unwrap_or_default()
}

fn sandbox(spec: &str) -> String {
    format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  name: test\n\
         spec:\n{spec}"
    )
}

#[test]
fn customer_support_bundle_is_the_seed_policy() {
    let set = PolicySet::parse("customer-support.yaml", CUSTOMER_SUPPORT).unwrap();
    assert_eq!(set.name(), "customer-support-agent");
    let spec = &set.sandbox().unwrap().spec;
    assert_eq!(spec.isolation.network.value, NetworkIsolation::Restricted);
    assert_eq!(spec.isolation.network.position, Position::new(8, 14));
    assert_eq!(
        spec.isolation.filesystem.value,
        FilesystemIsolation::ReadOnly
    );
    assert_eq!(spec.isolation.syscalls.value, SyscallProfile::Minimal);
    let resources = &spec.resources;
    assert_eq!(resources.max_memory.as_ref().unwrap().bytes(), 4 << 30);
    assert_eq!(resources.max_cpu.as_ref().unwrap().millicores(), 2000);
    assert!(resources.max_pids.is_none());
    assert_eq!(resources.gpu_access.value, GpuAccess::InferenceOnly);
    let allowed: Vec<&str> = spec
        .permissions
        .allowed_apis
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(
        allowed,
        ["crm.read", "crm.update", "ticket.create", "ticket.resolve"]
    );
    let denied: Vec<&str> = spec
        .permissions
        .denied_apis
        .iter()
        .map(|a| a.as_str())
        .collect();
    assert_eq!(denied, ["admin.*", "billing.*", "user.delete"]);
    assert!(spec.audit_log.enabled.value);
    assert_eq!(
        spec.audit_log.destination.as_ref().unwrap().value,
        AuditDestination::Siem("security-events".into())
    );

    let network = set.network().unwrap();
    assert_eq!(network.spec.egress.allow.len(), 2);
    assert!(network.spec.egress.deny[0].domain.is_any());
    assert!(network.spec.inspection.tls_decrypt.value);

    let text = &set.natural_language()[0].spec.text.value;
    assert_eq!(text, SEED_PARAGRAPH);

    let approval = &set.approval().unwrap().spec;
    let thresholds: Vec<Threshold> = approval
        .triggers
        .iter()
        .map(|t| t.threshold.value)
        .collect();
    assert_eq!(
        thresholds,
        [
            Threshold::Always,
            Threshold::Always,
            Threshold::ExternalOnly,
            Threshold::AboveUsdCents(10_000)
        ]
    );
    assert_eq!(approval.channels.len(), 3);
    assert_eq!(approval.timeout.duration().as_secs(), 900);
    assert_eq!(approval.default_action.value, ApprovalDefault::Deny);
    assert!(set.digest().starts_with("sha256:") && set.digest().len() == 71);
}

#[test]
fn sales_ops_bundle_carries_the_seeds_bare_network_block() {
    let set = PolicySet::parse("sales-ops.yaml", SALES_OPS).unwrap();
    assert_eq!(set.name(), "sales-ops-agent");
    let network = set.network().unwrap();
    assert_eq!(network.metadata.name.value, "sales-ops-agent");
    let allow = &network.spec.egress.allow;
    assert_eq!(allow.len(), 3);
    assert!(allow[0].domain.matches("na1.salesforce.com"));
    let methods: Vec<HttpMethod> = allow[0].methods.iter().map(|m| m.value).collect();
    assert_eq!(
        methods,
        [HttpMethod::Get, HttpMethod::Post, HttpMethod::Patch]
    );
    assert_eq!(allow[2].ports[0].value, 587);
    let ingress = &network.spec.ingress.allow[0];
    assert!(ingress.source.matches("webhook.salesforce.com"));
    assert!(
        ingress
            .path
            .matches(&RequestPath::parse("/api/v1/events").unwrap())
    );
    assert!(network.spec.inspection.scan_for_pii.value);
    assert!(!network.spec.inspection.log_payloads.value);
}

#[test]
fn api_catalog_parses_and_covers_both_bundles() {
    let catalog_set = PolicySet::parse("api-catalog.yaml", API_CATALOG).unwrap();
    let catalog = catalog_set.api_catalog().unwrap();
    assert_eq!(catalog_set.name(), "example-apis");
    assert_eq!(
        catalog.apis_for(
            HttpMethod::Get,
            "crm.example.test",
            &RequestPath::parse("/api/v1/customers/42/notes").unwrap()
        ),
        ["crm.read"]
    );
    assert_eq!(
        catalog.apis_for(
            HttpMethod::Delete,
            "admin.example.test",
            &RequestPath::parse("/api/v1/users/7").unwrap()
        ),
        ["user.delete"]
    );
    assert!(
        catalog
            .apis_for(
                HttpMethod::Get,
                "evil.example.test",
                &RequestPath::parse("/").unwrap()
            )
            .is_empty()
    );
    for bundle in [CUSTOMER_SUPPORT, SALES_OPS] {
        let set = PolicySet::parse("bundle.yaml", bundle).unwrap();
        set.check_catalog(catalog).unwrap();
    }
}

#[test]
fn seed_privacy_router_block_parses_as_written() {
    let set = PolicySet::parse("/etc/openshell/policies/router.yaml", SEED_PRIVACY_ROUTER).unwrap();
    let router = set.privacy_router().unwrap();
    assert_eq!(set.name(), "router");
    assert_eq!(router.spec.fallback.value, Fallback::LocalOnly);
    let rules = &router.spec.residency_rules;
    assert_eq!(rules[0].region.value, "EU");
    assert_eq!(
        rules[0].data_types[1].value,
        DataSelector::Only(DataType::Financial)
    );
    assert_eq!(rules[1].data_types[0].value, DataSelector::All);
    assert_eq!(rules[1].allowed_endpoints[0].value, "cn-north-1-local");
}

#[test]
fn seed_approval_object_parses_as_a_bare_block() {
    let set = PolicySet::parse("approvals.yaml", SEED_APPROVAL).unwrap();
    let approval = set.approval().unwrap();
    assert_eq!(approval.metadata.name.value, "approvals");
    assert_eq!(approval.spec.triggers[3].action.as_str(), "payment.process");
    assert_eq!(
        approval.spec.triggers[3].threshold.value,
        Threshold::AboveUsdCents(10_000)
    );
}

#[test]
fn every_kind_parses_in_kubernetes_form() {
    let text = "apiVersion: openshell.nvidia.com/v1
kind: PrivacyRouterPolicy
metadata: {name: router}
spec:
  endpoints:
    - name: local
      url: http://nemotron.internal:8000/v1
      local: true
      region: EU
    - name: cloud
      url: https://api.cloud.example/v1
      region: EU
      spkiPins: ['sha256:0101010101010101010101010101010101010101010101010101010101010101']
  routes:
    restricted: [local]
    public: [cloud, local]
  residencyRules:
    - {region: EU, dataTypes: [personalData], allowedEndpoints: [local, cloud]}
  fallback: deny
";
    let set = PolicySet::parse("r.yaml", text).unwrap();
    let spec = &set.privacy_router().unwrap().spec;
    assert_eq!(spec.endpoints[1].spki_pins[0].value.0, [1; 32]);
    assert_eq!(
        spec.routes.keys().next().unwrap().value,
        Sensitivity::Public
    );
    assert_eq!(spec.fallback.value, Fallback::Deny);
}

#[test]
fn digest_is_sha256_of_the_bytes() {
    let text = "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata:\n  name: tiny\nspec: {}\n";
    let set = PolicySet::parse("tiny.yaml", text).unwrap();
    assert_eq!(
        set.digest(),
        "sha256:9c25db0be887e53ddfb9b43a6d4028550f3adcb97b5c918b2606e9548ed3a0d9"
    );
    let defaults = &set.sandbox().unwrap().spec;
    assert_eq!(defaults.isolation.network.value, NetworkIsolation::None);
    assert_eq!(
        defaults.isolation.filesystem.value,
        FilesystemIsolation::ReadOnly
    );
    assert_eq!(defaults.isolation.syscalls.value, SyscallProfile::Default);
    assert!(defaults.audit_log.enabled.value);
}

#[test]
fn load_reads_a_file_and_names_it_in_errors() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, sandbox("  isolation: {netwrk: none}\n")).unwrap();
    let error = PolicySet::load(&path).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}:6:15: unknown field 'netwrk'", path.display())),
        "{error}"
    );
    let missing = PolicySet::load(dir.path().join("absent.yaml")).unwrap_err();
    assert!(matches!(missing, PolicyError::Read { .. }));
}

#[test]
fn unknown_field_message_is_exact() {
    let text = sandbox("  isolation:\n    netwrk: none\n");
    assert_eq!(
        only_problem(&text),
        "policy.yaml:7:5: unknown field 'netwrk' in spec.isolation (expected one of: network, \
         filesystem, syscalls, syscallOverrides, tmpfs, maskedPaths, readOnlyPaths) — did you \
         mean 'network'? (see docs/policy-reference.md#sandboxpolicy-spec-isolation)"
    );
}

#[test]
fn unknown_kind_and_wrong_api_version() {
    let text = "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicyy\nmetadata: {name: a}\nspec: {}\n";
    assert_eq!(
        only_problem(text),
        "policy.yaml:2:7: unknown kind 'SandboxPolicyy' (expected one of: SandboxPolicy, \
         NetworkPolicy, ApprovalPolicy, PrivacyRouterPolicy, NaturalLanguagePolicy, ApiCatalog) \
         — did you mean 'SandboxPolicy'?"
    );
    let text =
        "apiVersion: openshell.nvidia.com/v2\nkind: SandboxPolicy\nmetadata: {name: a}\nspec: {}\n";
    assert_eq!(
        only_problem(text),
        "policy.yaml:1:13: unsupported apiVersion 'openshell.nvidia.com/v2' (expected \
         openshell.nvidia.com/v1) — write 'apiVersion: openshell.nvidia.com/v1'"
    );
}

#[test]
fn bad_quantities_point_at_the_value() {
    let problem = only_problem(&sandbox("  resources:\n    maxMemory: 4GB\n"));
    assert!(
        problem.starts_with(
            "policy.yaml:7:16: spec.resources.maxMemory: '4GB' is not a Kubernetes quantity — "
        ),
        "{problem}"
    );
    let problem = only_problem(&sandbox("  resources:\n    maxCPU: 1m\n"));
    assert!(
        problem.starts_with("policy.yaml:7:13: spec.resources.maxCPU: '1m' is below"),
        "{problem}"
    );
    let problem = only_problem(&sandbox("  resources:\n    maxMemory: 1Mi\n"));
    assert!(
        problem.starts_with("policy.yaml:7:16: maxMemory 1Mi is below the minimum"),
        "{problem}"
    );
    let problem = only_problem(&sandbox("  resources:\n    maxPids: 0\n"));
    assert!(
        problem.starts_with("policy.yaml:7:14: maxPids is 0"),
        "{problem}"
    );
    let problem = only_problem(&sandbox("  resources:\n    maxPids: -3\n"));
    assert!(
        problem.starts_with(
            "policy.yaml:7:14: spec.resources.maxPids must be a whole number, 0 or more, got '-3' \
             — write spec.resources.maxPids as a whole number, 0 or more"
        ),
        "{problem}"
    );
}

#[test]
fn bad_enum_values_suggest_the_right_one() {
    assert_eq!(
        only_problem(&sandbox("  isolation:\n    filesystem: readonly\n")),
        "policy.yaml:7:17: unknown value 'readonly' for spec.isolation.filesystem (expected one \
         of: read-only, read-write) — did you mean 'read-only'? (see \
         docs/policy-reference.md#sandboxpolicy-spec-isolation-filesystem)"
    );
    let problem = only_problem(&sandbox("  resources:\n    gpuAccess: inference\n"));
    assert!(
        problem.starts_with("policy.yaml:7:16: unknown value 'inference'"),
        "{problem}"
    );
    let problem = only_problem(&sandbox("  auditLog:\n    enabled: yes\n"));
    assert!(problem.starts_with("policy.yaml:7:14: "), "{problem}");
}

#[test]
fn network_none_with_allowing_network_policy_is_a_contradiction() {
    let text = format!(
        "{}---\nnetworkPolicy:\n  egress:\n    allow:\n      - domain: api.example.com\n",
        sandbox("  isolation:\n    network: none\n")
    );
    assert_eq!(
        only_problem_words(&text),
        "policy.yaml:7:14: isolation.network is none, but NetworkPolicy 'policy' allows traffic \
         — set isolation.network: restricted so the egress engine applies it, or remove its \
         allow rules"
    );
    let text = format!(
        "{}---\nnetworkPolicy:\n  egress:\n    deny: [{{domain: '*'}}]\n",
        sandbox("  isolation:\n    network: host\n")
    );
    assert!(only_problem_words(&text).starts_with("policy.yaml:7:14: isolation.network is host"));
    // Defaulted network (none) points at the NetworkPolicy's first allow rule.
    let text = format!(
        "{}---\nnetworkPolicy:\n  egress:\n    allow:\n      - domain: api.example.com\n",
        sandbox("  resources: {}\n")
    );
    assert!(only_problem_words(&text).starts_with("policy.yaml:11:17: isolation.network is none"));
}

#[test]
fn gpu_full_with_minimal_syscalls_is_a_contradiction() {
    let problem = only_problem(&sandbox(
        "  isolation:\n    syscalls: minimal\n  resources:\n    gpuAccess: full\n",
    ));
    assert!(
        problem.starts_with("policy.yaml:9:16: gpuAccess: full contradicts"),
        "{problem}"
    );
}

#[test]
fn overlapping_api_permissions() {
    let problems = problem_words(&sandbox(
        "  permissions:\n    allowedAPIs: [crm.read, admin.users, '*', crm.read]\n    \
         deniedAPIs: [crm.read, admin.*]\n",
    ));
    assert_eq!(
        problems,
        [
            "policy.yaml:7:29: allowed API 'admin.users' is always denied by 'admin.*' (line 8): \
             deny wins — remove it from allowedAPIs, or narrow the deniedAPIs entry",
            "policy.yaml:7:42: allowedAPIs '*' allows every API — list the APIs or API families \
             (crm.*) the agent needs",
            "policy.yaml:7:47: allowed API 'crm.read' is listed twice — remove the repeated entry",
            "policy.yaml:8:18: 'crm.read' is both allowed (line 7) and denied — remove it from \
             one of allowedAPIs and deniedAPIs",
        ]
    );
}

#[test]
fn too_broad_domains_are_refused() {
    let problem = only_problem("networkPolicy:\n  egress:\n    allow:\n      - domain: '*'\n");
    assert!(problem.starts_with("policy.yaml:4:17: egress allow rule for '*' allows every host"));
    let problem = only_problem("networkPolicy:\n  egress:\n    allow:\n      - domain: '*.com'\n");
    assert_eq!(
        problem,
        "policy.yaml:4:17: networkPolicy.egress.allow[0].domain: '*.com' covers a whole public \
         suffix ('com') — name the organisation's domain, e.g. '*.example.com' (see \
         docs/policy-reference.md#networkpolicy-spec-egress-allow-domain)"
    );
}

#[test]
fn network_rule_conflicts() {
    let problems = problems(
        "networkPolicy:
  egress:
    allow:
      - domain: a.example.com
      - domain: x.b.example.com
        ports: [0, 443, 443]
    deny:
      - domain: a.example.com
      - domain: '*.b.example.com'
",
    );
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("policy.yaml:5:17: egress allow rule 'x.b.example.com' is always denied")
    );
    assert!(problems[1].starts_with("policy.yaml:6:17: port 0"));
    assert!(problems[2].starts_with("policy.yaml:6:25: port '443' is listed twice"));
    assert!(problems[3].starts_with("policy.yaml:8:17: 'a.example.com' is both allowed (line 4)"));
}

#[test]
fn syscall_overrides_are_checked() {
    let problems = problem_words(&sandbox(
        "  isolation:\n    syscallOverrides:\n      ptrce: deny\n      mount: allow\n      \
         write: escalate\n      ptrace: escalate\n",
    ));
    assert_eq!(
        problems,
        [
            "policy.yaml:8:7: unknown syscall 'ptrce' in spec.isolation.syscallOverrides — did you \
             mean 'ptrace'?",
            "policy.yaml:9:14: 'mount' may not be allowed: it lets a process leave the sandbox — \
             use 'deny'",
            &format!(
                "policy.yaml:10:14: 'write' cannot be escalated: a held call goes on with the \
                 arguments it has then, and this one's point into memory the process can rewrite \
                 after the approval — use 'allow' or 'deny'; these can be escalated: {}",
                crate::seccomp::profiles::ESCALATABLE.join(", ")
            ),
        ]
    );
    let problem = only_problem_words(&sandbox(
        "  isolation:\n    syscallOverrides:\n      ptrace: ask\n",
    ));
    assert!(
        problem.starts_with("policy.yaml:8:15: unknown value 'ask'"),
        "{problem}"
    );
}

#[test]
fn paths_and_audit_are_checked() {
    let problems = problems(&sandbox(
        "  isolation:\n    maskedPaths: [proc/x, /a/../b, /ok, /ok]\n    tmpfs:\n      - {path: \
         /, size: 1Mi}\n  auditLog:\n    enabled: false\n    destination: file:///var/log/a\n",
    ));
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(problems[0].starts_with("policy.yaml:7:19: masked path 'proc/x'"));
    assert!(problems[1].starts_with("policy.yaml:7:27: masked path '/a/../b'"));
    assert!(problems[2].starts_with("policy.yaml:7:41: masked path '/ok' is listed twice"));
    assert!(problems[3].starts_with("policy.yaml:9:16: tmpfs path '/'"));
    assert!(
        problems[4]
            .starts_with("policy.yaml:12:18: auditLog has a destination but enabled is false")
    );
}

#[test]
fn problems_from_several_documents_are_all_reported() {
    let text = format!(
        "{}---\nkind: NetworkPolicy\napiVersion: openshell.nvidia.com/v1\nmetadata: {{name: n}}\n\
         spec:\n  egres: {{}}\n---\nfoo: bar\n---\napprovalPolicy:\n  channels: [a, a]\n  \
         timeout: 1m\n",
        sandbox("  isolation:\n    network: nowhere\n")
    );
    let problems = problems(&text);
    assert_eq!(problems.len(), 4, "{problems:#?}");
    assert!(problems[0].starts_with("policy.yaml:7:14: unknown value 'nowhere'"));
    assert!(problems[1].starts_with("policy.yaml:13:3: unknown field 'egres' in spec"));
    assert!(problems[1].contains("did you mean 'egress'?"));
    assert!(problems[2].starts_with("policy.yaml:15:1: document has no 'kind'"));
    assert!(problems[3].starts_with("policy.yaml:18:17: channel 'a' is listed twice"));
}

#[test]
fn structural_problems() {
    assert_eq!(
        only_problem("# nothing\n"),
        "policy.yaml: the file holds no policy document — start it with 'apiVersion: \
         openshell.nvidia.com/v1' and 'kind: SandboxPolicy'"
    );
    assert!(
        only_problem("- a\n- b\n")
            .starts_with("policy.yaml:1:1: a policy document must be a mapping")
    );
    assert!(
        only_problem("a: [1\n").starts_with("policy.yaml:1:4: YAML syntax error: unclosed bracket")
    );
    let twice = format!("{}---\n{}", sandbox("  {}\n"), sandbox("  {}\n"));
    assert!(
        only_problem(&twice).starts_with("policy.yaml:11:9: a second SandboxPolicy in one file")
    );
    let named = "apiVersion: openshell.nvidia.com/v1\nkind: NetworkPolicy\nmetadata: {name: n}\nspec:\n  name: x\n";
    assert!(
        only_problem(named).starts_with("policy.yaml:5:9: 'name' in spec is only for bare blocks")
    );
    assert!(
        only_problem(&sandbox("  {}\n").replace("name: test", "name: Test_1"))
            .starts_with("policy.yaml:4:9: 'Test_1' is not a valid policy name")
    );
    assert!(
        only_problem("approvalPolicy:\n  timeout: 15m\n  extra: 1\n")
            .starts_with("policy.yaml:3:3: unknown field 'extra' in approvalPolicy")
    );
    assert!(
        only_problem("approvalPolicy:\n  channels: [slack]\n")
            .starts_with("policy.yaml:2:3: missing field 'timeout' in approvalPolicy")
    );
}

#[test]
fn approval_checks() {
    let problem = only_problem(
        "approvalPolicy:\n  triggers: [{action: data.delete, threshold: always}]\n  timeout: 15m\n",
    );
    assert!(
        problem.starts_with("policy.yaml:2:23: triggers are set but no channel"),
        "{problem}"
    );
    let problem = only_problem(
        "approvalPolicy:\n  triggers: [{action: data.delete, threshold: above-ten-usd}]\n  channels: [slack]\n  timeout: 15m\n",
    );
    assert!(
        problem.starts_with(
            "policy.yaml:2:47: approvalPolicy.triggers[0].threshold: 'above-ten-usd' does not \
             give an amount"
        ),
        "{problem}"
    );
    let problem = only_problem("approvalPolicy:\n  channels: [Slack]\n  timeout: 3d\n");
    assert!(
        problem.starts_with("policy.yaml:3:12: approvalPolicy.timeout: '3d' is outside"),
        "{problem}"
    );
}

#[test]
fn privacy_router_checks() {
    let problems = problem_words(
        "privacyRouter:
  endpoints:
    - {name: local, url: 'http://n.internal/v1', local: true, region: EU}
    - {name: cloud, url: 'http://api.cloud.example/v1', region: US}
  routes:
    confidential: [cloud]
    public: [clowd]
  residencyRules:
    - {region: EU, dataTypes: [all, personalData], allowedEndpoints: [cloud]}
",
    );
    assert_eq!(problems.len(), 5, "{problems:#?}");
    assert!(
        problems[0]
            .starts_with("policy.yaml:4:26: endpoint 'cloud' is not local but uses plain http")
    );
    assert!(problems[1].starts_with("policy.yaml:6:20: confidential data may not go to 'cloud'"));
    assert!(problems[2].ends_with("did you mean 'cloud'?"));
    assert!(problems[3].starts_with("policy.yaml:9:32: 'all' already covers"));
    assert!(problems[4].starts_with("policy.yaml:9:71: endpoint 'cloud' is in region US, not EU"));
}

#[test]
fn redaction_preference_and_cost_are_read_and_checked() {
    let text = "privacyRouter:
  endpoints:
    - {name: local, url: 'http://n.internal/v1', local: true, cost: 0}
    - {name: cloud, url: 'https://api.cloud.example/v1', cost: 2.5}
  routes:
    public: [cloud, local]
  redaction: {dataTypes: [personalData, credentials]}
  preference: latency
";
    let set = PolicySet::parse("r.yaml", text).unwrap();
    let spec = &set.privacy_router().unwrap().spec;
    let redaction = spec.redaction.as_ref().unwrap();
    assert_eq!(redaction.endpoints.value, RedactionEndpoints::NonLocal);
    assert!(redaction.types().contains(DataType::Personal));
    assert!(redaction.types().contains(DataType::Credentials));
    assert!(!redaction.types().contains(DataType::Health));
    assert_eq!(spec.preference.as_ref().unwrap().value, Preference::Latency);
    assert_eq!(spec.endpoints[1].cost.as_ref().unwrap().value, 2.5);

    let problems = problem_words(
        "privacyRouter:
  endpoints:
    - {name: cloud, url: 'https://api.cloud.example/v1', cost: -1}
  redaction:
    dataTypes: [all, personalData]
",
    );
    assert_eq!(problems.len(), 2, "{problems:#?}");
    assert!(
        problems[0].starts_with("policy.yaml:3:64: cost -1 of endpoint 'cloud' is not a price"),
        "{problems:#?}"
    );
    assert!(
        problems[1].starts_with("policy.yaml:5:17: 'all' already covers"),
        "{problems:#?}"
    );
    let empty = problem_words("privacyRouter:\n  redaction: {dataTypes: []}\n");
    assert_eq!(empty.len(), 1, "{empty:#?}");
    assert!(
        empty[0].starts_with("policy.yaml:2:26: redaction lists no dataTypes"),
        "{empty:#?}"
    );
    for (text, word) in [
        (
            "privacyRouter:\n  redaction: {dataTypes: [all], endpoints: cloud}\n",
            "cloud",
        ),
        ("privacyRouter:\n  preference: fastest\n", "fastest"),
        (
            "privacyRouter:\n  redaction: {dataTypes: [all], mode: mask}\n",
            "mode",
        ),
    ] {
        let error = PolicySet::parse("policy.yaml", text)
            .unwrap_err()
            .to_string();
        assert!(error.contains(word), "{error}");
    }
}

#[test]
fn catalog_checks() {
    let text = "apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata: {name: c}
spec:
  apis:
    crm.*:
      - {methods: [GET], host: '*', path: /x}
    crm.read:
      - {methods: [], host: crm.example.test, path: /x}
";
    let problems = problems(text);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("policy.yaml:6:5: catalog API name 'crm.*' has a wildcard"));
    assert!(problems[1].starts_with("policy.yaml:7:32: host '*' matches every host"));
    assert!(problems[2].starts_with("policy.yaml:9:29: no methods listed"));

    let set = PolicySet::parse(
        "p.yaml",
        &sandbox("  permissions:\n    allowedAPIs: [crm.raed]\n"),
    )
    .unwrap();
    let catalog = PolicySet::parse("c.yaml", API_CATALOG).unwrap();
    let error = set
        .check_catalog(catalog.api_catalog().unwrap())
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "p.yaml:7:19: API 'crm.raed' is not in catalog 'example-apis' — did you mean 'crm.read'?"
    );
}

#[test]
fn natural_language_text_must_not_be_empty() {
    let text = "apiVersion: openshell.nvidia.com/v1\nkind: NaturalLanguagePolicy\nmetadata: {name: n}\nspec:\n  text: '  '\n";
    assert!(only_problem(text).starts_with("policy.yaml:5:9: spec.text is empty"));
}

/// The write-up's JavaScript object literal (between `const approvalPolicy = ` and `;`), kept
/// exactly as the write-up prints it, is also a YAML flow mapping.
const SEED_APPROVAL_OBJECT: &str = "{
triggers: [
{ action: 'data.delete', threshold: 'always' },
{ action: 'infra.modify', threshold: 'always' },
{ action: 'email.send', threshold: 'external-only' },
{ action: 'payment.process', threshold: 'above-100-usd' },
],
channels: ['slack', 'teams', 'pagerduty'],
timeout: '15m',
defaultAction: 'deny',
}";

#[test]
fn seed_approval_object_literal_reads_as_a_flow_mapping() {
    let text = format!("approvalPolicy: {SEED_APPROVAL_OBJECT}\n");
    let set = PolicySet::parse("approvals.yaml", &text).unwrap();
    let spec = &set.approval().unwrap().spec;
    let actions: Vec<&str> = spec.triggers.iter().map(|t| t.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "data.delete",
            "infra.modify",
            "email.send",
            "payment.process"
        ]
    );
    assert_eq!(spec.triggers[2].threshold.value, Threshold::ExternalOnly);
    assert_eq!(spec.channels[2].value, "pagerduty");
    assert_eq!(spec.timeout.to_string(), "15m");
    assert_eq!(spec.default_action.value, ApprovalDefault::Deny);
}

/// `count` NaturalLanguagePolicy documents (the one kind a file may repeat), the last one with
/// an unknown field so positions late in the file are checked too.
fn many_documents(count: usize) -> String {
    let mut text = String::new();
    for index in 0..count {
        text.push_str(&format!(
            "---\napiVersion: openshell.nvidia.com/v1\nkind: NaturalLanguagePolicy\n\
             metadata:\n  name: rules-{index}\nspec:\n  text: Agents may read tickets only.\n"
        ));
    }
    text.push_str("  extra: 1\n");
    text
}

/// One parse of `text`, in seconds.
fn parse_seconds(text: &str) -> f64 {
    let started = std::time::Instant::now();
    let problems = problems(text);
    let elapsed = started.elapsed().as_secs_f64();
    assert_eq!(problems.len(), 1, "{problems:#?}");
    elapsed
}

#[test]
fn parsing_time_grows_linearly_with_the_document_count() {
    let small = many_documents(1000);
    let large = many_documents(4000);
    // The last document's problem is placed in the file, not in the document.
    let last_line = large.lines().count();
    let problem = &problems(&large)[0];
    assert!(
        problem.starts_with(&format!("policy.yaml:{last_line}:3: unknown field 'extra'")),
        "{problem}"
    );
    // The fastest of five parses of each, taken in turns, so that a moment when other tests
    // hold the cores weighs on neither size alone.
    let (mut fastest_small, mut fastest_large) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..5 {
        fastest_small = fastest_small.min(parse_seconds(&small));
        fastest_large = fastest_large.min(parse_seconds(&large));
    }
    let ratio = fastest_large / fastest_small;
    // Four times the documents: about four times the time; quadratic splitting gave 16.
    assert!(ratio < 8.0, "4x the documents took {ratio:.1}x the time");
}

#[test]
fn files_over_the_limits_are_refused_naming_the_file_and_the_limit() {
    let over_count = many_documents(MAX_POLICY_DOCUMENTS + 1);
    assert!(over_count.len() < MAX_POLICY_FILE_BYTES);
    let problem = only_problem(&over_count);
    assert!(
        problem.starts_with("policy.yaml:")
            && problem.contains(&format!("more than {MAX_POLICY_DOCUMENTS} documents")),
        "{problem}"
    );

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge.yaml");
    let padding = "# padding\n".repeat(MAX_POLICY_FILE_BYTES / 10 + 1);
    std::fs::write(&path, format!("{padding}{}", sandbox("  {}\n"))).unwrap();
    let error = PolicySet::load(&path).unwrap_err();
    assert_eq!(
        error.to_string(),
        format!(
            "{}: the file is larger than the 4 MiB a policy file may be — split it into \
             smaller files or remove repeated documents",
            path.display()
        )
    );
    let error = PolicySet::parse("inline.yaml", &padding).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("inline.yaml: the file is larger than the 4 MiB")
    );
}

#[test]
fn every_problem_of_a_document_is_reported_not_only_the_first() {
    let text = format!(
        "{}---\nnetworkPolicy:\n  egress:\n    allow:\n      - domain: api.example.com\n        \
         methods: [GET, FETCH]\n      - methods: [GET]\n  inspection: {{tlsDecrypt: maybe}}\n",
        sandbox(
            "  isolation:\n    netwrk: none\n    filesystem: readonly\n  resources:\n    \
             maxPids: -3\n    maxMemory: lots\n  auditLog:\n    enabled: yes\n"
        )
    );
    let problems = problems(&text);
    let expected = [
        "policy.yaml:7:5: unknown field 'netwrk' in spec.isolation",
        "policy.yaml:8:17: unknown value 'readonly' for spec.isolation.filesystem",
        "policy.yaml:10:14: spec.resources.maxPids must be a whole number, 0 or more, got '-3'",
        "policy.yaml:11:16: spec.resources.maxMemory: ",
        "policy.yaml:13:14: spec.auditLog.enabled must be true or false, got 'yes'",
        "policy.yaml:19:24: unknown value 'FETCH' for networkPolicy.egress.allow[0].methods[1]",
        // Removing the bad `methods` entry does not make `domain` in the next rule "missing".
        "policy.yaml:20:9: missing field 'domain' in networkPolicy.egress.allow[1]",
        "policy.yaml:21:28: networkPolicy.inspection.tlsDecrypt must be true or false",
    ];
    assert_eq!(problems.len(), expected.len(), "{problems:#?}");
    for (problem, start) in problems.iter().zip(expected) {
        assert!(
            problem.starts_with(start),
            "{problem}\n  does not start with\n{start}"
        );
    }
}
