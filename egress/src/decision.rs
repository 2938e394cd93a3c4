//! The engine's decision chain as one pure function, [`decide`].
//!
//! It takes a sandbox's compiled policy and what the engine has seen so far of a connection or
//! a request ([`Seen`]), and answers with a [`Verdict`]: refused, with the rule, the reason and
//! the status to answer; or allowed so far, with the one thing the engine must do next
//! ([`Next`]): classify the request head or body (`scanForPII`), resolve the host, then act —
//! connect to the address that passed, intercept TLS, or read what a tunnel carries. The
//! engine does that and asks again with what it found ([`Seen::Then`]), handing the [`Grant`]
//! back so nothing is decided twice. It does no I/O and reads no clock: the listeners
//! ([`crate::proxy`]) gather the facts, call it, and act on the answer.
//!
//! The chain, first refusal wins:
//! 1. a request's path is normalised or refused (403 `path_refused`);
//! 2. the host must be a name: rules name hosts, not addresses (403 `egress_denied`);
//! 3. the egress rules ([`crate::rules`]): a request by host, port and method; a tunnel whose
//!    requests will be decided inside by host and port; one that will not be seen (undecrypted
//!    TLS, other protocols) only by a rule without method limits, and only to a host no API
//!    permission covers (403 `egress_denied`, `api_denied`); a TLS server name must be the
//!    tunnel's host;
//! 4. API permissions through the catalog ([`crate::api_permissions`]), deny wins (403
//!    `api_denied`);
//! 5. `scanForPII`: the query string and header values, then the body (403 `pii_blocked`);
//! 6. the in-line decision, for a sandbox registered with its compiled policy record and a
//!    request the catalog names: the body is received whole and the action (API, destination,
//!    amount from the catalog's `fields`, content) is decided in process by the decision
//!    engine (403 `action_denied`); an escalation is held while a human is asked through the
//!    node's approval queue (approved: on; denied or timed out by `defaultAction`: 403
//!    `approval_denied`; the queue unreachable: 403 `approval_unavailable`, fail closed);
//! 7. the resolved address ([`crate::resolver`]): a refused class (403 `address_refused`), no
//!    answer (502 `upstream_unreachable`).

use std::net::{IpAddr, SocketAddrV4};

use hyper::{Method, StatusCode};
use openshell_policy::RequestPath;
use openshell_policy::wire::{
    Approval, ApprovalState, ClassificationSummary, Decision, Enforcement, Outcome,
};

use crate::api_permissions::ApiDecision;
use crate::body_scan::BodyVerdict;
use crate::head_scan::HeadFinding;
use crate::resolver::ResolveError;
use crate::rules::{Denial, policy_method};
use crate::sandbox::Sandbox;

/// What the engine has seen when it asks.
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "built on the stack and moved once into decide; boxing the grant would allocate \
              at every step"
)]
pub enum Seen<'a> {
    /// A CONNECT on the explicit proxy.
    Connect {
        /// The host asked for (lower case).
        host: &'a str,
        /// The port.
        port: u16,
    },
    /// A connection redirected to the transparent listener.
    Redirected {
        /// Its original destination.
        destination: SocketAddrV4,
        /// The name the sandbox's DNS answered with that address, if it did.
        host: Option<&'a str>,
    },
    /// The ClientHello opening a tunnel to `host:port`.
    ClientHello {
        /// The tunnel's host.
        host: &'a str,
        /// The tunnel's port.
        port: u16,
        /// The server name it asks for (`None`: it names none), or why it could not be read.
        server_name: Result<Option<&'a str>, String>,
    },
    /// A tunnel to `host:port` carrying neither TLS nor HTTP.
    Opaque {
        /// The tunnel's host.
        host: &'a str,
        /// The tunnel's port.
        port: u16,
    },
    /// An HTTP request head.
    Request(RequestHead<'a>),
    /// What the engine found doing the [`Next`] step `grant` asked for.
    Then(Grant, Fact),
    /// A request into the sandbox through the ingress listener.
    Ingress(IngressRequest<'a>),
}

/// A request into a sandbox, as the ingress listener routed it.
#[derive(Debug)]
pub struct IngressRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The normalised path inside the sandbox.
    pub path: &'a RequestPath,
    /// The client's address.
    pub client: IpAddr,
    /// The first `ingress.allow` rule to consider: the one after a rule whose source the client
    /// turned out not to be.
    pub from: usize,
}

/// An HTTP request as its head shows it.
#[derive(Debug)]
pub struct RequestHead<'a> {
    /// Whether it goes to the origin over TLS.
    pub tls: bool,
    /// The host (lower case).
    pub host: &'a str,
    /// The port.
    pub port: u16,
    /// The method.
    pub method: &'a Method,
    /// The path and query as sent.
    pub target: &'a str,
    /// Whether it carries a body.
    pub has_body: bool,
}

/// The result of a [`Next`] step.
#[derive(Debug)]
pub enum Fact {
    /// [`Next::ScanHead`]: the first place in the query string or a header value holding data
    /// at or above the blocking level.
    Head(Result<(), HeadFinding>),
    /// [`Next::ScanBody`]: the body scanner's verdict.
    Body(BodyVerdict),
    /// [`Next::Resolve`]: the address the resolver chose, or why there is none.
    Address(Result<IpAddr, ResolveError>),
    /// [`Next::ReadBody`]: the body was received whole, or why it was not.
    BodyRead(Result<(), String>),
    /// [`Next::Evaluate`]: the decision engine's answer on the action.
    Evaluated(Decision),
    /// [`Next::AskApproval`]: the approval once final, or why there is none (fail closed).
    Answered(Result<Box<Approval>, String>),
}

/// What the engine does next with something allowed so far.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Next {
    /// Classify the query string and header values; ask again with [`Fact::Head`].
    ScanHead,
    /// Receive and classify the body; ask again with [`Fact::Body`].
    ScanBody,
    /// Resolve the host; ask again with [`Fact::Address`].
    Resolve,
    /// Receive the body whole (for the in-line decision); ask again with [`Fact::BodyRead`].
    ReadBody,
    /// Decide the action in process; ask again with [`Fact::Evaluated`].
    Evaluate,
    /// Hold the request and ask a human through the approval queue; ask again with
    /// [`Fact::Answered`].
    AskApproval,
    /// Allowed: connect to exactly this address (forward the request, open or relay the
    /// tunnel).
    Connect(IpAddr),
    /// Allowed: complete the TLS handshake with a leaf minted for the host, and decide every
    /// request inside.
    Intercept,
    /// Allowed: run the tunnel, reading its first bytes and asking again about what it carries.
    Tunnel,
    /// Allowed by `ingress.allow[i]` if the client is where its `source` names: confirm that
    /// (resolving the source) and forward; if not, ask again from the next rule.
    ConfirmSource(usize),
}

