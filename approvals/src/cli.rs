//! The operator's commands (`openshell-approvals list|show|approve|deny|watch`, which
//! `openshell approvals` runs): a table of approvals, one as JSON or text, answers recorded
//! with the operator's user name through the `cli` channel, and a live view of the queue.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::time::Duration;

use openshell_policy::wire::{Approval, ApprovalAnswer, ApprovalState};

use crate::api::{enforcement_word, state_name};
use crate::client::{ApprovalsClient, ClientError};

/// How often `watch` looks at the queue.
pub const WATCH_INTERVAL: Duration = Duration::from_millis(500);

/// Who is answering: `$SUDO_USER` (the operator behind sudo), else the user name.
pub fn operator_name() -> String {
    ["SUDO_USER", "USER", "LOGNAME"]
        .iter()
        .filter_map(|var| std::env::var(var).ok())
        .find(|name| !name.trim().is_empty())
        .unwrap_or_else(|| {
            // SAFETY: getuid cannot fail and touches no memory.
            format!("uid-{}", unsafe { libc::getuid() })
        })
}

fn amount(approval: &Approval) -> String {
    match approval.request.amount {
        Some(amount) => format!(
            "{amount} {}",
            approval.request.currency.as_deref().unwrap_or("")
        )
        .trim_end()
        .to_owned(),
        None => "-".to_owned(),
    }
}

/// The list as a table: ID, STATE, CONTAINER, ACTION, DESTINATION, AMOUNT, EXPIRES.
pub fn table(approvals: &[Approval]) -> String {
    let rows: Vec<[String; 7]> = std::iter::once(
        [
            "ID",
            "STATE",
            "CONTAINER",
            "ACTION",
            "DESTINATION",
            "AMOUNT",
            "EXPIRES",
        ]
        .map(str::to_owned),
    )
    .chain(approvals.iter().map(|a| {
        [
            a.id.clone(),
            state_name(a.state).to_owned(),
            a.request.container_id.clone(),
            a.request.action.clone(),
            a.request.destination.clone().unwrap_or_else(|| "-".into()),
            amount(a),
            a.expires_at.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        ]
    }))
    .collect();
    let mut widths = [0; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in &rows {
        let mut line = String::new();
        for (i, (cell, w)) in row.iter().zip(widths).enumerate() {
            if i + 1 == row.len() {
                line.push_str(cell);
            } else {
                let _ = write!(line, "{cell:<w$}  ");
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

/// One approval as text.
pub fn text(a: &Approval) -> String {
    let r = &a.request;
    let mut out = String::new();
    let mut field = |label: &str, value: &str| {
        let _ = writeln!(out, "{label:<12} {value}");
    };
    field("id", &a.id);
    field("state", state_name(a.state));
    field("container", &r.container_id);
    field("policy", &r.policy);
    field("action", &r.action);
    if let Some(resource) = &r.resource {
        field("resource", resource);
    }
    if let Some(destination) = &r.destination {
        field("destination", destination);
    }
    if r.amount.is_some() {
        field("amount", &amount(a));
    }
    field("reason", &r.reason);
    field("created", &a.created_at.to_rfc3339());
    field("expires", &a.expires_at.to_rfc3339());
    field("default", enforcement_word(r.default_action));
    if let Some(enforced) = a.enforced {
        field("enforced", enforcement_word(enforced));
    }
    if let Some(by) = &a.decided_by {
        field("decided by", by);
    }
    if let Some(channel) = &a.channel {
        field("channel", channel);
    }
    if let Some(at) = a.decided_at {
        field("decided at", &at.to_rfc3339());
    }
    if let Some(note) = &a.note {
        field("note", note);
    }
    out
}

/// One line of `watch` for an approval seen in a new state.
pub fn event_line(a: &Approval) -> String {
    match a.state {
        ApprovalState::Pending => format!(
            "pending   {} {} {} {}{} (expires {})",
            a.id,
            a.request.container_id,
            a.request.action,
            a.request.destination.as_deref().unwrap_or("-"),
            a.request
                .amount
                .map(|_| format!(" {}", amount(a)))
                .unwrap_or_default(),
            a.expires_at.format("%H:%M:%SZ")
        ),
        state => format!(
            "{:<9} {} {} {} by {} via {}",
            state_name(state),
            a.id,
            a.request.container_id,
            a.request.action,
            a.decided_by.as_deref().unwrap_or("-"),
            a.channel.as_deref().unwrap_or("-"),
        ),
    }
}

/// Watches the queue until the call fails, printing each new pending approval and each
/// decision through `print`. Approvals already pending at start are printed once; decisions
/// taken before the start are not.
pub async fn watch(
    client: &ApprovalsClient,
    mut print: impl FnMut(String),
) -> Result<(), ClientError> {
    let mut seen: HashMap<String, ApprovalState> = HashMap::new();
    let mut first = true;
    loop {
        for approval in client.list(None).await? {
            let before = seen.insert(approval.id.clone(), approval.state);
            let new = before != Some(approval.state);
            if new && (!first || approval.state == ApprovalState::Pending) {
                print(event_line(&approval));
            }
        }
        first = false;
        tokio::time::sleep(WATCH_INTERVAL).await;
    }
}

/// The answer an operator sends.
pub fn operator_answer(note: Option<String>) -> ApprovalAnswer {
    ApprovalAnswer {
        by: operator_name(),
        note,
    }
}
