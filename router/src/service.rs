//! The router's core: configuration in force, endpoints, callers, classification, audit and
//! metrics — what the HTTP front ([`crate::proxy`]) and the admin API ([`crate::admin`]) serve.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::Duration;

use axum::http::StatusCode;
use openshell_audit::AuditHub;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{AuditEvent, ContainerRegistration};
use serde::Serialize;

use crate::classification::ContentClassifier;
use crate::config::RouterConfig;
use crate::endpoint::{EndpointSpec, EnvLookup};
use crate::error::{OpenAiError, RouterError, Unroutable};
use crate::health::HealthView;
use crate::identity::{Presented, TokenKey, presented_token, unix_now};
use crate::metrics::{LiveFigures, Metrics};
use crate::policy::RoutingPolicy;
use crate::registry::{Caller, Callers, Origin, ScanReport};
use crate::tls::{TlsContext, context_for};
use crate::upstream::UpstreamPool;

/// What the router is started with.
pub struct RouterSettings {
    /// The router configuration.
    pub config: RouterConfig,
    /// Where it was read from (re-read on reload); None = reload keeps it.
    pub config_path: Option<PathBuf>,
    /// The node configuration (registry directory, region, audit, `siem://` names).
    pub node: NodeConfig,
    /// Environment lookup for endpoint credentials.
    pub env: EnvLookup,
}

/// Everything that follows from one version of the configuration.
pub struct Generation {
    /// The configuration.
    pub config: RouterConfig,
    /// Upstream TLS.
    pub tls: TlsContext,
    /// The configuration's endpoints, resolved.
    pub node_wide: Vec<EndpointSpec>,
    /// The classifier and its cache.
    pub classifier: ContentClassifier,
    /// The caller-token key, when tokens are on.
    pub token_key: Option<TokenKey>,
    /// Where registration records are read.
    pub registry_dir: PathBuf,
}

impl Generation {
    fn new(config: RouterConfig, node: &NodeConfig, env: &EnvLookup) -> Result<Self, RouterError> {
        let tls = context_for(&config)?;
        let node_wide = config
            .endpoints
            .iter()
            .map(|e| EndpointSpec::from_config(e, env))
            .collect::<Result<Vec<_>, _>>()?;
        let token_key = config
            .identity
            .token_key_file
            .as_deref()
            .map(TokenKey::load_or_create)
            .transpose()?;
        let limits = &config.limits;
        let classifier = ContentClassifier::new(
            limits.scan_max_bytes,
            limits.inline_scan_bytes,
            limits.classify_timeout(),
            config.cache.entries,
        );
        let registry_dir = config
            .registry_dir
            .clone()
            .unwrap_or_else(|| node.registry_dir.clone());
        Ok(Generation {
            config,
            tls,
            node_wide,
            classifier,
            token_key,
            registry_dir,
        })
    }
}

/// An endpoint as the admin API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct EndpointView {
    /// Its name.
    pub name: String,
    /// Its base URL.
    pub url: String,
    /// On premises.
    pub local: bool,
    /// Its region.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// Whether its key is pinned.
    pub pinned: bool,
    /// Whether a credential is injected.
    pub credential: bool,
    /// Its health.
    pub health: HealthView,
}

/// The router.
pub struct PrivacyRouter {
    generation: RwLock<Arc<Generation>>,
    node: NodeConfig,
    config_path: Option<PathBuf>,
    env: EnvLookup,
    upstreams: UpstreamPool,
    /// Routing policies by compiled-record digest, shared by the containers registered with the
    /// same record.
    compiled: Mutex<HashMap<String, Arc<RoutingPolicy>>>,
    callers: Callers,
    api_sources: Mutex<HashMap<String, ContainerRegistration>>,
    miss_scan: tokio::sync::Mutex<()>,
    audit: AuditHub,
    metrics: Metrics,
    listen: OnceLock<SocketAddr>,
}

impl PrivacyRouter {
    /// Starts the router's core: resolves endpoints, opens the audit trail, reads the registry.
    pub fn new(settings: RouterSettings) -> Result<Arc<PrivacyRouter>, RouterError> {
        let generation = Generation::new(settings.config, &settings.node, &settings.env)?;
        let audit = AuditHub::new(&settings.node)?;
        let router = Arc::new(PrivacyRouter {
            generation: RwLock::new(Arc::new(generation)),
            node: settings.node,
            config_path: settings.config_path,
            env: settings.env,
            upstreams: UpstreamPool::default(),
            compiled: Mutex::new(HashMap::new()),
            callers: Callers::default(),
            api_sources: Mutex::new(HashMap::new()),
            miss_scan: tokio::sync::Mutex::new(()),
            audit,
            metrics: Metrics::new(),
            listen: OnceLock::new(),
        });
        for problem in router.scan_now(false).problems {
            eprintln!("openshell-router: registration not loaded: {problem}");
        }
        Ok(router)
    }

