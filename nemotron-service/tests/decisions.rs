//! Decisions by the service core: the example customer-support policy (SandboxPolicy permissions,
//! ApprovalPolicy triggers and the natural-language paragraph) evaluated against allowed and
//! forbidden actions; deny wins; escalation; admission; every decision audited.

use std::path::Path;
use std::time::Duration;

use nemotron_service::cedar::{SCHEMA, action_request, admission_request};
use nemotron_service::destination::DestinationAnalyzer;
use nemotron_service::facts::ActionFacts;
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_audit::{TrailQuery, read_trail};
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{
    ActionRequest, AdmissionRequest, ContainerRegistration, Decision, Enforcement, EvaluateRequest,
    Outcome, RequestedSandbox,
};
use openshell_policy::{
    ApiPattern, ApprovalDefault, CompiledPolicy, GpuAccess, Located, NetworkIsolation,
};
use serde_json::json;

const SEED_TEXT: &str = "Customer support agents may access customer records for active tickets only. \
They may not access financial data, modify account settings, or communicate \
with customers outside of the ticketing system. All PII must be redacted \
from internal logs.";

fn node(dir: &Path) -> NodeConfig {
    let mut node = NodeConfig::default();
    node.audit.spool_dir = dir.join("spool");
    node.audit.trail = Some(dir.join("trail.jsonl"));
    node.registry_dir = dir.join("registry");
    node.classifier.internal_domains = vec!["company.com".into()];
    node
}

/// The example customer-support agent: its SandboxPolicy permissions, its ApprovalPolicy
/// triggers, and its natural-language policy, compiled as `create` compiles them.
fn seed_policy(audit_file: &Path) -> CompiledPolicy {
    let yaml = format!(
        r#"apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata: {{name: customer-support-agent}}
spec:
  isolation: {{network: host}}
  resources: {{gpuAccess: inference-only}}
  permissions:
    allowedAPIs: [crm.read, crm.update, ticket.create, ticket.resolve, ticket.reply, email.send]
    deniedAPIs: ["admin.*", "billing.*", user.delete]
  auditLog: {{enabled: true, destination: "file://{}"}}
---
apiVersion: openshell.nvidia.com/v1
kind: ApprovalPolicy
metadata: {{name: customer-support-approvals}}
spec:
  triggers:
    - {{action: data.delete, threshold: always}}
    - {{action: email.send, threshold: external-only}}
    - {{action: payment.process, threshold: above-100-usd}}
  channels: [slack]
  timeout: 15m
  defaultAction: deny
---
apiVersion: openshell.nvidia.com/v1
kind: NaturalLanguagePolicy
metadata: {{name: customer-support-rules}}
spec:
  text: "{SEED_TEXT}"
"#,
        audit_file.display()
    );
    openshell_policy::compile_default("customer-support.yaml", &yaml).unwrap()
}

/// `policy` with `edit` applied, sealed again (as a recompiled record would be).
fn edited(mut policy: CompiledPolicy, edit: impl FnOnce(&mut CompiledPolicy)) -> CompiledPolicy {
    edit(&mut policy);
    policy.seal()
}

fn api(pattern: &str) -> Located<ApiPattern> {
    Located::unplaced(ApiPattern::parse(pattern).unwrap())
}

fn registration(id: &str, policy: CompiledPolicy) -> ContainerRegistration {
    ContainerRegistration::new(id, "/tmp/bundle".into(), policy)
}

fn action(value: serde_json::Value) -> ActionRequest {
    serde_json::from_value(value).unwrap()
}

fn evaluate(service: &PolicyService, id: &str, a: serde_json::Value) -> Decision {
    service
        .evaluate(&EvaluateRequest {
            container_id: id.into(),
            action: action(a),
        })
        .unwrap()
}

