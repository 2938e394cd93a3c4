//! Compiling a container's policy into Cedar: every source of rules becomes Cedar policies with
//! stable ids, and the set must pass strict validation against the schema before it is used.
//!
//! | source | policy id | effect |
//! |---|---|---|
//! | `deniedAPIs` glob | `sandbox.denied-api[GLOB]` | forbid (API calls and admission: `sandbox.start`) |
//! | `allowedAPIs` glob | `sandbox.allowed-api[GLOB]` | permit |
//! | `allowedAPIs` as a whole | `sandbox.allowlist` | forbid any API not in the list |
//! | admission | `admission.default` | permit the sandbox to start |
//! | `gpuAccess: none` | `admission.gpu-access` | forbid a start that requests GPUs |
//! | `network` other than `host` | `admission.host-network` | forbid a start on the host network |
//! | classification thresholds | `threshold.*` | forbid, or escalate |
//! | ApprovalPolicy trigger | `approval[ACTION THRESHOLD]` | escalate |
//! | NL rule | `nl:D.S.C` (and `nl:D.S.C.only`) | permit / forbid / escalate |
//!
//! Escalating forbids carry `@decision("escalate")`; every policy carries `@reason("…")`, the
//! sentence reported when it decides.

use std::collections::BTreeSet;

use openshell_policy::compiled::DecisionRules;
use openshell_policy::wire::Sensitivity;
use openshell_policy::{
    ApiPattern, ApprovalTrigger, GpuAccess, Located, NetworkIsolation, PatternError, Threshold,
};

use super::schema::{ADMIT, INVOKE};
use crate::nl::{Condition, Effect, NlPolicyIr, NlRule, RuleAction, Target};

/// Classification thresholds compiled into every container's policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thresholds {
    /// Data at least this sensitive may not go to an external destination.
    pub deny_external_at: Option<Sensitivity>,
    /// Data at least this sensitive going to an external destination needs approval.
    pub escalate_external_at: Option<Sensitivity>,
    /// Irreversible actions across the organisation need approval.
    pub escalate_irreversible_organization: bool,
    /// Actions whose text carries instructions the agent's user did not give need approval.
    pub escalate_injected_instructions: bool,
    /// Actions that switch a security control off need approval.
    pub escalate_controls_off: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            deny_external_at: Some(Sensitivity::Restricted),
            escalate_external_at: None,
            escalate_irreversible_organization: true,
            escalate_injected_instructions: true,
            escalate_controls_off: true,
        }
    }
}

/// Which Cedar actions a policy applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applies {
    /// API calls.
    Invoke,
    /// Sandbox starts.
    Admit,
    /// Both.
    Both,
}

impl Applies {
    fn scope(self) -> String {
        match self {
            Applies::Invoke => format!("action == {INVOKE}"),
            Applies::Admit => format!("action == {ADMIT}"),
            Applies::Both => format!("action in [{INVOKE}, {ADMIT}]"),
        }
    }

    /// Whether the policy concerns API calls.
    pub fn invoke(self) -> bool {
        self != Applies::Admit
    }

    /// Whether the policy concerns sandbox starts.
    pub fn admit(self) -> bool {
        self != Applies::Invoke
    }
}

/// One generated Cedar policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedPolicy {
    /// Its id.
    pub id: String,
    /// The actions it applies to.
    pub applies: Applies,
    /// Its text.
    pub text: String,
    /// Whether it escalates rather than denies.
    pub escalates: bool,
    /// The reason reported when it decides.
    pub reason: String,
    /// The only API service it can match (its glob's first segment), when it tests nothing
    /// else about the API; `None` when it can match any API. Lets evaluation skip policies
    /// about other services.
    pub service: Option<String>,
}

/// The only service a pattern can match (`crm.*` → `crm`): its first literal segment, if any.
fn pattern_service(pattern: &ApiPattern) -> Option<String> {
    pattern.literal_segments().first().cloned()
}

/// A Cedar string literal.
fn lit(s: &str) -> String {
    format!("\"{}\"", escaped(s))
}

/// `s` escaped for a Cedar string literal, without the quotes.
fn escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// A Cedar `like` pattern: `prefix` as written (a `*` in it escaped, not a wildcard), then any
/// rest.
fn like_prefix(prefix: &str) -> String {
    format!("\"{}*\"", escaped(prefix).replace('*', "\\*"))
}

