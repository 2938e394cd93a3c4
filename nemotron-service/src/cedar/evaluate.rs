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
use std::sync::OnceLock;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityId, EntityTypeName, EntityUid,
    Policy, PolicyId, PolicySet, PrincipalConstraint, Request, ResourceConstraint,
    RestrictedExpression, ValidationMode, Validator,
};
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

/// The policies of one Cedar action: all of them, and all but the escalating forbids.
#[derive(Default, Clone)]
struct ActionSets {
    full: PolicySet,
    hard: PolicySet,
}

impl ActionSets {
    fn add(&mut self, policy: &Policy, escalates: bool) -> Result<(), String> {
        if !escalates {
            self.hard.add(policy.clone()).map_err(|e| e.to_string())?;
        }
        self.full.add(policy.clone()).map_err(|e| e.to_string())
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
    fn build(policies: &[(&GeneratedPolicy, &Policy)]) -> Result<Partitioned, String> {
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

fn entity(type_name: &'static str, id: &str) -> EntityUid {
    static TYPES: OnceLock<HashMap<&'static str, EntityTypeName>> = OnceLock::new();
    let types = TYPES.get_or_init(|| {
        [
            "OpenShell::Agent",
            "OpenShell::Resource",
            "OpenShell::Sandbox",
            "OpenShell::Action",
        ]
        .into_iter()
        .map(|t| {
            (
                t,
                EntityTypeName::from_str(t).expect("valid entity type names"),
            )
        })
        .collect()
    });
    EntityUid::from_type_name_and_id(types[type_name].clone(), EntityId::new(id))
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

fn string(s: &str) -> RestrictedExpression {
    RestrictedExpression::new_string(s.to_owned())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a str>) -> RestrictedExpression {
    RestrictedExpression::new_set(items.into_iter().map(string))
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
            let policy = Policy::parse(Some(PolicyId::new(&g.id)), &g.text)
                .map_err(|e| fail(format!("generated policy {} does not parse: {e}", g.id)))?;
            context_alone &= decides_on_context(&policy);
            if g.escalates {
                escalating.insert(g.id.clone());
            }
            full.add(policy.clone())
                .map_err(|e| fail(format!("{}: {e}", g.id)))?;
            reasons.insert(g.id.clone(), g.reason.clone());
            parsed.push((g, policy));
        }
        let pairs = |keep: fn(&GeneratedPolicy) -> bool| -> Vec<(&GeneratedPolicy, &Policy)> {
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
        match action_request(principal, resource, request, facts, classification) {
            Ok(r) => self.decide(self.invoke.for_service(&facts.service), &r, &facts.api),
            Err(e) => fail_closed(format!("cannot build the decision request: {e}")),
        }
    }

    /// Decides whether the sandbox of `request` may start.
    pub fn decide_admission(&self, request: &AdmissionRequest) -> Verdict {
        match admission_request(request) {
            Ok(r) => {
                let service = crate::taxonomy::split_api(ADMISSION_API).service;
                self.decide(self.admit.for_service(&service), &r, ADMISSION_API)
            }
            Err(e) => fail_closed(format!("cannot build the admission request: {e}")),
        }
    }

    fn decide(&self, sets: &ActionSets, request: &Request, api: &str) -> Verdict {
        let response = authorizer().is_authorized(request, &sets.full, &Entities::empty());
        let errors: Vec<String> = response
            .diagnostics()
            .errors()
            .map(|e| e.to_string())
            .collect();
        if !errors.is_empty() {
            return fail_closed(format!("policy evaluation error: {}", errors.join("; ")));
        }
        let ids: Vec<String> = response
            .diagnostics()
            .reason()
            .map(|id| id.to_string())
            .collect();
        match response.decision() {
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
                let without = authorizer().is_authorized(request, &sets.hard, &Entities::empty());
                match without.decision() {
                    CedarDecision::Allow => self.verdict(Outcome::Escalate, ids),
                    CedarDecision::Deny => {
                        let ids: Vec<String> = without
                            .diagnostics()
                            .reason()
                            .map(|id| id.to_string())
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

/// Why a decision's Cedar request could not be built (Cedar's errors are large, so boxed).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    /// A context value could not be built.
    #[error(transparent)]
    Value(Box<cedar_policy::ExpressionConstructionError>),
    /// The context could not be built.
    #[error(transparent)]
    Context(Box<cedar_policy::ContextCreationError>),
    /// The request does not fit the schema.
    #[error(transparent)]
    Request(Box<cedar_policy::RequestValidationError>),
}

macro_rules! request_error_from {
    ($($variant:ident($error:ty)),*) => {$(
        impl From<$error> for RequestError {
            fn from(error: $error) -> RequestError {
                RequestError::$variant(Box::new(error))
            }
        }
    )*};
}

request_error_from!(
    Value(cedar_policy::ExpressionConstructionError),
    Context(cedar_policy::ContextCreationError),
    Request(cedar_policy::RequestValidationError)
);

/// The Cedar request of an API call.
pub fn action_request(
    principal: &str,
    resource: &str,
    request: &ActionRequest,
    facts: &ActionFacts,
    classification: &IntentClassification,
) -> Result<Request, RequestError> {
    let c = classification;
    let data_types = c
        .data_types
        .iter()
        .filter(|d| d.confidence >= CONTEXT_DATA_TYPE_MIN_CONFIDENCE)
        .map(|d| d.data_type.as_str());
    let classification = RestrictedExpression::new_record([
        (
            "sensitivity".to_owned(),
            RestrictedExpression::new_long(c.sensitivity.value.rank()),
        ),
        ("data_types".to_owned(), strings(data_types)),
        (
            "reversibility".to_owned(),
            RestrictedExpression::new_long(c.reversibility.value.rank()),
        ),
        (
            "scope".to_owned(),
            RestrictedExpression::new_long(c.scope.value.rank()),
        ),
        (
            "compliance".to_owned(),
            strings(c.compliance.iter().map(|f| f.framework.as_str())),
        ),
    ])?;
    let destination = facts.destination.as_ref().map_or("", |d| d.domain.as_str());
    let context = Context::from_pairs([
        ("api".to_owned(), string(&facts.api)),
        ("service".to_owned(), string(&facts.service)),
        ("verb".to_owned(), string(facts.verb_class().as_str())),
        ("resource_kind".to_owned(), string(&facts.resource_kind)),
        ("destination".to_owned(), string(destination)),
        (
            "destination_external".to_owned(),
            RestrictedExpression::new_bool(facts.external()),
        ),
        ("channel".to_owned(), string(&facts.channel)),
        (
            "amount_cents".to_owned(),
            RestrictedExpression::new_long(facts.amount_cents),
        ),
        ("currency".to_owned(), string(&facts.currency)),
        (
            "attributes".to_owned(),
            strings(facts.attributes.iter().map(String::as_str)),
        ),
        (
            "agent".to_owned(),
            string(request.agent.as_deref().unwrap_or("")),
        ),
        ("classification".to_owned(), classification),
    ])?;
    Request::new(
        entity("OpenShell::Agent", principal),
        entity("OpenShell::Action", "invoke"),
        entity("OpenShell::Resource", resource),
        context,
        None,
    )
    .map_err(RequestError::from)
}

/// The Cedar request of a sandbox start.
pub fn admission_request(request: &AdmissionRequest) -> Result<Request, RequestError> {
    let r = &request.requested;
    let annotations: Vec<String> = request
        .annotations
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let context = Context::from_pairs([
        ("api".to_owned(), string(ADMISSION_API)),
        (
            "executable".to_owned(),
            string(request.args.first().map_or("", String::as_str)),
        ),
        (
            "args".to_owned(),
            strings(request.args.iter().map(String::as_str)),
        ),
        (
            "image".to_owned(),
            string(request.image.as_deref().unwrap_or("")),
        ),
        ("network".to_owned(), string(&r.network)),
        (
            "readonly_rootfs".to_owned(),
            RestrictedExpression::new_bool(r.readonly_rootfs),
        ),
        (
            "gpu_requested".to_owned(),
            RestrictedExpression::new_bool(!r.gpus.is_empty()),
        ),
        (
            "privileged".to_owned(),
            RestrictedExpression::new_bool(r.privileged),
        ),
        (
            "memory_bytes".to_owned(),
            RestrictedExpression::new_long(
                r.memory_bytes
                    .map_or(0, |m| i64::try_from(m).unwrap_or(i64::MAX)),
            ),
        ),
        (
            "annotations".to_owned(),
            strings(annotations.iter().map(String::as_str)),
        ),
    ])?;
    Request::new(
        entity("OpenShell::Agent", &request.container_id),
        entity("OpenShell::Action", "admit"),
        entity("OpenShell::Sandbox", &request.container_id),
        context,
        None,
    )
    .map_err(RequestError::from)
}