#[test]
fn seed_policy_allows_and_forbids_what_it_says() {
    let dir = tempfile::tempdir().unwrap();
    let audit_file = dir.path().join("policy-audit.jsonl");
    let service = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    service
        .register(registration("cs-1", seed_policy(&audit_file)))
        .unwrap();

    let cases = [
        // (action, expected outcome, a policy id that must be among the deciding ones)
        (
            json!({"action": "crm.read", "resource": "customer:4411", "attributes": {"ticket.status": "active"}}),
            Outcome::Allow,
            "nl:1.1.1",
        ),
        (
            json!({"action": "crm.update", "resource": "customer:4411", "attributes": {"ticket.status": "active"},
                "data": {"note": "prefers phone contact"}}),
            Outcome::Allow,
            "sandbox.allowed-api[crm.update]",
        ),
        (
            json!({"action": "ticket.create", "data": {"subject": "Login issue"}}),
            Outcome::Allow,
            "sandbox.allowed-api[ticket.create]",
        ),
        (
            json!({"action": "ticket.reply", "resource": "ticket:881", "destination": "ticketing",
                "data": {"body": "We reset your session."}}),
            Outcome::Allow,
            "sandbox.allowed-api[ticket.reply]",
        ),
        // "for active tickets only"
        (
            json!({"action": "crm.read", "resource": "customer:4411"}),
            Outcome::Deny,
            "nl:1.1.1.only",
        ),
        (
            json!({"action": "crm.read", "resource": "customer:4411", "attributes": {"ticket.status": "closed"}}),
            Outcome::Deny,
            "nl:1.1.1.only",
        ),
        // "may not access financial data": an IBAN in the record makes it financial data
        (
            json!({"action": "crm.read", "resource": "customer:4411", "attributes": {"ticket.status": "active"},
                "data": {"iban": "DE89370400440532013000"}}),
            Outcome::Deny,
            "nl:1.2.1",
        ),
        // deniedAPIs and the NL sentence agree on billing
        (
            json!({"action": "billing.read", "resource": "invoice:1"}),
            Outcome::Deny,
            "sandbox.denied-api[billing.*]",
        ),
        // "modify account settings"
        (
            json!({"action": "crm.update", "resource": "settings:notifications", "attributes": {"ticket.status": "active"}}),
            Outcome::Deny,
            "nl:1.2.2",
        ),
        // "communicate with customers outside of the ticketing system"
        (
            json!({"action": "email.send", "destination": "jane@gmail.com", "data": {"body": "Hello"}}),
            Outcome::Deny,
            "nl:1.2.3",
        ),
        // not in allowedAPIs
        (
            json!({"action": "crm.delete", "resource": "customer:4411", "attributes": {"ticket.status": "active"}}),
            Outcome::Deny,
            "sandbox.allowlist",
        ),
        // deniedAPIs
        (
            json!({"action": "admin.create_user"}),
            Outcome::Deny,
            "sandbox.denied-api[admin.*]",
        ),
        (
            json!({"action": "user.delete", "resource": "user:bob"}),
            Outcome::Deny,
            "sandbox.denied-api[user.delete]",
        ),
        // restricted data may not leave the organisation (threshold), even through the ticketing system
        (
            json!({"action": "ticket.reply", "resource": "ticket:881", "destination": "jane@gmail.com",
                "data": {"body": "Your card 4111 1111 1111 1111 is on file"}}),
            Outcome::Deny,
            "threshold.external-sensitivity",
        ),
    ];
    for (request, expected, policy_id) in cases {
        let d = evaluate(&service, "cs-1", request.clone());
        assert_eq!(d.outcome, expected, "{request}: {d:?}");
        assert!(
            d.policies.iter().any(|p| p == policy_id),
            "{request}: expected {policy_id} among {:?}",
            d.policies
        );
        assert_eq!(d.is_allowed(), expected == Outcome::Allow);
        assert_eq!(
            d.reasons.len(),
            d.policies.len(),
            "one reason per deciding policy: {d:?}"
        );
        assert!(d.classification.is_some());
    }

    // Every decision was audited to the policy's destination and to the node trail, with the
    // policy ids and PII redacted.
    service.flush_audit(Duration::from_secs(10)).unwrap();
    let trail = read_trail(
        &audit_file,
        &TrailQuery {
            container_id: Some("cs-1".into()),
            ..Default::default()
        },
    )
    .unwrap();
    let decisions: Vec<_> = trail
        .events
        .iter()
        .filter(|e| e.action != "container.register")
        .collect();
    assert_eq!(decisions.len(), 14);
    assert!(decisions.iter().all(|e| e.component == "nemotron"
        && !e.policies.is_empty()
        && e.classification.is_some()));
    assert_eq!(decisions[0].decision, "allow");
    assert_eq!(decisions[4].decision, "deny");
    assert_eq!(
        decisions[9].resource.as_deref(),
        Some("[REDACTED:email]"),
        "destination redacted"
    );
    // The card's digits are looked for with their space: an event id or a latency can hold
    // `4111` by chance.
    let text = std::fs::read_to_string(&audit_file).unwrap();
    assert!(
        !text.contains("jane@gmail.com") && !text.contains("4111 1111"),
        "PII in the audit trail"
    );
    let node_trail = service.trail("cs-1", TrailQuery::default()).unwrap();
    assert_eq!(node_trail.events.len(), trail.events.len());
}