/// The Cedar condition under which a normalised API name ([`openshell_policy::normalize_api_name`],
/// which the evaluation applies first) matches `pattern`, deciding as [`ApiPattern::matches`]:
/// `crm.read` is `==`; `admin.*` is `like "admin.*"` (`admin.` and more, which on a normal name
/// is at least one more segment); `*` matches every name.
fn api_condition(pattern: &ApiPattern) -> String {
    let literal = pattern.literal_segments().join(".");
    if !pattern.is_wildcard() {
        format!("context.api == {}", lit(&literal))
    } else if pattern.is_any() {
        "context.api like \"*\"".to_owned()
    } else {
        format!("context.api like {}", like_prefix(&format!("{literal}.")))
    }
}

fn cedar_policy(
    id: &str,
    effect: &str,
    applies: Applies,
    body: &str,
    escalates: bool,
    reason: &str,
) -> GeneratedPolicy {
    let action = applies.scope();
    let mut text = format!("@id({})\n@reason({})\n", lit(id), lit(reason));
    if escalates {
        text.push_str("@decision(\"escalate\")\n");
    }
    text.push_str(&format!("{effect}(principal, {action}, resource){body};"));
    GeneratedPolicy {
        id: id.to_owned(),
        applies,
        text,
        escalates,
        reason: reason.to_owned(),
        service: None,
    }
}

/// Errors compiling a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("policy {policy}: {message}")]
pub struct CompileError {
    /// The policy name.
    pub policy: String,
    /// What is wrong.
    pub message: String,
}

/// Generates the Cedar policies of the decision rules of container policy `name` (not yet
/// parsed or validated).
pub fn generate(
    name: &str,
    rules: &DecisionRules,
    nl: &NlPolicyIr,
    thresholds: &Thresholds,
) -> Result<Vec<GeneratedPolicy>, CompileError> {
    let fail = |message: String| CompileError {
        policy: name.to_owned(),
        message,
    };
    let mut out = Vec::new();

    let patterns = |located: &[Located<ApiPattern>]| -> BTreeSet<ApiPattern> {
        located.iter().map(|p| p.value.clone()).collect()
    };
    let denied = patterns(&rules.permissions.denied_apis);
    for pattern in &denied {
        out.push(GeneratedPolicy {
            service: pattern_service(pattern),
            ..cedar_policy(
                &format!("sandbox.denied-api[{pattern}]"),
                "forbid",
                Applies::Both,
                &format!(" when {{ {} }}", api_condition(pattern)),
                false,
                &format!("{pattern} is in deniedAPIs"),
            )
        });
    }
    let allowed = patterns(&rules.permissions.allowed_apis);
    for pattern in &allowed {
        out.push(GeneratedPolicy {
            service: pattern_service(pattern),
            ..cedar_policy(
                &format!("sandbox.allowed-api[{pattern}]"),
                "permit",
                Applies::Invoke,
                &format!(" when {{ {} }}", api_condition(pattern)),
                false,
                &format!("{pattern} is in allowedAPIs"),
            )
        });
    }
    if !allowed.is_empty() {
        let any: Vec<String> = allowed.iter().map(api_condition).collect();
        out.push(cedar_policy(
            "sandbox.allowlist",
            "forbid",
            Applies::Invoke,
            &format!(" unless {{ {} }}", any.join(" || ")),
            false,
            "the API is not in allowedAPIs",
        ));
    }

    out.push(cedar_policy(
        "admission.default",
        "permit",
        Applies::Admit,
        "",
        false,
        "sandboxes may start unless a policy forbids it",
    ));
    if rules.gpu_access == GpuAccess::None {
        out.push(cedar_policy(
            "admission.gpu-access",
            "forbid",
            Applies::Admit,
            " when { context.gpu_requested }",
            false,
            "the sandbox requests GPUs but the policy's gpuAccess is none",
        ));
    }
    if rules.network != NetworkIsolation::Host {
        out.push(cedar_policy(
            "admission.host-network",
            "forbid",
            Applies::Admit,
            " when { context.network == \"host\" }",
            false,
            "the sandbox asks for the host network but the policy's network isolation forbids it",
        ));
    }

    if let Some(level) = thresholds.deny_external_at {
        out.push(cedar_policy(
            "threshold.external-sensitivity",
            "forbid",
            Applies::Invoke,
            &format!(" when {{ context.destination_external && context.classification.sensitivity >= {} }}", level.rank()),
            false,
            &format!("{level} data may not leave the organisation"),
        ));
    }
    if let Some(level) = thresholds.escalate_external_at {
        out.push(cedar_policy(
            "threshold.external-approval",
            "forbid",
            Applies::Invoke,
            &format!(" when {{ context.destination_external && context.classification.sensitivity >= {} }}", level.rank()),
            true,
            &format!("{level} data leaving the organisation needs approval"),
        ));
    }
    if thresholds.escalate_irreversible_organization {
        out.push(cedar_policy(
            "threshold.irreversible-organization",
            "forbid",
            Applies::Invoke,
            " when { context.classification.reversibility == 2 && context.classification.scope == 2 }",
            true,
            "an irreversible action across the organisation needs approval",
        ));
    }
    if thresholds.escalate_injected_instructions {
        out.push(cedar_policy(
            "threshold.injected-instructions",
            "forbid",
            Applies::Invoke,
            " when { context.classification.injected_instructions }",
            true,
            "the action's text carries instructions the agent's user did not give; a person must confirm it",
        ));
    }
    if thresholds.escalate_controls_off {
        out.push(cedar_policy(
            "threshold.controls-off",
            "forbid",
            Applies::Invoke,
            " when { context.classification.controls_off }",
            true,
            "the action switches a security control off or goes around it; a person must confirm it",
        ));
    }

    for trigger in rules.approval.iter().flat_map(|a| &a.triggers) {
        out.push(approval(trigger));
    }

    for rule in &nl.rules {
        out.extend(nl_rule(rule).map_err(|e| fail(format!("{}: {e}", rule.id)))?);
    }
    Ok(out)
}

