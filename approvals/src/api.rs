//! What the daemon and its clients agree on beyond the wire records: the channel header, the
//! longest wait, and the words for states and enforcements.

use std::time::Duration;

use openshell_policy::wire::{ApprovalState, Enforcement};

/// The header naming the channel an answer came through (`cli`; default `api`).
pub const CHANNEL_HEADER: &str = "x-openshell-channel";

/// Longest long-poll of `GET /v1/approvals/{id}/wait`.
pub const MAX_WAIT: Duration = Duration::from_secs(60);

/// The name of a state, as on the wire (`timed-out`).
pub fn state_name(state: ApprovalState) -> &'static str {
    match state {
        ApprovalState::Pending => "pending",
        ApprovalState::Approved => "approved",
        ApprovalState::Denied => "denied",
        ApprovalState::TimedOut => "timed-out",
    }
}

/// `allow` or `deny`.
pub fn enforcement_word(enforcement: Enforcement) -> &'static str {
    match enforcement {
        Enforcement::Allow => "allow",
        Enforcement::Deny => "deny",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_match_the_wire() {
        for state in [
            ApprovalState::Pending,
            ApprovalState::Approved,
            ApprovalState::Denied,
            ApprovalState::TimedOut,
        ] {
            assert_eq!(
                serde_json::to_value(state).unwrap(),
                serde_json::Value::from(state_name(state))
            );
        }
        for enforcement in [Enforcement::Allow, Enforcement::Deny] {
            assert_eq!(
                serde_json::to_value(enforcement).unwrap(),
                serde_json::Value::from(enforcement_word(enforcement))
            );
        }
    }
}
