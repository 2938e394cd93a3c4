//! The policy service's core, independent of transport: the HTTP daemon serves it, and the OCI
//! hook runs it in-process when the node configures no service socket.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use lru::LruCache;
use openshell_audit::{
    AuditError, AuditHub, Destination, Trail, TrailQuery, decision_event, new_event, read_trail,
};
use openshell_classifier::{Classifier, Limits};
use openshell_policy::CompiledPolicy as PolicyRecord;
use openshell_policy::compiled::DecisionRules;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{
    ADMISSION_API, ActionRequest, AdmissionRequest, AuditEvent, AuditSettings,
    ContainerRegistration, Decision, EvaluateRequest, IntentClassification, Outcome,
    check_container_id,
};
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::admission_cache::{AdmissionCache, CachedAdmission};
use crate::cedar::{CompileError, CompiledPolicy, GeneratedPolicy, Thresholds, Verdict};
use crate::destination::DestinationAnalyzer;
use crate::escalation::enforcement;
use crate::facts::ActionFacts;
use crate::intent::EmbeddedEngine;
use crate::intent_backend::IntentBackend;
use crate::model::{ModelClient, ModelEngine};
use crate::nl::{
    GrammarCompiler, ModelNlCompiler, NlCompiler, NlError, NlPolicyIr, compile_documents,
};

/// The audit component name of this service.
pub const COMPONENT: &str = "nemotron";

