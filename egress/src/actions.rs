//! The in-line decision's work outside [`crate::decision::decide`]: the action a request is
//! (its catalogued API, destination, amount and content), decided in process by the embedded
//! decision engine under the sandbox's compiled policy record, and an escalation held while a
//! human is asked through the node's approval queue.
//!
//! Everything fails closed: a policy the engine cannot compile denies, an unreachable or
//! silent approval queue denies.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_approvals::client::ApprovalsClient;
use openshell_policy::node_config::NodeConfig;
use openshell_policy::wire::{
    APPROVALS_SOCKET, ActionRequest, Approval, ApprovalOrigin, ApprovalRequest, Decision,
    Enforcement, Outcome,
};
use openshell_policy::{ApiFields, FieldSource, Located, RequestPath, form_pairs};

use crate::rules::policy_method;
use crate::sandbox::Sandbox;

/// How long after an approval's own timeout the engine still waits for the queue to say so.
const GRACE: Duration = Duration::from_secs(5);

/// The embedded decision engine and the approval queue's client.
pub struct Actions {
    engine: Arc<PolicyService>,
    approvals: PathBuf,
}

/// What the request says, for the action built from it.
pub struct Seen<'a> {
    /// The request's method.
    pub method: &'a Method,
    /// Its host.
    pub host: &'a str,
    /// Its normalised path.
    pub path: &'a RequestPath,
    /// Its body, when it has one (received whole).
    pub body: Option<&'a Bytes>,
}

impl Actions {
    /// The engine for the node: decisions in process (the intent classifier is built on a
    /// thread of its own from the start), approvals at `[services] approvals`.
    pub fn for_node(node: &NodeConfig) -> Result<Actions, String> {
        let engine = Arc::new(
            PolicyService::for_admission(ServiceSettings::new(node.clone()))
                .map_err(|e| format!("decision engine: {e}"))?,
        );
        // The classifier and its patterns are built beside the engine's start rather than in
        // the first in-line decision (a decision that comes first waits for them).
        let warming = Arc::clone(&engine);
        std::thread::Builder::new()
            .name("decision-warmup".to_owned())
            .spawn(move || warming.prepare_classification())
            .map_err(|e| format!("decision engine: {e}"))?;
        Ok(Actions {
            engine,
            approvals: node
                .services
                .approvals
                .clone()
                .unwrap_or_else(|| PathBuf::from(APPROVALS_SOCKET)),
        })
    }

    /// Decides `api` as `seen` under the sandbox's record: in place when the intent is
    /// classified in process (microseconds), else off the async threads (the classifier may
    /// ask a model). A record the engine refuses denies.
    pub async fn decide(&self, sandbox: &Sandbox, api: &str, seen: Seen<'_>) -> Decision {
        let started = Instant::now();
        let Some(record) = sandbox.record.record.as_ref() else {
            return refused("the sandbox has no compiled policy record", started);
        };
        let fields = sandbox
            .apis
            .fields(api, policy_method(seen.method), seen.host, seen.path);
        let action = action(api, &seen, fields);
        if self.engine.classifies_in_process() {
            return match self.engine.evaluate_under(sandbox.id(), record, &action) {
                Ok(decision) => decision,
                Err(error) => refused(&format!("the decision engine refused: {error}"), started),
            };
        }
        let engine = Arc::clone(&self.engine);
        let container = sandbox.id().to_owned();
        let record = record.clone();
        let decided = tokio::task::spawn_blocking(move || {
            engine.evaluate_under(&container, &record, &action)
        })
        .await;
        match decided {
            Ok(Ok(decision)) => decision,
            Ok(Err(error)) => refused(&format!("the decision engine refused: {error}"), started),
            Err(error) => refused(&format!("the decision engine failed: {error}"), started),
        }
    }

    /// Asks a human about an escalated `decision` and waits for the final answer (or the
    /// approval's timeout). Errors say why no answer can be had; the caller denies.
    pub async fn ask(
        &self,
        sandbox: &Sandbox,
        api: &str,
        seen: Seen<'_>,
        decision: &Decision,
    ) -> Result<Approval, String> {
        let record = sandbox
            .record
            .record
            .as_ref()
            .ok_or("the sandbox has no compiled policy record")?;
        let approval = record.decisions.approval.as_ref().ok_or(
            "the policy has no ApprovalPolicy, so nobody can approve: the escalation is denied",
        )?;
        let fields = sandbox
            .apis
            .fields(api, policy_method(seen.method), seen.host, seen.path);
        let action = action(api, &seen, fields);
        let timeout = approval.timeout.value.duration();
        let request = ApprovalRequest {
            container_id: sandbox.id().to_owned(),
            policy: record.name.clone(),
            policy_digest: record.digest.clone(),
            origin: ApprovalOrigin::Egress,
            action: api.to_owned(),
            resource: action.resource.clone(),
            destination: action.destination.clone(),
            amount: action.amount,
            currency: action.currency.clone(),
            reason: decision.reasons.join("; "),
            rules: decision.policies.clone(),
            channels: approval.channels.iter().map(|c| c.value.clone()).collect(),
            timeout_ms: u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX),
            default_action: record.decisions.approval_default(),
        };
        ApprovalsClient::new(&self.approvals)
            .hold(&request, GRACE)
            .await
            .map_err(|e| e.to_string())
    }
}

