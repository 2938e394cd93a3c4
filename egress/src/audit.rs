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

    /// Events dropped so far because an audit destination's spool was at its byte cap.
    pub fn dropped_events(&self) -> u64 {
        self.hub.as_ref().map_or(0, |hub| hub.dropped_events())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{EgressPolicy, SandboxRecord};
    use openshell_audit::{TrailQuery, read_trail};
    use openshell_policy::node_config::NodeConfig;

    fn sandbox(log_payloads: bool) -> Sandbox {
        let json = format!(
            r#"{{"name":"p","network":{{"egress":{{"allow":[{{"domain":"crm.example.test"}}]}},
                 "inspection":{{"logPayloads":{log_payloads}}}}}}}"#
        );
        let policy: EgressPolicy = serde_json::from_str(&json).unwrap();
        let record = SandboxRecord {
            container_id: "c1".to_owned(),
            interface: "osh000000000000".to_owned(),
            sandbox_ip: "10.200.0.2".parse().unwrap(),
            policy,
            record: None,
            registered_at: chrono::Utc::now(),
        };
        Sandbox::compile(
            record,
            &[80, 443],
            None,
            Arc::new(tokio::sync::Semaphore::new(1)),
        )
        .unwrap()
    }

    fn decision<'a>(sandbox: &'a Sandbox, payload: &'a [u8]) -> Decision<'a> {
        Decision {
            sandbox,
            action: "crm.update".to_owned(),
            resource: "PATCH https://crm.example.test:443/api/v1/customers/1".to_owned(),
            outcome: Outcome::Allow,
            rules: vec!["egress.allow[0] (crm.example.test)".to_owned()],
            reason: "forwarded".to_owned(),
            latency: Duration::from_micros(40),
            classification: None,
            payload: Some(payload),
        }
    }

    #[test]
    fn bodies_reach_the_trail_only_with_log_payloads_and_redacted() {
        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("audit.jsonl");
        let mut node = NodeConfig::default();
        node.audit.trail = Some(trail.clone());
        node.audit.spool_dir = dir.path().join("spool");
        let hub = Arc::new(AuditHub::new(&node).unwrap());
        let audit = EgressAudit::new(Arc::clone(&hub));
        let body = br#"{"tier":"gold","email":"jane@example.com"}"#;
        let (quiet, verbose) = (sandbox(false), sandbox(true));
        audit.record(decision(&quiet, body));
        audit.record(decision(&verbose, body));
        hub.flush(Duration::from_secs(5)).unwrap();
        let events = read_trail(&trail, &TrailQuery::default()).unwrap().events;
        assert_eq!(events.len(), 2);
        let (first, second) = (&events[0], &events[1]);
        assert_eq!(first.component, "egress");
        assert_eq!(first.container_id.as_deref(), Some("c1"));
        assert_eq!(first.action, "crm.update");
        assert_eq!(first.decision, "allow");
        assert_eq!(first.latency_us, 40);
        assert_eq!(
            first.reason, "forwarded",
            "logPayloads: false keeps the body out"
        );
        assert!(second.reason.contains("gold"), "{}", second.reason);
        assert!(
            !second.reason.contains("jane@example.com"),
            "{}",
            second.reason
        );
    }
}
