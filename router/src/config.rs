//! The router's own configuration (`--config FILE`, TOML). Every key is optional; an absent
//! file is the all-defaults configuration (no node-wide endpoints: only endpoints a policy
//! defines are used). Unknown keys are errors reported with file, line and column.
//!
//! ```toml
//! registry_dir = "/run/openshell/containers"  # default: the node configuration's registry_dir
//! base_url = "http://10.200.0.1:4000/v1"      # what sandboxes use (OPENAI_BASE_URL)
//! registry_poll_ms = 1000                     # how often registration records are re-read
//! forward_headers = ["x-trace-id"]            # request headers forwarded besides the defaults
//!
//! [[endpoints]]                               # node-wide endpoints (policies may name them)
//! name = "local-nemotron"
//! url = "http://127.0.0.1:8000/v1"
//! local = true
//! region = "EU"
//! model = "nvidia/nemotron"                   # the model name sent to this endpoint
//! [[endpoints]]
//! name = "cloud-eu"
//! url = "https://api.cloud.example/v1"
//! region = "EU"
//! api_key_env = "CLOUD_EU_API_KEY"            # credential injected as `Authorization: Bearer`
//! spki_pins = ["sha256:<64 hex digits>"]
//!
//! [limits]
//! max_body_bytes = 8388608       # larger request bodies get 413
//! scan_max_bytes = 1048576       # larger content is restricted without being scanned
//! inline_scan_bytes = 65536      # larger content is scanned on a blocking thread, under:
//! classify_timeout_ms = 500      # past this the content counts as restricted
//! header_timeout_ms = 5000       # slow request heads are cut off
//! body_timeout_ms = 10000        # slow request bodies get 408
//! connect_timeout_ms = 2000      # per upstream connection attempt (TCP and TLS)
//! response_timeout_ms = 300000   # until the upstream's response head
//! max_connections_per_source = 256
//!
//! [cache]
//! entries = 16384                # classification cache size; 0 disables it
//!
//! [health]
//! cooldown_ms = 1000             # an endpoint that failed is skipped this long (doubling)
//! max_cooldown_ms = 30000
//! probe_interval_ms = 2000       # endpoints marked down are probed this often
//!
//! [tls]
//! ca_file = "/etc/ssl/certs/ca-certificates.crt"  # roots for https endpoints without pins
//!
//! [identity]
//! token_key_file = "/etc/openshell/router-token.key"  # enables caller tokens (created if absent)
//! token_ttl_s = 86400                                  # how long a minted token is valid
//! ```

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use openshell_policy::SpkiPin;
use openshell_policy::node_config::toml_error_position;
use serde::{Deserialize, Serialize};

use crate::error::RouterError;

/// The router configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RouterConfig {
    /// Where registration records (`<id>.json`) are read; absent = the node's `registry_dir`.
    pub registry_dir: Option<PathBuf>,
    /// The base URL sandboxes are given (`OPENAI_BASE_URL`); absent = `http://<listen>/v1`.
    pub base_url: Option<String>,
    /// How often the registry directory is re-read, milliseconds (it is also re-read when an
    /// unknown caller arrives).
    pub registry_poll_ms: u64,
    /// Request headers forwarded upstream besides [`crate::openai::FORWARDED_REQUEST_HEADERS`].
    pub forward_headers: Vec<String>,
    /// Node-wide endpoints, used by policies that define none of their own.
    pub endpoints: Vec<EndpointConfig>,
    /// Limits and timeouts.
    pub limits: Limits,
    /// The classification cache.
    pub cache: CacheSettings,
    /// Endpoint health tracking.
    pub health: HealthSettings,
    /// Upstream TLS trust.
    pub tls: TlsSettings,
    /// Caller tokens.
    pub identity: IdentitySettings,
}

impl Default for RouterConfig {
    fn default() -> Self {
        RouterConfig {
            registry_dir: None,
            base_url: None,
            registry_poll_ms: 1000,
            forward_headers: Vec::new(),
            endpoints: Vec::new(),
            limits: Limits::default(),
            cache: CacheSettings::default(),
            health: HealthSettings::default(),
            tls: TlsSettings::default(),
            identity: IdentitySettings::default(),
        }
    }
}

/// A node-wide model endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// The name policies use in routes and residency rules.
    pub name: String,
    /// OpenAI-compatible base URL, up to and including `/v1`.
    pub url: String,
    /// On premises: eligible for confidential and restricted data.
    #[serde(default)]
    pub local: bool,
    /// Region it processes data in.
    #[serde(default)]
    pub region: Option<String>,
    /// Accepted server keys (`sha256:<hex>` of the SubjectPublicKeyInfo); empty = CA trust.
    #[serde(default)]
    pub spki_pins: Vec<SpkiPin>,
    /// The model name requests to this endpoint carry (replacing the caller's); absent = the
    /// caller's is kept.
    #[serde(default)]
    pub model: Option<String>,
    /// The environment variable holding this endpoint's API key.
    #[serde(default)]
    pub api_key_env: Option<String>,
}