/// A refusal taken without the engine's verdict (fail closed).
fn refused(why: &str, started: Instant) -> Decision {
    Decision {
        outcome: Outcome::Deny,
        enforced: Enforcement::Deny,
        reasons: vec![why.to_owned()],
        policies: Vec::new(),
        classification: None,
        latency_us: u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX),
    }
}

/// The action a request is: the API, its facts where the catalog says the request carries
/// them (else the path as resource and the host as destination), and the body as data.
pub fn action(api: &str, seen: &Seen<'_>, fields: Option<&ApiFields>) -> ActionRequest {
    let json: Option<serde_json::Value> = seen.body.and_then(|b| serde_json::from_slice(b).ok());
    let form: Vec<(String, String)> = match (&json, seen.body) {
        (None, Some(body)) => std::str::from_utf8(body)
            .map(form_pairs)
            .unwrap_or_default(),
        _ => Vec::new(),
    };
    let query = seen.path.query();
    let read = |source: Option<&Located<FieldSource>>| {
        source.and_then(|s| s.value.read(json.as_ref(), &form, query))
    };
    let amount = fields
        .and_then(|f| read(f.amount.as_ref()))
        .and_then(|text| text.trim().parse::<f64>().ok())
        .filter(|amount| amount.is_finite())
        .map(|amount| match fields {
            Some(f) if f.minor_units => amount / 100.0,
            _ => amount,
        });
    let resource = fields
        .and_then(|f| read(f.resource.as_ref()))
        .or_else(|| Some(seen.path.path().to_owned()));
    let destination = fields
        .and_then(|f| read(f.destination.as_ref()))
        .or_else(|| Some(seen.host.to_owned()));
    let currency = fields
        .and_then(|f| read(f.currency.as_ref()))
        .map(|c| c.to_ascii_uppercase());
    let data = match (json, seen.body) {
        (Some(json), _) => Some(json),
        (None, Some(_)) if !form.is_empty() => Some(serde_json::Value::Object(
            form.iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        )),
        (None, Some(body)) => Some(serde_json::Value::String(
            String::from_utf8_lossy(body).into_owned(),
        )),
        (None, None) => None,
    };
    ActionRequest {
        action: api.to_owned(),
        resource,
        destination,
        amount,
        currency,
        data,
        agent: None,
        attributes: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(yaml: &str) -> ApiFields {
        serde_saphyr::from_str(yaml).unwrap()
    }

    #[test]
    fn facts_are_read_where_the_catalog_says() {
        let path = RequestPath::parse("/v1/charges?customer=cus_9").unwrap();
        let post = Method::POST;
        let json = Bytes::from_static(
            br#"{"payment": {"amount": 12500, "currency": "eur"}, "to": "acct-1"}"#,
        );
        let seen = Seen {
            method: &post,
            host: "pay.example.test",
            path: &path,
            body: Some(&json),
        };
        let mapped = fields(
            "{amount: /payment/amount, currency: /payment/currency, destination: /to, \
             resource: 'query:customer', minorUnits: true}",
        );
        let built = super::action("payment.process", &seen, Some(&mapped));
        assert_eq!(built.amount, Some(125.0));
        assert_eq!(built.currency.as_deref(), Some("EUR"));
        assert_eq!(built.destination.as_deref(), Some("acct-1"));
        assert_eq!(built.resource.as_deref(), Some("cus_9"));
        assert_eq!(built.data.unwrap()["to"], "acct-1");

        let form = Bytes::from_static(b"amount=99.5&currency=usd&to=jane%40example.com");
        let seen = Seen {
            body: Some(&form),
            ..seen
        };
        let mapped = fields("{amount: 'form:amount', destination: 'form:to'}");
        let built = super::action("payment.process", &seen, Some(&mapped));
        assert_eq!(built.amount, Some(99.5));
        assert_eq!(built.destination.as_deref(), Some("jane@example.com"));
        assert_eq!(built.data.unwrap()["currency"], "usd");

        // Without a mapping: the path is the resource, the host the destination.
        let seen = Seen { body: None, ..seen };
        let built = super::action("crm.read", &seen, None);
        assert_eq!(built.resource.as_deref(), Some("/v1/charges"));
        assert_eq!(built.destination.as_deref(), Some("pay.example.test"));
        assert_eq!((built.amount, built.data), (None, None));

        // An amount that is not a number is no amount.
        let odd = Bytes::from_static(br#"{"amount": "lots"}"#);
        let seen = Seen {
            body: Some(&odd),
            ..seen
        };
        assert_eq!(
            action("p", &seen, Some(&fields("{amount: /amount}"))).amount,
            None
        );
    }
}
