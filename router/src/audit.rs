//! One audit event per routing decision, through `openshell-audit` (which redacts free text
//! before it leaves the process). Events carry the classification (level and data types), the
//! rules that decided, the endpoint and the router's added latency — never a request or
//! response body: reasons are built from endpoint names, rule ids and detector names only.

use openshell_audit::new_event;
use openshell_policy::wire::{AuditEvent, ClassificationSummary};

use crate::classification::{Classified, Origin};
use crate::openai::Api;
use crate::registry::Caller;

/// `component` of the router's events.
pub const COMPONENT: &str = "router";

/// How a routing decision ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Sent to this endpoint, which answered.
    Routed(String),
    /// Refused: the caller is unknown, its policy unusable, or no endpoint is compliant.
    Denied,
    /// Compliant endpoints exist but none could be reached.
    Unavailable,
    /// The endpoint failed after the request was sent.
    Failed(String),
}

impl Verdict {
    /// The event's `decision` word: `route:<endpoint>`, `deny`, `unavailable`, `failed:<endpoint>`.
    pub fn word(&self) -> String {
        match self {
            Verdict::Routed(endpoint) => format!("route:{endpoint}"),
            Verdict::Denied => "deny".to_owned(),
            Verdict::Unavailable => "unavailable".to_owned(),
            Verdict::Failed(endpoint) => format!("failed:{endpoint}"),
        }
    }

    /// The metrics' outcome label.
    pub fn outcome(&self) -> &'static str {
        match self {
            Verdict::Routed(_) => "routed",
            Verdict::Denied => "denied",
            Verdict::Unavailable => "unavailable",
            Verdict::Failed(_) => "failed",
        }
    }

    /// The endpoint involved, if any.
    pub fn endpoint(&self) -> Option<&str> {
        match self {
            Verdict::Routed(e) | Verdict::Failed(e) => Some(e),
            Verdict::Denied | Verdict::Unavailable => None,
        }
    }
}

/// What one routing decision is audited with.
pub struct Decision<'a> {
    /// The caller, when known.
    pub caller: Option<&'a Caller>,
    /// The API called.
    pub api: Api,
    /// The classification, when the request got that far, and where it came from.
    pub classified: Option<(&'a Classified, Origin)>,
    /// How it ended.
    pub verdict: Verdict,
    /// Rules that decided (`routes.internal[0]`, `residencyRules[0] (EU)`).
    pub rules: Vec<String>,
    /// Why, without content.
    pub reason: String,
    /// The router's added latency, microseconds.
    pub latency_us: u64,
}

/// The audit event of a decision.
pub fn event(decision: &Decision<'_>) -> AuditEvent {
    let mut event = new_event(COMPONENT, decision.api.action(), &decision.verdict.word());
    if let Some(caller) = decision.caller {
        event.container_id = Some(caller.container_id.clone());
        event.policy = Some(caller.policy.clone());
    }
    event.resource = decision.verdict.endpoint().map(|e| format!("endpoint:{e}"));
    if let Some((classified, origin)) = decision.classified {
        event.classification = Some(ClassificationSummary {
            sensitivity: classified.sensitivity,
            data_types: classified.data_types.iter().collect(),
            reversibility: None,
            scope: None,
            compliance: Vec::new(),
            injected_instructions: false,
            controls_off: false,
        });
        let mut reason = format!(
            "{} ({}; detectors: {}; {})",
            classified.sensitivity,
            match classified.data_type_names() {
                names if names.is_empty() => "no data types".to_owned(),
                names => names.join(", "),
            },
            if classified.detectors.is_empty() {
                "none".to_owned()
            } else {
                classified.detectors.join(", ")
            },
            match origin {
                Origin::Cache => "cached",
                Origin::Classifier => "classified",
                Origin::FailClosed => "fail-closed",
            }
        );
        if let Some(why) = &classified.fail_closed {
            reason.push_str(": ");
            reason.push_str(why);
        }
        if !decision.reason.is_empty() {
            reason.push_str("; ");
            reason.push_str(&decision.reason);
        }
        event.reason = reason;
    } else {
        event.reason = decision.reason.clone();
    }
    event.policies = decision.rules.clone();
    event.latency_us = decision.latency_us;
    event
}

#[cfg(test)]
mod tests {
    use openshell_policy::wire::Sensitivity;

    use super::*;
    use crate::registry::Origin as RegistrationOrigin;

    #[test]
    fn events_carry_the_decision_and_no_content() {
        let caller = Caller {
            container_id: "agent-1".into(),
            policy: "support".into(),
            region: Some("EU".into()),
            sandbox_ip: None,
            audit_destination: None,
            routing: Err(crate::error::Unroutable::Record(
                openshell_policy::compiled::RecordError::Invalid {
                    path: "test".into(),
                    message: "unused".into(),
                },
            )),
            origin: RegistrationOrigin::RegistryDir,
            caller_token: None,
        };
        let classified = Classified {
            sensitivity: Sensitivity::Internal,
            data_types: openshell_policy::wire::DataType::Financial.set(),
            detectors: vec!["financial-term".into()],
            fail_closed: None,
        };
        let e = event(&Decision {
            caller: Some(&caller),
            api: Api::ChatCompletions,
            classified: Some((&classified, Origin::Cache)),
            verdict: Verdict::Routed("eu-cloud".into()),
            rules: vec!["routes.internal[1]".into(), "residencyRules[0] (EU)".into()],
            reason: "us-cloud excluded".into(),
            latency_us: 42,
        });
        assert_eq!(e.component, "router");
        assert_eq!(e.action, "router.chat.completions");
        assert_eq!(e.decision, "route:eu-cloud");
        assert_eq!(e.resource.as_deref(), Some("endpoint:eu-cloud"));
        assert_eq!(e.container_id.as_deref(), Some("agent-1"));
        assert_eq!(e.policies, ["routes.internal[1]", "residencyRules[0] (EU)"]);
        assert_eq!(
            e.reason,
            "internal (financialData; detectors: financial-term; cached); us-cloud excluded"
        );
        let summary = e.classification.unwrap();
        assert_eq!(summary.sensitivity, Sensitivity::Internal);
        assert_eq!(
            summary.data_types,
            [openshell_policy::wire::DataType::Financial]
        );
        assert_eq!(e.latency_us, 42);
    }
}
