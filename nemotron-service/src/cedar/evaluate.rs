//! A container's compiled policy set and the decisions it takes.
//!
//! Cedar decides: default deny, forbid wins. On top of Cedar's answer:
//! - a deny produced only by forbids annotated `@decision("escalate")` is an **escalation** —
//!   if, without those forbids, the action would be allowed (escalating an action the policy
//!   refuses anyway would be pointless: that stays a deny);
//! - a deny with no determining policy is reported as "no policy permits …";
//! - any evaluation error fails closed (deny).
//!
//! Every verdict names the ids of the policies that produced it and their `@reason`s.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    Policy, PolicyId, PolicySet, PrincipalConstraint, ResourceConstraint, ValidationMode, Validator,
};
use cedar_policy_core::ast::{
    self, Context, Eid, EntityType, EntityUID, EntityUIDEntry, PolicyID, Request, Value,
};
use cedar_policy_core::authorizer::{Authorizer, Decision as CedarDecision};
use cedar_policy_core::entities::Entities;
use cedar_policy_core::parser::parse_policy;
use openshell_policy::compiled::DecisionRules;
use openshell_policy::normalize_api_name;
use openshell_policy::wire::{
    ADMISSION_API, ActionRequest, AdmissionRequest, AuditSettings, Enforcement,
    IntentClassification, Outcome,
};

use super::compile::{CompileError, GeneratedPolicy, Thresholds, generate};
use super::schema::schema;
use crate::facts::ActionFacts;
use crate::nl::NlPolicyIr;

/// Data types enter the decision context only when asserted at least this confidently, so a
/// passing mention ("the invoice", "$20") does not make text financial data.
pub const CONTEXT_DATA_TYPE_MIN_CONFIDENCE: f32 = 0.6;

/// What the policies say, and which ones said it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// The outcome.
    pub outcome: Outcome,
    /// Ids of the deciding policies.
    pub policies: Vec<String>,
    /// Their reasons (or why none decided).
    pub reasons: Vec<String>,
}

/// The policies of one Cedar action: all of them, and all but the escalating forbids. They are
/// Cedar's own evaluation form (`cedar_policy_core`), so a decision builds its request from
/// values directly instead of evaluating a restricted expression per request.
#[derive(Default, Clone)]
struct ActionSets {
    full: ast::PolicySet,
    hard: ast::PolicySet,
}

impl ActionSets {
    fn add(&mut self, policy: &ast::StaticPolicy, escalates: bool) -> Result<(), String> {
        if !escalates {
            self.hard
                .add_static(policy.clone())
                .map_err(|e| e.to_string())?;
        }
        self.full
            .add_static(policy.clone())
            .map_err(|e| e.to_string())
    }
}

/// The policies of one Cedar action, partitioned by API service: a policy whose glob names a
/// service (`crm.*`) cannot match an API of another service, so it is only evaluated for its
/// own. The decision is the same as evaluating them all.
#[derive(Default)]
struct Partitioned {
    /// Policies that can match any API, plus those of the service.
    by_service: HashMap<String, ActionSets>,
    /// Policies that can match any API (for services no policy names).
    any: ActionSets,
}

impl Partitioned {
    fn build(policies: &[(&GeneratedPolicy, &ast::StaticPolicy)]) -> Result<Partitioned, String> {
        let mut out = Partitioned::default();
        for (g, p) in policies.iter().filter(|(g, _)| g.service.is_none()) {
            out.any.add(p, g.escalates)?;
        }
        for (g, _) in policies {
            if let Some(service) = &g.service
                && !out.by_service.contains_key(service)
            {
                let mut sets = out.any.clone();
                for (other, p) in policies
                    .iter()
                    .filter(|(o, _)| o.service.as_ref() == Some(service))
                {
                    sets.add(p, other.escalates)?;
                }
                out.by_service.insert(service.clone(), sets);
            }
        }
        Ok(out)
    }

    fn for_service(&self, service: &str) -> &ActionSets {
        self.by_service.get(service).unwrap_or(&self.any)
    }
}

