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

use std::cell::RefCell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use cedar_policy::{
    Policy, PolicyId, PolicySet, PrincipalConstraint, ResourceConstraint, ValidationMode, Validator,
};
use cedar_policy_core::ast::{
    self, Context, Eid, EntityType, EntityUID, EntityUIDEntry, PolicyID, Request, Value,
};
use cedar_policy_core::entities::Entities;
use cedar_policy_core::evaluator::Evaluator;
use cedar_policy_core::extensions::Extensions;
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

/// One policy as a decision evaluates it: Cedar's own evaluation form (`cedar_policy_core`),
/// with its condition built once here rather than on every request. Where the policy's scope
/// holds for every request of its set (any principal, any resource, and the set's own action),
/// the condition is its `when`/`unless` clauses alone: Cedar's `true && … && body` is `body`.
#[derive(Clone)]
struct Compiled {
    id: String,
    forbid: bool,
    escalates: bool,
    condition: ast::Expr,
}

/// The policies of one Cedar action. A decision evaluates each condition once against a
/// request built from values directly, and combines them as Cedar's authorizer does (a
/// satisfied forbid denies, else a satisfied permit allows, else deny).
#[derive(Default, Clone)]
struct ActionSets(Vec<Compiled>);

impl ActionSets {
    fn add(&mut self, policy: &ast::StaticPolicy, escalates: bool, action: &EntityUID) {
        let scope_holds = matches!(
            policy.principal_constraint().as_inner(),
            ast::PrincipalOrResourceConstraint::Any
        ) && matches!(
            policy.resource_constraint().as_inner(),
            ast::PrincipalOrResourceConstraint::Any
        ) && match policy.action_constraint() {
            ast::ActionConstraint::Any => true,
            ast::ActionConstraint::Eq(only) => only.as_ref() == action,
            // With no entity hierarchy, `action in [...]` holds for the actions listed.
            ast::ActionConstraint::In(listed) => listed.iter().any(|a| a.as_ref() == action),
        };
        let condition = match policy.non_scope_constraints() {
            _ if !scope_holds => policy.condition(),
            Some(body) => body.clone(),
            None => ast::Expr::val(true),
        };
        self.0.push(Compiled {
            id: AsRef::<str>::as_ref(policy.id()).to_owned(),
            forbid: policy.effect() == ast::Effect::Forbid,
            escalates,
            condition,
        });
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
    /// The policies of Cedar action `action` (`invoke` or `admit`).
    fn build(
        policies: &[(&GeneratedPolicy, &ast::StaticPolicy)],
        action: &'static str,
    ) -> Partitioned {
        let action = entity("OpenShell::Action", action);
        let mut out = Partitioned::default();
        for (g, p) in policies.iter().filter(|(g, _)| g.service.is_none()) {
            out.any.add(p, g.escalates, &action);
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
                    sets.add(p, other.escalates, &action);
                }
                out.by_service.insert(service.clone(), sets);
            }
        }
        out
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

/// The last request context built on this thread: its map is filled again in place by the
/// next request with the same field names once nothing holds it, instead of a new map built
/// (and the old one freed) on every decision.
struct ContextCache {
    names: Vec<&'static str>,
    context: Context,
}

/// A request context from its fields (each name once).
fn context<const N: usize>(fields: [(&'static str, Value); N]) -> Context {
    thread_local! {
        static LAST: RefCell<Option<ContextCache>> = const { RefCell::new(None) };
    }
    LAST.with_borrow_mut(|last| {
        let reusable = last.as_mut().filter(|cache| {
            cache.names.len() == N && cache.names.iter().zip(&fields).all(|(a, (b, _))| a == b)
        });
        match reusable.and_then(|cache| match &mut cache.context {
            Context::Value(map) => Arc::get_mut(map),
            Context::RestrictedResidual(_) => None,
        }) {
            Some(map) => {
                for (name, value) in fields {
                    *map.get_mut(name).expect("the cached map has these names") = value;
                }
            }
            None => {
                *last = Some(ContextCache {
                    names: fields.iter().map(|(name, _)| *name).collect(),
                    context: Context::Value(Arc::new(
                        fields
                            .into_iter()
                            .map(|(name, value)| (name.into(), value))
                            .collect(),
                    )),
                });
            }
        }
        last.as_ref().expect("filled above").context.clone()
    })
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
        let invoke = Partitioned::build(&pairs(|g| g.applies.invoke()), "invoke");
        let admit = Partitioned::build(&pairs(|g| g.applies.admit()), "admit");
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
        let evaluator = Evaluator::new(request, no_entities(), Extensions::all_available());
        let slots = ast::SlotEnv::new();
        let (mut permits, mut hard, mut escalating, mut errors) = (vec![], vec![], vec![], vec![]);
        for policy in &sets.0 {
            let satisfied = evaluator
                .interpret(&policy.condition, &slots)
                .map_err(|e| e.to_string())
                .and_then(|value| match value.value_kind() {
                    ast::ValueKind::Lit(ast::Literal::Bool(b)) => Ok(*b),
                    _ => Err(format!("the condition is not a boolean: {value}")),
                });
            match satisfied {
                Ok(false) => {}
                Ok(true) if !policy.forbid => permits.push(policy.id.clone()),
                Ok(true) if policy.escalates => escalating.push(policy.id.clone()),
                Ok(true) => hard.push(policy.id.clone()),
                Err(e) => errors.push(format!(
                    "error while evaluating policy `{}`: {e}",
                    policy.id
                )),
            }
        }
        if !errors.is_empty() {
            return fail_closed(format!("policy evaluation error: {}", errors.join("; ")));
        }
        let none_permits = || Verdict {
            outcome: Outcome::Deny,
            policies: Vec::new(),
            reasons: vec![format!("no policy permits {api}")],
        };
        if !hard.is_empty() {
            self.verdict(Outcome::Deny, hard)
        } else if !escalating.is_empty() {
            // Without the escalating forbids the action would be allowed: ask. Otherwise it
            // is refused anyway and asking would be pointless.
            if permits.is_empty() {
                none_permits()
            } else {
                self.verdict(Outcome::Escalate, escalating)
            }
        } else if permits.is_empty() {
            none_permits()
        } else {
            self.verdict(Outcome::Allow, permits)
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
            (
                "injected_instructions",
                boolean(!c.injected_instructions.is_empty()),
            ),
            ("controls_off", boolean(!c.controls_off.is_empty())),
        ],
        None,
    );
    let destination = facts.destination.as_ref().map_or("", |d| d.domain.as_str());
    let context = context([
        ("api", string(&facts.api)),
        ("service", string(&facts.service)),
        ("service_kind", string(&facts.service_kind)),
        ("verb", string(facts.verb_class().as_str())),
        ("resource_kind", string(&facts.resource_kind)),
        ("destination", string(destination)),
        ("destination_external", boolean(facts.external())),
        ("channel", string(&facts.channel)),
        ("amount_cents", long(facts.amount_cents)),
        ("amount_known", boolean(facts.amount_known)),
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

#[cfg(test)]
mod tests {
    use cedar_policy_core::authorizer::{Authorizer, Decision as CedarDecision};

    use std::collections::HashSet;

    use super::*;

    /// The decision as Cedar's own authorizer takes it: the whole set, then (on a deny made
    /// only by escalating forbids) the set without them.
    fn by_authorizer(policy: &CompiledPolicy, request: &Request, api: &str) -> Verdict {
        let set = |keep: &dyn Fn(&GeneratedPolicy) -> bool| {
            let mut set = ast::PolicySet::new();
            for g in policy
                .policies()
                .iter()
                .filter(|g| g.applies.invoke() && keep(g))
            {
                let parsed = parse_policy(Some(PolicyID::from_string(&g.id)), &g.text).unwrap();
                set.add_static(parsed).unwrap();
            }
            set
        };
        let ids = |response: &cedar_policy_core::authorizer::Response| -> Vec<String> {
            let ids = response.diagnostics.reason.iter();
            ids.map(|id| AsRef::<str>::as_ref(id).to_owned()).collect()
        };
        let authorizer = Authorizer::new();
        let full = authorizer.is_authorized(request.clone(), &set(&|_| true), no_entities());
        assert!(
            full.diagnostics.errors.is_empty(),
            "{:?}",
            full.diagnostics.errors
        );
        let none = || Verdict {
            outcome: Outcome::Deny,
            policies: Vec::new(),
            reasons: vec![format!("no policy permits {api}")],
        };
        match full.decision {
            CedarDecision::Allow => policy.verdict(Outcome::Allow, ids(&full)),
            CedarDecision::Deny if ids(&full).is_empty() => none(),
            CedarDecision::Deny => {
                let escalating: HashSet<String> = policy
                    .policies()
                    .iter()
                    .filter(|g| g.escalates)
                    .map(|g| g.id.clone())
                    .collect();
                let hard: Vec<String> = ids(&full)
                    .into_iter()
                    .filter(|id| !escalating.contains(id))
                    .collect();
                if !hard.is_empty() {
                    return policy.verdict(Outcome::Deny, hard);
                }
                let without = authorizer.is_authorized(
                    request.clone(),
                    &set(&|g| !g.escalates),
                    no_entities(),
                );
                match without.decision {
                    CedarDecision::Allow => policy.verdict(Outcome::Escalate, ids(&full)),
                    CedarDecision::Deny => none(),
                }
            }
        }
    }

    /// A small deterministic generator, so a failure names a reproducible case.
    struct Draw(u64);

    impl Draw {
        fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            &items[(self.0 >> 33) as usize % items.len()]
        }
    }

    #[test]
    fn a_scope_every_request_meets_is_left_out_of_the_condition() {
        let invoke = entity("OpenShell::Action", "invoke");
        let parse = |text: &str| parse_policy(Some(PolicyID::from_string("p")), text).unwrap();
        let mut sets = ActionSets::default();
        let open = parse(
            r#"permit(principal, action == OpenShell::Action::"invoke", resource) when { context.amount_known };"#,
        );
        let listed = parse(
            r#"forbid(principal, action in [OpenShell::Action::"invoke", OpenShell::Action::"admit"], resource);"#,
        );
        let named = parse(
            r#"permit(principal == OpenShell::Sandbox::"c1", action == OpenShell::Action::"invoke", resource) when { context.amount_known };"#,
        );
        for policy in [&open, &listed, &named] {
            sets.add(policy, false, &invoke);
        }
        assert_eq!(&sets.0[0].condition, open.non_scope_constraints().unwrap());
        assert_eq!(sets.0[1].condition, ast::Expr::val(true));
        // A principal named in the scope stays in the condition.
        assert_eq!(sets.0[2].condition, named.condition());
        let mut admit = ActionSets::default();
        admit.add(&open, false, &entity("OpenShell::Action", "admit"));
        assert_eq!(admit.0[0].condition, open.condition());
    }

    #[test]
    fn decisions_agree_with_cedars_authorizer() {
        let policies = [
            include_str!("../../../bundles/customer-support/openshell-policy.yaml"),
            include_str!("../../../bundles/payments/openshell-policy.yaml"),
            include_str!("../../../bundles/sales-ops/openshell-policy.yaml"),
        ];
        let apis = [
            "crm.read",
            "crm.update",
            "ticket.create",
            "user.delete",
            "admin.reset",
            "billing.refund",
            "payment.process",
            "email.send",
            "data.delete",
            "infra.modify",
            "banking.send_money",
            "files.share",
            "account.update",
        ];
        let mut draw = Draw(7);
        let mut outcomes = HashMap::new();
        for text in policies {
            let record = openshell_policy::compile_default("policy.yaml", text).unwrap();
            let policy = crate::replay::compile_candidate(&record).unwrap();
            for _ in 0..3000 {
                let api = *draw.pick(&apis);
                let service = crate::taxonomy::split_api(api).service;
                let data_types: Vec<&str> = ["financial", "personal", "health", "credentials"]
                    .into_iter()
                    .filter(|_| *draw.pick(&[false, false, true]))
                    .collect();
                let classification = Value::record(
                    [
                        ("sensitivity", long(*draw.pick(&[0, 1, 2, 3]))),
                        ("data_types", strings(data_types)),
                        ("reversibility", long(*draw.pick(&[0, 1, 2]))),
                        ("scope", long(*draw.pick(&[0, 1, 2]))),
                        ("compliance", strings([])),
                        ("injected_instructions", boolean(*draw.pick(&[false, true]))),
                        ("controls_off", boolean(*draw.pick(&[false, true]))),
                    ],
                    None,
                );
                let context = context([
                    ("api", string(api)),
                    ("service", string(&service)),
                    (
                        "service_kind",
                        string(crate::taxonomy::service_kind(&service)),
                    ),
                    (
                        "verb",
                        string(draw.pick::<&str>(&["read", "modify", "send", "delete"])),
                    ),
                    (
                        "resource_kind",
                        string(draw.pick::<&str>(&["", "customer", "setting"])),
                    ),
                    ("destination", string("example.test")),
                    ("destination_external", boolean(*draw.pick(&[false, true]))),
                    ("channel", string(draw.pick::<&str>(&["", "ticketing"]))),
                    (
                        "amount_cents",
                        long(*draw.pick(&[0, 4_500, 10_000, 25_000])),
                    ),
                    ("amount_known", boolean(*draw.pick(&[false, true]))),
                    ("currency", string(draw.pick::<&str>(&["", "USD", "EUR"]))),
                    (
                        "attributes",
                        strings(
                            draw.pick(&[&[][..], &["ticket.status=active"]])
                                .iter()
                                .copied(),
                        ),
                    ),
                    ("agent", string("")),
                    ("classification", classification),
                ]);
                let request = Request::new_unchecked(
                    known("OpenShell::Agent", "c1"),
                    known("OpenShell::Action", "invoke"),
                    known("OpenShell::Resource", api),
                    Some(context),
                );
                let ours = policy.decide(policy.invoke.for_service(&service), request.clone(), api);
                assert_eq!(
                    ours,
                    by_authorizer(&policy, &request, api),
                    "{api} {request}"
                );
                *outcomes.entry(ours.outcome).or_insert(0) += 1;
            }
        }
        // The draw reaches every outcome, so the comparison covers each branch.
        for outcome in [Outcome::Allow, Outcome::Deny, Outcome::Escalate] {
            assert!(
                outcomes.get(&outcome).copied().unwrap_or(0) > 50,
                "{outcomes:?}"
            );
        }
    }
}
