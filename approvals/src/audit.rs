//! Audit events of the approval flow through `openshell-audit` (component `approvals`): one
//! per step — requested, notified or notification failed, approved, denied or timed out, with
//! who answered, when and through which channel.

use openshell_audit::new_event;
use openshell_policy::wire::{Approval, AuditEvent};

use crate::api::enforcement_word as word;

/// `component` of the daemon's events.
pub const COMPONENT: &str = "approvals";

/// A step of an approval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<'a> {
    /// The request was stored.
    Requested,
    /// A notification was delivered on a channel.
    Notified(&'a str),
    /// A notification could not be delivered on a channel, and why.
    NotificationFailed(&'a str, &'a str),
    /// The approval became final (its state, who, channel and note are on it).
    Decided,
}

/// The event of `step` of `approval`: `action` is the held action, `resource` is
/// `approval:<id>`, `decision` is `requested`, `notified`, `notification-failed`, or the final
/// state (`approved`, `denied`, `timed-out`), `actor` who answered.
pub fn event(approval: &Approval, step: Step<'_>) -> AuditEvent {
    let request = &approval.request;
    let (decision, reason) = match step {
        Step::Requested => (
            "requested".to_owned(),
            format!(
                "{}; channels: {}; expires {}; default {}",
                request.reason,
                if request.channels.is_empty() {
                    "none".to_owned()
                } else {
                    request.channels.join(", ")
                },
                approval.expires_at.to_rfc3339(),
                word(request.default_action),
            ),
        ),
        Step::Notified(channel) => ("notified".to_owned(), format!("channel {channel}")),
        Step::NotificationFailed(channel, why) => (
            "notification-failed".to_owned(),
            format!("channel {channel}: {why}"),
        ),
        Step::Decided => {
            let state = serde_json::to_value(approval.state)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            let mut reason = format!(
                "by {} via {} at {}; enforced {}",
                approval.decided_by.as_deref().unwrap_or("unknown"),
                approval.channel.as_deref().unwrap_or("unknown"),
                approval
                    .decided_at
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_default(),
                approval.enforced.map(word).unwrap_or("none"),
            );
            if let Some(note) = &approval.note {
                reason.push_str("; note: ");
                reason.push_str(note);
            }
            (state, reason)
        }
    };
    let mut event = new_event(COMPONENT, &request.action, &decision);
    event.container_id = Some(request.container_id.clone());
    event.policy = Some(request.policy.clone());
    event.resource = Some(format!("approval:{}", approval.id));
    event.policies = request.rules.clone();
    event.reason = reason;
    if matches!(step, Step::Decided) {
        event.actor = approval.decided_by.clone();
    }
    event
}