/// A container's policy, compiled to Cedar and validated. Policies are kept per Cedar action
/// and API service so a request is evaluated against the policies that can apply to it.
pub struct CompiledPolicy {
    name: String,
    invoke: Partitioned,
    admit: Partitioned,
    generated: Vec<GeneratedPolicy>,
    reasons: HashMap<String, String>,
    escalating: HashSet<String>,
    nl: NlPolicyIr,
    approval_default: Enforcement,
    audit: AuditSettings,
    /// Every policy has an unconstrained principal and resource and does not mention them.
    context_alone: bool,
}

fn entity(type_name: &'static str, id: &str) -> EntityUID {
    static TYPES: OnceLock<HashMap<&'static str, EntityType>> = OnceLock::new();
    let types = TYPES.get_or_init(|| {
        [
            "OpenShell::Agent",
            "OpenShell::Resource",
            "OpenShell::Sandbox",
            "OpenShell::Action",
        ]
        .into_iter()
        .map(|t| (t, EntityType::from_str(t).expect("valid entity type names")))
        .collect()
    });
    EntityUID::from_components(types[type_name].clone(), Eid::new(id), None)
}

fn known(type_name: &'static str, id: &str) -> EntityUIDEntry {
    EntityUIDEntry::known(entity(type_name, id), None)
}

/// Whether `policy` has an unconstrained principal and resource scope and its conditions
/// mention neither.
fn decides_on_context(policy: &Policy) -> bool {
    fn mentions_identity(value: &serde_json::Value) -> bool {
        match value {
            serde_json::Value::Object(map) => map.iter().any(|(key, value)| {
                (key == "Var" && (value == "principal" || value == "resource"))
                    || mentions_identity(value)
            }),
            serde_json::Value::Array(items) => items.iter().any(mentions_identity),
            _ => false,
        }
    }
    matches!(policy.principal_constraint(), PrincipalConstraint::Any)
        && matches!(policy.resource_constraint(), ResourceConstraint::Any)
        && policy
            .to_json()
            .is_ok_and(|est| !mentions_identity(&est["conditions"]))
}

fn authorizer() -> &'static Authorizer {
    static AUTHORIZER: OnceLock<Authorizer> = OnceLock::new();
    AUTHORIZER.get_or_init(Authorizer::new)
}

/// Decisions read no entity data: every fact is in the request's context.
fn no_entities() -> &'static Entities {
    static NONE: OnceLock<Entities> = OnceLock::new();
    NONE.get_or_init(Entities::new)
}

