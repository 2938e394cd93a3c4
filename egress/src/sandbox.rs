//! What a sandbox registers with the engine (the admin API's records) and its compiled form.

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

use openshell_policy::ApiCatalogSpec;

use crate::api_permissions::ApiPermissions;
use crate::rules::{EgressRules, RulesError};

pub use openshell_policy::compiled::EgressPolicy;

/// `POST /v1/sandboxes`: register a sandbox (or re-register it, keeping its address).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The container id.
    pub container_id: String,
    /// Its policy.
    pub policy: EgressPolicy,
}

/// A registered sandbox, as persisted and as `GET /v1/sandboxes/{id}` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxRecord {
    /// The container id.
    pub container_id: String,
    /// The host-side veth name.
    pub interface: String,
    /// The sandbox's address (its traffic's source address).
    pub sandbox_ip: Ipv4Addr,
    /// The active policy.
    pub policy: EgressPolicy,
    /// When it was registered.
    pub registered_at: DateTime<Utc>,
}

/// The node's sandbox network, as `GET /v1/network` shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetworkInfo {
    /// Every sandbox's gateway; the engine listens here.
    pub gateway: Ipv4Addr,
    /// The sandbox address pool.
    pub pool: Ipv4Net,
    /// The range of the DNS responder's synthetic answers.
    pub synthetic: Ipv4Net,
    /// The explicit proxy's port.
    pub proxy_port: u16,
    /// The transparent listener's port.
    pub transparent_port: u16,
    /// The DNS responder's port.
    pub dns_port: u16,
    /// `http://GATEWAY:PROXY_PORT`, for `HTTP_PROXY` / `HTTPS_PROXY`.
    pub proxy_url: String,
    /// The interception CA certificate (PEM) to mount into sandbox trust stores.
    pub ca_cert: PathBuf,
    /// Host-side veth name prefix.
    pub interface_prefix: String,
}

/// `POST /v1/sandboxes` answer: what the network step wires.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxNetwork {
    /// The container id.
    pub container_id: String,
    /// The host-side veth name.
    pub interface: String,
    /// The sandbox's address.
    pub sandbox_ip: Ipv4Addr,
    /// The node's sandbox network.
    pub network: NetworkInfo,
}

/// The host-side veth name of a container: `prefix` + 12 hex digits of SHA-256(id).
pub fn interface_name(prefix: &str, container_id: &str) -> String {
    let digest = Sha256::digest(container_id.as_bytes());
    let hex: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
    format!("{prefix}{hex}")
}

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