/// Errors of the service core.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The container is not registered.
    #[error("container {0:?} is not registered")]
    UnknownContainer(String),
    /// A request is well-formed JSON but invalid.
    #[error("{0}")]
    BadRequest(String),
    /// The container's policy does not compile.
    #[error(transparent)]
    Policy(#[from] CompileError),
    /// A natural-language compilation failed.
    #[error(transparent)]
    NaturalLanguage(#[from] NlError),
    /// The audit trail cannot be opened or read.
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// A sandbox's start was not done by its hook's deadline (and was undone).
    #[error("{0}")]
    TooLate(String),
    /// A container's registration record cannot be written or removed.
    #[error("registration record {}: {source}", path.display())]
    Registry {
        /// The record.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The configured embedding model cannot be loaded.
    #[cfg(feature = "embeddings")]
    #[error(transparent)]
    Embeddings(#[from] crate::intent::semantic::SemanticError),
}

/// Settings of the service core.
#[derive(Debug, Clone)]
pub struct ServiceSettings {
    /// The node configuration.
    pub node: NodeConfig,
    /// Classification thresholds compiled into every policy.
    pub thresholds: Thresholds,
    /// Compiled policies kept (by policy content).
    pub compiled_cache: usize,
    /// Scan limits of the content detectors.
    pub limits: Limits,
}

impl ServiceSettings {
    /// Defaults for `node`.
    pub fn new(node: NodeConfig) -> ServiceSettings {
        ServiceSettings {
            node,
            thresholds: Thresholds::default(),
            compiled_cache: 256,
            limits: Limits::default(),
        }
    }
}

/// The result of compiling natural-language text on request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NlCompilation {
    /// Which compiler ran.
    pub compiler: String,
    /// The intermediate form.
    pub ir: NlPolicyIr,
    /// The Cedar policies generated from it (validated), in order.
    pub cedar: Vec<CedarPolicyText>,
}

/// One generated Cedar policy, for inspection.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CedarPolicyText {
    /// The policy id.
    pub id: String,
    /// The Cedar text.
    pub text: String,
}

impl From<&GeneratedPolicy> for CedarPolicyText {
    fn from(g: &GeneratedPolicy) -> Self {
        CedarPolicyText {
            id: g.id.clone(),
            text: g.text.clone(),
        }
    }
}

struct Registered {
    registration: ContainerRegistration,
    policy: Arc<CompiledPolicy>,
}

/// The policy service.
pub struct PolicyService {
    settings: ServiceSettings,
    /// The intent classifier: built by [`PolicyService::new`], else on first use.
    intent: OnceLock<IntentBackend>,
    grammar: GrammarCompiler,
    model_nl: Option<ModelNlCompiler>,
    /// Compiled policies by record digest.
    compiled: Mutex<LruCache<String, Arc<CompiledPolicy>>>,
    /// The same, by what compiling reads of a record ([`rules_key`]).
    compiled_rules: Mutex<LruCache<[u8; 32], Arc<CompiledPolicy>>>,
    containers: RwLock<HashMap<String, Registered>>,
    audit: AuditHub,
    /// The sentence-embedding model of `[classifier] embedding_model`, loaded by
    /// [`PolicyService::new`].
    #[cfg(feature = "embeddings")]
    semantic: Option<Arc<crate::intent::semantic::SemanticModel>>,
    /// Admission allows kept across processes ([`PolicyService::with_admission_cache`]).
    admission_cache: Option<AdmissionCache>,
}

impl PolicyService {
    /// A service for the settings: the model backend if the node configures one, the audit hub
    /// of the node, the embedding model of `[classifier] embedding_model` (an error names the
    /// model's file that is missing or unreadable).
    pub fn new(settings: ServiceSettings) -> Result<PolicyService, ServiceError> {
        #[cfg(feature = "embeddings")]
        let semantic = match &settings.node.classifier.embedding_model {
            Some(dir) => Some(Arc::new(crate::intent::semantic::SemanticModel::load(dir)?)),
            None => None,
        };
        #[cfg_attr(not(feature = "embeddings"), expect(unused_mut))]
        let mut service = PolicyService::for_admission(settings)?;
        #[cfg(feature = "embeddings")]
        {
            service.semantic = semantic;
        }
        service.prepare_classification();
        Ok(service)
    }

    /// Builds the intent classifier and compiles the content patterns now rather than in the
    /// first classification ([`PolicyService::new`] does; a service made
    /// [`PolicyService::for_admission`] may call it off its request path).
    pub fn prepare_classification(&self) {
        self.intent();
        crate::content::compile_patterns();
    }

    /// Whether classification fuses the semantic signal of an embedding model with the
    /// detectors.
    pub fn has_semantic_signal(&self) -> bool {
        #[cfg(feature = "embeddings")]
        return self.semantic.is_some();
        #[cfg(not(feature = "embeddings"))]
        false
    }

    /// A service that builds its intent classifier (content detectors, destination analysis,
    /// model client) only when it first classifies: for callers that mostly or only decide
    /// admissions, which need no classification (the OCI hook: it saves the detectors'
    /// construction, most of the hook's own time).
    pub fn for_admission(settings: ServiceSettings) -> Result<PolicyService, ServiceError> {
        let model_nl = ModelNlCompiler::for_node(&settings.node);
        let audit = AuditHub::new(&settings.node)?;
        let capacity = NonZeroUsize::new(settings.compiled_cache.max(1)).expect("at least one");
        Ok(PolicyService {
            intent: OnceLock::new(),
            grammar: GrammarCompiler,
            model_nl,
            compiled: Mutex::new(LruCache::new(capacity)),
            compiled_rules: Mutex::new(LruCache::new(capacity)),
            containers: RwLock::new(HashMap::new()),
            audit,
            settings,
            #[cfg(feature = "embeddings")]
            semantic: None,
            admission_cache: None,
        })
    }

    /// Keeps admission allows in `dir` for later processes and answers from it when an entry
    /// holds for the request (see [`crate::admission_cache`]): for the OCI hook, a new process
    /// per sandbox, which would otherwise compile the container's policy every time.
    pub fn with_admission_cache(mut self, dir: &Path) -> PolicyService {
        self.admission_cache = Some(AdmissionCache::new(
            dir,
            &self.settings.node,
            &self.settings.thresholds,
        ));
        self
    }

    /// The intent classifier, built on first use.
    fn intent(&self) -> &IntentBackend {
        self.intent.get_or_init(|| {
            let node = &self.settings.node;
            let embedded = EmbeddedEngine::new(
                Classifier::new(self.settings.limits),
                DestinationAnalyzer::new(&node.classifier.internal_domains)
                    .with_home_countries(&node.classifier.home_countries),
                node.region.clone(),
            );
            #[cfg(feature = "embeddings")]
            let embedded = match &self.semantic {
                Some(model) => embedded.with_semantic(Arc::clone(model)),
                None => embedded,
            };
            match &node.model {
                Some(model) => IntentBackend::Model(Box::new(ModelEngine::new(model, embedded))),
                None => IntentBackend::Embedded(embedded),
            }
        })
    }

    /// The node configuration.
    pub fn node(&self) -> &NodeConfig {
        &self.settings.node
    }

    /// The natural-language compiler used for policies: the model when the node asks for it,
    /// else the grammar.
    fn nl_compiler(&self) -> &dyn NlCompiler {
        match &self.model_nl {
            Some(model) => model,
            None => &self.grammar,
        }
    }

    /// Compiles (or fetches from the cache) a container's policy. Fails when the policy's
    /// rules are malformed, a natural-language sentence is not understood, or the audit
    /// destination does not resolve.
    pub fn compile(&self, policy: &PolicyRecord) -> Result<Arc<CompiledPolicy>, ServiceError> {
        // The record comes from the runtime through the hook: it is compiled only if its
        // digest matches what it says, and once per digest. A digest already compiled is
        // answered from the cache before the record is hashed again: what is cached was built
        // from contents that had that digest, so a record that only claims it gets the genuine
        // policy's rules, never its own.
        if let Some(hit) = self
            .compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(policy.digest.as_str())
        {
            return Ok(Arc::clone(hit));
        }
        policy.verify().map_err(|e| CompileError {
            policy: policy.name.clone(),
            message: e.to_string(),
        })?;
        self.compile_verified(policy)
    }

    /// [`compile`](Self::compile) for a record whose digest the caller has just verified:
    /// the record is not hashed again.
    pub(crate) fn compile_verified(
        &self,
        policy: &PolicyRecord,
    ) -> Result<Arc<CompiledPolicy>, ServiceError> {
        let fail = |message: String| CompileError {
            policy: policy.name.clone(),
            message,
        };
        // Records that differ only in what the service does not read (the hardened spec, which
        // names the container's own paths) share one compiled policy.
        let rules_key = rules_key(policy);
        if let Some(shared) = self
            .compiled_rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&rules_key)
            .cloned()
        {
            self.compiled
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(policy.digest.clone(), Arc::clone(&shared));
            return Ok(shared);
        }
        let nl = compile_documents(self.nl_compiler(), &policy.decisions.natural_language)?;
        if let Some(u) = nl.unparsed.first() {
            return Err(fail(format!(
                "natural-language sentence at characters {}..{} not understood ({}): {:?}",
                u.source.start, u.source.end, u.reason, u.source.text
            ))
            .into());
        }
        // Without a destination, events go to the node's trail alone (the documented default).
        if let Some(destination) = policy
            .audit
            .destination
            .as_deref()
            .filter(|_| policy.audit.enabled)
        {
            Destination::resolve(destination, &self.settings.node)
                .map_err(|e| fail(e.to_string()))?;
        }
        let compiled = Arc::new(CompiledPolicy::build(
            &policy.name,
            &policy.decisions,
            &policy.audit,
            nl,
            &self.settings.thresholds,
        )?);
        self.compiled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(policy.digest.clone(), Arc::clone(&compiled));
        self.compiled_rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .put(rules_key, Arc::clone(&compiled));
        Ok(compiled)
    }

    /// Classifies without blocking, when possible (embedded engine, or a cached model answer).
    pub fn classify_quick(&self, action: &ActionRequest) -> Option<IntentClassification> {
        self.intent().quick(action)
    }

    /// Classifies an action (may block on the model backend). A fallback from the model to the
    /// embedded engine is audited.
    pub fn classify(
        &self,
        action: &ActionRequest,
        container_id: Option<&str>,
    ) -> IntentClassification {
        let c = self.intent().classify(action);
        self.audit_fallback(&c, action, container_id);
        c
    }

    fn audit_fallback(
        &self,
        c: &IntentClassification,
        action: &ActionRequest,
        container_id: Option<&str>,
    ) {
        if let Some(reason) = &c.fallback {
            let mut event = new_event(COMPONENT, "classifier.fallback", "fallback");
            event.container_id = container_id.map(str::to_owned);
            event.resource = Some(action.action.clone());
            event.reason = reason.clone();
            self.record(None, event);
        }
    }

    /// What an action says, normalised: derived once per decision, for its classification and
    /// its Cedar context alike.
    pub fn facts(&self, action: &ActionRequest) -> ActionFacts {
        ActionFacts::derive(action, self.intent().embedded().destinations())
    }

    /// [`PolicyService::classify_quick`] for an action whose facts are derived.
    pub fn classify_quick_with(
        &self,
        action: &ActionRequest,
        facts: &ActionFacts,
    ) -> Option<IntentClassification> {
        self.intent().quick_with_facts(action, facts)
    }

    /// [`PolicyService::classify`] for an action whose facts are derived.
    fn classify_with(
        &self,
        action: &ActionRequest,
        facts: &ActionFacts,
        container_id: &str,
    ) -> IntentClassification {
        let c = self.intent().classify_with_facts(action, facts);
        self.audit_fallback(&c, action, Some(container_id));
        c
    }

    /// Evaluates an action of a registered container, classifying it first (may block on the
    /// model backend).
    pub fn evaluate(&self, request: &EvaluateRequest) -> Result<Decision, ServiceError> {
        let started = Instant::now();
        let facts = self.facts(&request.action);
        let classification = self.classify_with(&request.action, &facts, &request.container_id);
        self.evaluate_classified(request, &facts, classification, started)
    }

    /// Evaluates an action already classified; `facts` are the action's
    /// ([`PolicyService::facts`]).
    pub fn evaluate_classified(
        &self,
        request: &EvaluateRequest,
        facts: &ActionFacts,
        classification: IntentClassification,
        started: Instant,
    ) -> Result<Decision, ServiceError> {
        let (policy, registration_policy) = {
            let containers = self.containers.read().unwrap_or_else(|p| p.into_inner());
            let registered = containers
                .get(&request.container_id)
                .ok_or_else(|| ServiceError::UnknownContainer(request.container_id.clone()))?;
            (
                Arc::clone(&registered.policy),
                registered.registration.policy.name.clone(),
            )
        };
        Ok(self.decide_action(
            &request.container_id,
            &registration_policy,
            &policy,
            &request.action,
            facts,
            classification,
            started,
        ))
    }

    /// Whether actions are classified without waiting on anything (no model backend is
    /// configured): a caller on an async thread may then evaluate in place.
    pub fn classifies_in_process(&self) -> bool {
        self.settings.node.model.is_none()
    }

    /// Evaluates an action of a container this service does not keep registered, under the
    /// container's compiled policy record: the egress engine decides each API call of its
    /// sandboxes in process this way. The record is verified and compiled once per digest;
    /// the decision is audited as [`PolicyService::evaluate`]'s are.
    pub fn evaluate_under(
        &self,
        container_id: &str,
        record: &PolicyRecord,
        action: &ActionRequest,
    ) -> Result<Decision, ServiceError> {
        let started = Instant::now();
        let policy = self.compile(record)?;
        let facts = self.facts(action);
        let classification = self.classify_with(action, &facts, container_id);
        Ok(self.decide_action(
            container_id,
            policy.name(),
            &policy,
            action,
            &facts,
            classification,
            started,
        ))
    }

    #[expect(
        clippy::too_many_arguments,
        reason = "one decision's inputs, each used once"
    )]
    fn decide_action(
        &self,
        container_id: &str,
        policy_name: &str,
        policy: &CompiledPolicy,
        action: &ActionRequest,
        facts: &ActionFacts,
        classification: IntentClassification,
        started: Instant,
    ) -> Decision {
        let verdict = policy.decide_action(container_id, action, facts, &classification);
        let decision = decide(verdict, policy, Some(classification.summary()), started);
        let mut event = decision_event(COMPONENT, &action.action, &decision);
        event.container_id = Some(container_id.to_owned());
        event.policy = Some(policy_name.to_owned());
        event.actor = action.agent.clone();
        event.resource = action
            .resource
            .clone()
            .or_else(|| action.destination.clone());
        self.record(audit_destination(policy), event);
        decision
    }

    /// Decides whether a sandbox may start. Never fails: a policy that does not compile denies.
    pub fn admit(&self, request: &AdmissionRequest) -> Decision {
        let started = Instant::now();
        // The cache is asked only about a valid id and a record whose digest matches it: the
        // digest is part of the key.
        let cache = self.admission_cache.as_ref().filter(|_| {
            check_container_id(&request.container_id).is_ok() && request.policy.verify().is_ok()
        });
        let key = cache.map(|cache| cache.key(request));
        let cached = cache
            .zip(key.as_deref())
            .and_then(|(cache, key)| cache.lookup(key));
        let compiled = || self.admission_policy(request);
        let (decision, destination) = match cached.ok_or_else(compiled) {
            Ok(hit) => (
                Decision {
                    outcome: hit.outcome,
                    enforced: openshell_policy::wire::Enforcement::Allow,
                    reasons: hit.reasons,
                    policies: hit.policies,
                    classification: None,
                    latency_us: elapsed_us(started),
                },
                hit.destination,
            ),
            Err(Ok(policy)) => {
                let verdict = policy.decide_admission(request);
                let destination = audit_destination(&policy).map(str::to_owned);
                let decision = decide(verdict, &policy, None, started);
                if let (Some(cache), Some(key)) = (cache, &key) {
                    // Best effort: without the entry the next admission compiles.
                    let _ = cache.store(
                        key,
                        &policy,
                        decision.enforced,
                        CachedAdmission {
                            outcome: decision.outcome,
                            policies: decision.policies.clone(),
                            reasons: decision.reasons.clone(),
                            destination: destination.clone(),
                        },
                    );
                }
                (decision, destination)
            }
            Err(Err(e)) => (
                Decision {
                    outcome: Outcome::Deny,
                    enforced: openshell_policy::wire::Enforcement::Deny,
                    reasons: vec![format!("admission fails closed: {e}")],
                    policies: Vec::new(),
                    classification: None,
                    latency_us: elapsed_us(started),
                },
                None,
            ),
        };
        let mut event = decision_event(COMPONENT, ADMISSION_API, &decision);
        event.container_id = Some(request.container_id.clone());
        event.policy = Some(request.policy.name.clone());
        event.resource = Some(
            request
                .image
                .clone()
                .unwrap_or_else(|| request.bundle.display().to_string()),
        );
        self.record(destination.as_deref(), event);
        decision
    }

    fn admission_policy(
        &self,
        request: &AdmissionRequest,
    ) -> Result<Arc<CompiledPolicy>, ServiceError> {
        check_container_id(&request.container_id)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        self.compile(&request.policy)
    }

    /// Registers a running container; returns the ids of its compiled policies.
    pub fn register(
        &self,
        registration: ContainerRegistration,
    ) -> Result<Vec<String>, ServiceError> {
        check_container_id(&registration.container_id)
            .map_err(|e| ServiceError::BadRequest(e.to_string()))?;
        let policy = self.compile(&registration.policy)?;
        let ids = policy.policies().iter().map(|p| p.id.clone()).collect();
        let mut event = new_event(COMPONENT, "container.register", "registered");
        event.container_id = Some(registration.container_id.clone());
        event.policy = Some(registration.policy.name.clone());
        let destination = audit_destination(&policy).map(str::to_owned);
        self.containers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                registration.container_id.clone(),
                Registered {
                    registration,
                    policy,
                },
            );
        self.record(destination.as_deref(), event);
        Ok(ids)
    }

    /// Forgets a container; false if it was not registered.
    pub fn unregister(&self, container_id: &str) -> bool {
        let removed = self
            .containers
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(container_id);
        if let Some(r) = &removed {
            let mut event = new_event(COMPONENT, "container.unregister", "unregistered");
            event.container_id = Some(container_id.to_owned());
            event.policy = Some(r.registration.policy.name.clone());
            self.record(audit_destination(&r.policy), event);
        }
        removed.is_some()
    }

    /// The registration record of a container.
    pub fn registration(&self, container_id: &str) -> Option<ContainerRegistration> {
        self.containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(container_id)
            .map(|r| r.registration.clone())
    }

    /// Number of registered containers.
    pub fn registered_count(&self) -> usize {
        self.containers
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }

    /// Registers every record in the node's registry directory (after a restart); returns how
    /// many were loaded and the files that were not.
    pub fn load_registry(&self, dir: &Path) -> (usize, Vec<String>) {
        let mut loaded = 0;
        let mut problems = Vec::new();
        let Ok(entries) = std::fs::read_dir(dir) else {
            return (0, problems);
        };
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let parsed = std::fs::read_to_string(&path)
                .map_err(|e| e.to_string())
                .and_then(|text| {
                    serde_json::from_str::<ContainerRegistration>(&text).map_err(|e| e.to_string())
                });
            match parsed.map(|r| self.register(r).map_err(|e| e.to_string())) {
                Ok(Ok(_)) => loaded += 1,
                Ok(Err(e)) | Err(e) => problems.push(format!("{}: {e}", path.display())),
            }
        }
        (loaded, problems)
    }

    /// Compiles natural-language text on request (`compiler`: `grammar`, `model`, or the
    /// service's default), with the Cedar it generates, validated.
    pub fn compile_nl(
        &self,
        text: &str,
        compiler: Option<&str>,
    ) -> Result<NlCompilation, ServiceError> {
        let chosen: &dyn NlCompiler = match compiler {
            None => self.nl_compiler(),
            Some("grammar") => &self.grammar,
            Some("model") => match &self.model_nl {
                Some(m) => m,
                None => {
                    let model = self.settings.node.model.as_ref().ok_or_else(|| {
                        ServiceError::BadRequest(
                            "no model backend is configured on this node".into(),
                        )
                    })?;
                    return self
                        .compile_nl_with(&ModelNlCompiler::new(ModelClient::new(model)), text);
                }
            },
            Some(other) => {
                return Err(ServiceError::BadRequest(format!(
                    "unknown compiler {other:?}: expected grammar or model"
                )));
            }
        };
        self.compile_nl_with(chosen, text)
    }

    fn compile_nl_with(
        &self,
        compiler: &dyn NlCompiler,
        text: &str,
    ) -> Result<NlCompilation, ServiceError> {
        let ir = compile_documents(compiler, &[text.to_owned()])?;
        let cedar = nl_policies(&ir)?;
        Ok(NlCompilation {
            compiler: compiler.name().to_owned(),
            ir,
            cedar,
        })
    }

    /// A container's audit trail, from the node's local trail (or, without one, from the
    /// container's `file://` destination).
    pub fn trail(&self, container_id: &str, mut query: TrailQuery) -> Result<Trail, ServiceError> {
        query.container_id = Some(container_id.to_owned());
        if let Some(path) = self.audit.trail_path() {
            return Ok(read_trail(path, &query)?);
        }
        let file = {
            let containers = self.containers.read().unwrap_or_else(|p| p.into_inner());
            containers
                .get(container_id)
                .and_then(|r| r.policy.audit().destination.clone())
                .and_then(|d| d.strip_prefix("file://").map(str::to_owned))
        };
        match file {
            Some(path) => Ok(read_trail(Path::new(&path), &query)?),
            None => Ok(Trail::default()),
        }
    }

    /// Waits until audit events recorded so far are delivered or spooled.
    pub fn flush_audit(&self, timeout: Duration) -> Result<(), ServiceError> {
        Ok(self.audit.flush(timeout)?)
    }

    fn record(&self, destination: Option<&str>, event: AuditEvent) {
        if let Err(e) = self.audit.record(destination, event) {
            eprintln!("nemotron-service: audit event not recorded: {e}");
        }
    }
}