fn string(s: &str) -> Value {
    Value::from(s)
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> Value {
    Value::set(items.into_iter().map(string), None)
}

fn long(n: i64) -> Value {
    Value::from(n)
}

fn boolean(b: bool) -> Value {
    Value::from(b)
}

/// A request context from its fields (each name once).
fn context<const N: usize>(fields: [(&'static str, Value); N]) -> Context {
    Context::Value(Arc::new(
        fields.into_iter().map(|(k, v)| (k.into(), v)).collect(),
    ))
}

impl CompiledPolicy {
    /// Generates, parses and strictly validates the Cedar policies of container policy `name`:
    /// its decision `rules` and its compiled natural-language rules; `audit` is where its
    /// decisions are recorded.
    pub fn build(
        name: &str,
        rules: &DecisionRules,
        audit: &AuditSettings,
        nl: NlPolicyIr,
        thresholds: &Thresholds,
    ) -> Result<CompiledPolicy, CompileError> {
        let fail = |message: String| CompileError {
            policy: name.to_owned(),
            message,
        };
        let generated = generate(name, rules, &nl, thresholds)?;
        let mut full = PolicySet::new();
        let mut parsed = Vec::with_capacity(generated.len());
        let mut reasons = HashMap::new();
        let mut escalating = HashSet::new();
        let mut context_alone = true;
        for g in &generated {
            let does_not_parse = |e: &dyn std::fmt::Display| {
                fail(format!("generated policy {} does not parse: {e}", g.id))
            };
            // Parsed twice from the same text: once for validation (the public API), once in
            // the form the authorizer evaluates.
            let policy = Policy::parse(Some(PolicyId::new(&g.id)), &g.text)
                .map_err(|e| does_not_parse(&e))?;
            let evaluated = parse_policy(Some(PolicyID::from_string(&g.id)), &g.text)
                .map_err(|e| does_not_parse(&e))?;
            context_alone &= decides_on_context(&policy);
            if g.escalates {
                escalating.insert(g.id.clone());
            }
            full.add(policy)
                .map_err(|e| fail(format!("{}: {e}", g.id)))?;
            reasons.insert(g.id.clone(), g.reason.clone());
            parsed.push((g, evaluated));
        }
        let pairs =
            |keep: fn(&GeneratedPolicy) -> bool| -> Vec<(&GeneratedPolicy, &ast::StaticPolicy)> {
                parsed
                    .iter()
                    .filter(|(g, _)| keep(g))
                    .map(|(g, p)| (*g, p))
                    .collect()
            };
        let invoke = Partitioned::build(&pairs(|g| g.applies.invoke())).map_err(&fail)?;
        let admit = Partitioned::build(&pairs(|g| g.applies.admit())).map_err(&fail)?;
        let validation = Validator::new(schema().clone()).validate(&full, ValidationMode::Strict);
        if !validation.validation_passed() {
            let errors: Vec<String> = validation
                .validation_errors()
                .map(|e| format!("{}: {e}", e.policy_id()))
                .collect();
            return Err(fail(format!(
                "Cedar validation failed: {}",
                errors.join("; ")
            )));
        }
        Ok(CompiledPolicy {
            name: name.to_owned(),
            invoke,
            admit,
            generated,
            reasons,
            escalating,
            nl,
            approval_default: rules.approval_default(),
            audit: audit.clone(),
            context_alone,
        })
    }

    /// Whether every decision of this policy depends on the request's context alone, never on
    /// which principal (container) asks about which resource: then two requests with the
    /// same context get the same verdict.
    pub fn decides_on_context_alone(&self) -> bool {
        self.context_alone
    }

    /// The policy name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The generated Cedar policies, in order.
    pub fn policies(&self) -> &[GeneratedPolicy] {
        &self.generated
    }

    /// The compiled natural-language rules (including redaction obligations).
    pub fn natural_language(&self) -> &NlPolicyIr {
        &self.nl
    }

    /// What an escalation resolves to where no human is asked.
    pub fn approval_default(&self) -> Enforcement {
        self.approval_default
    }

    /// The policy's audit settings.
    pub fn audit(&self) -> &AuditSettings {
        &self.audit
    }

    /// Decides an API call of the agent in container `principal`.
    pub fn decide_action(
        &self,
        principal: &str,
        request: &ActionRequest,
        facts: &ActionFacts,
        classification: &IntentClassification,
    ) -> Verdict {
        // Patterns are matched on normalised names only: a name without a normal form could
        // dodge a deniedAPIs glob by its spelling, so it is refused.
        if let Err(error) = normalize_api_name(&request.action) {
            return fail_closed(error.message);
        }
        let resource = request.resource.as_deref().unwrap_or(&request.action);
        let r = action_request(principal, resource, request, facts, classification);
        self.decide(self.invoke.for_service(&facts.service), r, &facts.api)
    }

    /// Decides whether the sandbox of `request` may start.
    pub fn decide_admission(&self, request: &AdmissionRequest) -> Verdict {
        let service = crate::taxonomy::split_api(ADMISSION_API).service;
        self.decide(
            self.admit.for_service(&service),
            admission_request(request),
            ADMISSION_API,
        )
    }

    fn decide(&self, sets: &ActionSets, request: Request, api: &str) -> Verdict {
        // The request is evaluated again (without the escalating forbids) only on a deny.
        let response = authorizer().is_authorized(request.clone(), &sets.full, no_entities());
        let errors = &response.diagnostics.errors;
        if !errors.is_empty() {
            let errors: Vec<String> = errors.iter().map(ToString::to_string).collect();
            return fail_closed(format!("policy evaluation error: {}", errors.join("; ")));
        }
        let ids: Vec<String> = response
            .diagnostics
            .reason
            .iter()
            .map(|id| AsRef::<str>::as_ref(id).to_owned())
            .collect();
        match response.decision {
            CedarDecision::Allow => self.verdict(Outcome::Allow, ids),
            CedarDecision::Deny if ids.is_empty() => Verdict {
                outcome: Outcome::Deny,
                policies: Vec::new(),
                reasons: vec![format!("no policy permits {api}")],
            },
            CedarDecision::Deny => {
                let hard: Vec<String> = ids
                    .iter()
                    .filter(|id| !self.escalating.contains(*id))
                    .cloned()
                    .collect();
                if !hard.is_empty() {
                    return self.verdict(Outcome::Deny, hard);
                }
                let without = authorizer().is_authorized(request, &sets.hard, no_entities());
                match without.decision {
                    CedarDecision::Allow => self.verdict(Outcome::Escalate, ids),
                    CedarDecision::Deny => {
                        let ids: Vec<String> = without
                            .diagnostics
                            .reason
                            .iter()
                            .map(|id| AsRef::<str>::as_ref(id).to_owned())
                            .collect();
                        if ids.is_empty() {
                            Verdict {
                                outcome: Outcome::Deny,
                                policies: Vec::new(),
                                reasons: vec![format!("no policy permits {api}")],
                            }
                        } else {
                            self.verdict(Outcome::Deny, ids)
                        }
                    }
                }
            }
        }
    }

    fn verdict(&self, outcome: Outcome, mut ids: Vec<String>) -> Verdict {
        ids.sort();
        let reasons = ids
            .iter()
            .map(|id| self.reasons.get(id).cloned().unwrap_or_else(|| id.clone()))
            .collect();
        Verdict {
            outcome,
            policies: ids,
            reasons,
        }
    }
}

fn fail_closed(reason: String) -> Verdict {
    Verdict {
        outcome: Outcome::Deny,
        policies: Vec::new(),
        reasons: vec![reason],
    }
}

/// The Cedar request of an API call.
pub fn action_request(
    principal: &str,
    resource: &str,
    request: &ActionRequest,
    facts: &ActionFacts,
    classification: &IntentClassification,
) -> Request {
    let c = classification;
    let data_types = c
        .data_types
        .iter()
        .filter(|d| d.confidence >= CONTEXT_DATA_TYPE_MIN_CONFIDENCE)
        .map(|d| d.data_type.as_str());
    let classification = Value::record(
        [
            ("sensitivity", long(c.sensitivity.value.rank())),
            ("data_types", strings(data_types)),
            ("reversibility", long(c.reversibility.value.rank())),
            ("scope", long(c.scope.value.rank())),
            (
                "compliance",
                strings(c.compliance.iter().map(|f| f.framework.as_str())),
            ),
        ],
        None,
    );
    let destination = facts.destination.as_ref().map_or("", |d| d.domain.as_str());
    let context = context([
        ("api", string(&facts.api)),
        ("service", string(&facts.service)),
        ("verb", string(facts.verb_class().as_str())),
        ("resource_kind", string(&facts.resource_kind)),
        ("destination", string(destination)),
        ("destination_external", boolean(facts.external())),
        ("channel", string(&facts.channel)),
        ("amount_cents", long(facts.amount_cents)),
        ("currency", string(&facts.currency)),
        (
            "attributes",
            strings(facts.attributes.iter().map(String::as_str)),
        ),
        ("agent", string(request.agent.as_deref().unwrap_or(""))),
        ("classification", classification),
    ]);
    Request::new_unchecked(
        known("OpenShell::Agent", principal),
        known("OpenShell::Action", "invoke"),
        known("OpenShell::Resource", resource),
        Some(context),
    )
}

/// The Cedar request of a sandbox start.
pub fn admission_request(request: &AdmissionRequest) -> Request {
    let r = &request.requested;
    let annotations: Vec<String> = request
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let context = context([
        ("api", string(ADMISSION_API)),
        (
            "executable",
            string(request.args.first().map_or("", String::as_str)),
        ),
        ("args", strings(request.args.iter().map(String::as_str))),
        ("image", string(request.image.as_deref().unwrap_or(""))),
        ("network", string(&r.network)),
        ("readonly_rootfs", boolean(r.readonly_rootfs)),
        ("gpu_requested", boolean(!r.gpus.is_empty())),
        ("privileged", boolean(r.privileged)),
        (
            "memory_bytes",
            long(
                r.memory_bytes
                    .map_or(0, |m| i64::try_from(m).unwrap_or(i64::MAX)),
            ),
        ),
        (
            "annotations",
            strings(annotations.iter().map(String::as_str)),
        ),
    ]);
    Request::new_unchecked(
        known("OpenShell::Agent", &request.container_id),
        known("OpenShell::Action", "admit"),
        known("OpenShell::Sandbox", &request.container_id),
        Some(context),
    )
}
