//! Per-sandbox rate limits, so one sandbox cannot starve the others of the engine: a token
//! bucket per sandbox address for DNS queries and one for HTTP requests (governor's GCRA,
//! `[limits] dns_queries_per_second`/`dns_burst`, `requests_per_second`/`request_burst`).
//! Over the limit, DNS is answered REFUSED and HTTP 429.
//!
//! Refusals are not audited one by one (a flood would flood the trail): they are counted per
//! sandbox and kind, and [`RateLimits::report`] (every second) records one `deny` event per
//! sandbox and kind with the count, as Envoy's local rate limiter reports through counters
//! rather than per-request logs.

use std::collections::HashMap;
use std::net::Ipv4Addr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::audit::{Decision, EgressAudit, Outcome};
use crate::config::Limits;
use crate::metrics::Metrics;
use crate::sandbox::Sandbox;

/// What is limited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Limited {
    /// DNS queries.
    Dns,
    /// HTTP requests and CONNECTs.
    Request,
}

impl Limited {
    /// The metrics label and the audit action's suffix.
    pub fn kind(self) -> &'static str {
        match self {
            Limited::Dns => "dns",
            Limited::Request => "http",
        }
    }
}

/// Refusals not yet reported for one sandbox and kind.
struct Pending {
    sandbox: Arc<Sandbox>,
    count: u64,
    since: Instant,
}

/// The engine's per-sandbox buckets and the refusals waiting to be reported.
pub struct RateLimits {
    dns: DefaultKeyedRateLimiter<Ipv4Addr>,
    requests: DefaultKeyedRateLimiter<Ipv4Addr>,
    /// The rules refusals are audited under.
    dns_rule: String,
    request_rule: String,
    pending: Mutex<HashMap<(Ipv4Addr, Limited), Pending>>,
}