#[test]
fn escalations_resolve_by_the_approval_default() {
    let dir = tempfile::tempdir().unwrap();
    let service = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    let policy = edited(seed_policy(&dir.path().join("a.jsonl")), |p| {
        p.decisions.natural_language.clear();
        let allowed = &mut p.decisions.permissions.allowed_apis;
        allowed.extend([api("payment.process"), api("data.delete")]);
    });
    service
        .register(registration("pay-1", policy.clone()))
        .unwrap();

    let small = evaluate(
        &service,
        "pay-1",
        json!({"action": "payment.process", "amount": 40.0}),
    );
    assert_eq!(small.outcome, Outcome::Allow, "{small:?}");
    let large = evaluate(
        &service,
        "pay-1",
        json!({"action": "payment.process", "amount": 250.0}),
    );
    assert_eq!(large.outcome, Outcome::Escalate, "{large:?}");
    assert_eq!(large.enforced, Enforcement::Deny);
    assert_eq!(
        large.policies,
        vec!["approval[payment.process above-100-usd]"]
    );
    assert!(
        large
            .reasons
            .last()
            .unwrap()
            .contains("default action (deny)")
    );
    // Another currency cannot be compared: it escalates (fails closed).
    let euros = evaluate(
        &service,
        "pay-1",
        json!({"action": "payment.process", "amount": 20.0, "currency": "EUR"}),
    );
    assert_eq!(euros.outcome, Outcome::Escalate);
    let delete = evaluate(
        &service,
        "pay-1",
        json!({"action": "data.delete", "resource": "dataset:old"}),
    );
    assert_eq!(delete.outcome, Outcome::Escalate);
    // An external email needs approval; an internal one does not.
    let external = evaluate(
        &service,
        "pay-1",
        json!({"action": "email.send", "destination": "x@gmail.com"}),
    );
    assert_eq!(
        (external.outcome, external.enforced),
        (Outcome::Escalate, Enforcement::Deny)
    );
    let internal = evaluate(
        &service,
        "pay-1",
        json!({"action": "email.send", "destination": "ops@company.com"}),
    );
    assert_eq!(internal.outcome, Outcome::Allow, "{internal:?}");

    // A hard deny beats an escalation: denied APIs are never escalated.
    let both = edited(policy.clone(), |p| {
        p.decisions.permissions.denied_apis.push(api("payment.*"))
    });
    service.register(registration("pay-2", both)).unwrap();
    let d = evaluate(
        &service,
        "pay-2",
        json!({"action": "payment.process", "amount": 250.0}),
    );
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.policies, vec!["sandbox.denied-api[payment.*]"]);

    // An escalation of something the policy refuses anyway is a deny.
    let refused = edited(policy.clone(), |p| {
        let allowed = &mut p.decisions.permissions.allowed_apis;
        allowed.retain(|a| a.value.to_string() != "data.delete");
    });
    service.register(registration("pay-3", refused)).unwrap();
    let d = evaluate(&service, "pay-3", json!({"action": "data.delete"}));
    assert_eq!(d.outcome, Outcome::Deny);
    assert_eq!(d.policies, vec!["sandbox.allowlist"]);

    // A policy whose default action is allow lets escalations through.
    let lenient = edited(policy, |p| {
        let approval = p.decisions.approval.as_mut().unwrap();
        approval.default_action = Located::unplaced(ApprovalDefault::Allow);
    });
    service.register(registration("pay-4", lenient)).unwrap();
    let d = evaluate(
        &service,
        "pay-4",
        json!({"action": "payment.process", "amount": 250.0}),
    );
    assert_eq!(
        (d.outcome, d.enforced),
        (Outcome::Escalate, Enforcement::Allow)
    );
}

