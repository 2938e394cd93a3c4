//! The engine's configuration: `openshell-egress --config FILE` (TOML, every key optional).
//!
//! ```toml
//! state_file = "/run/openshell/egress/state.json"   # registrations, restored at start
//! catalog = "/etc/openshell/api-catalog.yaml"           # node-wide ApiCatalog (optional)
//!
//! [network]                     # pool and proxy_port: the node configuration's [egress]
//! synthetic = "10.201.0.0/16"   # what the DNS responder answers for allowed names
//! interface_prefix = "osh"      # host-side veth names: prefix + 12 hex digits
//! transparent_port = 3129       # redirected TCP
//! dns_port = 53
//! http_ports = [80, 443]        # what an allow rule without `ports` allows
//! firewall = true               # install the node's nftables table at start
//!
//! [resolver]
//! system = true                 # resolve through /etc/resolv.conf (hickory)
//! [resolver.hosts]              # fixed answers, consulted first
//! "api.hubspot.com" = ["203.0.113.10"]
//!
//! [[addresses.internal_allow]]  # internal addresses a rule may reach, by name
//! domain = "smtp.company.com"
//! cidr = "10.1.0.0/16"
//!
//! [upstream]
//! ca_file = "/etc/ssl/certs/ca-certificates.crt"   # trust store for upstream TLS (PEM)
//! connect_timeout_ms = 5000
//!
//! [tls]                         # interception CA; default: the node config's [egress]
//! ca_cert = "/var/lib/openshell/egress/ca.pem"     # created with its key if both are absent
//! ca_key = "/var/lib/openshell/egress/ca.key"
//! permitted_domains = []        # X.509 name constraints of a CA created here (empty: none)
//! leaf_cache = 1024
//!
//! [limits]
//! max_header_bytes = 65536
//! header_timeout_ms = 10000
//! body_scan_max_bytes = 4194304
//! scan_timeout_ms = 500
//! sniff_timeout_ms = 300
//! max_connections_per_sandbox = 256
//! dns_queries_per_second = 50   # per sandbox; over it DNS answers REFUSED
//! dns_burst = 100
//! requests_per_second = 100     # per sandbox (HTTP requests and CONNECTs); over it 429
//! request_burst = 200
//!
//! [inspection]
//! block_at = "restricted"       # scanForPII blocks bodies at or above this sensitivity
//!
//! [ingress]                     # webhooks into sandboxes (absent listen: none reach them)
//! listen = "192.0.2.1:8443"     # /sandboxes/<container-id>/<path>
//! sandbox_port = 8080           # where sandboxes serve them
//! ```

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ipnet::{IpNet, Ipv4Net};
use openshell_policy::DomainPattern;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::Sensitivity;
use serde::{Deserialize, Serialize};

/// Errors reading the configuration.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read egress configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Not valid TOML, or unknown keys.
    #[error("invalid egress configuration {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with line and column.
        message: String,
    },
    /// Well-formed but meaningless.
    #[error("invalid egress configuration: {0}")]
    Invalid(String),
}

/// The engine's configuration.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Registrations are saved here and restored at start (by default on /run: sandboxes do
    /// not outlive a reboot, so neither should their registrations).
    pub state_file: PathBuf,
    /// A node-wide ApiCatalog file, used for sandboxes registered without a catalog.
    pub catalog: Option<PathBuf>,
    /// Addresses, ports and the firewall.
    pub network: NetworkSettings,
    /// How names are resolved.
    pub resolver: ResolverSettings,
    /// Which internal addresses may be reached.
    pub addresses: AddressSettings,
    /// Upstream connections.
    pub upstream: UpstreamSettings,
    /// The interception CA.
    pub tls: TlsSettings,
    /// Limits against hostile clients.
    pub limits: Limits,
    /// Body inspection.
    pub inspection: InspectionSettings,
    /// Requests into sandboxes.
    pub ingress: IngressSettings,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            state_file: PathBuf::from("/run/openshell/egress/state.json"),
            catalog: None,
            network: NetworkSettings::default(),
            resolver: ResolverSettings::default(),
            addresses: AddressSettings::default(),
            upstream: UpstreamSettings::default(),
            tls: TlsSettings::default(),
            limits: Limits::default(),
            inspection: InspectionSettings::default(),
            ingress: IngressSettings::default(),
        }
    }
}