    /// The configuration in force and what follows from it.
    pub fn generation(&self) -> Arc<Generation> {
        Arc::clone(&self.generation.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// The registered callers.
    pub fn callers(&self) -> &Callers {
        &self.callers
    }

    /// Records the front's address (for the default base URL).
    pub fn set_listen(&self, addr: SocketAddr) {
        let _ = self.listen.set(addr);
    }

    /// The base URL sandboxes are given (`OPENAI_BASE_URL`).
    pub fn base_url(&self) -> Option<String> {
        self.generation()
            .config
            .base_url
            .clone()
            .or_else(|| self.listen.get().map(|a| format!("http://{a}/v1")))
    }

    /// Writes an audit event to the node trail and, when given, the policy's destination.
    pub fn record(&self, destination: Option<&str>, event: AuditEvent) {
        if let Err(e) = self.audit.record(destination, event) {
            eprintln!("openshell-router: audit event not recorded: {e}");
        }
    }

    /// Flushes the audit trail.
    pub fn flush_audit(&self, timeout: Duration) -> Result<(), RouterError> {
        Ok(self.audit.flush(timeout)?)
    }

    /// The caller a request comes from: by sandbox address, else by caller token.
    pub async fn identify(
        self: &Arc<Self>,
        peer: IpAddr,
        authorization: Option<&str>,
    ) -> Result<Arc<Caller>, OpenAiError> {
        let generation = self.generation();
        let invalid = || {
            OpenAiError::new(
                StatusCode::FORBIDDEN,
                "invalid_caller_token",
                "the caller token is not valid on this node (forged, expired, or its sandbox \
                 was deleted)",
            )
        };
        let presented = authorization.and_then(presented_token);
        let (token_id, sandbox_token) = match (presented, &generation.token_key) {
            (Some(Presented::Node(token)), Some(key)) => (
                Some(key.verify(token, unix_now()).ok_or_else(invalid)?),
                None,
            ),
            (Some(Presented::Sandbox { container, digest }), _) => {
                (Some(container.to_owned()), Some(digest))
            }
            _ => (None, None),
        };
        // A sandbox token is accepted only from the registration that holds its digest.
        let checked = |caller: Arc<Caller>| match &sandbox_token {
            Some(digest) if caller.caller_token.as_ref() != Some(digest) => Err(invalid()),
            _ => Ok(caller),
        };
        let mut rescanned = false;
        loop {
            if let Some(caller) = self.callers.by_ip(peer) {
                if let Some(id) = &token_id
                    && *id != caller.container_id
                {
                    return Err(OpenAiError::new(
                        StatusCode::FORBIDDEN,
                        "caller_token_mismatch",
                        format!(
                            "requests from {peer} belong to container {}; the token names \
                             another container",
                            caller.container_id
                        ),
                    ));
                }
                return checked(caller);
            }
            if let Some(caller) = token_id.as_deref().and_then(|id| self.callers.by_id(id)) {
                return checked(caller);
            }
            if rescanned || !self.rescan_after_miss().await {
                break;
            }
            rescanned = true;
        }
        Err(OpenAiError::new(
            StatusCode::FORBIDDEN,
            "caller_not_registered",
            match token_id {
                Some(id) => format!("container {id} is not registered with the router"),
                None => format!("no registered container sends from {peer}"),
            },
        ))
    }

    /// Re-reads the registry for an unknown caller when the directory may hold records the
    /// last scan did not see (one scan at a time); whether it did.
    async fn rescan_after_miss(self: &Arc<Self>) -> bool {
        let _one_at_a_time = self.miss_scan.lock().await;
        if !self
            .callers
            .may_have_changed(&self.generation().registry_dir)
        {
            return false;
        }
        self.scan(false).await;
        true
    }

    /// Re-reads the registry directory on a blocking thread (it reads files and may parse
    /// policies).
    pub async fn scan(self: &Arc<Self>, force: bool) -> ScanReport {
        let router = Arc::clone(self);
        tokio::task::spawn_blocking(move || router.scan_now(force))
            .await
            .unwrap_or_else(|e| ScanReport {
                callers: 0,
                problems: vec![format!("the registry scan failed: {e}")],
            })
    }

    fn scan_now(&self, force: bool) -> ScanReport {
        let generation = self.generation();
        let report = self.callers.scan(&generation.registry_dir, force, &|r| {
            self.build_caller(&generation, r, Origin::RegistryDir)
        });
        self.metrics.callers.set(self.callers.all().len() as i64);
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, policy| Arc::strong_count(policy) > 1);
        self.upstreams.prune();
        report
    }

    /// Registers a container from the admin API.
    pub fn register(&self, registration: &ContainerRegistration) -> Arc<Caller> {
        self.api_sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(registration.container_id.clone(), registration.clone());
        let generation = self.generation();
        self.callers
            .register(self.build_caller(&generation, registration, Origin::AdminApi));
        self.metrics.callers.set(self.callers.all().len() as i64);
        self.callers
            .by_id(&registration.container_id)
            .expect("just registered")
    }

    /// Removes an admin-API registration.
    pub fn unregister(&self, id: &str) -> bool {
        self.api_sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
        let removed = self.callers.unregister(id);
        self.metrics.callers.set(self.callers.all().len() as i64);
        removed
    }

    /// Re-reads the configuration file (when there is one), rebuilds endpoints, clears the
    /// classification cache and recompiles every caller's policy. On error the configuration
    /// in force stays.
    pub async fn reload(self: &Arc<Self>) -> Result<ScanReport, RouterError> {
        let config = match &self.config_path {
            Some(path) => RouterConfig::load(path)?,
            None => self.generation().config.clone(),
        };
        let generation = Generation::new(config, &self.node, &self.env)?;
        *self.generation.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(generation);
        self.upstreams.clear();
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        let sources: Vec<ContainerRegistration> = self
            .api_sources
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        let generation = self.generation();
        for registration in &sources {
            self.callers
                .register(self.build_caller(&generation, registration, Origin::AdminApi));
        }
        Ok(self.scan(true).await)
    }

    fn build_caller(
        &self,
        generation: &Generation,
        registration: &ContainerRegistration,
        origin: Origin,
    ) -> Caller {
        let audit = &registration.policy.audit;
        let audit_destination = audit.enabled.then(|| audit.destination.clone()).flatten();
        let routing =
            self.compile(generation, registration)
                .and_then(|routing| match &audit_destination {
                    Some(destination) => self
                        .audit
                        .logger(destination)
                        .map(|_| routing)
                        .map_err(Unroutable::from),
                    None => Ok(routing),
                });
        if let Err(e) = &routing {
            eprintln!(
                "openshell-router: container {}: requests will be refused: {e}",
                registration.container_id
            );
        }
        Caller {
            container_id: registration.container_id.clone(),
            policy: registration.policy.name.clone(),
            region: registration
                .region
                .clone()
                .or_else(|| registration.policy.region.clone()),
            sandbox_ip: registration.sandbox.sandbox_ip,
            audit_destination,
            routing,
            origin,
            caller_token: registration.caller_token.clone(),
        }
    }

    /// The container's routing policy: the `PrivacyRouterPolicy` of its compiled policy record
    /// (used only if the record's digest matches its contents), built once per record digest.
    fn compile(
        &self,
        generation: &Generation,
        registration: &ContainerRegistration,
    ) -> Result<Arc<RoutingPolicy>, Unroutable> {
        let record = &registration.policy;
        record.verify()?;
        let key = record.digest.clone();
        if let Some(policy) = self
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
        {
            return Ok(Arc::clone(policy));
        }
        let routing = record.routing.as_ref();
        let name = routing.map_or("default", |r| r.name.as_str());
        let limits = &generation.config.limits;
        let policy = Arc::new(RoutingPolicy::compile(
            name,
            routing.map(|r| &r.spec),
            &generation.node_wide,
            |spec| {
                self.upstreams
                    .get(spec, &generation.tls, limits.connect_timeout())
            },
        ));
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, Arc::clone(&policy));
        Ok(policy)
    }

