//! Prometheus metrics served at the admin socket's `/metrics`.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of a decision.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `http`, `connect`, `tls`, `tcp`, `dns`.
    pub kind: &'static str,
    /// `allow` or `deny`.
    pub decision: &'static str,
}

/// Labels of a rate-limit refusal.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RateLimitLabels {
    /// `dns` or `http`.
    pub kind: &'static str,
}

/// The engine's metrics.
pub struct Metrics {
    registry: Registry,
    /// Decisions by kind and outcome.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Time to decide a request (rules, API permissions, body scan, resolution), seconds.
    pub decision_seconds: Histogram,
    /// Client connections open now.
    pub open_connections: Gauge,
    /// Connections refused: unknown source address or over the per-sandbox limit.
    pub refused_connections: Counter,
    /// Upstream connections that failed.
    pub upstream_errors: Counter,
    /// Registered sandboxes.
    pub sandboxes: Gauge,
    /// DNS queries and requests refused by a sandbox's rate limit.
    pub rate_limited: Family<RateLimitLabels, Counter>,
    /// Audit events dropped because a destination's spool was full (set when rendered).
    pub audit_dropped: Gauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric under the `openshell_egress` prefix.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("openshell_egress");
        let decisions = Family::<DecisionLabels, Counter>::default();
        registry.register("decisions", "Egress decisions", decisions.clone());
        let decision_seconds = Histogram::new(exponential_buckets(0.000_01, 2.0, 20));
        registry.register(
            "decision_seconds",
            "Time to decide one request",
            decision_seconds.clone(),
        );
        let open_connections = Gauge::default();
        registry.register(
            "open_connections",
            "Client connections open",
            open_connections.clone(),
        );
        let refused_connections = Counter::default();
        registry.register(
            "refused_connections",
            "Client connections refused before any request",
            refused_connections.clone(),
        );
        let upstream_errors = Counter::default();
        registry.register(
            "upstream_errors",
            "Upstream connections that failed",
            upstream_errors.clone(),
        );
        let sandboxes = Gauge::default();
        registry.register("sandboxes", "Registered sandboxes", sandboxes.clone());
        let rate_limited = Family::<RateLimitLabels, Counter>::default();
        registry.register(
            "rate_limited",
            "DNS queries and requests refused by a sandbox's rate limit",
            rate_limited.clone(),
        );
        let audit_dropped = Gauge::default();
        registry.register(
            "audit_dropped_events",
            "Audit events dropped because a destination's spool was at its byte cap",
            audit_dropped.clone(),
        );
        Metrics {
            registry,
            decisions,
            decision_seconds,
            open_connections,
            refused_connections,
            upstream_errors,
            sandboxes,
            rate_limited,
            audit_dropped,
        }
    }

    /// Counts one rate-limit refusal.
    pub fn rate_limited(&self, kind: &'static str) {
        self.rate_limited
            .get_or_create(&RateLimitLabels { kind })
            .inc();
    }

    /// Counts one decision.
    pub fn decision(&self, kind: &'static str, allowed: bool) {
        let decision = if allowed { "allow" } else { "deny" };
        self.decisions
            .get_or_create(&DecisionLabels { kind, decision })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut text = String::new();
        // Writing into a String cannot fail.
        let _ = encode(&mut text, &self.registry);
        text
    }
}