/// The Cedar policies of natural-language rules alone, validated strictly.
pub(crate) fn nl_policies(ir: &NlPolicyIr) -> Result<Vec<CedarPolicyText>, ServiceError> {
    let none = Thresholds {
        deny_external_at: None,
        escalate_external_at: None,
        escalate_irreversible_organization: false,
        escalate_injected_instructions: false,
        escalate_controls_off: false,
    };
    let compiled = CompiledPolicy::build(
        "natural-language",
        &DecisionRules::default(),
        &AuditSettings::default(),
        ir.clone(),
        &none,
    )?;
    Ok(compiled
        .policies()
        .iter()
        .filter(|p| p.id.starts_with("nl:"))
        .map(CedarPolicyText::from)
        .collect())
}

/// What [`PolicyService::compile`] reads of a verified record, hashed: its name, decision rules
/// and audit settings.
pub(crate) fn rules_key(policy: &PolicyRecord) -> [u8; 32] {
    let read = serde_json::to_vec(&(&policy.name, &policy.decisions, &policy.audit))
        .expect("a record's parts serialize");
    Sha256::digest(read).into()
}

fn audit_destination(policy: &CompiledPolicy) -> Option<&str> {
    let audit = policy.audit();
    audit
        .enabled
        .then_some(audit.destination.as_deref())
        .flatten()
}

fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// A wire decision from a verdict: escalations resolved by the policy's approval default.
fn decide(
    verdict: Verdict,
    policy: &CompiledPolicy,
    classification: Option<openshell_policy::wire::ClassificationSummary>,
    started: Instant,
) -> Decision {
    let enforced = enforcement(verdict.outcome, policy.approval_default());
    let mut reasons = verdict.reasons;
    if verdict.outcome == Outcome::Escalate {
        reasons.push(format!(
            "escalated for approval: a held API call waits for a human; elsewhere the policy's default action ({}) applies",
            match enforced {
                openshell_policy::wire::Enforcement::Allow => "allow",
                openshell_policy::wire::Enforcement::Deny => "deny",
            }
        ));
    }
    Decision {
        outcome: verdict.outcome,
        enforced,
        reasons,
        policies: verdict.policies,
        classification,
        latency_us: elapsed_us(started),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A service whose audit spool, trail and registry are under `dir`.
    pub(crate) fn service(dir: &Path) -> PolicyService {
        let mut node = NodeConfig::default();
        node.audit.spool_dir = dir.join("spool");
        node.audit.trail = Some(dir.join("trail.jsonl"));
        node.registry_dir = dir.join("registry");
        PolicyService::for_admission(ServiceSettings::new(node)).unwrap()
    }

    #[test]
    fn records_that_differ_only_in_their_spec_share_compiled_rules() {
        let dir = tempfile::tempdir().unwrap();
        let service = service(dir.path());
        let yaml = |denied: &str| {
            format!(
                "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\n\
                 metadata: {{name: agent}}\nspec:\n  permissions:\n    deniedAPIs: [{denied}]\n"
            )
        };
        let record = openshell_policy::compile_default("agent.yaml", &yaml("crm.delete")).unwrap();
        let with_host = |host: &str| {
            let mut other = record.clone();
            other.spec.set_hostname(Some(host.to_owned()));
            other.seal()
        };
        let (first, second) = (with_host("sandbox-1"), with_host("sandbox-2"));
        assert_ne!(first.digest, second.digest);
        let first = service.compile(&first).unwrap();
        assert!(Arc::ptr_eq(&first, &service.compile(&second).unwrap()));
        let stricter = openshell_policy::compile_default("agent.yaml", &yaml("crm.*")).unwrap();
        assert!(!Arc::ptr_eq(&first, &service.compile(&stricter).unwrap()));
        // A record that does not match its digest is refused before anything is shared.
        let mut claimed = with_host("sandbox-3");
        claimed.spec.set_hostname(Some("elsewhere".into()));
        assert!(service.compile(&claimed).is_err());
    }
}