/// Limits and timeouts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Largest content the classifier scans; more is restricted unread.
    pub scan_max_bytes: usize,
    /// Content up to this size is classified on the request's own thread.
    pub inline_scan_bytes: usize,
    /// Longest classification of larger content before it counts as restricted, ms.
    pub classify_timeout_ms: u64,
    /// Longest time to receive a request head, ms.
    pub header_timeout_ms: u64,
    /// Longest time to receive a request body, ms.
    pub body_timeout_ms: u64,
    /// Longest upstream connection attempt, TCP and TLS, ms.
    pub connect_timeout_ms: u64,
    /// Longest wait for an upstream's response head, ms.
    pub response_timeout_ms: u64,
    /// Most open connections from one source address.
    pub max_connections_per_source: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 8 << 20,
            scan_max_bytes: openshell_classifier::DEFAULT_MAX_BYTES,
            inline_scan_bytes: 64 << 10,
            classify_timeout_ms: 500,
            header_timeout_ms: 5000,
            body_timeout_ms: 10_000,
            connect_timeout_ms: 2000,
            response_timeout_ms: 300_000,
            max_connections_per_source: 256,
        }
    }
}

impl Limits {
    /// `header_timeout_ms` as a duration.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_millis(self.header_timeout_ms)
    }
    /// `body_timeout_ms` as a duration.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_millis(self.body_timeout_ms)
    }
    /// `connect_timeout_ms` as a duration.
    pub fn connect_timeout(&self) -> Duration {
        Duration::from_millis(self.connect_timeout_ms)
    }
    /// `response_timeout_ms` as a duration.
    pub fn response_timeout(&self) -> Duration {
        Duration::from_millis(self.response_timeout_ms)
    }
    /// `classify_timeout_ms` as a duration.
    pub fn classify_timeout(&self) -> Duration {
        Duration::from_millis(self.classify_timeout_ms)
    }
}

/// The classification cache.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct CacheSettings {
    /// Classifications kept; 0 disables the cache.
    pub entries: usize,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings { entries: 16_384 }
    }
}

/// Endpoint health tracking.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HealthSettings {
    /// How long an endpoint is skipped after its first failure, ms (doubles per failure).
    pub cooldown_ms: u64,
    /// Longest skip, ms.
    pub max_cooldown_ms: u64,
    /// How often endpoints marked down are probed, ms.
    pub probe_interval_ms: u64,
}

impl Default for HealthSettings {
    fn default() -> Self {
        HealthSettings {
            cooldown_ms: 1000,
            max_cooldown_ms: 30_000,
            probe_interval_ms: 2000,
        }
    }
}

/// Upstream TLS trust.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsSettings {
    /// PEM roots for https endpoints without key pins (read when such an endpoint is first used).
    pub ca_file: PathBuf,
}

impl Default for TlsSettings {
    fn default() -> Self {
        TlsSettings {
            ca_file: PathBuf::from("/etc/ssl/certs/ca-certificates.crt"),
        }
    }
}

/// Caller tokens (see [`crate::identity`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdentitySettings {
    /// The key file (32 random bytes, created mode 0600 if absent); absent = tokens are off and
    /// callers are known by source address only.
    pub token_key_file: Option<PathBuf>,
    /// How long a minted token stays valid, seconds (default a day).
    pub token_ttl_s: u64,
}

impl Default for IdentitySettings {
    fn default() -> Self {
        IdentitySettings {
            token_key_file: None,
            token_ttl_s: 86_400,
        }
    }
}

impl RouterConfig {
    /// Loads `path`.
    pub fn load(path: &Path) -> Result<RouterConfig, RouterError> {
        let text = std::fs::read_to_string(path).map_err(|source| RouterError::Io {
            what: format!("reading the router configuration {}", path.display()),
            source,
        })?;
        RouterConfig::parse(&text, path)
    }