/// The answer.
#[derive(Debug)]
pub enum Verdict {
    /// Allowed so far.
    Allow(Grant),
    /// Refused.
    Deny(Refusal),
}

/// What a decision is about, as counted and audited.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    /// The metrics kind: `http`, `https`, `connect`, `tls`, `tcp`, `ingress`.
    pub kind: &'static str,
    /// The audit action: `egress.http`, `egress.connect`, `egress.tls`, `egress.tcp`,
    /// `ingress.http`.
    pub action: &'static str,
    /// The audit resource: `GET https://host:443/path` (normalised, no query), `host:port`, or
    /// `POST /path` for ingress.
    pub resource: String,
}

impl Subject {
    fn tunnel(kind: &'static str, action: &'static str, host: &str, port: u16) -> Subject {
        Subject {
            kind,
            action,
            resource: format!("{host}:{port}"),
        }
    }

    /// Whether bytes are relayed unseen (undecrypted TLS or another protocol).
    fn is_relay(&self) -> bool {
        matches!(self.kind, "tls" | "tcp")
    }

    /// The audit action: the catalogued API's name when the request is one, else the subject's.
    fn action_as(&self, api: Option<&String>) -> String {
        api.map_or_else(|| self.action.to_owned(), String::clone)
    }
}

/// Something allowed so far, and what the engine does next.
#[derive(Debug)]
pub struct Grant {
    /// What it is about.
    pub subject: Subject,
    /// The rules that allowed it (`egress.allow[1] (api.hubspot.com)`, `allowedAPIs: crm.*`).
    pub rules: Vec<String>,
    /// The catalogued API the request is, which the audit names as its action.
    pub api: Option<String>,
    /// A request's normalised path: what is decided, audited and forwarded.
    pub path: Option<RequestPath>,
    /// The body's classification, once scanned.
    pub classification: Option<ClassificationSummary>,
    /// What to do next.
    pub next: Next,
    /// Whether a body is still to be scanned after the head.
    scan_body: bool,
    /// Whether the action is still to be decided in process.
    pub evaluate: bool,
    /// Whether the request has a body not yet received.
    pub body_unread: bool,
    /// The in-line decision, once taken (an escalation keeps it while a human is asked).
    pub decision: Option<Decision>,
}

impl Grant {
    fn new(subject: Subject, rules: Vec<String>, next: Next) -> Grant {
        Grant {
            subject,
            rules,
            api: None,
            path: None,
            classification: None,
            next,
            scan_body: false,
            evaluate: false,
            body_unread: false,
            decision: None,
        }
    }

    /// The audit action of the allowed decision: the API name, else the subject's.
    pub fn action(&self) -> String {
        self.subject.action_as(self.api.as_ref())
    }

    /// The refusal when acting on the grant failed: the upstream could not be reached, a leaf
    /// could not be minted.
    pub fn failed(self, reason: String) -> Refusal {
        Refusal {
            rule: self.rules.join("; "),
            ..Refusal::new(
                self.subject,
                StatusCode::BAD_GATEWAY,
                "upstream_unreachable",
                "",
                reason,
            )
        }
    }
}

/// What was refused: to answer, count and audit.
#[derive(Debug)]
pub struct Refusal {
    /// What it is about.
    pub subject: Subject,
    /// The status to answer an HTTP client with.
    pub status: StatusCode,
    /// The `error` of the answer: `egress_denied`, `api_denied`, `pii_blocked`, …
    pub error: &'static str,
    /// The rule that refused (`egress.deny[0] (evil.example.test)`, `default deny`).
    pub rule: String,
    /// Why, never quoting request content.
    pub reason: String,
    /// The catalogued API refused, for `api_denied`.
    pub api: Option<String>,
    /// What the scan found, for `pii_blocked`.
    pub classification: Option<ClassificationSummary>,
}

impl Refusal {
    fn new(
        subject: Subject,
        status: StatusCode,
        error: &'static str,
        rule: &str,
        reason: String,
    ) -> Refusal {
        Refusal {
            subject,
            status,
            error,
            rule: rule.to_owned(),
            reason,
            api: None,
            classification: None,
        }
    }

    fn forbidden(subject: Subject, error: &'static str, rule: &str, reason: String) -> Refusal {
        Refusal::new(subject, StatusCode::FORBIDDEN, error, rule, reason)
    }

    fn by_rules(subject: Subject, denial: &Denial) -> Refusal {
        let code = match denial {
            Denial::ModelApi { .. } => "model_api_direct",
            _ => "egress_denied",
        };
        Refusal::forbidden(subject, code, &denial.rule(), denial.to_string())
    }

    fn pii(subject: Subject, reason: String, found: Option<ClassificationSummary>) -> Refusal {
        Refusal {
            classification: found,
            ..Refusal::forbidden(subject, "pii_blocked", "inspection.scanForPII", reason)
        }
    }

    /// The audit action of the refusal: the API name for `api_denied`, else the subject's.
    pub fn action(&self) -> String {
        self.subject.action_as(self.api.as_ref())
    }
}

/// Decides what the engine has seen of a connection or request from `sandbox`.
pub fn decide(sandbox: &Sandbox, seen: Seen<'_>) -> Verdict {
    match seen {
        Seen::Connect { host, port } => connect(sandbox, host, port),
        Seen::Redirected { destination, host } => redirected(sandbox, destination, host),
        Seen::ClientHello {
            host,
            port,
            server_name,
        } => client_hello(sandbox, host, port, server_name),
        Seen::Opaque { host, port } => relay(
            sandbox,
            Subject::tunnel("tcp", "egress.tcp", host, port),
            host,
            port,
        ),
        Seen::Request(head) => request(sandbox, &head),
        Seen::Then(grant, fact) => then(grant, fact),
        Seen::Ingress(asked) => ingress(sandbox, &asked),
    }
}

