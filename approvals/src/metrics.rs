//! Prometheus metrics of the daemon: approvals pending, decisions by final state, and
//! notification deliveries that failed, by channel.

use std::sync::atomic::AtomicI64;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

/// Labels of decisions.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    /// `approved`, `denied` or `timed-out`.
    pub state: String,
}

/// Labels of notification failures.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct ChannelLabels {
    /// `slack`, `teams`, `pagerduty`, or a channel the node does not configure.
    pub channel: String,
}

/// The daemon's metrics and their registry.
pub struct Metrics {
    registry: Registry,
    /// Approvals waiting for a human now.
    pub pending: Gauge<i64, AtomicI64>,
    /// Approvals made final, by state.
    pub decisions: Family<StateLabels, Counter>,
    /// Notifications given up on (after their retries) or not sendable, by channel.
    pub notification_failures: Family<ChannelLabels, Counter>,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("openshell_approvals");
        let pending = Gauge::<i64, AtomicI64>::default();
        let decisions = Family::<StateLabels, Counter>::default();
        let notification_failures = Family::<ChannelLabels, Counter>::default();
        registry.register("pending", "Approvals waiting for a human", pending.clone());
        registry.register(
            "decisions",
            "Approvals made final, by state",
            decisions.clone(),
        );
        registry.register(
            "notification_failures",
            "Notifications that could not be delivered, by channel",
            notification_failures.clone(),
        );
        Metrics {
            registry,
            pending,
            decisions,
            notification_failures,
        }
    }

    /// Counts a notification failure on `channel`.
    pub fn notification_failed(&self, channel: &str) {
        self.notification_failures
            .get_or_create(&ChannelLabels {
                channel: channel.to_owned(),
            })
            .inc();
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        encode(&mut out, &self.registry).expect("writing to a String cannot fail");
        out
    }
}
