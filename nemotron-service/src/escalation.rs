//! What an escalation means while no approval workflow exists.

use openshell_policy::wire::{Enforcement, Outcome};

/// Resolves an escalation. The approval workflow (a later component) will ask a human; until
/// then an escalation is what the ApprovalPolicy's `defaultAction` says — deny unless the
/// policy says allow. This is the single place that decision is taken.
pub fn resolve_escalation(default_action: Enforcement) -> Enforcement {
    default_action
}

/// What is enforced for a policy outcome.
pub fn enforcement(outcome: Outcome, approval_default: Enforcement) -> Enforcement {
    match outcome {
        Outcome::Allow => Enforcement::Allow,
        Outcome::Deny => Enforcement::Deny,
        Outcome::Escalate => resolve_escalation(approval_default),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escalation_follows_the_default_action() {
        assert_eq!(
            enforcement(Outcome::Escalate, Enforcement::Deny),
            Enforcement::Deny
        );
        assert_eq!(
            enforcement(Outcome::Escalate, Enforcement::Allow),
            Enforcement::Allow
        );
        assert_eq!(
            enforcement(Outcome::Deny, Enforcement::Allow),
            Enforcement::Deny
        );
    }
}
