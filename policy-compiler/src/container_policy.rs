//! A loaded policy in the plain form the hook and the node services read
//! ([`ContainerPolicy`]): names, digests and decision rules, without YAML positions.

use std::path::PathBuf;

use serde::Serialize;

use crate::PolicySet;
use crate::documents::ApprovalDefault;
use crate::wire::{ApprovalTrigger, AuditSettings, ContainerPolicy, Enforcement, PolicyRules};

impl PolicySet {
    /// The policy as the runtime records it for the container: its rules, its documents'
    /// file, and the container's data-residency `region` (node or annotation), if any.
    pub fn container_policy(&self, region: Option<String>) -> ContainerPolicy {
        let sandbox = self.sandbox();
        let permissions = sandbox.map(|s| &s.spec.permissions);
        let globs = |patterns: Option<&Vec<crate::Located<crate::ApiPattern>>>| {
            patterns
                .into_iter()
                .flatten()
                .map(|pattern| pattern.value.to_string())
                .collect::<Vec<_>>()
        };
        let approval = self.approval().map(|a| &a.spec);
        let audit = sandbox.map(|s| &s.spec.audit_log);
        let rules = PolicyRules {
            allowed_apis: globs(permissions.map(|p| &p.allowed_apis)),
            denied_apis: globs(permissions.map(|p| &p.denied_apis)),
            natural_language: self
                .natural_language()
                .iter()
                .map(|nl| nl.spec.text.value.clone())
                .collect(),
            approval_triggers: approval
                .map(|spec| {
                    spec.triggers
                        .iter()
                        .map(|trigger| ApprovalTrigger {
                            action: trigger.action.value.to_string(),
                            threshold: trigger.threshold.value.to_string(),
                        })
                        .collect()
                })
                .unwrap_or_default(),
            approval_default: match approval.map(|spec| spec.default_action.value) {
                Some(ApprovalDefault::Allow) => Enforcement::Allow,
                Some(ApprovalDefault::Deny) | None => Enforcement::Deny,
            },
            gpu_access: sandbox.and_then(|s| wire_name(&s.spec.resources.gpu_access.value)),
            network: sandbox.and_then(|s| wire_name(&s.spec.isolation.network.value)),
            audit: AuditSettings {
                enabled: audit.is_some_and(|a| a.enabled.value),
                destination: audit
                    .and_then(|a| a.destination.as_ref())
                    .map(|d| d.value.to_string()),
            },
            region,
        };
        ContainerPolicy {
            name: self.name().to_owned(),
            digest: self.digest().to_owned(),
            documents: vec![PathBuf::from(self.file())],
            rules,
        }
    }
}

/// The YAML spelling of an enum value (`inference-only`, `restricted`).
fn wire_name(value: &impl Serialize) -> Option<String> {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_customer_support_bundle_becomes_plain_rules() {
        let dir = env!("CARGO_MANIFEST_DIR");
        let set = PolicySet::load(format!(
            "{dir}/../bundles/customer-support/openshell-policy.yaml"
        ))
        .unwrap();
        let plain = set.container_policy(Some("EU".into()));
        assert_eq!(plain.name, "customer-support-agent");
        assert_eq!(plain.digest, set.digest());
        let rules = &plain.rules;
        assert_eq!(
            rules.allowed_apis,
            ["crm.read", "crm.update", "ticket.create", "ticket.resolve"]
        );
        assert_eq!(rules.denied_apis, ["admin.*", "billing.*", "user.delete"]);
        assert_eq!(rules.natural_language.len(), 1);
        assert!(rules.natural_language[0].starts_with("Customer support agents may access"));
        assert!(
            rules
                .approval_triggers
                .iter()
                .any(|t| t.action == "payment.process" && t.threshold == "above-100-usd")
        );
        assert_eq!(rules.approval_default, Enforcement::Deny);
        assert_eq!(rules.gpu_access.as_deref(), Some("inference-only"));
        assert_eq!(rules.network.as_deref(), Some("restricted"));
        assert!(rules.audit.enabled);
        assert_eq!(
            rules.audit.destination.as_deref(),
            Some("siem://security-events")
        );
        assert_eq!(rules.region.as_deref(), Some("EU"));
    }
}