    /// Parses configuration text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<RouterConfig, RouterError> {
        let config: RouterConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = toml_error_position(text, &e);
            RouterError::Config {
                path: path.to_owned(),
                message: format!("{line}:{column}: {}", e.message()),
            }
        })?;
        config.check().map_err(|message| RouterError::Config {
            path: path.to_owned(),
            message,
        })?;
        Ok(config)
    }

    /// Checks values that parse but make no sense.
    fn check(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for (i, endpoint) in self.endpoints.iter().enumerate() {
            let at = format!("endpoints[{i}] ({})", endpoint.name);
            let name_ok = !endpoint.name.is_empty()
                && endpoint
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !name_ok {
                return Err(format!("{at}: a name is letters, digits, '-', '_' or '.'"));
            }
            if !names.insert(endpoint.name.as_str()) {
                return Err(format!("{at}: the name is used twice"));
            }
            let url = url::Url::parse(&endpoint.url)
                .map_err(|e| format!("{at}: url {:?}: {e}", endpoint.url))?;
            if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
                return Err(format!(
                    "{at}: url {:?} is not an http(s) URL with a host",
                    endpoint.url
                ));
            }
            if url.scheme() == "http" && !endpoint.local {
                return Err(format!(
                    "{at}: an endpoint that is not local must use https (end-to-end encryption)"
                ));
            }
            if url.scheme() == "http" && !endpoint.spki_pins.is_empty() {
                return Err(format!("{at}: key pins need an https url"));
            }
            if url.query().is_some() || url.fragment().is_some() {
                return Err(format!(
                    "{at}: url {:?} must not carry a query or fragment",
                    endpoint.url
                ));
            }
            if let Some(var) = &endpoint.api_key_env
                && var.is_empty()
            {
                return Err(format!("{at}: api_key_env is empty"));
            }
        }
        let l = &self.limits;
        for (name, value) in [
            ("limits.max_body_bytes", l.max_body_bytes as u64),
            ("limits.scan_max_bytes", l.scan_max_bytes as u64),
            ("limits.classify_timeout_ms", l.classify_timeout_ms),
            ("limits.header_timeout_ms", l.header_timeout_ms),
            ("limits.body_timeout_ms", l.body_timeout_ms),
            ("limits.connect_timeout_ms", l.connect_timeout_ms),
            ("limits.response_timeout_ms", l.response_timeout_ms),
            (
                "limits.max_connections_per_source",
                l.max_connections_per_source as u64,
            ),
            ("registry_poll_ms", self.registry_poll_ms),
            ("health.cooldown_ms", self.health.cooldown_ms),
            ("health.probe_interval_ms", self.health.probe_interval_ms),
        ] {
            if value == 0 {
                return Err(format!("{name} must be at least 1"));
            }
        }
        if self.health.max_cooldown_ms < self.health.cooldown_ms {
            return Err("health.max_cooldown_ms is below health.cooldown_ms".into());
        }
        for header in &self.forward_headers {
            let name = hyper::header::HeaderName::from_bytes(header.as_bytes())
                .map_err(|_| format!("forward_headers: {header:?} is not a header name"))?;
            if crate::openai::NEVER_FORWARDED.contains(&name.as_str()) {
                return Err(format!(
                    "forward_headers: {header:?} is never forwarded (credentials and hop-by-hop \
                     headers are the router's)"
                ));
            }
        }
        if let Some(base) = &self.base_url {
            url::Url::parse(base).map_err(|e| format!("base_url {base:?}: {e}"))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_text_is_the_default() {
        let config = RouterConfig::parse("", Path::new("r.toml")).unwrap();
        assert_eq!(config, RouterConfig::default());
        assert_eq!(config.limits.scan_max_bytes, 1 << 20);
    }

    #[test]
    fn endpoints_and_limits_parse() {
        let text = format!(
            r#"
base_url = "http://10.200.0.1:4000/v1"
[[endpoints]]
name = "local"
url = "http://127.0.0.1:8000/v1"
local = true
model = "nemotron"
[[endpoints]]
name = "cloud"
url = "https://api.example.com/v1"
region = "EU"
api_key_env = "CLOUD_KEY"
spki_pins = ["sha256:{}"]
[limits]
max_body_bytes = 1024
"#,
            "ab".repeat(32)
        );
        let config = RouterConfig::parse(&text, Path::new("r.toml")).unwrap();
        assert_eq!(config.endpoints.len(), 2);
        assert_eq!(config.endpoints[1].spki_pins[0].0, [0xab; 32]);
        assert_eq!(config.limits.max_body_bytes, 1024);
        assert_eq!(config.limits.body_timeout_ms, 10_000);
    }

    #[test]
    fn errors_name_the_place() {
        let err = RouterConfig::parse("[limits]\nmax_body = 3\n", Path::new("/etc/r.toml"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("/etc/r.toml") && err.contains("2:1"), "{err}");
        let err = RouterConfig::parse(
            "[[endpoints]]\nname = \"c\"\nurl = \"http://cloud.example/v1\"\n",
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("endpoints[0] (c)") && err.contains("https"),
            "{err}"
        );
        let err = RouterConfig::parse(
            "[[endpoints]]\nname = \"c\"\nurl = \"https://c.example/v1\"\nspki_pins = [\"md5:00\"]\n",
            Path::new("r.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("sha256:<64 hex digits>"), "{err}");
        let err = RouterConfig::parse("forward_headers = [\"authorization\"]\n", Path::new("r"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("never forwarded"), "{err}");
    }
}
