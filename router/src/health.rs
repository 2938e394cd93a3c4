//! Endpoint health: a circuit breaker fed by real requests and by probes.
//!
//! An endpoint whose connection (TCP or TLS) fails is skipped for a cool-off that doubles with
//! each consecutive failure (`[health] cooldown_ms` up to `max_cooldown_ms`); when it runs out,
//! the next request may try it again. Endpoints marked down are also probed in the background
//! (`GET <base>/models`; any HTTP answer counts as up), so one that recovers is used again
//! without a caller paying for the attempt.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::config::HealthSettings;

/// The health of one endpoint.
#[derive(Debug, Default)]
pub struct Health {
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    consecutive_failures: u32,
    retry_at: Option<Instant>,
    last_error: Option<String>,
}

/// A view of an endpoint's health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HealthView {
    /// No failure since the last success.
    pub up: bool,
    /// Consecutive failures.
    pub consecutive_failures: u32,
    /// The last failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// Milliseconds until requests try it again (0: now).
    pub retry_in_ms: u64,
}

impl Health {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a request may try the endpoint now: up, or its cool-off has run out.
    pub fn available(&self) -> bool {
        self.lock().retry_at.is_none_or(|t| Instant::now() >= t)
    }

    /// Whether the endpoint failed since its last success.
    pub fn is_down(&self) -> bool {
        self.lock().consecutive_failures > 0
    }

    /// A connection succeeded.
    pub fn succeeded(&self) {
        let mut state = self.lock();
        state.consecutive_failures = 0;
        state.retry_at = None;
        state.last_error = None;
    }

    /// A connection failed with `error`: skip the endpoint for the next cool-off.
    pub fn failed(&self, error: String, settings: &HealthSettings) {
        let mut state = self.lock();
        state.consecutive_failures = state.consecutive_failures.saturating_add(1);
        let doublings = (state.consecutive_failures - 1).min(20);
        let cooldown = settings
            .cooldown_ms
            .saturating_mul(1 << doublings)
            .min(settings.max_cooldown_ms);
        state.retry_at = Some(Instant::now() + Duration::from_millis(cooldown));
        state.last_error = Some(error);
    }

    /// The current state.
    pub fn view(&self) -> HealthView {
        let state = self.lock();
        let now = Instant::now();
        HealthView {
            up: state.consecutive_failures == 0,
            consecutive_failures: state.consecutive_failures,
            last_error: state.last_error.clone(),
            retry_in_ms: state
                .retry_at
                .map_or(0, |t| t.saturating_duration_since(now).as_millis() as u64),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_cool_off_and_double_until_success() {
        let settings = HealthSettings {
            cooldown_ms: 50,
            max_cooldown_ms: 150,
            probe_interval_ms: 1000,
        };
        let health = Health::default();
        assert!(health.available() && !health.is_down());
        health.failed("refused".into(), &settings);
        assert!(!health.available() && health.is_down());
        let view = health.view();
        assert!(!view.up && view.retry_in_ms > 0 && view.retry_in_ms <= 50);
        assert_eq!(view.last_error.as_deref(), Some("refused"));
        health.failed("refused".into(), &settings);
        assert!(health.view().retry_in_ms > 50);
        health.failed("refused".into(), &settings);
        health.failed("refused".into(), &settings);
        assert!(health.view().retry_in_ms <= 150, "capped");
        health.succeeded();
        assert!(health.available());
        assert_eq!(
            health.view(),
            HealthView {
                up: true,
                consecutive_failures: 0,
                last_error: None,
                retry_in_ms: 0
            }
        );
    }

    #[test]
    fn a_cooled_off_endpoint_may_be_tried_again() {
        let settings = HealthSettings {
            cooldown_ms: 1,
            max_cooldown_ms: 1,
            probe_interval_ms: 1000,
        };
        let health = Health::default();
        health.failed("reset".into(), &settings);
        std::thread::sleep(Duration::from_millis(5));
        assert!(health.available(), "half-open after the cool-off");
        assert!(health.is_down(), "still down until a success");
    }
}
