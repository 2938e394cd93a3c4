//! Notifications: the message each channel gets (Slack Block Kit, a Teams Adaptive Card, a
//! PagerDuty Events v2 trigger and, once the approval is final, its resolve), the signed links
//! its buttons carry, and delivery over HTTP(S) with retries and exponential backoff.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Method, Request, header};
use hyper_rustls::{HttpsConnector, HttpsConnectorBuilder};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use openshell_policy::wire::{Approval, ApprovalOrigin};
use openshell_service_http::{RootsError, error_chain, load_roots};
use serde_json::{Value, json};
use tokio::time::Instant;

use crate::config::Channels;
use crate::secrets::LinkKey;
use crate::store::Event;

/// Builds signed callback links on the daemon's public address.
pub struct Links {
    public_url: String,
    key: LinkKey,
}

impl Links {
    /// Links on `public_url` (no trailing slash needed) signed with `key`.
    pub fn new(public_url: &str, key: LinkKey) -> Links {
        Links {
            public_url: public_url.trim_end_matches('/').to_owned(),
            key,
        }
    }

    /// The key.
    pub fn key(&self) -> &LinkKey {
        &self.key
    }

    /// The link answering `approval` with `verdict` (`approve` or `deny`), valid until the
    /// approval expires.
    pub fn link(&self, approval: &Approval, verdict: &str) -> String {
        let expires = link_expiry(approval.expires_at);
        format!(
            "{}/v1/callback/{}/{verdict}?expires={expires}&sig={}",
            self.public_url,
            approval.id,
            self.key.sign(&approval.id, verdict, expires)
        )
    }
}

/// The unix time a link for an approval expiring at `expires_at` carries.
pub fn link_expiry(expires_at: DateTime<Utc>) -> i64 {
    expires_at.timestamp()
}

/// A message ready to post.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Where.
    pub url: String,
    /// The JSON body.
    pub body: Value,
}

/// The message `channel` gets for `event` of `approval`; `Ok(None)` when the channel has
/// nothing to say for it (only PagerDuty resolves), `Err` when the node does not configure it.
pub fn message(
    channels: &Channels,
    links: &Links,
    approval: &Approval,
    channel: &str,
    event: Event,
) -> Result<Option<Message>, String> {
    let not_configured = || format!("channel {channel:?} is not configured on this node");
    match channel {
        "slack" => {
            let hook = channels.slack.as_ref().ok_or_else(not_configured)?;
            Ok((event == Event::Trigger).then(|| Message {
                url: hook.webhook_url.clone(),
                body: slack(approval, links),
            }))
        }
        "teams" => {
            let hook = channels.teams.as_ref().ok_or_else(not_configured)?;
            Ok((event == Event::Trigger).then(|| Message {
                url: hook.webhook_url.clone(),
                body: teams(approval, links),
            }))
        }
        "pagerduty" => {
            let pd = channels.pagerduty.as_ref().ok_or_else(not_configured)?;
            Ok(Some(Message {
                url: pd.events_url.clone(),
                body: pagerduty(approval, links, &pd.routing_key, event),
            }))
        }
        _ => Err(not_configured()),
    }
}

/// The facts every message shows, as (label, value).
fn facts(approval: &Approval) -> Vec<(&'static str, String)> {
    let r = &approval.request;
    let mut facts = vec![
        ("Container", r.container_id.clone()),
        ("Policy", r.policy.clone()),
        (
            "Action",
            format!(
                "{} ({})",
                r.action,
                match r.origin {
                    ApprovalOrigin::Egress => "API call",
                    ApprovalOrigin::Syscall => "system call",
                }
            ),
        ),
    ];
    if let Some(resource) = &r.resource {
        facts.push(("Resource", resource.clone()));
    }
    if let Some(destination) = &r.destination {
        facts.push(("Destination", destination.clone()));
    }
    if let Some(amount) = r.amount {
        facts.push((
            "Amount",
            format!("{amount} {}", r.currency.as_deref().unwrap_or(""))
                .trim_end()
                .to_owned(),
        ));
    }
    facts.push(("Reason", r.reason.clone()));
    facts.push((
        "Expires",
        format!(
            "{} (then {})",
            approval.expires_at.format("%Y-%m-%d %H:%M:%S UTC"),
            crate::api::enforcement_word(r.default_action)
        ),
    ));
    facts
}

