//! Building and redacting audit events.

use chrono::Utc;
use openshell_classifier::redact;
use openshell_policy::wire::{AuditEvent, Decision, Outcome};

/// A new event with a fresh time-ordered id and the current time; fill in the optional fields.
pub fn new_event(component: &str, action: &str, decision: &str) -> AuditEvent {
    AuditEvent {
        id: uuid::Uuid::now_v7().to_string(),
        timestamp: Utc::now(),
        component: component.to_owned(),
        container_id: None,
        policy: None,
        actor: None,
        action: action.to_owned(),
        resource: None,
        classification: None,
        policies: Vec::new(),
        decision: decision.to_owned(),
        reason: String::new(),
        latency_us: 0,
    }
}

/// An event recording a policy [`Decision`] on `action`: its outcome word, the policies that
/// produced it, the reasons, the classification and the latency.
pub fn decision_event(component: &str, action: &str, decision: &Decision) -> AuditEvent {
    let word = match decision.outcome {
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
        Outcome::Escalate => "escalate",
    };
    let mut event = new_event(component, action, word);
    event.policies = decision.policies.clone();
    event.classification = decision.classification.clone();
    event.latency_us = decision.latency_us;
    event.reason = decision.reasons.join("; ");
    event
}

/// Redacts the free-text fields of an event (action, resource, actor, policy name, reason):
/// detected PII and secrets become `[REDACTED:<detector>]`. Ids, timestamps and decision words
/// are left alone.
pub fn redact_event(event: &mut AuditEvent) {
    fn in_place(text: &mut String) {
        if let std::borrow::Cow::Owned(redacted) = redact(text) {
            *text = redacted;
        }
    }
    in_place(&mut event.action);
    in_place(&mut event.reason);
    for text in [&mut event.resource, &mut event.actor, &mut event.policy]
        .into_iter()
        .flatten()
    {
        in_place(text);
    }
}

/// Builds what [`redact_event`] needs (the content scanner) on a thread of its own, so that a
/// short-lived process auditing a decision has it ready by the time its first event is written
/// rather than building it then: the OCI hook starts this first and reads and checks its
/// inputs meanwhile.
pub fn prepare_redaction() {
    std::thread::spawn(|| {
        openshell_classifier::Scanner::global();
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use openshell_policy::wire::{Enforcement, Sensitivity};

    #[test]
    fn decision_events_carry_the_decision() {
        let decision = Decision {
            outcome: Outcome::Escalate,
            enforced: Enforcement::Deny,
            reasons: vec!["needs approval".into(), "resolved by default".into()],
            policies: vec!["approval.0".into()],
            classification: Some(openshell_policy::wire::ClassificationSummary {
                sensitivity: Sensitivity::Confidential,
                data_types: vec![],
                reversibility: None,
                scope: None,
                compliance: vec![],
                injected_instructions: false,
                controls_off: false,
            }),
            latency_us: 42,
        };
        let e = decision_event("nemotron", "payment.process", &decision);
        assert_eq!(e.decision, "escalate");
        assert_eq!(e.policies, vec!["approval.0"]);
        assert_eq!(e.reason, "needs approval; resolved by default");
        assert_eq!(e.latency_us, 42);
        assert_eq!(e.id.len(), 36);
    }

    #[test]
    fn free_text_is_redacted() {
        let mut e = new_event("egress", "email.send", "deny");
        e.resource = Some("mailto:jane@example.com".into());
        e.reason = "body carried card 4111 1111 1111 1111".into();
        redact_event(&mut e);
        assert_eq!(e.resource.as_deref(), Some("mailto:[REDACTED:email]"));
        assert_eq!(e.reason, "body carried card [REDACTED:payment-card]");
    }
}
