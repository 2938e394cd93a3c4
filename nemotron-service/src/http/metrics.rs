//! Prometheus metrics of the service.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// Labels of HTTP request metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    /// The route pattern (`/v1/evaluate`).
    pub route: String,
    /// The status code.
    pub status: u16,
}

/// Labels of decision metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DecisionLabels {
    /// `action` or `admission`.
    pub kind: String,
    /// `allow`, `deny` or `escalate`.
    pub outcome: String,
}

/// Labels of classification metrics.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct EngineLabels {
    /// `embedded`, `model:<name>`, or `fallback`.
    pub engine: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

fn latency_histogram() -> Histogram {
    // 10 µs … ~0.3 s
    Histogram::new(exponential_buckets(0.000_01, 2.0, 16))
}

/// The service's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by route and status.
    pub requests: Family<RouteLabels, Counter>,
    /// HTTP request latency by route and status, seconds.
    pub request_seconds: HistogramFamily<RouteLabels>,
    /// Decisions by kind and outcome.
    pub decisions: Family<DecisionLabels, Counter>,
    /// Decision latency inside the engine, seconds.
    pub decision_seconds: HistogramFamily<DecisionLabels>,
    /// Classifications by engine.
    pub classifications: Family<EngineLabels, Counter>,
    /// Containers registered now.
    pub registered: Gauge<i64, AtomicI64>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("nemotron");
        let requests = Family::<RouteLabels, Counter>::default();
        let request_seconds = HistogramFamily::<RouteLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let decisions = Family::<DecisionLabels, Counter>::default();
        let decision_seconds = HistogramFamily::<DecisionLabels>::new_with_constructor(
            latency_histogram as fn() -> Histogram,
        );
        let classifications = Family::<EngineLabels, Counter>::default();
        let registered = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "http_requests",
            "HTTP requests by route and status",
            requests.clone(),
        );
        registry.register(
            "http_request_seconds",
            "HTTP request latency",
            request_seconds.clone(),
        );
        registry.register(
            "decisions",
            "Policy decisions by kind and outcome",
            decisions.clone(),
        );
        registry.register(
            "decision_seconds",
            "Decision latency in the engine",
            decision_seconds.clone(),
        );
        registry.register(
            "classifications",
            "Intent classifications by engine",
            classifications.clone(),
        );
        registry.register(
            "registered_containers",
            "Containers registered",
            registered.clone(),
        );
        Metrics {
            registry,
            requests,
            request_seconds,
            decisions,
            decision_seconds,
            classifications,
            registered,
        }
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
