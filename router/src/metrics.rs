//! Prometheus metrics (`openshell_router_*`).

use std::sync::atomic::{AtomicI64, AtomicU64};

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::selection::Observation;

/// Labels of routing decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `public`, `internal`, `confidential`, `restricted`.
    pub sensitivity: String,
    /// The endpoint the request went to, or `none`.
    pub endpoint: String,
    /// `routed`, `denied` (no compliant endpoint), `unavailable` (none reachable), `failed`
    /// (the endpoint failed after the request was sent).
    pub outcome: String,
}

/// Labels of HTTP requests.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    /// The route pattern.
    pub route: String,
    /// The status answered.
    pub status: u16,
}

/// Labels of upstream failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct UpstreamLabels {
    /// The endpoint.
    pub endpoint: String,
    /// `connect`, `timeout`, `exchange`.
    pub kind: String,
}

/// Labels of redactions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RedactionLabels {
    /// The detector whose values were replaced (`email`).
    pub detector: String,
}

/// Labels of a per-endpoint gauge.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EndpointLabels {
    /// The endpoint.
    pub endpoint: String,
}

/// The router's metrics.
pub struct Metrics {
    registry: Registry,
    /// Routing decisions.
    pub decisions: Family<DecisionLabels, Counter>,
    /// HTTP requests by route and status.
    pub requests: Family<RequestLabels, Counter>,
    /// Time the router adds before a request leaves for its endpoint: identity, parsing,
    /// classification, routing, audit (seconds).
    pub added_seconds: Histogram,
    /// Upstream failures.
    pub upstream_errors: Family<UpstreamLabels, Counter>,
    /// Requests moved to another allowed endpoint after a connection failure.
    pub failovers: Counter,
    /// Registered callers.
    pub callers: Gauge<i64, AtomicI64>,
    /// Distinct values replaced by placeholders, by detector.
    pub redactions: Family<RedactionLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("openshell_router");
        let decisions = Family::<DecisionLabels, Counter>::default();
        let requests = Family::<RequestLabels, Counter>::default();
        // 5 µs … ~0.3 s
        let added_seconds = Histogram::new(exponential_buckets(0.000_005, 2.0, 16));
        let upstream_errors = Family::<UpstreamLabels, Counter>::default();
        let failovers = Counter::default();
        let callers = Gauge::<i64, AtomicI64>::default();
        let redactions = Family::<RedactionLabels, Counter>::default();
        registry.register(
            "decisions",
            "Routing decisions by sensitivity, endpoint and outcome",
            decisions.clone(),
        );
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "added_seconds",
            "Time the router adds before a request leaves for its endpoint",
            added_seconds.clone(),
        );
        registry.register(
            "upstream_errors",
            "Upstream failures by endpoint and kind",
            upstream_errors.clone(),
        );
        registry.register(
            "failovers",
            "Requests moved to another allowed endpoint after a connection failure",
            failovers.clone(),
        );
        registry.register("callers", "Registered callers", callers.clone());
        registry.register(
            "redactions",
            "Distinct values replaced by placeholders before a request left, by detector",
            redactions.clone(),
        );
        Metrics {
            registry,
            decisions,
            requests,
            added_seconds,
            upstream_errors,
            failovers,
            callers,
            redactions,
        }
    }

    /// The text exposition, with the cache and endpoint-health figures read at this moment.
    pub fn render(&self, live: &LiveFigures) -> String {
        let mut registry = Registry::with_prefix("openshell_router");
        registry.register(
            "classification_cache_hits",
            "Classifications answered by the cache",
            ConstCounter::new(live.cache_hits),
        );
        registry.register(
            "classification_cache_misses",
            "Classifications the cache could not answer",
            ConstCounter::new(live.cache_misses),
        );
        registry.register(
            "classification_cache_entries",
            "Entries in the classification cache",
            ConstGauge::new(live.cache_entries as i64),
        );
        registry.register(
            "classifier_runs",
            "Times the detectors ran",
            ConstCounter::new(live.classifier_runs),
        );
        let up = Family::<EndpointLabels, Gauge<i64, AtomicI64>>::default();
        for (endpoint, is_up) in &live.endpoints_up {
            up.get_or_create(&EndpointLabels {
                endpoint: endpoint.clone(),
            })
            .set(i64::from(*is_up));
        }
        registry.register(
            "endpoint_up",
            "Whether an endpoint is up (1) or down (0)",
            up,
        );
        let latency = Family::<EndpointLabels, Gauge<f64, AtomicU64>>::default();
        let errors = Family::<EndpointLabels, Gauge<f64, AtomicU64>>::default();
        for (endpoint, observation) in &live.endpoints_observed {
            let labels = EndpointLabels {
                endpoint: endpoint.clone(),
            };
            if let Some(ms) = observation.latency_ms {
                latency.get_or_create(&labels).set(ms / 1000.0);
                errors.get_or_create(&labels).set(observation.error_rate);
            }
        }
        registry.register(
            "endpoint_latency_seconds",
            "Moving average of an endpoint's time to the response head",
            latency,
        );
        registry.register(
            "endpoint_error_ratio",
            "Moving average of an endpoint's errors (5xx, timeouts, failed exchanges)",
            errors,
        );
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        let mut live_text = String::new();
        encode(&mut live_text, &registry).expect("writing to a String cannot fail");
        // One exposition: drop the first part's terminator.
        out.truncate(
            out.trim_end()
                .strip_suffix("# EOF")
                .map_or(out.len(), str::len),
        );
        out.push_str(&live_text);
        out
    }
}

/// Figures read when metrics are rendered.
#[derive(Debug, Default)]
pub struct LiveFigures {
    /// Cache hits.
    pub cache_hits: u64,
    /// Cache misses.
    pub cache_misses: u64,
    /// Entries in the cache.
    pub cache_entries: usize,
    /// Detector runs.
    pub classifier_runs: u64,
    /// `(endpoint, up)`.
    pub endpoints_up: Vec<(String, bool)>,
    /// `(endpoint, observation)`.
    pub endpoints_observed: Vec<(String, Observation)>,
}
