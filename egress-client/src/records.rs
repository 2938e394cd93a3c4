//! The admin API's records: what the hook registers, what the engine answers and persists.

use std::net::Ipv4Addr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use ipnet::Ipv4Net;
use openshell_policy::CompiledPolicy;
use openshell_policy::compiled::EgressPolicy;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// `POST /v1/sandboxes`: register a sandbox (or re-register it, keeping its address).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterRequest {
    /// The container id.
    pub container_id: String,
    /// Its policy.
    pub policy: EgressPolicy,
    /// The container's whole compiled policy record, for the in-line decision on each API
    /// call (natural-language rules, approval triggers); without it only `policy` applies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<CompiledPolicy>,
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
    /// The compiled policy record each API call is decided under, if registered with one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<CompiledPolicy>,
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
