//! The node configuration: `/etc/openshell/config.toml`, or the file named by `OPENSHELL_CONFIG`.
//!
//! Every key is optional; an absent file is the all-defaults configuration (no services: the
//! runtime and hooks use their embedded engines). Unknown keys are errors, reported with the
//! file, line and column.
//!
//! ```toml
//! policy_dir = "/etc/openshell/policies"
//! default_policy = "customer-support-agent"   # operator's policy: also a floor
//! region = "EU"
//! registry_dir = "/run/openshell/containers"
//!
//! [policy]                        # who picks a container's policy
//! floor = "baseline"              # every container is at least this strict
//! workload_choice = "names"       # names (default): workloads may pick by name | none
//! workload_policies = []          # names they may pick; empty = any in policy_dir
//! workload_audit_destinations = ["file:///var/log/openshell/agents.jsonl"]
//!
//! [services]                      # absent = embedded in the caller
//! nemotron = "/run/openshell/nemotron.sock"
//! egress = "/run/openshell/egress.sock"
//! router = "/run/openshell/router.sock"
//! approvals = "/run/openshell/approvals.sock"
//! seccomp = "/run/openshell/seccomp.sock"
//!
//! [hooks]
//! timeout_ms = 5000
//! admission_cache = "/run/openshell/admission-cache"   # absent = every admission compiles
//!
//! [audit]
//! spool_dir = "/var/lib/openshell/audit-spool"
//! spool_max_bytes = 67108864      # per destination (64 MiB); past it new events are dropped and counted
//! trail = "/var/log/openshell/audit.jsonl"   # "" = no local copy
//!
//! [siem]                          # siem://NAME → an HTTP endpoint or a syslog target
//! security-events = "http://127.0.0.1:8088/ingest"
//! local-syslog = "syslog:///dev/log"
//!
//! [egress]
//! ca_cert = "/etc/openshell/egress-ca.pem"
//! ca_key = "/etc/openshell/egress-ca.key"
//! pool = "10.200.0.0/16"         # sandbox addresses; the first host is every gateway
//! proxy_port = 3128             # the egress engine's explicit proxy
//! router_port = 4000            # the privacy router (OPENAI_BASE_URL of restricted sandboxes)
//!
//! [classifier]
//! internal_domains = ["company.com", "corp.example"]
//!
//! [gpu]
//! ceiling = "all"                 # GPUs an image's NVIDIA_VISIBLE_DEVICES may select (default none)
//! nvml_library = "/usr/lib/x86_64-linux-gnu/libnvidia-ml.so.1"
//! driver_root = "/"
//!
//! [model]                         # absent = embedded engine only
//! endpoint = "http://127.0.0.1:8000/v1"
//! model = "nvidia/nemotron"
//! guided = "nim"                  # nim | vllm | openai | llama-cpp
//! timeout_ms = 2000
//! ```

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Where the node configuration lives unless `OPENSHELL_CONFIG` says otherwise.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/openshell/config.toml";
/// The environment variable that overrides [`DEFAULT_CONFIG_PATH`].
pub const CONFIG_ENV: &str = "OPENSHELL_CONFIG";
/// The Nemotron policy service's conventional socket.
pub const DEFAULT_NEMOTRON_SOCKET: &str = "/run/openshell/nemotron.sock";

/// Errors reading the node configuration.
#[derive(Debug, thiserror::Error)]
pub enum NodeConfigError {
    /// The file exists but cannot be read.
    #[error("cannot read node configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown keys or wrong types.
    #[error("invalid node configuration {path}:{line}:{column}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key or value.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong.
        message: String,
    },
    /// A value is well-formed TOML but makes no sense.
    #[error("invalid node configuration {path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}

