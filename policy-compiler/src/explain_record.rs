//! The parts of a [`CompiledPolicy`] that act outside the container's spec, in a reviewer's
//! words: what the egress engine, the decision service, the approval workflow, the privacy
//! router and the audit trail do for the container. Read from the record, so what is shown is
//! what runs.

use std::fmt::Display;

use crate::compiled::CompiledPolicy;
use crate::documents::{
    EgressRule, Fallback, GpuAccess, NetworkIsolation, Preference, RedactionEndpoints,
};
use crate::explain::Section;
use crate::located::Located;

/// One section per component, in a fixed order; a component with nothing to do says so.
pub(crate) fn services(policy: &CompiledPolicy) -> Vec<Section> {
    vec![
        Section {
            title: "Egress",
            lines: egress(policy),
        },
        Section {
            title: "Decisions",
            lines: decisions(policy),
        },
        Section {
            title: "Approvals",
            lines: approvals(policy),
        },
        Section {
            title: "Routing",
            lines: routing(policy),
        },
        Section {
            title: "Audit",
            lines: audit(policy),
        },
        Section {
            title: "Compiled record",
            lines: vec![format!(
                "{} (written to the container's state as policy.json; the hook, egress engine, \
                 router and decision service read it and check this digest)",
                policy.digest
            )],
        },
    ]
}