/// A threshold of an approval trigger.
#[derive(Debug, Clone, PartialEq)]
pub enum TriggerThreshold {
    /// Every time.
    Always,
    /// When the destination is external.
    ExternalOnly,
    /// When the amount exceeds this many units of the currency.
    Above {
        /// Threshold.
        amount: f64,
        /// ISO 4217 code, upper case.
        currency: String,
    },
}

/// `amount > threshold`, failing closed when the currency differs (no exchange rates here) and
/// when the request and its text give no amount.
fn amount_above(amount: f64, currency: &str) -> String {
    let cents = (amount * 100.0).round() as i64;
    format!(
        "(!context.amount_known || context.amount_cents > {cents} || (context.amount_cents > 0 && context.currency != {}))",
        lit(currency)
    )
}

fn approval(trigger: &ApprovalTrigger) -> GeneratedPolicy {
    let pattern = &trigger.action.value;
    let threshold = match trigger.threshold.value {
        Threshold::Always => TriggerThreshold::Always,
        Threshold::ExternalOnly => TriggerThreshold::ExternalOnly,
        Threshold::AboveUsdCents(cents) => TriggerThreshold::Above {
            amount: cents as f64 / 100.0,
            currency: "USD".to_owned(),
        },
    };
    let mut body = api_condition(pattern);
    match &threshold {
        TriggerThreshold::Always => {}
        TriggerThreshold::ExternalOnly => body.push_str(" && context.destination_external"),
        TriggerThreshold::Above { amount, currency } => {
            body.push_str(" && ");
            body.push_str(&amount_above(*amount, currency));
        }
    }
    GeneratedPolicy {
        service: pattern_service(pattern),
        ..cedar_policy(
            &format!("approval[{pattern} {}]", trigger.threshold.value),
            "forbid",
            Applies::Invoke,
            &format!(" when {{ {body} }}"),
            true,
            &format!("{pattern} needs approval ({})", trigger.threshold.value),
        )
    }
}

fn target_expr(target: &Target) -> Result<String, PatternError> {
    Ok(match target {
        Target::Service { name } => format!(
            "(context.service == {0} || context.service_kind == {0})",
            lit(name)
        ),
        Target::Api { glob } => api_condition(&ApiPattern::parse(glob)?),
        Target::ResourceKind { name } => format!("context.resource_kind == {}", lit(name)),
        Target::DataType { data_type } => {
            format!(
                "context.classification.data_types.contains({})",
                lit(data_type.as_str())
            )
        }
        Target::ExternalRecipient => "context.destination_external".into(),
    })
}

