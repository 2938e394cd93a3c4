//! What an escalation means where nobody can be asked.

use openshell_policy::wire::{Enforcement, Outcome};

/// Resolves an escalation where no human can be asked (admission, `POST /v1/evaluate`): what
/// the ApprovalPolicy's `defaultAction` says — deny unless the policy says allow. An API call
/// the egress engine holds, or a system call the seccomp supervisor holds, is asked of the
/// approval queue instead. This is the single place the default is applied.
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
