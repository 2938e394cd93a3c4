//! The state every listener, the DNS responder and the admin API share; the engine
//! ([`crate::engine`]) builds it at start and its sweep keeps `firewall_ok` current.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use crate::actions::Actions;
use crate::audit::EgressAudit;
use crate::body_scan::BodyScanner;
use crate::config::EngineConfig;
use crate::interception::Interceptor;
use crate::metrics::Metrics;
use crate::rate_limit::RateLimits;
use crate::registry::Registry;
use crate::resolver::Resolver;
use crate::sandbox::NetworkInfo;
use crate::synthetic::SyntheticNames;

/// Everything the listeners share.
pub struct EngineState {
    /// The configuration.
    pub config: EngineConfig,
    /// Registered sandboxes.
    pub registry: Registry,
    /// Name resolution with address checks.
    pub resolver: Resolver,
    /// Synthetic DNS answers.
    pub synthetic: Mutex<SyntheticNames>,
    /// The interception CA.
    pub interceptor: Interceptor,
    /// Upstream TLS trust.
    pub upstream_tls: Arc<rustls::ClientConfig>,
    /// Audit events.
    pub audit: EgressAudit,
    /// Metrics.
    pub metrics: Metrics,
    /// The in-line decision engine and the approval queue's client.
    pub actions: Actions,
    /// `scanForPII` bounds.
    pub body_scanner: BodyScanner,
    /// Per-sandbox DNS and request rate limits.
    pub rate_limits: Arc<RateLimits>,
    /// Whether the node's table was in place at the last check.
    pub(crate) firewall_ok: AtomicBool,
}

impl EngineState {
    /// Whether sandboxes are confined: the table is in place, or the engine was told not to
    /// manage it.
    pub fn firewall_ready(&self) -> bool {
        !self.config.network.firewall || self.firewall_ok.load(Ordering::Acquire)
    }

    /// The node's sandbox network.
    pub fn network_info(&self) -> NetworkInfo {
        let network = &self.config.network;
        NetworkInfo {
            gateway: network.gateway(),
            pool: network.pool,
            synthetic: network.synthetic,
            proxy_port: network.proxy_port,
            transparent_port: network.transparent_port,
            dns_port: network.dns_port,
            proxy_url: network.proxy_url(),
            ca_cert: self.interceptor.ca_cert_path().to_owned(),
            interface_prefix: network.interface_prefix.clone(),
        }
    }
}