/// The node configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NodeConfig {
    /// Where policies named by annotation are looked up (`NAME.yaml`).
    pub policy_dir: PathBuf,
    /// The operator's policy for containers that pick none (a name in `policy_dir`, or a
    /// path); like `[policy] floor`, a policy a workload picks may not be looser.
    pub default_policy: Option<String>,
    /// Who picks a container's policy: the floor and what workloads may choose.
    pub policy: PolicySettings,
    /// The node's data-residency region (`EU`, `US`, `CN`), if any.
    pub region: Option<String>,
    /// Where the `createRuntime` hook writes each container's registration record
    /// (`<id>.json`), read by the policy service at start, the egress engine and the router.
    pub registry_dir: PathBuf,
    /// Sockets of the node services; an absent one means "embedded in the caller".
    pub services: ServiceSockets,
    /// OCI hook settings.
    pub hooks: HookSettings,
    /// Audit spool and local trail.
    pub audit: AuditNodeSettings,
    /// `siem://NAME` destinations: NAME → `http(s)://…` endpoint or `syslog://…` target.
    pub siem: BTreeMap<String, String>,
    /// The egress engine's sandbox network (address pool, proxy port) and interception CA.
    pub egress: EgressSettings,
    /// Content classification settings.
    pub classifier: ClassifierSettings,
    /// The model backend of the policy service; absent = embedded engine only.
    pub model: Option<ModelSettings>,
    /// GPU discovery and selection.
    pub gpu: GpuSettings,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            policy_dir: PathBuf::from("/etc/openshell/policies"),
            default_policy: None,
            policy: PolicySettings::default(),
            region: None,
            registry_dir: PathBuf::from("/run/openshell/containers"),
            services: ServiceSockets::default(),
            hooks: HookSettings::default(),
            audit: AuditNodeSettings::default(),
            siem: BTreeMap::new(),
            egress: EgressSettings::default(),
            classifier: ClassifierSettings::default(),
            model: None,
            gpu: GpuSettings::default(),
        }
    }
}

/// Who picks a container's policy. Operator sources (the runtime's `--default-policy`, this
/// file) set floors; workload sources (the annotation `openshell.nvidia.com/policy`,
/// `OPENSHELL_POLICY` in the process, `openshell-policy.yaml` in the bundle) may only pick a
/// policy that is no looser than every floor on any axis.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct PolicySettings {
    /// The policy every container gets at least: a name in `policy_dir`, or a path.
    pub floor: Option<String>,
    /// Whether workloads may pick a policy.
    pub workload_choice: WorkloadChoice,
    /// The policy names workloads may pick; empty = any policy in `policy_dir`.
    pub workload_policies: Vec<String>,
    /// Audit destinations a workload-picked policy may name besides the `siem://NAME`
    /// endpoints of `[siem]` (exact URIs such as `file:///var/log/openshell/agents.jsonl`).
    pub workload_audit_destinations: Vec<String>,
}

/// `[policy] workload_choice`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkloadChoice {
    /// Workloads may pick a node-installed policy by name (never a path or a file of theirs).
    #[default]
    Names,
    /// Workloads get the operator's policy; asking for another is an error.
    None,
}

/// Sockets of the node services.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ServiceSockets {
    /// The Nemotron policy service.
    pub nemotron: Option<PathBuf>,
    /// The egress engine's admin socket.
    pub egress: Option<PathBuf>,
    /// The privacy router's admin socket.
    pub router: Option<PathBuf>,
    /// The approval queue (`openshell-approvals`) that escalated actions wait on; absent = its
    /// default socket, `/run/openshell/approvals.sock`.
    pub approvals: Option<PathBuf>,
    /// The seccomp supervisor (`openshell-supervisor`) that holds the system calls a policy
    /// escalates; absent = its default socket, `/run/openshell/seccomp.sock`.
    pub seccomp: Option<PathBuf>,
}

/// OCI hook settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct HookSettings {
    /// How long a hook waits for a service before failing closed, milliseconds.
    pub timeout_ms: u64,
    /// The `openshell-hook` binary the runtime injects; default: next to the runtime binary.
    pub binary: Option<PathBuf>,
    /// A directory (root's alone, best on a tmpfs) where the embedded engine keeps admission
    /// allows by the policy's decision rules and the request, so the next sandbox with the same
    /// policy and request is admitted without compiling the policy again; absent = no cache.
    pub admission_cache: Option<PathBuf>,
}

impl Default for HookSettings {
    fn default() -> Self {
        HookSettings {
            timeout_ms: 5000,
            binary: None,
            admission_cache: None,
        }
    }
}

/// Audit settings of the node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct AuditNodeSettings {
    /// Where events wait while their destination is down (one subdirectory per destination).
    pub spool_dir: PathBuf,
    /// Most bytes one destination's spool may hold; past it new events are dropped, counted
    /// and reported once the destination is back.
    pub spool_max_bytes: u64,
    /// The node's local trail (JSON lines) that `openshell audit CONTAINER` reads; every event
    /// is written here as well as to the policy's destination. An empty path (`trail = ""`)
    /// keeps no local copy.
    #[serde(deserialize_with = "empty_path_is_none")]
    pub trail: Option<PathBuf>,
    /// Most events sent to a SIEM in one request.
    pub batch_size: usize,
    /// First retry delay after a SIEM failure, milliseconds (doubles up to `max_backoff_ms`).
    pub initial_backoff_ms: u64,
    /// Longest retry delay, milliseconds.
    pub max_backoff_ms: u64,
    /// Timeout of one SIEM request, milliseconds.
    pub request_timeout_ms: u64,
}