fn quota(per_second: u32, burst: u32) -> Quota {
    // The configuration is checked (`EngineConfig::check`): neither is zero.
    let per_second = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

impl RateLimits {
    /// Buckets with the configured rates.
    pub fn new(limits: &Limits) -> RateLimits {
        RateLimits {
            dns: RateLimiter::keyed(quota(limits.dns_queries_per_second, limits.dns_burst)),
            requests: RateLimiter::keyed(quota(limits.requests_per_second, limits.request_burst)),
            dns_rule: format!(
                "limits.dns_queries_per_second ({}/s, burst {})",
                limits.dns_queries_per_second, limits.dns_burst
            ),
            request_rule: format!(
                "limits.requests_per_second ({}/s, burst {})",
                limits.requests_per_second, limits.request_burst
            ),
            pending: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token of `what` for `sandbox`; false (and the refusal counted, to be
    /// reported) when its bucket is empty.
    pub fn admit(&self, what: Limited, sandbox: &Arc<Sandbox>, metrics: &Metrics) -> bool {
        let source = sandbox.record.sandbox_ip;
        let bucket = match what {
            Limited::Dns => &self.dns,
            Limited::Request => &self.requests,
        };
        if bucket.check_key(&source).is_ok() {
            return true;
        }
        metrics.rate_limited(what.kind());
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .entry((source, what))
            .or_insert_with(|| Pending {
                sandbox: Arc::clone(sandbox),
                count: 0,
                since: Instant::now(),
            })
            .count += 1;
        false
    }

    fn rule(&self, what: Limited) -> &str {
        match what {
            Limited::Dns => &self.dns_rule,
            Limited::Request => &self.request_rule,
        }
    }

    /// Records one event per sandbox and kind for the refusals since the last report, and
    /// forgets buckets that are full again.
    pub fn report(&self, audit: &EgressAudit) {
        let drained: Vec<((Ipv4Addr, Limited), Pending)> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        for ((_, what), refused) in drained {
            let noun = match what {
                Limited::Dns => "DNS queries",
                Limited::Request => "requests",
            };
            audit.record(Decision {
                sandbox: &refused.sandbox,
                action: format!("egress.{}", what.kind()),
                resource: "(rate limit)".to_owned(),
                outcome: Outcome::Deny,
                rules: vec![self.rule(what).to_owned()],
                reason: format!(
                    "rate limited: {} {noun} refused in {} ms",
                    refused.count,
                    refused.since.elapsed().as_millis()
                ),
                latency: Duration::ZERO,
                classification: None,
                payload: None,
            });
        }
        self.dns.retain_recent();
        self.requests.retain_recent();
    }
}

/// Reports refusals every second until the task is dropped.
pub async fn report_every_second(limits: Arc<RateLimits>, audit: EgressAudit) {
    let mut interval = tokio::time::interval(Duration::from_secs(1));
    loop {
        interval.tick().await;
        limits.report(&audit);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::{EgressPolicy, SandboxRecord};
    use openshell_audit::{AuditHub, TrailQuery, read_trail};
    use openshell_policy::node_config::NodeConfig;

    fn sandbox(id: &str, ip: &str) -> Arc<Sandbox> {
        let policy: EgressPolicy = serde_json::from_str(r#"{"name":"p"}"#).unwrap();
        let record = SandboxRecord {
            container_id: id.to_owned(),
            interface: "osh000000000000".to_owned(),
            sandbox_ip: ip.parse().unwrap(),
            policy,
            record: None,
            registered_at: chrono::Utc::now(),
        };
        let connections = Arc::new(tokio::sync::Semaphore::new(1));
        Arc::new(Sandbox::compile(record, &[80, 443], None, connections).unwrap())
    }

    #[test]
    fn a_flood_from_one_sandbox_is_refused_counted_and_reported_once() {
        let limits = Limits {
            dns_queries_per_second: 1,
            dns_burst: 5,
            ..Limits::default()
        };
        let rates = RateLimits::new(&limits);
        let metrics = Metrics::new();
        let (noisy, quiet) = (
            sandbox("noisy", "10.200.0.2"),
            sandbox("quiet", "10.200.0.3"),
        );
        let admitted = (0..1000)
            .filter(|_| rates.admit(Limited::Dns, &noisy, &metrics))
            .count();
        assert!(
            (5..=6).contains(&admitted),
            "the burst, then refusals: {admitted}"
        );
        assert!(
            rates.admit(Limited::Dns, &quiet, &metrics),
            "another sandbox"
        );
        assert!(
            rates.admit(Limited::Request, &noisy, &metrics),
            "another kind"
        );
        assert!(
            metrics.render().contains(&format!(
                "rate_limited_total{{kind=\"dns\"}} {}",
                1000 - admitted
            )),
            "{}",
            metrics.render()
        );

        let dir = tempfile::tempdir().unwrap();
        let trail = dir.path().join("audit.jsonl");
        let mut node = NodeConfig::default();
        node.audit.trail = Some(trail.clone());
        node.audit.spool_dir = dir.path().join("spool");
        let hub = Arc::new(AuditHub::new(&node).unwrap());
        rates.report(&EgressAudit::new(Arc::clone(&hub)));
        rates.report(&EgressAudit::new(Arc::clone(&hub)));
        hub.flush(Duration::from_secs(5)).unwrap();
        let events = read_trail(&trail, &TrailQuery::default()).unwrap().events;
        assert_eq!(events.len(), 1, "one event for the whole flood: {events:?}");
        let event = &events[0];
        assert_eq!(event.container_id.as_deref(), Some("noisy"));
        assert_eq!(
            (event.action.as_str(), event.decision.as_str()),
            ("egress.dns", "deny")
        );
        assert!(
            event.reason.starts_with(&format!(
                "rate limited: {} DNS queries refused",
                1000 - admitted
            )),
            "{}",
            event.reason
        );
        assert_eq!(
            event.policies,
            ["limits.dns_queries_per_second (1/s, burst 5)"]
        );
    }
}