    /// Every endpoint in use, with its health.
    pub fn endpoints(&self) -> Vec<EndpointView> {
        self.upstreams
            .all()
            .iter()
            .map(|u| EndpointView {
                name: u.spec.name.clone(),
                url: u.spec.base.clone(),
                local: u.spec.local,
                region: u.spec.region.clone(),
                pinned: !u.spec.pins.is_empty(),
                credential: u.spec.credential.is_some(),
                health: u.health.view(),
            })
            .collect()
    }

    /// Probes every endpoint marked down, concurrently.
    pub async fn probe_down_endpoints(&self) {
        let generation = self.generation();
        let timeout = generation.config.limits.connect_timeout() * 2;
        let mut probes = tokio::task::JoinSet::new();
        for upstream in self.upstreams.all() {
            if upstream.health.is_down() {
                let health = generation.config.health.clone();
                probes.spawn(async move { upstream.probe(timeout, &health).await });
            }
        }
        probes.join_all().await;
    }

    /// The Prometheus exposition.
    pub fn render_metrics(&self) -> String {
        let generation = self.generation();
        let cache = generation.classifier.cache();
        let live = LiveFigures {
            cache_hits: cache.hits(),
            cache_misses: cache.misses(),
            cache_entries: cache.len(),
            classifier_runs: generation.classifier.runs(),
            endpoints_up: self
                .upstreams
                .all()
                .iter()
                .map(|u| (u.spec.name.clone(), !u.health.is_down()))
                .collect(),
            endpoints_observed: self
                .upstreams
                .all()
                .iter()
                .map(|u| (u.spec.name.clone(), u.observed.view()))
                .collect(),
        };
        self.metrics.render(&live)
    }
}