/// A path where an empty string means none (TOML has no null).
fn empty_path_is_none<'de, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<PathBuf>, D::Error> {
    let path = Option::<PathBuf>::deserialize(deserializer)?;
    Ok(path.filter(|p| !p.as_os_str().is_empty()))
}

impl Default for AuditNodeSettings {
    fn default() -> Self {
        AuditNodeSettings {
            spool_dir: PathBuf::from("/var/lib/openshell/audit-spool"),
            spool_max_bytes: 64 * 1024 * 1024,
            trail: Some(PathBuf::from("/var/log/openshell/audit.jsonl")),
            batch_size: 256,
            initial_backoff_ms: 200,
            max_backoff_ms: 30_000,
            request_timeout_ms: 5000,
        }
    }
}

/// The egress engine's sandbox network and interception CA: the one place the engine, the
/// runtime (which writes the proxy variables, resolver and CA mount into a restricted sandbox at
/// `create`) and the hook read them from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct EgressSettings {
    /// PEM certificate of the CA (default [`DEFAULT_EGRESS_CA`], created by the engine).
    pub ca_cert: Option<PathBuf>,
    /// PEM private key of the CA.
    pub ca_key: Option<PathBuf>,
    /// Sandbox addresses (IPv4 CIDR); the first host address is every sandbox's gateway, where
    /// the engine listens.
    #[schemars(with = "String")]
    pub pool: ipnet::Ipv4Net,
    /// The engine's explicit proxy port on the gateway.
    pub proxy_port: u16,
    /// The privacy router's port on the gateway: restricted sandboxes reach it there
    /// (`OPENAI_BASE_URL`), and the node firewall lets them.
    pub router_port: u16,
}

/// Where the egress engine keeps the interception CA it creates when none is configured.
pub const DEFAULT_EGRESS_CA: &str = "/var/lib/openshell/egress/ca.pem";

impl Default for EgressSettings {
    fn default() -> Self {
        EgressSettings {
            ca_cert: None,
            ca_key: None,
            pool: ipnet::Ipv4Net::new(std::net::Ipv4Addr::new(10, 200, 0, 0), 16)
                .expect("a /16 is a valid prefix"),
            proxy_port: 3128,
            router_port: 4000,
        }
    }
}

impl EgressSettings {
    /// The CA certificate sandboxes are given.
    pub fn ca_cert_path(&self) -> PathBuf {
        self.ca_cert
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_EGRESS_CA))
    }

    /// Every sandbox's gateway: the pool's first host address.
    pub fn gateway(&self) -> std::net::Ipv4Addr {
        std::net::Ipv4Addr::from(u32::from(self.pool.network()).wrapping_add(1))
    }
}

/// Content classification settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ClassifierSettings {
    /// Domains (and their subdomains) that count as inside the organisation.
    pub internal_domains: Vec<String>,
    /// ISO 3166 country codes (`GB`, `DE`) of the organisation's bank accounts: an IBAN of
    /// another country, as a destination or in an action's text, is outside the organisation.
    /// Empty: every IBAN is.
    pub home_countries: Vec<String>,
    /// A directory with the all-MiniLM-L6-v2 sentence-embedding model (`config.json`,
    /// `model.safetensors`, `tokenizer.json`; `scripts/fetch-minilm.sh DIR` fetches them):
    /// nemotron-service then fuses the semantic signal of an action's text with the
    /// detectors. A missing or unreadable file stops the service at startup. Unset: detectors
    /// only. Builds without the `embeddings` feature (the egress engine) ignore it.
    pub embedding_model: Option<PathBuf>,
}

/// GPU discovery and selection (see `openshell-gpu`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct GpuSettings {
    /// The GPUs a container's `NVIDIA_VISIBLE_DEVICES` may select (same syntax: `all`, indexes,
    /// UUIDs). An image's own variable never widens access beyond this; the
    /// `openshell.nvidia.com/gpus` annotation is not bound by it. Default: none.
    pub ceiling: Option<String>,
    /// The NVML library to load (default `libnvidia-ml.so.1` through the loader's search path).
    pub nvml_library: Option<PathBuf>,
    /// A fake inventory (the `openshell gpu list --format json` format) used instead of NVML:
    /// for nodes and tests without a GPU.
    pub inventory_fixture: Option<PathBuf>,
    /// Root of the host's user-space driver files.
    pub driver_root: PathBuf,
    /// Root under which the host's `dev/nvidia*` nodes live.
    pub dev_root: PathBuf,
    /// The host's procfs.
    pub proc_root: PathBuf,
    /// The host's sysfs.
    pub sys_root: PathBuf,
}