fn summary(approval: &Approval) -> String {
    let r = &approval.request;
    format!(
        "Approval needed: {} by container {}{}",
        r.action,
        r.container_id,
        r.destination
            .as_ref()
            .map(|d| format!(" to {d}"))
            .unwrap_or_default()
    )
}

/// Slack mrkdwn escaping.
fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A Slack incoming-webhook message: fallback `text`, a `section` of facts, and an `actions`
/// block with Approve (primary) and Deny (danger) link buttons.
pub fn slack(approval: &Approval, links: &Links) -> Value {
    let mut text = format!("*{}*", escape_slack(&summary(approval)));
    for (label, value) in facts(approval) {
        text.push_str(&format!("\n*{label}:* {}", escape_slack(&value)));
    }
    json!({
        "text": summary(approval),
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": text}},
            {"type": "actions", "block_id": format!("openshell-approval-{}", approval.id), "elements": [
                {"type": "button", "action_id": "approve", "style": "primary",
                 "text": {"type": "plain_text", "text": "Approve"},
                 "url": links.link(approval, "approve")},
                {"type": "button", "action_id": "deny", "style": "danger",
                 "text": {"type": "plain_text", "text": "Deny"},
                 "url": links.link(approval, "deny")}
            ]}
        ]
    })
}

/// A Teams incoming-webhook message carrying an Adaptive Card 1.4: a title, a fact set, and
/// Approve / Deny `Action.OpenUrl` buttons.
pub fn teams(approval: &Approval, links: &Links) -> Value {
    let facts: Vec<Value> = facts(approval)
        .into_iter()
        .map(|(title, value)| json!({"title": title, "value": value}))
        .collect();
    json!({
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "content": {
                "type": "AdaptiveCard",
                "version": "1.4",
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "body": [
                    {"type": "TextBlock", "text": summary(approval), "weight": "Bolder", "wrap": true},
                    {"type": "FactSet", "facts": facts}
                ],
                "actions": [
                    {"type": "Action.OpenUrl", "title": "Approve", "url": links.link(approval, "approve")},
                    {"type": "Action.OpenUrl", "title": "Deny", "url": links.link(approval, "deny")}
                ]
            }
        }]
    })
}

/// The PagerDuty dedup key of an approval.
pub fn dedup_key(approval: &Approval) -> String {
    format!("openshell-approval-{}", approval.id)
}

/// A PagerDuty Events API v2 event: `trigger` with the facts and both links, or `resolve`.
pub fn pagerduty(approval: &Approval, links: &Links, routing_key: &str, event: Event) -> Value {
    match event {
        Event::Trigger => {
            let details: serde_json::Map<String, Value> = facts(approval)
                .into_iter()
                .map(|(k, v)| (k.to_lowercase(), Value::String(v)))
                .chain([("approval_id".to_owned(), Value::String(approval.id.clone()))])
                .collect();
            json!({
                "routing_key": routing_key,
                "event_action": "trigger",
                "dedup_key": dedup_key(approval),
                "payload": {
                    "summary": summary(approval),
                    "source": approval.request.container_id,
                    "severity": "warning",
                    "component": "openshell",
                    "custom_details": details
                },
                "links": [
                    {"href": links.link(approval, "approve"), "text": "Approve"},
                    {"href": links.link(approval, "deny"), "text": "Deny"}
                ]
            })
        }
        Event::Resolve => json!({
            "routing_key": routing_key,
            "event_action": "resolve",
            "dedup_key": dedup_key(approval),
        }),
    }
}

/// How deliveries are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Most attempts.
    pub max_tries: u32,
    /// Delay before the second attempt; doubles after each.
    pub first_backoff: Duration,
    /// Time limit of one attempt.
    pub per_try: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_tries: 5,
            first_backoff: Duration::from_millis(100),
            per_try: Duration::from_secs(5),
        }
    }
}