fn condition_expr(condition: &Condition, effect: Effect) -> String {
    let not = |negated: bool, e: String| if negated { format!("!({e})") } else { e };
    match condition {
        Condition::Attribute {
            key,
            value,
            negated,
        } => not(
            *negated,
            format!(
                "context.attributes.contains({})",
                lit(&format!(
                    "{}={}",
                    key.to_ascii_lowercase(),
                    value.to_ascii_lowercase()
                ))
            ),
        ),
        Condition::Channel { channel, negated } => {
            format!(
                "context.channel {} {}",
                if *negated { "!=" } else { "==" },
                lit(channel)
            )
        }
        Condition::DestinationExternal { external } => {
            not(!external, "context.destination_external".into())
        }
        Condition::AmountAbove { amount, currency } => {
            if effect == Effect::Permit {
                format!(
                    "(context.amount_cents > {} && context.currency == {})",
                    (amount * 100.0).round() as i64,
                    lit(currency)
                )
            } else {
                amount_above(*amount, currency)
            }
        }
        Condition::ContainsData { data_type } => {
            format!(
                "context.classification.data_types.contains({})",
                lit(data_type.as_str())
            )
        }
        Condition::SensitivityAtLeast { level } => {
            format!("context.classification.sensitivity >= {}", level.rank())
        }
        Condition::GpuRequested { requested } => not(!requested, "context.gpu_requested".into()),
        Condition::Privileged { privileged } => not(!privileged, "context.privileged".into()),
        Condition::HostNetwork { host } => not(!host, "context.network == \"host\"".into()),
    }
}

/// The Cedar policies of one NL rule (none for redaction obligations).
pub fn nl_rule(rule: &NlRule) -> Result<Vec<GeneratedPolicy>, PatternError> {
    let (effect, escalates, verb) = match rule.effect {
        Effect::Permit => ("permit", false, "permitted"),
        Effect::Forbid => ("forbid", false, "forbidden"),
        Effect::Escalate => ("forbid", true, "needs approval"),
        Effect::Redact => return Ok(Vec::new()),
    };
    let action = match rule.action {
        RuleAction::Invoke => Applies::Invoke,
        RuleAction::Admit => Applies::Admit,
    };
    let mut matched = Vec::new();
    if rule.action == RuleAction::Invoke {
        if !rule.verbs.is_empty() {
            let verbs: Vec<String> = rule.verbs.iter().map(|v| lit(v.as_str())).collect();
            matched.push(format!("[{}].contains(context.verb)", verbs.join(", ")));
        }
        if !rule.targets.is_empty() {
            let any: Result<Vec<String>, PatternError> =
                rule.targets.iter().map(target_expr).collect();
            matched.push(format!("({})", any?.join(" || ")));
        }
    }
    let conditions: Vec<String> = rule
        .conditions
        .iter()
        .map(|c| condition_expr(c, rule.effect))
        .collect();
    let sentence = rule.source.text.as_str();
    let join = |parts: &[String]| {
        if parts.is_empty() {
            "true".to_owned()
        } else {
            parts.join(" && ")
        }
    };
    let mut all = matched.clone();
    all.extend(conditions.iter().cloned());
    let mut out = vec![cedar_policy(
        &rule.id,
        effect,
        action,
        &format!(" when {{ {} }}", join(&all)),
        escalates,
        &format!("{verb} by {:?}", sentence),
    )];
    if rule.only && rule.effect == Effect::Permit && !conditions.is_empty() {
        out.push(cedar_policy(
            &format!("{}.only", rule.id),
            "forbid",
            action,
            &format!(
                " when {{ {} }} unless {{ {} }}",
                join(&matched),
                conditions.join(" && ")
            ),
            false,
            &format!("only allowed under the conditions of {:?}", sentence),
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_are_escaped() {
        assert_eq!(lit("a\"b\\c\nd"), r#""a\"b\\c\nd""#);
    }

    #[test]
    fn api_patterns_become_cedar_conditions() {
        let condition = |text: &str| api_condition(&ApiPattern::parse(text).unwrap());
        assert_eq!(condition("crm.read"), r#"context.api == "crm.read""#);
        assert_eq!(
            condition("admin.users.*"),
            r#"context.api like "admin.users.*""#
        );
        assert_eq!(condition("*"), r#"context.api like "*""#);
        assert_eq!(like_prefix("a*b\"c."), r#""a\*b\"c.*""#);
    }
}