#[test]
fn natural_language_escalation_and_forbid_win_over_permits() {
    let dir = tempfile::tempdir().unwrap();
    let service = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    let policy = edited(seed_policy(&dir.path().join("a.jsonl")), |p| {
        let rules = &mut p.decisions;
        rules.approval.as_mut().unwrap().triggers.clear();
        rules.permissions.allowed_apis = vec![api("crm.*"), api("report.*")];
        rules.natural_language = vec![
            "Agents may read and delete reports. Agents must obtain approval before deleting customer records. \
             Agents may not export customer data to third parties."
                .into(),
        ];
    });
    service.register(registration("nl-1", policy)).unwrap();
    let d = evaluate(
        &service,
        "nl-1",
        json!({"action": "report.delete", "resource": "report:q1"}),
    );
    assert_eq!(d.outcome, Outcome::Allow, "{d:?}");
    let d = evaluate(
        &service,
        "nl-1",
        json!({"action": "crm.delete", "resource": "customer:7"}),
    );
    assert_eq!(
        (d.outcome, d.policies.clone()),
        (Outcome::Escalate, vec!["nl:1.2.1".to_owned()])
    );
    let d = evaluate(
        &service,
        "nl-1",
        json!({"action": "crm.export", "resource": "customer:7", "destination": "https://broker.example"}),
    );
    assert_eq!(
        (d.outcome, d.policies.clone()),
        (Outcome::Deny, vec!["nl:1.3.1".to_owned()])
    );
    assert!(d.reasons[0].contains("third parties"), "{:?}", d.reasons);
}

fn admission(id: &str, policy: CompiledPolicy, requested: RequestedSandbox) -> AdmissionRequest {
    AdmissionRequest {
        container_id: id.into(),
        bundle: "/tmp/bundle".into(),
        args: vec!["/usr/bin/agent".into(), "--serve".into()],
        image: Some("registry.example/agent:1".into()),
        annotations: Default::default(),
        requested,
        policy,
    }
}