/// `[network]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NetworkSettings {
    /// Sandbox addresses; the first host address is every sandbox's gateway. Read from the
    /// node configuration's `[egress] pool`, which the runtime wires sandboxes by too.
    #[serde(skip)]
    pub pool: Ipv4Net,
    /// Synthetic addresses handed out by the DNS responder.
    pub synthetic: Ipv4Net,
    /// Host-side veth name prefix (at most 3 characters: names are prefix + 12 hex digits).
    pub interface_prefix: String,
    /// The explicit proxy's port on the gateway (the node configuration's `[egress]
    /// proxy_port`).
    #[serde(skip)]
    pub proxy_port: u16,
    /// The privacy router's port on the gateway (the node configuration's `[egress]
    /// router_port`): sandboxes connect to it directly, never through the proxy.
    #[serde(skip)]
    pub router_port: u16,
    /// The transparent listener's port on the gateway.
    pub transparent_port: u16,
    /// The DNS responder's port on the gateway.
    pub dns_port: u16,
    /// What an allow rule without `ports` allows.
    pub http_ports: Vec<u16>,
    /// Whether the engine installs the node's nftables table at start.
    pub firewall: bool,
}

impl Default for NetworkSettings {
    fn default() -> Self {
        let egress = openshell_policy::node_config::EgressSettings::default();
        NetworkSettings {
            pool: egress.pool,
            synthetic: "10.201.0.0/16".parse().expect("valid default range"),
            interface_prefix: "osh".to_owned(),
            proxy_port: egress.proxy_port,
            router_port: egress.router_port,
            transparent_port: 3129,
            dns_port: 53,
            http_ports: vec![80, 443],
            firewall: true,
        }
    }
}

impl NetworkSettings {
    /// The gateway address every sandbox routes through: the pool's first host address.
    pub fn gateway(&self) -> Ipv4Addr {
        nth_host(self.pool, 1)
    }

    /// The explicit proxy's URL, as injected into sandboxes.
    pub fn proxy_url(&self) -> String {
        format!("http://{}:{}", self.gateway(), self.proxy_port)
    }
}

/// The `n`-th address of `net` (0 = the network address).
pub fn nth_host(net: Ipv4Net, n: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(net.network()).wrapping_add(n))
}

/// `[resolver]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResolverSettings {
    /// Whether names without a fixed answer go to the system resolver.
    pub system: bool,
    /// Fixed answers: name → addresses.
    pub hosts: BTreeMap<String, Vec<IpAddr>>,
}

impl Default for ResolverSettings {
    fn default() -> Self {
        ResolverSettings {
            system: true,
            hosts: BTreeMap::new(),
        }
    }
}

/// `[addresses]`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AddressSettings {
    /// Internal addresses that hosts matching a pattern may resolve to.
    pub internal_allow: Vec<InternalAllow>,
}

/// One `[[addresses.internal_allow]]` entry.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InternalAllow {
    /// Hosts this applies to.
    pub domain: DomainPattern,
    /// The internal range they may resolve to.
    pub cidr: IpNet,
}

/// `[upstream]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UpstreamSettings {
    /// PEM trust store for upstream TLS.
    pub ca_file: PathBuf,
    /// TCP connect timeout, milliseconds.
    pub connect_timeout_ms: u64,
}

impl Default for UpstreamSettings {
    fn default() -> Self {
        UpstreamSettings {
            ca_file: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
            connect_timeout_ms: 5000,
        }
    }
}

/// `[tls]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// The CA certificate (PEM); published to sandboxes.
    pub ca_cert: Option<PathBuf>,
    /// The CA key (PEM, PKCS#8).
    pub ca_key: Option<PathBuf>,
    /// Name constraints of a CA the engine creates (empty: unconstrained).
    pub permitted_domains: Vec<String>,
    /// Leaf certificates kept.
    pub leaf_cache: usize,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            ca_cert: None,
            ca_key: None,
            permitted_domains: Vec::new(),
            leaf_cache: 1024,
        }
    }
}

/// `[limits]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request head (request line + headers).
    pub max_header_bytes: usize,
    /// Time a client has to send a request head, milliseconds.
    pub header_timeout_ms: u64,
    /// Largest body scanned for PII; larger bodies are refused when scanning is on.
    pub body_scan_max_bytes: usize,
    /// Time allowed to receive and scan a body, milliseconds.
    pub scan_timeout_ms: u64,
    /// Time to wait for a tunnel's first bytes before treating it as opaque, milliseconds.
    pub sniff_timeout_ms: u64,
    /// Open client connections one sandbox may hold.
    pub max_connections_per_sandbox: usize,
    /// DNS queries one sandbox may send per second, on average; more are answered REFUSED.
    pub dns_queries_per_second: u32,
    /// DNS queries one sandbox may send at once after being quiet.
    pub dns_burst: u32,
    /// HTTP requests (and CONNECTs) one sandbox may send per second, on average; more are
    /// answered 429.
    pub requests_per_second: u32,
    /// Requests one sandbox may send at once after being quiet.
    pub request_burst: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_header_bytes: 64 * 1024,
            header_timeout_ms: 10_000,
            body_scan_max_bytes: 4 * 1024 * 1024,
            scan_timeout_ms: 500,
            sniff_timeout_ms: 300,
            max_connections_per_sandbox: 256,
            dns_queries_per_second: 50,
            dns_burst: 100,
            requests_per_second: 100,
            request_burst: 200,
        }
    }
}