/// Why one attempt failed, and whether another may succeed.
#[derive(Debug)]
struct Failure {
    retry: bool,
    message: String,
}

/// Posts JSON messages over HTTP or HTTPS.
#[derive(Clone)]
pub struct Sender {
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Why notifications cannot be sent over TLS.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    /// `channels.ca_file` gives no trust roots.
    #[error("channels.ca_file: {0}")]
    Roots(#[from] RootsError),
    /// The TLS provider offers no safe protocol version.
    #[error("TLS versions: {0}")]
    Versions(#[from] rustls::Error),
}

impl Sender {
    /// A sender verifying `https://` channels against the CAs of `ca_file`, or the bundled
    /// Web PKI roots when there is none.
    pub fn new(ca_file: Option<&Path>) -> Result<Sender, SenderError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let roots = match ca_file {
            Some(path) => load_roots(path)?,
            None => rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            },
        };
        let tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots)
            .with_no_client_auth();
        let mut http = HttpConnector::new();
        http.enforce_http(false);
        http.set_nodelay(true);
        let connector = HttpsConnectorBuilder::new()
            .with_tls_config(tls)
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        Ok(Sender {
            client: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    async fn post(&self, message: &Message, per_try: Duration) -> Result<(), Failure> {
        let request = Request::builder()
            .method(Method::POST)
            .uri(&message.url)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::USER_AGENT, "openshell-approvals")
            .body(Full::new(Bytes::from(message.body.to_string())))
            .map_err(|e| Failure {
                retry: false,
                message: format!("bad request to {}: {e}", message.url),
            })?;
        let exchange = async {
            let response = self.client.request(request).await.map_err(|e| Failure {
                retry: true,
                message: format!(
                    "cannot reach {}: {}",
                    host_of(&message.url),
                    error_chain(&e)
                ),
            })?;
            let status = response.status();
            // Drain the body so the connection can be reused; its content does not matter.
            let _ = response.into_body().collect().await;
            if status.is_success() {
                Ok(())
            } else {
                Err(Failure {
                    retry: status.is_server_error() || status.as_u16() == 429,
                    message: format!("{} answered {status}", host_of(&message.url)),
                })
            }
        };
        tokio::time::timeout(per_try, exchange)
            .await
            .map_err(|_| Failure {
                retry: true,
                message: format!(
                    "{} did not answer within {} ms",
                    host_of(&message.url),
                    per_try.as_millis()
                ),
            })?
    }

    /// Delivers `message`, retrying failures that may pass with exponential backoff, at most
    /// `policy.max_tries` times and not past `deadline`. The error is the last failure.
    pub async fn deliver(
        &self,
        message: &Message,
        policy: RetryPolicy,
        deadline: Option<Instant>,
    ) -> Result<u32, String> {
        let mut backoff = policy.first_backoff;
        let mut tries = 0;
        loop {
            tries += 1;
            let failure = match self.post(message, policy.per_try).await {
                Ok(()) => return Ok(tries),
                Err(failure) => failure,
            };
            let next = Instant::now() + backoff;
            if !failure.retry || tries >= policy.max_tries || deadline.is_some_and(|d| next >= d) {
                return Err(format!("{} (after {tries} tries)", failure.message));
            }
            tokio::time::sleep_until(next).await;
            backoff *= 2;
        }
    }
}

/// The scheme and host of a URL (never its path: webhook paths are secrets).
fn host_of(url: &str) -> String {
    match url.parse::<hyper::Uri>() {
        Ok(uri) => format!(
            "{}://{}",
            uri.scheme_str().unwrap_or("http"),
            uri.authority().map(|a| a.as_str()).unwrap_or("")
        ),
        Err(_) => "the channel".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_hide_webhook_paths() {
        assert_eq!(
            host_of("https://hooks.slack.com/services/T/B/SECRET"),
            "https://hooks.slack.com"
        );
    }

    #[test]
    fn slack_text_is_escaped() {
        assert_eq!(escape_slack("a<b>&c"), "a&lt;b&gt;&amp;c");
    }
}