#[test]
fn admission_can_be_denied_by_policy() {
    let dir = tempfile::tempdir().unwrap();
    let service = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    let base = seed_policy(&dir.path().join("a.jsonl"));
    let plain = RequestedSandbox {
        network: "none".into(),
        ..Default::default()
    };

    let d = service.admit(&admission("a1", base.clone(), plain.clone()));
    assert_eq!(
        (d.outcome, d.policies.clone()),
        (Outcome::Allow, vec!["admission.default".to_owned()])
    );

    let denied = edited(base.clone(), |p| {
        p.decisions.permissions.denied_apis.push(api("sandbox.*"))
    });
    let d = service.admit(&admission("a2", denied, plain.clone()));
    assert_eq!(
        (d.outcome, d.policies.clone()),
        (
            Outcome::Deny,
            vec!["sandbox.denied-api[sandbox.*]".to_owned()]
        )
    );

    let no_gpu = edited(base.clone(), |p| p.decisions.gpu_access = GpuAccess::None);
    let gpu = RequestedSandbox {
        gpus: vec!["nvidia.com/gpu=0".into()],
        ..plain.clone()
    };
    let d = service.admit(&admission("a3", no_gpu.clone(), gpu.clone()));
    assert_eq!(
        (d.outcome, d.policies.clone()),
        (Outcome::Deny, vec!["admission.gpu-access".to_owned()])
    );
    assert!(
        service
            .admit(&admission("a3", no_gpu, plain.clone()))
            .is_allowed()
    );

    let restricted = edited(base.clone(), |p| {
        p.decisions.network = NetworkIsolation::Restricted
    });
    let host = RequestedSandbox {
        network: "host".into(),
        ..Default::default()
    };
    assert_eq!(
        service.admit(&admission("a4", restricted, host)).policies,
        vec!["admission.host-network"]
    );

    let sentence = edited(base.clone(), |p| {
        let text = "Sandboxes may not start with GPU access.";
        p.decisions.natural_language.push(text.into())
    });
    let d = service.admit(&admission("a5", sentence, gpu));
    assert_eq!(
        (d.outcome, d.policies.clone()),
        (Outcome::Deny, vec!["nl:2.1.1".to_owned()])
    );

    // A policy that does not compile fails closed, saying why and where.
    let broken = edited(base.clone(), |p| {
        let text = "Agents may read tickets. Please be excellent to each other.";
        p.decisions.natural_language.push(text.into())
    });
    let d = service.admit(&admission("a6", broken.clone(), plain.clone()));
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.reasons[0].contains("characters 25..59"),
        "{:?}",
        d.reasons
    );
    // A record changed after it was compiled (its digest no longer matches) is never compiled
    // from its own contents: where the genuine record's digest was compiled, the genuine rules
    // answer and the change has no effect; a service that has not seen the digest refuses it.
    let mut tampered = base.clone();
    tampered
        .decisions
        .permissions
        .denied_apis
        .push(api(openshell_policy::wire::ADMISSION_API));
    let d = service.admit(&admission("a7", tampered.clone(), plain.clone()));
    assert_eq!(
        d.outcome,
        Outcome::Allow,
        "the genuine rules: {:?}",
        d.reasons
    );
    let fresh = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    let d = fresh.admit(&admission("a7", tampered, plain.clone()));
    assert_eq!(d.outcome, Outcome::Deny);
    assert!(
        d.reasons[0].contains("changed after it was compiled"),
        "{:?}",
        d.reasons
    );
    let unknown_siem = edited(seed_policy(&dir.path().join("a.jsonl")), |p| {
        p.audit.destination = Some("siem://nowhere".into())
    });
    let d = service.admit(&admission("a8", unknown_siem, plain));
    assert!(d.reasons[0].contains("nowhere"), "{:?}", d.reasons);
}

#[test]
fn decision_contexts_conform_to_the_cedar_schema() {
    use cedar_policy_core::ast::{Request, RequestSchema};
    use cedar_policy_core::extensions::Extensions;
    use cedar_policy_core::validator::ValidatorSchema;
    let schema = ValidatorSchema::from_cedarschema_str(SCHEMA, Extensions::all_available())
        .unwrap()
        .0;
    let conforms = |r: &Request| {
        schema
            .validate_request(r, Extensions::all_available())
            .map_err(|e| e.to_string())
    };
    let dir = tempfile::tempdir().unwrap();
    let request = action(
        json!({"action": "crm.update", "resource": "customer:1", "destination": "a@b.com",
        "amount": 3.5, "attributes": {"ticket.status": "active"}, "agent": "support", "data": {"email": "a@b.com"}}),
    );
    let facts = ActionFacts::derive(&request, &DestinationAnalyzer::new(&[]));
    let service = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    let c = service.classify(&request, None);
    conforms(&action_request("c1", "customer:1", &request, &facts, &c))
        .expect("the action context matches the schema");
    let a = admission(
        "c1",
        seed_policy(&dir.path().join("a.jsonl")),
        RequestedSandbox::default(),
    );
    conforms(&admission_request(&a)).expect("the admission context matches the schema");
}