impl Default for GpuSettings {
    fn default() -> Self {
        GpuSettings {
            ceiling: None,
            nvml_library: None,
            inventory_fixture: None,
            driver_root: PathBuf::from("/"),
            dev_root: PathBuf::from("/"),
            proc_root: PathBuf::from("/proc"),
            sys_root: PathBuf::from("/sys"),
        }
    }
}

/// Which JSON-schema constraint the model server understands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum GuidedDecoding {
    /// NVIDIA NIM: `nvext.guided_json`.
    #[default]
    Nim,
    /// vLLM: `guided_json`.
    Vllm,
    /// OpenAI (and Ollama): `response_format: {type: json_schema}`.
    Openai,
    /// llama.cpp's server through llama-cpp-python (which refuses `json_schema`):
    /// `response_format: {type: json_object, schema}`, enforced with a grammar.
    #[serde(rename = "llama-cpp")]
    LlamaCpp,
}

/// The model backend: an OpenAI-compatible chat-completions server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModelSettings {
    /// Base URL up to and including `/v1` (`http://127.0.0.1:8000/v1`).
    pub endpoint: String,
    /// The model name sent in requests.
    pub model: String,
    /// How output is constrained to the JSON schema.
    #[serde(default)]
    pub guided: GuidedDecoding,
    /// Per-request timeout, milliseconds.
    #[serde(default = "default_model_timeout_ms")]
    pub timeout_ms: u64,
    /// Classification results kept in the cache.
    #[serde(default = "default_cache_entries")]
    pub cache_entries: usize,
    /// How long a cached classification stays valid, seconds.
    #[serde(default = "default_cache_ttl_s")]
    pub cache_ttl_s: u64,
    /// The environment variable holding the API key, if the server needs one.
    #[serde(default)]
    pub api_key_env: Option<String>,
    /// Also compile natural-language policies with the model (default: the grammar).
    #[serde(default)]
    pub compile_natural_language: bool,
}

fn default_model_timeout_ms() -> u64 {
    2000
}
fn default_cache_entries() -> usize {
    4096
}
fn default_cache_ttl_s() -> u64 {
    300
}

impl NodeConfig {
    /// The configuration file in effect: `$OPENSHELL_CONFIG`, else [`DEFAULT_CONFIG_PATH`].
    pub fn default_path() -> PathBuf {
        std::env::var_os(CONFIG_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_CONFIG_PATH))
    }

    /// Loads the configuration in effect; a missing file at the default path is the default
    /// configuration, a missing file named by `OPENSHELL_CONFIG` is an error.
    pub fn load() -> Result<NodeConfig, NodeConfigError> {
        let explicit = std::env::var_os(CONFIG_ENV).is_some_and(|v| !v.is_empty());
        let path = NodeConfig::default_path();
        if !explicit && !path.exists() {
            return Ok(NodeConfig::default());
        }
        NodeConfig::load_from(&path)
    }

    /// Loads the configuration from `path`.
    pub fn load_from(path: &Path) -> Result<NodeConfig, NodeConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| NodeConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        NodeConfig::parse(&text, path)
    }

    /// Parses configuration text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<NodeConfig, NodeConfigError> {
        let config: NodeConfig = toml::from_str(text).map_err(|e| {
            let (line, column) = toml_error_position(text, &e);
            NodeConfigError::Parse {
                path: path.to_owned(),
                line,
                column,
                message: e.message().to_owned(),
            }
        })?;
        config.check(path)?;
        Ok(config)
    }

    /// The endpoint a `siem://NAME` destination resolves to.
    pub fn siem_endpoint(&self, name: &str) -> Option<&str> {
        self.siem.get(name).map(String::as_str)
    }

    fn check(&self, path: &Path) -> Result<(), NodeConfigError> {
        let invalid = |message: String| NodeConfigError::Invalid {
            path: path.to_owned(),
            message,
        };
        for (name, target) in &self.siem {
            let known = ["http://", "https://", "syslog://"];
            if !known.iter().any(|scheme| target.starts_with(scheme)) {
                return Err(invalid(format!(
                    "siem.{name} = {target:?}: expected an http://, https:// or syslog:// URL"
                )));
            }
        }
        if self.hooks.timeout_ms == 0 {
            return Err(invalid("hooks.timeout_ms must be at least 1".into()));
        }
        if self.audit.batch_size == 0 {
            return Err(invalid("audit.batch_size must be at least 1".into()));
        }
        if let Some(model) = &self.model
            && !(model.endpoint.starts_with("http://") || model.endpoint.starts_with("https://"))
        {
            return Err(invalid(format!(
                "model.endpoint = {:?}: expected an http:// or https:// URL",
                model.endpoint
            )));
        }
        Ok(())
    }
}

