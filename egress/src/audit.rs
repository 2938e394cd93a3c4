//! One audit event per egress decision, through the shared `openshell-audit` library (same
//! format and destinations as the policy service's).
//!
//! Fields the engine fills: `component: "egress"`, `container_id`, `policy` (the policy name),
//! `action` (`egress.http`, `egress.connect`, `egress.tls`, `egress.tcp`, `egress.dns`, or the
//! catalogued API name such as `crm.read` when the request is one), `resource`
//! (`METHOD scheme://host:port/path` without the query string, `host:port` for tunnels, the
//! name for DNS), `decision` (`allow` / `deny`), `policies` (the rules that decided:
//! `egress.allow[1] (api.hubspot.com)`, `deniedAPIs: admin.*`, `inspection.scanForPII`,
//! `addresses`), `reason`, `classification` (when a body was scanned) and `latency_us` (time to
//! decide). Bodies never appear unless the policy says `logPayloads: true`, and then only
//! redacted and cut to 1 KiB. Free text is PII-redacted by the audit library.

use std::sync::Arc;
use std::time::Duration;

use openshell_audit::{AuditHub, new_event};
use openshell_policy::wire::ClassificationSummary;

use crate::sandbox::Sandbox;

/// How much of a body a `logPayloads: true` event carries.
const PAYLOAD_EXCERPT_BYTES: usize = 1024;

/// `allow` or `deny`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Let through.
    Allow,
    /// Refused.
    Deny,
}

impl Outcome {
    /// The word on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allow => "allow",
            Outcome::Deny => "deny",
        }
    }
}

/// One decision to record.
pub struct Decision<'a> {
    /// The sandbox it concerns.
    pub sandbox: &'a Sandbox,
    /// `egress.http`, `crm.read`, …
    pub action: String,
    /// What was reached.
    pub resource: String,
    /// The outcome.
    pub outcome: Outcome,
    /// The rules that decided.
    pub rules: Vec<String>,
    /// Why.
    pub reason: String,
    /// Time taken to decide.
    pub latency: Duration,
    /// The body's classification, when scanned.
    pub classification: Option<ClassificationSummary>,
    /// The request body, offered for `logPayloads: true`.
    pub payload: Option<&'a [u8]>,
}

/// Where egress events go.
#[derive(Clone)]
pub struct EgressAudit {
    hub: Option<Arc<AuditHub>>,
}

impl EgressAudit {
    /// Events go through `hub` (the node's trail plus each policy's destination).
    pub fn new(hub: Arc<AuditHub>) -> EgressAudit {
        EgressAudit { hub: Some(hub) }
    }

    /// Events are dropped (benchmarks of the proxy alone).
    pub fn disabled() -> EgressAudit {
        EgressAudit { hub: None }
    }

    /// Records `decision`. A sandbox whose policy disables its audit log still has its
    /// decisions kept in the node's local trail. Delivery failures are logged, never raised:
    /// the audit library spools what it cannot deliver.
    pub fn record(&self, decision: Decision<'_>) {
        let Some(hub) = &self.hub else {
            return;
        };
        let policy = &decision.sandbox.record.policy;
        let mut event = new_event("egress", &decision.action, decision.outcome.as_str());
        event.container_id = Some(decision.sandbox.id().to_owned());
        event.policy = Some(policy.name.clone());
        event.resource = Some(decision.resource);
        event.policies = decision.rules;
        event.reason = decision.reason;
        event.latency_us = u64::try_from(decision.latency.as_micros()).unwrap_or(u64::MAX);
        event.classification = decision.classification;
        if decision.sandbox.log_payloads()
            && let Some(payload) = decision.payload.filter(|p| !p.is_empty())
        {
            let excerpt = &payload[..payload.len().min(PAYLOAD_EXCERPT_BYTES)];
            let text = String::from_utf8_lossy(excerpt);
            // The audit library redacts `reason` (PII, secrets) before the event leaves.
            event.reason = format!("{}; payload: {text}", event.reason);
        }
        let destination = if policy.audit.enabled {
            policy.audit.destination.as_deref()
        } else {
            None
        };
        if let Err(error) = hub.record(destination, event) {
            tracing::warn!(container = decision.sandbox.id(), "audit: {error}");
        }
    }
}