#[test]
fn unknown_containers_and_registry_reload() {
    let dir = tempfile::tempdir().unwrap();
    let node = node(dir.path());
    let service = PolicyService::new(ServiceSettings::new(node.clone())).unwrap();
    let err = service
        .evaluate(&EvaluateRequest {
            container_id: "ghost".into(),
            action: action(json!({"action": "crm.read"})),
        })
        .unwrap_err();
    assert!(err.to_string().contains("not registered"));
    std::fs::create_dir_all(&node.registry_dir).unwrap();
    let reg = registration("r-1", seed_policy(&dir.path().join("a.jsonl")));
    std::fs::write(
        node.registry_dir.join("r-1.json"),
        serde_json::to_vec(&reg).unwrap(),
    )
    .unwrap();
    std::fs::write(node.registry_dir.join("junk.json"), b"{").unwrap();
    let (loaded, problems) = service.load_registry(&node.registry_dir);
    assert_eq!(loaded, 1);
    assert_eq!(problems.len(), 1);
    assert_eq!(
        service.registration("r-1").unwrap().policy.name,
        "customer-support-agent"
    );
    assert!(service.unregister("r-1"));
    assert!(!service.unregister("r-1"));
    assert!(service.registration("r-1").is_none());
}

/// A policy whose only API rules are `denied` and `allowed`.
fn api_rules_policy(audit_file: &Path, denied: &[&str], allowed: &[&str]) -> CompiledPolicy {
    edited(seed_policy(audit_file), |p| {
        let rules = &mut p.decisions;
        rules.permissions.denied_apis = denied.iter().map(|p| api(p)).collect();
        rules.permissions.allowed_apis = allowed.iter().map(|p| api(p)).collect();
        rules.natural_language = Vec::new();
        rules.approval = None;
    })
}

/// Whether the generated Cedar matched `name`, read from the decision through `matched`;
/// `None` when the name was refused.
fn cedar_answer(decision: &Decision, matched: impl Fn(&Decision) -> bool) -> Option<bool> {
    if decision.outcome == Outcome::Deny && decision.reasons[0].ends_with("is not an API name") {
        return None;
    }
    Some(matched(decision))
}

#[test]
fn api_patterns_decide_in_cedar_exactly_as_the_policy_crate_matches() {
    let dir = tempfile::tempdir().unwrap();
    let audit_file = dir.path().join("policy-audit.jsonl");
    let service = PolicyService::new(ServiceSettings::new(node(dir.path()))).unwrap();
    // Every case through ApiPattern::matches (what the egress engine decides by) and through the
    // Cedar generated for the pattern as a deniedAPIs entry and as an allowedAPIs entry.
    for (index, (pattern, name, expected)) in openshell_policy::API_MATCH_CASES.iter().enumerate() {
        let rust = openshell_policy::normalize_api_name(name)
            .ok()
            .map(|normal| ApiPattern::parse(pattern).unwrap().matches(&normal));
        assert_eq!(rust, *expected, "ApiPattern: {pattern} ~ {name:?}");

        let id = format!("denied-{index}");
        let policy = api_rules_policy(&audit_file, &[pattern], &[]);
        service.register(registration(&id, policy)).unwrap();
        let denied = evaluate(&service, &id, json!({"action": name}));
        let in_denied = format!("sandbox.denied-api[{pattern}]");
        let cedar = cedar_answer(&denied, |d| d.policies.contains(&in_denied));
        assert_eq!(cedar, rust, "deniedAPIs: {pattern} ~ {name:?}: {denied:?}");

        let id = format!("allowed-{index}");
        let policy = api_rules_policy(&audit_file, &[], &[pattern]);
        service.register(registration(&id, policy)).unwrap();
        let allowed = evaluate(&service, &id, json!({"action": name}));
        let outside = "sandbox.allowlist".to_owned();
        let cedar = cedar_answer(&allowed, |d| !d.policies.contains(&outside));
        assert_eq!(
            cedar, rust,
            "allowedAPIs: {pattern} ~ {name:?}: {allowed:?}"
        );
    }
}