/// Whether `host` is a DNS name the engine will resolve (not an address literal, no odd bytes).
pub fn is_host_name(host: &str) -> bool {
    !host.is_empty()
        && host.len() <= 253
        && host.parse::<IpAddr>().is_err()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
}

fn connect(sandbox: &Sandbox, host: &str, port: u16) -> Verdict {
    let subject = Subject::tunnel("connect", "egress.connect", host, port);
    if !is_host_name(host) {
        let reason = format!("{host} is not a host name: rules name hosts, not addresses");
        return Verdict::Deny(Refusal::forbidden(
            subject,
            "egress_denied",
            "default deny",
            reason,
        ));
    }
    // Without decryption nothing inside can be checked: the tunnel itself must be allowed as it
    // is, and no API permission may apply to the host.
    if !sandbox.tls_decrypt() {
        return relay(sandbox, subject, host, port);
    }
    match sandbox.rules.check_tunnel(host, port) {
        Ok(rule) => Verdict::Allow(Grant::new(subject, vec![rule.describe()], Next::Resolve)),
        Err(denial) => Verdict::Deny(Refusal::by_rules(subject, &denial)),
    }
}

/// A tunnel whose bytes the engine relays without seeing requests.
fn relay(sandbox: &Sandbox, subject: Subject, host: &str, port: u16) -> Verdict {
    let rule = match sandbox.rules.check_opaque(host, port) {
        Ok(rule) => rule.describe(),
        Err(denial) => return Verdict::Deny(Refusal::by_rules(subject, &denial)),
    };
    if sandbox.apis.covers_host(host) {
        let reason = format!(
            "API permissions apply to {host}: its traffic must be decrypted (tlsDecrypt: true)"
        );
        return Verdict::Deny(Refusal::forbidden(
            subject,
            "api_denied",
            "permissions",
            reason,
        ));
    }
    Verdict::Allow(Grant::new(subject, vec![rule], Next::Resolve))
}

fn redirected(sandbox: &Sandbox, destination: SocketAddrV4, host: Option<&str>) -> Verdict {
    let Some(host) = host else {
        let subject = Subject {
            kind: "tcp",
            action: "egress.tcp",
            resource: destination.to_string(),
        };
        let reason = "the destination address was not answered by the sandbox's DNS: \
                      connections by address are refused";
        return Verdict::Deny(Refusal::forbidden(
            subject,
            "egress_denied",
            "default deny",
            reason.to_owned(),
        ));
    };
    let subject = Subject::tunnel("tcp", "egress.tcp", host, destination.port());
    match sandbox.rules.check_tunnel(host, destination.port()) {
        Ok(rule) => Verdict::Allow(Grant::new(subject, vec![rule.describe()], Next::Tunnel)),
        Err(denial) => Verdict::Deny(Refusal::by_rules(subject, &denial)),
    }
}

fn client_hello(
    sandbox: &Sandbox,
    host: &str,
    port: u16,
    server_name: Result<Option<&str>, String>,
) -> Verdict {
    let subject = Subject::tunnel("tls", "egress.tls", host, port);
    let refused = |subject, reason| Refusal::forbidden(subject, "egress_denied", "tls", reason);
    match server_name {
        Err(reason) => return Verdict::Deny(refused(subject, reason)),
        Ok(Some(name)) if name != host => {
            let reason = format!("TLS server name {name} does not match the destination {host}");
            return Verdict::Deny(refused(subject, reason));
        }
        Ok(_) => {}
    }
    if !sandbox.tls_decrypt() {
        return relay(sandbox, subject, host, port);
    }
    // What allowed it, should minting the leaf fail: the tunnel's own rule was audited when it
    // was opened.
    Verdict::Allow(Grant::new(subject, vec!["tls".to_owned()], Next::Intercept))
}

fn request(sandbox: &Sandbox, head: &RequestHead<'_>) -> Verdict {
    let scheme = if head.tls { "https" } else { "http" };
    let origin = format!("{} {scheme}://{}:{}", head.method, head.host, head.port);
    let mut subject = Subject {
        kind: scheme,
        action: "egress.http",
        resource: origin,
    };
    let path = match RequestPath::parse(head.target) {
        Ok(path) => path,
        Err(refusal) => {
            return Verdict::Deny(Refusal::forbidden(
                subject,
                "path_refused",
                "request path",
                refusal.to_string(),
            ));
        }
    };
    // The audit names the normalised path that was decided (no query string).
    subject.resource.push_str(path.path());
    if !is_host_name(head.host) {
        let reason = format!(
            "{:?} is not a host name: rules name hosts, not addresses",
            head.host
        );
        return Verdict::Deny(Refusal::forbidden(
            subject,
            "egress_denied",
            "default deny",
            reason,
        ));
    }
    let method = policy_method(head.method);
    let rule = match sandbox.rules.check_request(head.host, head.port, method) {
        Ok(rule) => rule.describe(),
        Err(denial) => return Verdict::Deny(Refusal::by_rules(subject, &denial)),
    };
    let mut grant = Grant::new(subject, vec![rule], Next::Resolve);
    grant.body_unread = head.has_body;
    match sandbox.apis.check(method, head.host, &path) {
        ApiDecision::Uncatalogued => {}
        ApiDecision::Allowed { api, rule } => {
            grant.api = Some(api);
            grant.rules.push(rule);
        }
        ApiDecision::Denied { api, rule } => {
            let reason = format!("{api} is refused by {rule}");
            return Verdict::Deny(Refusal {
                api: Some(api),
                ..Refusal::forbidden(grant.subject, "api_denied", &rule, reason)
            });
        }
    }
    if sandbox.decides_actions() {
        if grant.api.is_none() {
            grant.api = sandbox.apis.identify(method, head.host, &path);
        }
        grant.evaluate = grant.api.is_some();
    }
    grant.path = Some(path);
    if sandbox.scan_for_pii() {
        grant.next = Next::ScanHead;
        grant.scan_body = head.has_body;
        return Verdict::Allow(grant);
    }
    after_content(grant)
}

/// After the content checks: the in-line decision if one is due, else the address.
fn after_content(mut grant: Grant) -> Verdict {
    grant.next = match (grant.evaluate, grant.body_unread) {
        (true, true) => Next::ReadBody,
        (true, false) => Next::Evaluate,
        (false, _) => Next::Resolve,
    };
    Verdict::Allow(grant)
}