/// 1-based line and column in `text` where a TOML parse `error` starts (1:1 when it names no
/// place): for the node's configuration files and the services' own.
pub fn toml_error_position(text: &str, error: &toml::de::Error) -> (usize, usize) {
    let offset = error.span().map_or(0, |span| span.start);
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default_configuration() {
        let config = NodeConfig::parse("", Path::new("c.toml")).unwrap();
        assert_eq!(config, NodeConfig::default());
        assert_eq!(config.policy_dir, Path::new("/etc/openshell/policies"));
        assert_eq!(config.hooks.timeout_ms, 5000);
        assert!(config.services.nemotron.is_none());
    }

    #[test]
    fn full_file_parses() {
        let text = r#"
policy_dir = "/srv/policies"
default_policy = "support"
region = "EU"
[services]
nemotron = "/run/x/nemotron.sock"
[hooks]
timeout_ms = 750
[audit]
spool_dir = "/tmp/spool"
[siem]
security-events = "http://127.0.0.1:9/ingest"
[classifier]
internal_domains = ["company.com"]
[model]
endpoint = "http://127.0.0.1:8000/v1"
model = "nemotron"
guided = "vllm"
"#;
        let config = NodeConfig::parse(text, Path::new("c.toml")).unwrap();
        assert_eq!(config.default_policy.as_deref(), Some("support"));
        assert_eq!(
            config.services.nemotron.as_deref(),
            Some(Path::new("/run/x/nemotron.sock"))
        );
        assert_eq!(config.hooks.timeout_ms, 750);
        assert_eq!(
            config.siem_endpoint("security-events"),
            Some("http://127.0.0.1:9/ingest")
        );
        let model = config.model.unwrap();
        assert_eq!(model.guided, GuidedDecoding::Vllm);
        assert_eq!(model.timeout_ms, 2000);
    }

    #[test]
    fn the_local_trail_is_on_by_default_and_an_empty_path_turns_it_off() {
        let trail = |text: &str| {
            NodeConfig::parse(text, Path::new("c.toml"))
                .unwrap()
                .audit
                .trail
        };
        assert_eq!(
            trail(""),
            Some(PathBuf::from("/var/log/openshell/audit.jsonl"))
        );
        assert_eq!(
            trail("[audit]\ntrail = \"/tmp/t.jsonl\"\n"),
            Some(PathBuf::from("/tmp/t.jsonl"))
        );
        assert_eq!(trail("[audit]\ntrail = \"\"\n"), None);
    }

    #[test]
    fn llama_cpp_guided_decoding_is_spelled_with_a_hyphen() {
        let text = "[model]\nendpoint = \"http://127.0.0.1:8080/v1\"\nmodel = \"smollm2\"\nguided = \"llama-cpp\"\n";
        let model = NodeConfig::parse(text, Path::new("c.toml"))
            .unwrap()
            .model
            .unwrap();
        assert_eq!(model.guided, GuidedDecoding::LlamaCpp);
        let wrong = text.replace("llama-cpp", "llamacpp");
        assert!(NodeConfig::parse(&wrong, Path::new("c.toml")).is_err());
    }

    #[test]
    fn unknown_key_is_reported_with_line_and_column() {
        let text = "policy_dir = \"/p\"\n[hooks]\ntimeout = 5\n";
        let err = NodeConfig::parse(text, Path::new("/etc/c.toml")).unwrap_err();
        let NodeConfigError::Parse {
            line,
            column,
            message,
            ..
        } = &err
        else {
            panic!("unexpected error {err}");
        };
        assert_eq!((*line, *column), (3, 1), "{err}");
        assert!(message.contains("timeout"), "{message}");
        assert!(
            err.to_string()
                .starts_with("invalid node configuration /etc/c.toml:3:1")
        );
    }

    #[test]
    fn siem_target_must_be_a_url() {
        let err = NodeConfig::parse("[siem]\nx = \"ftp://h\"\n", Path::new("c.toml")).unwrap_err();
        assert!(err.to_string().contains("siem.x"), "{err}");
    }
}