fn list<T: Display>(items: &[Located<T>]) -> String {
    items
        .iter()
        .map(|item| item.value.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn rule(rule: &EgressRule) -> String {
    let mut text = rule.domain.value.to_string();
    if !rule.methods.is_empty() {
        text.push_str(&format!(" methods {}", list(&rule.methods)));
    }
    if !rule.ports.is_empty() {
        text.push_str(&format!(" ports {}", list(&rule.ports)));
    }
    text
}

fn egress(policy: &CompiledPolicy) -> Vec<String> {
    let mut lines = Vec::new();
    if policy.decisions.network != NetworkIsolation::Restricted {
        lines.push(format!(
            "not enforced: network is {} (only restricted sandboxes go through the egress engine)",
            serde_name(&policy.decisions.network)
        ));
        return lines;
    }
    let network = &policy.egress.network;
    if network.egress.allow.is_empty() {
        lines.push("allow: nothing (every destination is refused)".to_owned());
    }
    lines.extend(
        network
            .egress
            .allow
            .iter()
            .map(|r| format!("allow {}", rule(r))),
    );
    lines.extend(
        network
            .egress
            .deny
            .iter()
            .map(|r| format!("deny {} (deny wins)", rule(r))),
    );
    lines.extend(network.ingress.allow.iter().map(|r| {
        format!(
            "ingress from {} to {}{}",
            r.source.value,
            r.path.value,
            if r.methods.is_empty() {
                String::new()
            } else {
                format!(" methods {}", list(&r.methods))
            }
        )
    }));
    let inspection = &network.inspection;
    lines.push(format!(
        "TLS decrypted: {}; PII scanned: {}; payloads logged: {}",
        yes_no(inspection.tls_decrypt.value),
        yes_no(inspection.scan_for_pii.value),
        yes_no(inspection.log_payloads.value)
    ));
    if let Some(catalog) = &policy.egress.catalog {
        lines.push(format!(
            "API permissions enforced per request through the policy's catalog ({} APIs)",
            catalog.apis.len()
        ));
    }
    lines
}

fn decisions(policy: &CompiledPolicy) -> Vec<String> {
    let rules = &policy.decisions;
    let mut lines = Vec::new();
    if !rules.permissions.allowed_apis.is_empty() {
        lines.push(format!(
            "allowed APIs: {} (anything else is denied)",
            list(&rules.permissions.allowed_apis)
        ));
    }
    if !rules.permissions.denied_apis.is_empty() {
        lines.push(format!(
            "denied APIs: {} (deny wins)",
            list(&rules.permissions.denied_apis)
        ));
    }
    for text in &rules.natural_language {
        lines.push(format!("natural-language rule: {}", text.trim()));
    }
    lines.push(match rules.gpu_access {
        GpuAccess::None => "admission refuses a sandbox that requests GPUs".to_owned(),
        access => format!("GPU access: {}", serde_name(&access)),
    });
    if rules.network != NetworkIsolation::Host {
        lines.push("admission refuses a sandbox on the host network".to_owned());
    }
    lines
}

fn approvals(policy: &CompiledPolicy) -> Vec<String> {
    let Some(approval) = &policy.decisions.approval else {
        return vec!["no ApprovalPolicy: an escalation is denied".to_owned()];
    };
    let mut lines: Vec<String> = approval
        .triggers
        .iter()
        .map(|t| format!("{} needs approval ({})", t.action.value, t.threshold.value))
        .collect();
    if !approval.channels.is_empty() {
        lines.push(format!("notified through {}", list(&approval.channels)));
    }
    lines.push(format!(
        "unanswered after {}: {}",
        approval.timeout.value,
        serde_name(&approval.default_action.value)
    ));
    lines
}

fn routing(policy: &CompiledPolicy) -> Vec<String> {
    let Some(routing) = &policy.routing else {
        return vec![
            "no PrivacyRouterPolicy: the router refuses this sandbox's requests".to_owned(),
        ];
    };
    let spec = &routing.spec;
    let mut lines = vec![format!("PrivacyRouterPolicy {}", routing.name)];
    for endpoint in &spec.endpoints {
        lines.push(format!(
            "endpoint {} {}{}{}",
            endpoint.name.value,
            endpoint.url.value,
            if endpoint.local.value { " (local)" } else { "" },
            endpoint
                .region
                .as_ref()
                .map(|r| format!(" region {}", r.value))
                .unwrap_or_default()
        ));
        if let Some(cost) = &endpoint.cost {
            let last = lines.len() - 1;
            lines[last].push_str(&format!(" cost {} per million tokens", cost.value));
        }
    }
    for (sensitivity, endpoints) in &spec.routes {
        lines.push(format!(
            "{} data → {}",
            sensitivity.value.as_str(),
            list(endpoints)
        ));
    }
    for rule in &spec.residency_rules {
        lines.push(format!(
            "residency {}: {} only to {}",
            rule.region.value,
            rule.data_types
                .iter()
                .map(|d| serde_name(&d.value))
                .collect::<Vec<_>>()
                .join(", "),
            list(&rule.allowed_endpoints)
        ));
    }
    if let Some(redaction) = &spec.redaction {
        lines.push(format!(
            "redaction: {} replaced by placeholders before reaching {} (restored in answers)",
            redaction
                .data_types
                .value
                .iter()
                .map(|d| serde_name(&d.value))
                .collect::<Vec<_>>()
                .join(", "),
            match redaction.endpoints.value {
                RedactionEndpoints::NonLocal => "non-local endpoints",
                RedactionEndpoints::All => "any endpoint",
            }
        ));
    }
    lines.push(format!(
        "among allowed endpoints that are up: {} (route order between near-equal scores)",
        match spec
            .preference
            .as_ref()
            .map(|p| p.value)
            .unwrap_or_default()
        {
            Preference::Balanced => "measured latency, errors and cost, weighted equally",
            Preference::Latency => "measured latency and errors",
            Preference::Cost => "cost first, then measured latency and errors",
        }
    ));
    lines.push(match spec.fallback.value {
        Fallback::LocalOnly => "no allowed endpoint healthy: a local endpoint".to_owned(),
        Fallback::Deny => "no allowed endpoint healthy: refused".to_owned(),
    });
    if let Some(region) = &policy.region {
        lines.push(format!("the sandbox's region: {region}"));
    }
    lines
}

fn audit(policy: &CompiledPolicy) -> Vec<String> {
    let audit = &policy.audit;
    if !audit.enabled {
        return vec!["off (auditLog.enabled: false)".to_owned()];
    }
    vec![match &audit.destination {
        Some(destination) => format!("every decision to {destination} and the node's trail"),
        None => "every decision to the node's trail".to_owned(),
    }]
}

fn yes_no(value: bool) -> &'static str {
    if value { "yes" } else { "no" }
}

/// The policy language's spelling of an enum value (`inference-only`, `restricted`).
fn serde_name(value: &impl serde::Serialize) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routing_shows_costs_redaction_and_ranking() {
        let record = crate::compile_default(
            "routing.yaml",
            "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: routed
spec: {}
---
privacyRouter:
  name: routed-models
  endpoints:
    - name: local
      url: http://127.0.0.1:8000/v1
      local: true
    - name: cloud
      url: https://api.cloud.example/v1
      cost: 2.5
  routes:
    public: [cloud, local]
  redaction:
    dataTypes: [personalData]
  preference: cost
",
        )
        .unwrap();
        let text = routing(&record).join("\n");
        for expected in [
            "endpoint cloud https://api.cloud.example/v1 cost 2.5 per million tokens",
            "redaction: personalData replaced by placeholders before reaching non-local endpoints",
            "cost first, then measured latency and errors",
        ] {
            assert!(
                text.contains(expected),
                "{expected:?} missing from:\n{text}"
            );
        }
    }
}