/// The in-line decision's answer: allowed on, refused, or held for a human.
fn evaluated(mut grant: Grant, decision: Decision) -> Verdict {
    grant.evaluate = false;
    let rule = if decision.policies.is_empty() {
        "decision".to_owned()
    } else {
        format!("decision: {}", decision.policies.join(", "))
    };
    let reason = if decision.reasons.is_empty() {
        format!("{:?} by the decision engine", decision.outcome).to_lowercase()
    } else {
        decision.reasons.join("; ")
    };
    match decision.outcome {
        Outcome::Allow => {
            grant.rules.push(rule);
            grant.decision = Some(decision);
            grant.next = Next::Resolve;
            Verdict::Allow(grant)
        }
        Outcome::Deny => Verdict::Deny(Refusal {
            api: grant.api.clone(),
            ..Refusal::forbidden(grant.subject, "action_denied", &rule, reason)
        }),
        Outcome::Escalate => {
            grant.rules.push(rule);
            grant.decision = Some(decision);
            grant.next = Next::AskApproval;
            Verdict::Allow(grant)
        }
    }
}

/// A human's answer (or the timeout's) on a held request.
fn answered(mut grant: Grant, answer: Result<Box<Approval>, String>) -> Verdict {
    let approval = match answer {
        Ok(approval) => approval,
        Err(why) => {
            let reason = format!("escalated, and no approval could be obtained: {why}");
            return Verdict::Deny(Refusal {
                api: grant.api.clone(),
                ..Refusal::forbidden(grant.subject, "approval_unavailable", "approvals", reason)
            });
        }
    };
    let by = approval.decided_by.as_deref().unwrap_or("nobody");
    let channel = approval.channel.as_deref().unwrap_or("unknown");
    let rule = format!(
        "approval {} ({:?} by {by} via {channel})",
        approval.id, approval.state
    );
    if approval.enforced == Some(Enforcement::Allow) {
        grant.rules.push(rule);
        grant.next = Next::Resolve;
        return Verdict::Allow(grant);
    }
    let reason = match approval.state {
        ApprovalState::TimedOut => {
            "escalated; nobody answered in time and the default action is deny".to_owned()
        }
        ApprovalState::Pending => "escalated; the approval is still pending".to_owned(),
        _ => format!("escalated; {by} denied it via {channel}"),
    };
    Verdict::Deny(Refusal {
        api: grant.api.clone(),
        ..Refusal::forbidden(grant.subject, "approval_denied", &rule, reason)
    })
}

/// The first `ingress.allow` rule from `asked.from` whose path and methods admit the request.
fn ingress(sandbox: &Sandbox, asked: &IngressRequest<'_>) -> Verdict {
    let subject = Subject {
        kind: "ingress",
        action: "ingress.http",
        resource: format!("{} {}", asked.method, asked.path.path()),
    };
    let method = policy_method(asked.method);
    let rules = &sandbox.record.policy.network.ingress.allow;
    let admits = rules.iter().enumerate().skip(asked.from).find(|(_, rule)| {
        rule.path.matches(asked.path)
            && (rule.methods.is_empty()
                || method.is_some_and(|m| rule.methods.iter().any(|r| r.value == m)))
    });
    match admits {
        Some((index, rule)) => {
            let named = format!("ingress.allow[{index}] ({})", rule.source.value);
            Verdict::Allow(Grant::new(subject, vec![named], Next::ConfirmSource(index)))
        }
        None => {
            let reason = format!(
                "no ingress.allow rule admits {} from {}",
                subject.resource, asked.client
            );
            Verdict::Deny(Refusal::forbidden(
                subject,
                "ingress_denied",
                "default deny",
                reason,
            ))
        }
    }
}

fn then(mut grant: Grant, fact: Fact) -> Verdict {
    match fact {
        Fact::Head(Err(found)) => Verdict::Deny(Refusal::pii(
            grant.subject,
            found.reason,
            Some(found.classification),
        )),
        Fact::Head(Ok(())) if grant.scan_body => {
            grant.next = Next::ScanBody;
            Verdict::Allow(grant)
        }
        Fact::Head(Ok(())) => after_content(grant),
        Fact::Body(BodyVerdict::Block {
            reason,
            classification,
        }) => Verdict::Deny(Refusal::pii(grant.subject, reason, classification)),
        Fact::Body(BodyVerdict::Pass { classification, .. }) => {
            grant.classification = Some(classification);
            grant.body_unread = false;
            after_content(grant)
        }
        Fact::BodyRead(Ok(())) => {
            grant.body_unread = false;
            after_content(grant)
        }
        Fact::BodyRead(Err(reason)) => Verdict::Deny(Refusal {
            api: grant.api.clone(),
            ..Refusal::forbidden(grant.subject, "action_undecided", "decision", reason)
        }),
        Fact::Evaluated(decision) => evaluated(grant, decision),
        Fact::Answered(answer) => answered(grant, answer),
        Fact::Address(Ok(address)) => {
            grant.next = Next::Connect(address);
            Verdict::Allow(grant)
        }
        Fact::Address(Err(error)) => Verdict::Deny(unresolved(grant.subject, error)),
    }
}