#[test]
fn api_patterns_the_policy_crate_refuses_are_refused_with_its_reason() {
    // A compiled record holds typed patterns, so a pattern the policy crate refuses can only
    // arrive as JSON (a hostile or corrupted registration): reading it fails with its reason.
    let dir = tempfile::tempdir().unwrap();
    let seed = registration(
        "refused",
        seed_policy(&dir.path().join("policy-audit.jsonl")),
    );
    let seed = serde_json::to_value(&seed).unwrap();
    for pattern in openshell_policy::API_PATTERN_REFUSALS {
        let reason = ApiPattern::parse(pattern).unwrap_err().to_string();
        for pointer in [
            "/policy/decisions/permissions/deniedAPIs",
            "/policy/decisions/permissions/allowedAPIs",
            "/policy/egress/permissions/deniedAPIs",
        ] {
            let mut value = seed.clone();
            *value.pointer_mut(pointer).unwrap() = json!([pattern]);
            let error = serde_json::from_value::<ContainerRegistration>(value)
                .unwrap_err()
                .to_string();
            assert!(error.contains(&reason), "{pointer} {pattern:?}: {error}");
        }
        let mut value = seed.clone();
        value["policy"]["decisions"]["approval"]["triggers"][0]["action"] = json!(pattern);
        let error = serde_json::from_value::<ContainerRegistration>(value)
            .unwrap_err()
            .to_string();
        assert!(error.contains(&reason), "trigger {pattern:?}: {error}");
    }
}

/// The entries in an admission cache directory.
fn cache_entries(dir: &Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn admission_cache_answers_later_processes_as_the_engine_did_and_never_stores_a_denial() {
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("admission-cache");
    let engine = || {
        PolicyService::for_admission(ServiceSettings::new(node(dir.path())))
            .unwrap()
            .with_admission_cache(&cache)
    };
    let base = seed_policy(&dir.path().join("a.jsonl"));
    let plain = RequestedSandbox {
        network: "none".into(),
        ..Default::default()
    };
    let first = engine().admit(&admission("c1", base.clone(), plain.clone()));
    assert!(first.is_allowed());
    assert_eq!(cache_entries(&cache).len(), 1);
    // Another process, another container, the same request under the same record.
    let second = engine().admit(&admission("c2", base.clone(), plain.clone()));
    assert_eq!(
        (second.outcome, &second.policies, &second.reasons),
        (first.outcome, &first.policies, &first.reasons)
    );
    assert_eq!(
        cache_entries(&cache).len(),
        1,
        "one entry per request, not per container"
    );

    let denied = edited(base.clone(), |p| {
        p.decisions.permissions.denied_apis.push(api("sandbox.*"))
    });
    for _ in 0..2 {
        let d = engine().admit(&admission("c3", denied.clone(), plain.clone()));
        assert_eq!(d.outcome, Outcome::Deny);
    }
    assert_eq!(cache_entries(&cache).len(), 1, "a denial is not stored");

    // A record whose digest does not match its contents is not looked up, and fails closed.
    let mut forged = base.clone();
    forged
        .decisions
        .permissions
        .denied_apis
        .push(api("sandbox.*"));
    let d = engine().admit(&admission("c4", forged, plain.clone()));
    assert_eq!(d.outcome, Outcome::Deny, "{:?}", d.reasons);

    // An entry edited on disk no longer answers: the engine decides again and rewrites it.
    let entry = cache_entries(&cache).pop().unwrap();
    let text = std::fs::read_to_string(&entry).unwrap();
    std::fs::write(
        &entry,
        text.replace("admission.default", "admission.forged"),
    )
    .unwrap();
    let again = engine().admit(&admission("c5", base, plain));
    assert_eq!(again.policies, first.policies);
    assert_eq!(std::fs::read_to_string(&entry).unwrap(), text);

    let trail = read_trail(&dir.path().join("trail.jsonl"), &TrailQuery::default()).unwrap();
    let admissions = trail
        .events
        .iter()
        .filter(|e| e.action == "sandbox.start")
        .count();
    assert_eq!(
        admissions, 6,
        "every admission is audited, answered from the cache or not"
    );
}