impl Limits {
    /// [`Limits::header_timeout_ms`] as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }

    /// [`Limits::scan_timeout_ms`] as a duration.
    pub fn scan_timeout(&self) -> Duration {
        Duration::from_millis(self.scan_timeout_ms)
    }

    /// [`Limits::sniff_timeout_ms`] as a duration.
    pub fn sniff_timeout(&self) -> Duration {
        Duration::from_millis(self.sniff_timeout_ms)
    }
}

/// `[inspection]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InspectionSettings {
    /// Bodies classified at or above this level are blocked when `scanForPII` is on; lower
    /// levels with findings are allowed and audited with their classification.
    pub block_at: Sensitivity,
}

impl Default for InspectionSettings {
    fn default() -> Self {
        InspectionSettings {
            block_at: Sensitivity::Restricted,
        }
    }
}

/// `[ingress]`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IngressSettings {
    /// Where the engine accepts requests for sandboxes; absent = nothing reaches them.
    pub listen: Option<std::net::SocketAddr>,
    /// The port sandboxes serve inbound requests on.
    pub sandbox_port: u16,
}

impl Default for IngressSettings {
    fn default() -> Self {
        IngressSettings {
            listen: None,
            sandbox_port: 8080,
        }
    }
}

impl EngineConfig {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<EngineConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        EngineConfig::parse(&text, path)
    }

    /// Parses configuration text; `path` names it in errors.
    pub fn parse(text: &str, path: &Path) -> Result<EngineConfig, ConfigError> {
        let config: EngineConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim_end().to_owned(),
        })?;
        config.check()?;
        Ok(config)
    }

    /// Takes the sandbox pool and proxy port from the node configuration's `[egress]` (their
    /// one home), and the CA paths too when this file names none.
    pub fn with_node_defaults(mut self, node: &NodeConfig) -> Result<EngineConfig, ConfigError> {
        self.network.pool = node.egress.pool;
        self.network.proxy_port = node.egress.proxy_port;
        self.network.router_port = node.egress.router_port;
        if self.tls.ca_cert.is_none() && self.tls.ca_key.is_none() {
            self.tls.ca_cert = node.egress.ca_cert.clone();
            self.tls.ca_key = node.egress.ca_key.clone();
        }
        self.check()?;
        Ok(self)
    }

    /// Checks what TOML types cannot.
    pub fn check(&self) -> Result<(), ConfigError> {
        let invalid = |m: String| Err(ConfigError::Invalid(m));
        let network = &self.network;
        if network.pool.prefix_len() > 29 {
            return invalid(format!(
                "[egress] pool {} is too small: it needs room for a gateway and sandboxes",
                network.pool
            ));
        }
        if network.synthetic.prefix_len() > 30 {
            return invalid(format!(
                "network.synthetic {} is too small",
                network.synthetic
            ));
        }
        if network.pool.contains(&network.synthetic.network())
            || network.synthetic.contains(&network.pool.network())
        {
            return invalid(format!(
                "[egress] pool {} and network.synthetic {} overlap",
                network.pool, network.synthetic
            ));
        }
        let prefix = &network.interface_prefix;
        if prefix.is_empty()
            || prefix.len() > 3
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        {
            return invalid(format!(
                "network.interface_prefix {prefix:?} must be 1 to 3 lower-case letters or digits"
            ));
        }
        let ports = [
            (
                "proxy_port ([egress] in the node configuration)",
                network.proxy_port,
            ),
            (
                "router_port ([egress] in the node configuration)",
                network.router_port,
            ),
            ("transparent_port", network.transparent_port),
            ("dns_port", network.dns_port),
        ];
        for (name, port) in ports {
            if port == 0 {
                return invalid(format!("network.{name} must not be 0"));
            }
        }
        for (index, (name, port)) in ports.iter().enumerate().take(3) {
            if let Some((other, _)) = ports[index + 1..3].iter().find(|(_, p)| p == port) {
                return invalid(format!(
                    "network.{name} and network.{other} are both {port}"
                ));
            }
        }
        if network.http_ports.is_empty() || network.http_ports.contains(&0) {
            return invalid("network.http_ports must list ports 1-65535".into());
        }
        if self.tls.ca_cert.is_some() != self.tls.ca_key.is_some() {
            return invalid("tls.ca_cert and tls.ca_key must be given together".into());
        }
        if self.ingress.sandbox_port == 0 {
            return invalid("ingress.sandbox_port must not be 0".into());
        }
        if self.limits.max_header_bytes < 8192 {
            return invalid("limits.max_header_bytes must be at least 8192".into());
        }
        if self.limits.max_connections_per_sandbox == 0 || self.tls.leaf_cache == 0 {
            return invalid(
                "limits.max_connections_per_sandbox and tls.leaf_cache must be at least 1".into(),
            );
        }
        let rates = [
            ("dns_queries_per_second", self.limits.dns_queries_per_second),
            ("dns_burst", self.limits.dns_burst),
            ("requests_per_second", self.limits.requests_per_second),
            ("request_burst", self.limits.request_burst),
        ];
        for (name, rate) in rates {
            if rate == 0 {
                return invalid(format!("limits.{name} must be at least 1"));
            }
        }
        for (name, addresses) in &self.resolver.hosts {
            if addresses.is_empty() {
                return invalid(format!("resolver.hosts.{name:?} lists no address"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_derived_addresses() {
        let config = EngineConfig::parse("", Path::new("e.toml")).unwrap();
        assert_eq!(config.network.gateway(), Ipv4Addr::new(10, 200, 0, 1));
        assert_eq!(config.network.proxy_url(), "http://10.200.0.1:3128");
        assert_eq!(config.limits.body_scan_max_bytes, 4 << 20);
        assert_eq!(config.inspection.block_at, Sensitivity::Restricted);
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
state_file = "/tmp/s.json"
[network]
synthetic = "10.51.0.0/24"
[resolver]
system = false
[resolver.hosts]
"api.hubspot.com" = ["203.0.113.10"]
[[addresses.internal_allow]]
domain = "smtp.company.com"
cidr = "10.1.0.0/16"
[inspection]
block_at = "confidential"
"#;
        let config = EngineConfig::parse(text, Path::new("e.toml")).unwrap();
        assert_eq!(config.network.synthetic.to_string(), "10.51.0.0/24");
        assert_eq!(
            config.resolver.hosts["api.hubspot.com"],
            vec!["203.0.113.10".parse::<IpAddr>().unwrap()]
        );
        assert_eq!(
            config.addresses.internal_allow[0].cidr.to_string(),
            "10.1.0.0/16"
        );
        assert_eq!(config.inspection.block_at, Sensitivity::Confidential);
    }

    #[test]
    fn the_pool_and_proxy_port_come_from_the_node_configuration() {
        let mut node = NodeConfig::default();
        node.egress.pool = "10.50.0.0/24".parse().unwrap();
        node.egress.proxy_port = 8080;
        let config = EngineConfig::default().with_node_defaults(&node).unwrap();
        assert_eq!(config.network.gateway(), Ipv4Addr::new(10, 50, 0, 1));
        assert_eq!(config.network.proxy_url(), "http://10.50.0.1:8080");
        assert_eq!(config.network.gateway(), node.egress.gateway());
        node.egress.pool = "10.0.0.0/30".parse().unwrap();
        let err = EngineConfig::default()
            .with_node_defaults(&node)
            .unwrap_err();
        assert!(err.to_string().contains("[egress] pool"), "{err}");
        node.egress.pool = "10.201.0.0/16".parse().unwrap();
        let err = EngineConfig::default()
            .with_node_defaults(&node)
            .unwrap_err();
        assert!(err.to_string().contains("overlap"), "{err}");
    }

    #[test]
    fn bad_values_are_named() {
        let cases = [
            (
                "[network]\npool = \"10.0.0.0/16\"\n",
                "unknown field `pool`",
            ),
            (
                "[network]\ninterface_prefix = \"toolong\"\n",
                "interface_prefix",
            ),
            ("[tls]\nca_cert = \"/a\"\n", "together"),
            ("[network]\nprox_port = 1\n", "prox_port"),
            (
                "[limits]\ndns_burst = 0\n",
                "limits.dns_burst must be at least 1",
            ),
            (
                "[limits]\nrequests_per_second = 0\n",
                "limits.requests_per_second",
            ),
            (
                "[[addresses.internal_allow]]\ndomain = \"*.com\"\ncidr = \"10.0.0.0/8\"\n",
                "public suffix",
            ),
        ];
        for (text, expected) in cases {
            let err = EngineConfig::parse(text, Path::new("e.toml")).unwrap_err();
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }
}