/// No address to dial: a refused class is the policy's refusal; no answer is the network's.
fn unresolved(subject: Subject, error: ResolveError) -> Refusal {
    let reason = error.to_string();
    match error {
        ResolveError::Refused { .. } => {
            Refusal::forbidden(subject, "address_refused", "addresses", reason)
        }
        // A relay's refusal answers no client: its audit names the address check either way.
        _ if subject.is_relay() => {
            Refusal::forbidden(subject, "address_refused", "addresses", reason)
        }
        ResolveError::NotFound { .. } | ResolveError::Lookup { .. } => Refusal::new(
            subject,
            StatusCode::BAD_GATEWAY,
            "upstream_unreachable",
            "resolver",
            reason,
        ),
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::time::Duration;

    use bytes::Bytes;
    use hyper::header::{HeaderMap, HeaderValue};
    use openshell_policy::wire::Sensitivity;
    use openshell_policy::{BYPASS_SPELLINGS, PolicySet};

    use super::*;
    use crate::body_scan::BodyScanner;
    use crate::config::ResolverSettings;
    use crate::head_scan::scan_head;
    use crate::resolver::Resolver;
    use crate::sandbox::SandboxRecord;

    fn sandbox(tls_decrypt: bool, scan_for_pii: bool) -> Sandbox {
        let text = format!(
            "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: agent
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [crm.*]
    deniedAPIs: [admin.*]
---
networkPolicy:
  name: agent
  egress:
    allow:
      - domain: api.hubspot.com
        methods: [GET]
      - domain: \"*.example.test\"
      - domain: smtp.company.com
        ports: [587]
    deny:
      - domain: evil.example.test
      - domain: \"*\"
  ingress:
    allow:
      - source: webhook.example.test
        path: /api/v1/events
        methods: [POST]
      - source: \"*.hooks.example.test\"
        path: /api/v1/events
  inspection:
    tlsDecrypt: {tls_decrypt}
    scanForPII: {scan_for_pii}
---
apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata:
  name: apis
spec:
  apis:
    crm.read:
      - methods: [GET, HEAD]
        host: crm.example.test
        path: /api/v1/customers/**
    admin.users.list:
      - methods: [GET]
        host: crm.example.test
        path: /admin/users
"
        );
        let set = PolicySet::parse("agent.yaml", &text).unwrap();
        let record = SandboxRecord {
            container_id: "c1".to_owned(),
            interface: "osh000000000000".to_owned(),
            sandbox_ip: Ipv4Addr::new(10, 200, 0, 2),
            policy: openshell_policy::egress_policy(&set),
            record: None,
            registered_at: chrono::Utc::now(),
        };
        let connections = Arc::new(tokio::sync::Semaphore::new(1));
        Sandbox::compile(record, &[80, 443], None, connections).unwrap()
    }

    fn head<'a>(method: &'a Method, host: &'a str, target: &'a str) -> RequestHead<'a> {
        RequestHead {
            tls: true,
            host,
            port: 443,
            method,
            target,
            has_body: false,
        }
    }

    fn allowed(verdict: Verdict) -> Grant {
        match verdict {
            Verdict::Allow(grant) => grant,
            Verdict::Deny(refusal) => panic!("refused: {refusal:?}"),
        }
    }

    fn refused(verdict: Verdict) -> Refusal {
        match verdict {
            Verdict::Deny(refusal) => refusal,
            Verdict::Allow(grant) => panic!("allowed: {grant:?}"),
        }
    }

    /// Where the engine's resolver would dial `address`, for a name with that one answer.
    fn answer(host: &str, address: &str) -> Fact {
        let resolver = Resolver::new(
            &ResolverSettings {
                system: false,
                hosts: Default::default(),
            },
            Vec::new(),
        )
        .unwrap();
        let address: IpAddr = address.parse().unwrap();
        Fact::Address(resolver.check(host, address).map(|()| address))
    }

    #[test]
    fn requests_are_decided_by_host_port_and_method() {
        let sandbox = sandbox(true, false);
        let get = Method::GET;
        let grant = allowed(decide(
            &sandbox,
            Seen::Request(head(&get, "api.hubspot.com", "/v1/deals?limit=5")),
        ));
        assert_eq!(grant.rules, ["egress.allow[0] (api.hubspot.com)"]);
        assert_eq!(grant.next, Next::Resolve);
        assert_eq!(
            grant.subject,
            Subject {
                kind: "https",
                action: "egress.http",
                resource: "GET https://api.hubspot.com:443/v1/deals".to_owned(),
            }
        );
        assert_eq!(grant.action(), "egress.http");
        let post = Method::POST;
        let refusal = refused(decide(
            &sandbox,
            Seen::Request(head(&post, "api.hubspot.com", "/v1/deals")),
        ));
        assert_eq!(
            (refusal.status, refusal.error, refusal.rule.as_str()),
            (
                StatusCode::FORBIDDEN,
                "egress_denied",
                "egress.allow[0] (api.hubspot.com)"
            )
        );
        assert!(
            refusal.reason.starts_with("method not allowed"),
            "{refusal:?}"
        );
        let mut other_port = head(&get, "api.hubspot.com", "/");
        other_port.port = 8443;
        let refusal = refused(decide(&sandbox, Seen::Request(other_port)));
        assert!(
            refusal.reason.starts_with("port not allowed"),
            "{refusal:?}"
        );
        let refusal = refused(decide(
            &sandbox,
            Seen::Request(head(&get, "example.com", "/")),
        ));
        assert_eq!(refusal.rule, "default deny");
        let refusal = refused(decide(
            &sandbox,
            Seen::Request(head(&get, "203.0.113.10", "/")),
        ));
        assert_eq!(
            (refusal.rule.as_str(), refusal.reason.as_str()),
            (
                "default deny",
                "\"203.0.113.10\" is not a host name: rules name hosts, not addresses"
            )
        );
        let mut smtp = head(&post, "smtp.company.com", "/");
        smtp.port = 587;
        assert!(matches!(
            decide(&sandbox, Seen::Request(smtp)),
            Verdict::Allow(_)
        ));
    }

    #[test]
    fn a_deny_rule_wins_however_the_host_is_reached() {
        let sandbox = sandbox(true, false);
        let get = Method::GET;
        let denied = "egress.deny[0] (evil.example.test)";
        let request = Seen::Request(head(&get, "evil.example.test", "/"));
        let connect = Seen::Connect {
            host: "evil.example.test",
            port: 443,
        };
        let redirected = Seen::Redirected {
            destination: SocketAddrV4::new(Ipv4Addr::new(10, 201, 0, 7), 443),
            host: Some("evil.example.test"),
        };
        let opaque = Seen::Opaque {
            host: "evil.example.test",
            port: 443,
        };
        for seen in [request, connect, redirected, opaque] {
            let refusal = refused(decide(&sandbox, seen));
            assert_eq!(refusal.rule, denied);
            assert_eq!(refusal.reason, format!("denied by {denied}"));
        }
        // The wildcard it carves out of still allows its other hosts.
        assert!(matches!(
            decide(
                &sandbox,
                Seen::Request(head(&get, "other.example.test", "/"))
            ),
            Verdict::Allow(_)
        ));
    }

    #[test]
    fn api_permissions_go_through_the_catalog_and_deny_wins() {
        let sandbox = sandbox(true, false);
        let get = Method::GET;
        let refusal = refused(decide(
            &sandbox,
            Seen::Request(head(&get, "crm.example.test", "/admin/users")),
        ));
        assert_eq!(
            (refusal.error, refusal.rule.as_str(), refusal.api.as_deref()),
            (
                "api_denied",
                "deniedAPIs: admin.*",
                Some("admin.users.list")
            )
        );
        assert_eq!(refusal.action(), "admin.users.list");
        assert_eq!(
            refusal.reason,
            "admin.users.list is refused by deniedAPIs: admin.*"
        );
        let grant = allowed(decide(
            &sandbox,
            Seen::Request(head(&get, "crm.example.test", "/api/v1/customers/42")),
        ));
        assert_eq!(
            grant.rules,
            ["egress.allow[1] (*.example.test)", "allowedAPIs: crm.*"]
        );
        assert_eq!(grant.action(), "crm.read");
        let grant = allowed(decide(
            &sandbox,
            Seen::Request(head(&get, "crm.example.test", "/health")),
        ));
        assert_eq!(grant.api, None);
        assert_eq!(grant.rules, ["egress.allow[1] (*.example.test)"]);
    }

    #[test]
    fn every_bypass_spelling_is_refused_or_denied() {
        let sandbox = sandbox(true, false);
        let get = Method::GET;
        for (spelling, normal) in BYPASS_SPELLINGS {
            let refusal = refused(decide(
                &sandbox,
                Seen::Request(head(&get, "crm.example.test", spelling)),
            ));
            match normal {
                Some(normal) => {
                    assert_eq!(refusal.rule, "deniedAPIs: admin.*", "{spelling}");
                    assert_eq!(
                        refusal.subject.resource,
                        format!("GET https://crm.example.test:443{normal}")
                    );
                }
                None => {
                    assert_eq!(
                        (refusal.error, refusal.rule.as_str()),
                        ("path_refused", "request path"),
                        "{spelling}"
                    );
                    assert_eq!(refusal.subject.resource, "GET https://crm.example.test:443");
                }
            }
        }
    }

    #[tokio::test]
    async fn pii_in_the_query_headers_or_body_is_blocked() {
        let scanning = sandbox(true, true);
        let scanner = BodyScanner {
            max_bytes: 4096,
            timeout: Duration::from_secs(5),
            block_at: Sensitivity::Restricted,
        };
        let post = Method::POST;
        let ask = |target, has_body| {
            let mut head = head(&post, "crm.example.test", target);
            head.has_body = has_body;
            decide(&scanning, Seen::Request(head))
        };
        let no_headers = HeaderMap::new();
        // The query string.
        let grant = allowed(ask("/notes?ssn=536-22-8726", false));
        assert_eq!(grant.next, Next::ScanHead);
        let query = grant.path.as_ref().and_then(|path| path.query());
        let found = scan_head(query, &no_headers, scanner.block_at);
        let refusal = refused(decide(&scanning, Seen::Then(grant, Fact::Head(found))));
        assert_eq!(
            (refusal.error, refusal.rule.as_str()),
            ("pii_blocked", "inspection.scanForPII")
        );
        assert!(refusal.reason.starts_with("query string"), "{refusal:?}");
        assert!(!refusal.reason.contains("8726"));
        assert_eq!(
            refusal.classification.map(|c| c.sensitivity),
            Some(Sensitivity::Restricted)
        );
        // A header value.
        let grant = allowed(ask("/notes", false));
        let mut headers = HeaderMap::new();
        let card = HeaderValue::from_static("card 4111 1111 1111 1111");
        headers.insert("x-note", card);
        let found = scan_head(None, &headers, scanner.block_at);
        let refusal = refused(decide(&scanning, Seen::Then(grant, Fact::Head(found))));
        assert!(refusal.reason.starts_with("header x-note"), "{refusal:?}");
        // The body, scanned only after a clean head.
        let clean = || Fact::Head(scan_head(None, &no_headers, scanner.block_at));
        let grant = allowed(decide(
            &scanning,
            Seen::Then(allowed(ask("/notes", true)), clean()),
        ));
        assert_eq!(grant.next, Next::ScanBody);
        let body = Bytes::from_static(b"{\"note\":\"card 4111 1111 1111 1111\"}");
        let verdict = scanner.classify(body, Duration::from_secs(5)).await;
        let refusal = refused(decide(&scanning, Seen::Then(grant, Fact::Body(verdict))));
        assert_eq!(refusal.error, "pii_blocked");
        assert!(refusal.reason.starts_with("body classified"), "{refusal:?}");
        let grant = allowed(decide(
            &scanning,
            Seen::Then(allowed(ask("/notes", true)), clean()),
        ));
        let body = Bytes::from_static(b"{\"status\":\"resolved\"}");
        let verdict = scanner.classify(body, Duration::from_secs(5)).await;
        let grant = allowed(decide(&scanning, Seen::Then(grant, Fact::Body(verdict))));
        assert_eq!(grant.next, Next::Resolve);
        assert!(grant.classification.is_some());
        // Without a body, or without scanForPII, nothing more is scanned.
        let grant = allowed(decide(
            &scanning,
            Seen::Then(allowed(ask("/notes", false)), clean()),
        ));
        assert_eq!(grant.next, Next::Resolve);
        let unscanned = sandbox(true, false);
        let mut with_body = head(&post, "crm.example.test", "/notes?ssn=536-22-8726");
        with_body.has_body = true;
        let grant = allowed(decide(&unscanned, Seen::Request(with_body)));
        assert_eq!(grant.next, Next::Resolve);
    }

    #[test]
    fn internal_address_classes_are_refused() {
        let sandbox = sandbox(true, false);
        let get = Method::GET;
        let request = || {
            allowed(decide(
                &sandbox,
                Seen::Request(head(&get, "x.example.test", "/")),
            ))
        };
        for (address, class) in [
            ("10.1.2.3", "private"),
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "metadata"),
            ("::ffff:127.0.0.1", "loopback"),
        ] {
            let fact = answer("x.example.test", address);
            let refusal = refused(decide(&sandbox, Seen::Then(request(), fact)));
            assert_eq!(
                (refusal.status, refusal.error, refusal.rule.as_str()),
                (StatusCode::FORBIDDEN, "address_refused", "addresses")
            );
            assert!(
                refusal.reason.contains(&format!("a {class} address")),
                "{refusal:?}"
            );
        }
        let grant = allowed(decide(
            &sandbox,
            Seen::Then(request(), answer("x.example.test", "203.0.113.10")),
        ));
        assert_eq!(grant.next, Next::Connect("203.0.113.10".parse().unwrap()));
        // No answer: the network's failure for a client; the address check for a relay.
        let missing = || {
            Fact::Address(Err(ResolveError::NotFound {
                host: "x.example.test".to_owned(),
            }))
        };
        let refusal = refused(decide(&sandbox, Seen::Then(request(), missing())));
        assert_eq!(
            (refusal.status, refusal.error, refusal.rule.as_str()),
            (StatusCode::BAD_GATEWAY, "upstream_unreachable", "resolver")
        );
        let relay = allowed(decide(
            &sandbox,
            Seen::Opaque {
                host: "x.example.test",
                port: 443,
            },
        ));
        let refusal = refused(decide(&sandbox, Seen::Then(relay, missing())));
        assert_eq!(refusal.rule, "addresses");
        // Acting on a grant can still fail: every rule that allowed it is named.
        let refusal = request().failed("connection refused".to_owned());
        assert_eq!(
            (refusal.status, refusal.rule.as_str()),
            (StatusCode::BAD_GATEWAY, "egress.allow[1] (*.example.test)")
        );
    }

    #[test]
    fn tunnels_unseen_inside_need_rules_without_method_limits_and_no_api() {
        let opaque = sandbox(false, false);
        let decrypting = sandbox(true, false);
        let connect = |host| Seen::Connect { host, port: 443 };
        let refusal = refused(decide(&opaque, connect("api.hubspot.com")));
        assert!(refusal.reason.contains("tlsDecrypt: true"), "{refusal:?}");
        let refusal = refused(decide(&opaque, connect("crm.example.test")));
        assert_eq!(
            (refusal.error, refusal.rule.as_str()),
            ("api_denied", "permissions")
        );
        let grant = allowed(decide(&opaque, connect("other.example.test")));
        assert_eq!(
            (grant.subject.action, grant.next),
            ("egress.connect", Next::Resolve)
        );
        // Decrypted, each request inside is decided: the host and port are enough.
        let grant = allowed(decide(&decrypting, connect("api.hubspot.com")));
        assert_eq!(grant.rules, ["egress.allow[0] (api.hubspot.com)"]);
        let refusal = refused(decide(&decrypting, connect("203.0.113.10")));
        assert_eq!(refusal.rule, "default deny");
    }

    #[test]
    fn redirected_connections_and_client_hellos() {
        let opaque = sandbox(false, false);
        let decrypting = sandbox(true, false);
        let destination = SocketAddrV4::new(Ipv4Addr::new(203, 0, 113, 10), 443);
        let refusal = refused(decide(
            &decrypting,
            Seen::Redirected {
                destination,
                host: None,
            },
        ));
        assert_eq!(
            (refusal.rule.as_str(), refusal.subject.resource.as_str()),
            ("default deny", "203.0.113.10:443")
        );
        let grant = allowed(decide(
            &opaque,
            Seen::Redirected {
                destination,
                host: Some("api.hubspot.com"),
            },
        ));
        assert_eq!(grant.next, Next::Tunnel);
        let hello = |server_name| Seen::ClientHello {
            host: "api.hubspot.com",
            port: 443,
            server_name,
        };
        let refusal = refused(decide(&decrypting, hello(Ok(Some("evil.example.test")))));
        assert_eq!(
            (refusal.rule.as_str(), refusal.reason.as_str()),
            (
                "tls",
                "TLS server name evil.example.test does not match the destination api.hubspot.com"
            )
        );
        let refusal = refused(decide(
            &decrypting,
            hello(Err("bad ClientHello".to_owned())),
        ));
        assert_eq!(refusal.subject.action, "egress.tls");
        let grant = allowed(decide(&decrypting, hello(Ok(Some("api.hubspot.com")))));
        assert_eq!(grant.next, Next::Intercept);
        // Not decrypted: relayed only as an uninspected tunnel may be.
        let refusal = refused(decide(&opaque, hello(Ok(None))));
        assert!(refusal.reason.contains("tlsDecrypt: true"), "{refusal:?}");
    }

    #[test]
    fn ingress_rules_admit_by_path_and_method_then_by_source() {
        let sandbox = sandbox(true, false);
        let events = RequestPath::parse("/api/v1/events").unwrap();
        let client: IpAddr = "198.51.100.7".parse().unwrap();
        let ask = |method, path, from| {
            let asked = IngressRequest {
                method,
                path,
                client,
                from,
            };
            decide(&sandbox, Seen::Ingress(asked))
        };
        let grant = allowed(ask(&Method::POST, &events, 0));
        assert_eq!(grant.next, Next::ConfirmSource(0));
        assert_eq!(grant.rules, ["ingress.allow[0] (webhook.example.test)"]);
        assert_eq!(
            grant.subject,
            Subject {
                kind: "ingress",
                action: "ingress.http",
                resource: "POST /api/v1/events".to_owned(),
            }
        );
        // The client was not the first rule's source: the next rule is asked about.
        let grant = allowed(ask(&Method::POST, &events, 1));
        assert_eq!(grant.next, Next::ConfirmSource(1));
        // The first rule admits POST only.
        let grant = allowed(ask(&Method::GET, &events, 0));
        assert_eq!(grant.next, Next::ConfirmSource(1));
        let refusal = refused(ask(&Method::POST, &events, 2));
        assert_eq!(
            (
                refusal.error,
                refusal.rule.as_str(),
                refusal.reason.as_str()
            ),
            (
                "ingress_denied",
                "default deny",
                "no ingress.allow rule admits POST /api/v1/events from 198.51.100.7"
            )
        );
        let other = RequestPath::parse("/admin").unwrap();
        assert!(matches!(ask(&Method::POST, &other, 0), Verdict::Deny(_)));
    }

    /// The test sandbox registered with its compiled record: catalogued calls are decided in
    /// line.
    fn deciding_sandbox() -> Sandbox {
        let plain = sandbox(true, false);
        let mut record = plain.record.clone();
        record.record = Some(
            openshell_policy::compile_default(
                "agent.yaml",
                "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {name: agent}\nspec: {}\n",
            )
            .unwrap(),
        );
        let connections = Arc::new(tokio::sync::Semaphore::new(1));
        Sandbox::compile(record, &[80, 443], None, connections).unwrap()
    }

    fn decision(outcome: Outcome) -> Decision {
        Decision {
            outcome,
            enforced: if outcome == Outcome::Allow {
                Enforcement::Allow
            } else {
                Enforcement::Deny
            },
            reasons: vec!["payment.process above-100-usd".to_owned()],
            policies: vec!["approval-0".to_owned()],
            classification: None,
            latency_us: 12,
        }
    }

    fn approval(state: ApprovalState, enforced: Enforcement) -> Approval {
        let now = chrono::Utc::now();
        Approval {
            id: "a1".to_owned(),
            request: openshell_policy::wire::ApprovalRequest {
                container_id: "c1".to_owned(),
                policy: "agent".to_owned(),
                policy_digest: "sha256:00".to_owned(),
                origin: openshell_policy::wire::ApprovalOrigin::Egress,
                action: "crm.read".to_owned(),
                resource: None,
                destination: None,
                amount: None,
                currency: None,
                reason: String::new(),
                rules: Vec::new(),
                channels: Vec::new(),
                timeout_ms: 1000,
                default_action: Enforcement::Deny,
            },
            state,
            enforced: Some(enforced),
            created_at: now,
            expires_at: now,
            decided_at: Some(now),
            decided_by: Some("alice".to_owned()),
            channel: Some("cli".to_owned()),
            note: None,
        }
    }

    #[test]
    fn catalogued_calls_are_decided_in_line_after_their_body_arrives() {
        let sandbox = deciding_sandbox();
        let get = Method::GET;
        // Without a record, nothing is decided in line.
        let plain = allowed(decide(
            &sandbox_plain(),
            Seen::Request(head(&get, "crm.example.test", "/api/v1/customers/7")),
        ));
        assert_eq!(plain.next, Next::Resolve);
        // With one: a call without a body is decided at once; one with a body after it arrives.
        let grant = allowed(decide(
            &sandbox,
            Seen::Request(head(&get, "crm.example.test", "/api/v1/customers/7")),
        ));
        assert_eq!(
            (grant.next, grant.api.as_deref()),
            (Next::Evaluate, Some("crm.read"))
        );
        let mut with_body = head(&get, "crm.example.test", "/api/v1/customers/7");
        with_body.has_body = true;
        let grant = allowed(decide(&sandbox, Seen::Request(with_body)));
        assert_eq!(grant.next, Next::ReadBody);
        let grant = allowed(decide(&sandbox, Seen::Then(grant, Fact::BodyRead(Ok(())))));
        assert_eq!(grant.next, Next::Evaluate);
        // A request the catalog does not name is left to the rules.
        let grant = allowed(decide(
            &sandbox,
            Seen::Request(head(&get, "tickets.example.test", "/")),
        ));
        assert_eq!((grant.next, grant.api), (Next::Resolve, None));
        // A body that cannot be received is not guessed at.
        let mut with_body = head(&get, "crm.example.test", "/api/v1/customers/7");
        with_body.has_body = true;
        let grant = allowed(decide(&sandbox, Seen::Request(with_body)));
        let refusal = refused(decide(
            &sandbox,
            Seen::Then(grant, Fact::BodyRead(Err("too big".to_owned()))),
        ));
        assert_eq!(refusal.error, "action_undecided");
    }

    fn sandbox_plain() -> Sandbox {
        sandbox(true, false)
    }

    #[test]
    fn in_line_verdicts_forward_refuse_or_hold() {
        let sandbox = deciding_sandbox();
        let get = Method::GET;
        let ask = || {
            allowed(decide(
                &sandbox,
                Seen::Request(head(&get, "crm.example.test", "/api/v1/customers/7")),
            ))
        };
        let grant = allowed(decide(
            &sandbox,
            Seen::Then(ask(), Fact::Evaluated(decision(Outcome::Allow))),
        ));
        assert_eq!(grant.next, Next::Resolve);
        assert!(grant.rules.contains(&"decision: approval-0".to_owned()));

        let refusal = refused(decide(
            &sandbox,
            Seen::Then(ask(), Fact::Evaluated(decision(Outcome::Deny))),
        ));
        assert_eq!(
            (refusal.error, refusal.rule.as_str(), refusal.api.as_deref()),
            ("action_denied", "decision: approval-0", Some("crm.read"))
        );

        let held = allowed(decide(
            &sandbox,
            Seen::Then(ask(), Fact::Evaluated(decision(Outcome::Escalate))),
        ));
        assert_eq!(held.next, Next::AskApproval);
        assert!(held.decision.is_some());
        let approved = approval(ApprovalState::Approved, Enforcement::Allow);
        let grant = allowed(decide(
            &sandbox,
            Seen::Then(held, Fact::Answered(Ok(Box::new(approved)))),
        ));
        assert_eq!(grant.next, Next::Resolve);
        assert!(
            grant.rules.iter().any(|r| r.contains("by alice via cli")),
            "{:?}",
            grant.rules
        );

        let held = || {
            allowed(decide(
                &sandbox,
                Seen::Then(ask(), Fact::Evaluated(decision(Outcome::Escalate))),
            ))
        };
        let denied = approval(ApprovalState::Denied, Enforcement::Deny);
        let refusal = refused(decide(
            &sandbox,
            Seen::Then(held(), Fact::Answered(Ok(Box::new(denied)))),
        ));
        assert_eq!(refusal.error, "approval_denied");
        assert!(
            refusal.reason.contains("alice denied it via cli"),
            "{}",
            refusal.reason
        );
        let timed_out = approval(ApprovalState::TimedOut, Enforcement::Deny);
        let refusal = refused(decide(
            &sandbox,
            Seen::Then(held(), Fact::Answered(Ok(Box::new(timed_out)))),
        ));
        assert!(
            refusal.reason.contains("nobody answered in time"),
            "{}",
            refusal.reason
        );
        // A timeout the policy resolves to allow lets it through.
        let allowed_by_default = approval(ApprovalState::TimedOut, Enforcement::Allow);
        let grant = allowed(decide(
            &sandbox,
            Seen::Then(held(), Fact::Answered(Ok(Box::new(allowed_by_default)))),
        ));
        assert_eq!(grant.next, Next::Resolve);
        let refusal = refused(decide(
            &sandbox,
            Seen::Then(held(), Fact::Answered(Err("queue unreachable".to_owned()))),
        ));
        assert_eq!(refusal.error, "approval_unavailable");
    }
}
