//! A registered sandbox in its compiled form (the admin API's records are the client crate's).

use std::sync::Arc;

use tokio::sync::Semaphore;

use openshell_policy::ApiCatalogSpec;

use crate::api_permissions::ApiPermissions;
use crate::rules::{EgressRules, RulesError};

pub use openshell_policy::compiled::EgressPolicy;

pub use openshell_egress_client::records::{
    NetworkInfo, RegisterRequest, SandboxNetwork, SandboxRecord, interface_name,
};

/// A registered sandbox with its rules compiled.
pub struct Sandbox {
    /// The record.
    pub record: SandboxRecord,
    /// Compiled egress rules.
    pub rules: EgressRules,
    /// API permissions with their catalog.
    pub apis: ApiPermissions,
    /// Client connections it may still open (shared across policy replacements).
    pub connections: Arc<Semaphore>,
}

impl Sandbox {
    /// Compiles `record` (the catalog falls back to `default_catalog`).
    pub fn compile(
        record: SandboxRecord,
        http_ports: &[u16],
        default_catalog: Option<&ApiCatalogSpec>,
        connections: Arc<Semaphore>,
    ) -> Result<Sandbox, RulesError> {
        let rules = EgressRules::compile(&record.policy.network, http_ports)?;
        let catalog = record
            .policy
            .catalog
            .clone()
            .or_else(|| default_catalog.cloned());
        let apis = ApiPermissions::new(&record.policy.permissions, catalog);
        Ok(Sandbox {
            record,
            rules,
            apis,
            connections,
        })
    }

    /// The container id.
    pub fn id(&self) -> &str {
        &self.record.container_id
    }

    /// Whether `tlsDecrypt` is on.
    pub fn tls_decrypt(&self) -> bool {
        self.record.policy.network.inspection.tls_decrypt.value
    }

    /// Whether `scanForPII` is on.
    pub fn scan_for_pii(&self) -> bool {
        self.record.policy.network.inspection.scan_for_pii.value
    }

    /// Whether each catalogued API call is decided in process under the sandbox's compiled
    /// policy record (it was registered with one).
    pub fn decides_actions(&self) -> bool {
        self.record.record.is_some()
    }

    /// Whether `logPayloads` is on.
    pub fn log_payloads(&self) -> bool {
        self.record.policy.network.inspection.log_payloads.value
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interface_names_fit_the_kernel_limit_and_differ() {
        let a = interface_name("osh", "container-a");
        let b = interface_name("osh", "container-b");
        assert_eq!(a.len(), 15);
        assert!(a.starts_with("osh"));
        assert_ne!(a, b);
        assert_eq!(a, interface_name("osh", "container-a"));
    }

    #[test]
    fn policy_from_a_policy_file() {
        let text = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: sales-ops-agent
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [crm.read]
    deniedAPIs: [admin.*]
  auditLog:
    destination: file:///var/log/x.jsonl
---
networkPolicy:
  name: sales-ops-agent
  egress:
    allow:
      - domain: api.hubspot.com
        methods: [GET]
  inspection:
    tlsDecrypt: true
";
        let set = openshell_policy::PolicySet::parse("p.yaml", text).unwrap();
        let policy = openshell_policy::egress_policy(&set);
        assert_eq!(policy.name, "sales-ops-agent");
        assert_eq!(policy.network.egress.allow.len(), 1);
        assert!(policy.network.inspection.tls_decrypt.value);
        assert_eq!(policy.permissions.denied_apis[0].value.as_str(), "admin.*");
        assert_eq!(
            policy.audit.destination.as_deref(),
            Some("file:///var/log/x.jsonl")
        );
        // The registration survives JSON both ways (the admin API and the state file).
        let json = serde_json::to_string(&policy).unwrap();
        let back: EgressPolicy = serde_json::from_str(&json).unwrap();
        assert_eq!(back, policy);
    }
}
