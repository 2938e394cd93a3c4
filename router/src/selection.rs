//! Choosing among the allowed endpoints of a route by what the router has observed of them and
//! by the policy's cost preference.
//!
//! # Observations
//! Per endpoint (shared by every policy naming the same definition, like its health): an
//! exponentially weighted moving average (weight [`ALPHA`] for the newest sample) of the time
//! until the response head arrived, and of the error rate — an answer with a 5xx status, a
//! timeout or a failure after the request was sent count as errors. Connection failures do not:
//! the circuit breaker ([`crate::health`]) already keeps such an endpoint out. Observations
//! older than [`FORGET_AFTER`] are forgotten, so an endpoint that was slow or failing is tried
//! again.
//!
//! # Scoring
//! Each allowed endpoint of the route gets a score in milliseconds, lower is better:
//! `latency weight × (latency + 1000 ms × error rate) + cost weight × 1000 ms × cost / the
//! highest cost among the candidates` — an error weighs a second, the most expensive endpoint
//! a second. Weights by `preference`: `balanced` 1 and 1, `latency` 1 and 0, `cost` ¼ and 1.
//! An endpoint not yet measured counts as 0 ms without errors, so it is tried when the measured
//! ones are clearly worse; one without `cost` counts as free.
//!
//! # Route order
//! Endpoints scoring within [`MARGIN_MS`] or [`MARGIN_FRACTION`] of the best count as equal,
//! and the first of them in route order wins: with nothing measured and no costs, the first
//! allowed endpoint is chosen as it always was, and an endpoint listed earlier keeps its traffic
//! until another is measurably better. The rest follow in the same way (the failover order).

use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use openshell_policy::Preference;

/// The weight of the newest sample in the moving averages.
pub const ALPHA: f64 = 0.3;
/// Observations older than this are forgotten.
pub const FORGET_AFTER: Duration = Duration::from_secs(60);
/// Scores within this many milliseconds of the best count as equal.
pub const MARGIN_MS: f64 = 100.0;
/// Scores within this fraction of the best count as equal.
pub const MARGIN_FRACTION: f64 = 0.25;
/// What an error rate of 1 (and the highest cost) weighs, in milliseconds.
const PENALTY_MS: f64 = 1000.0;

/// What the router has observed of one endpoint.
#[derive(Debug, Default)]
pub struct Observed {
    state: Mutex<Option<Averages>>,
}

#[derive(Debug, Clone, Copy)]
struct Averages {
    latency_ms: f64,
    error_rate: f64,
    samples: u64,
    at: Instant,
}

/// A snapshot of an endpoint's observations.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Observation {
    /// Moving average of the time to the response head, ms; `None`: not measured (or forgotten).
    pub latency_ms: Option<f64>,
    /// Moving average of errors, 0 to 1.
    pub error_rate: f64,
}

impl Observed {
    /// Records one exchange: the time until its head (or until it failed) and whether it erred.
    pub fn record(&self, latency: Duration, error: bool) {
        self.record_at(latency, error, Instant::now());
    }

    fn record_at(&self, latency: Duration, error: bool, now: Instant) {
        let latency_ms = latency.as_secs_f64() * 1000.0;
        let error_rate = if error { 1.0 } else { 0.0 };
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = Some(match *state {
            Some(old) if now.saturating_duration_since(old.at) < FORGET_AFTER => Averages {
                latency_ms: old.latency_ms + ALPHA * (latency_ms - old.latency_ms),
                error_rate: old.error_rate + ALPHA * (error_rate - old.error_rate),
                samples: old.samples + 1,
                at: now,
            },
            _ => Averages {
                latency_ms,
                error_rate,
                samples: 1,
                at: now,
            },
        });
    }

    /// The current observation.
    pub fn view(&self) -> Observation {
        self.view_at(Instant::now())
    }

    fn view_at(&self, now: Instant) -> Observation {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            Some(a) if now.saturating_duration_since(a.at) < FORGET_AFTER => Observation {
                latency_ms: Some(a.latency_ms),
                error_rate: a.error_rate,
            },
            _ => Observation::default(),
        }
    }

    /// Exchanges recorded since the observations were last forgotten.
    pub fn samples(&self) -> u64 {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        state.map_or(0, |a| a.samples)
    }
}

/// One allowed endpoint as scoring sees it, in route order.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    /// The endpoint's name.
    pub name: String,
    /// What has been observed.
    pub observation: Observation,
    /// The policy's price per million tokens.
    pub cost: Option<f64>,
}

/// The candidates in the order to try them, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Indexes into the inputs, best first.
    pub order: Vec<usize>,
    /// Each candidate's score inputs and why the first won, without content.
    pub explanation: String,
}

fn weights(preference: Preference) -> (f64, f64) {
    match preference {
        Preference::Balanced => (1.0, 1.0),
        Preference::Latency => (1.0, 0.0),
        Preference::Cost => (0.25, 1.0),
    }
}

/// Ranks `inputs` (in route order) under `preference`.
pub fn rank(preference: Preference, inputs: &[Input]) -> Ranking {
    let (latency_weight, cost_weight) = weights(preference);
    let highest_cost = inputs.iter().filter_map(|i| i.cost).fold(0.0_f64, f64::max);
    let scores: Vec<f64> = inputs
        .iter()
        .map(|input| {
            let observed = input.observation.latency_ms.unwrap_or(0.0)
                + PENALTY_MS * input.observation.error_rate;
            let cost = match input.cost {
                Some(cost) if highest_cost > 0.0 => PENALTY_MS * cost / highest_cost,
                _ => 0.0,
            };
            latency_weight * observed + cost_weight * cost
        })
        .collect();
    let mut remaining: Vec<usize> = (0..inputs.len()).collect();
    let mut order = Vec::with_capacity(inputs.len());
    let mut why = String::new();
    while !remaining.is_empty() {
        let best = remaining
            .iter()
            .map(|&i| scores[i])
            .fold(f64::INFINITY, f64::min);
        let bound = best + MARGIN_MS.max(best * MARGIN_FRACTION);
        let position = remaining
            .iter()
            .position(|&i| scores[i] <= bound)
            .unwrap_or(0);
        let chosen = remaining.remove(position);
        if order.is_empty() {
            why = if scores[chosen] <= best {
                "the best score".to_owned()
            } else {
                format!(
                    "first in route order within {MARGIN_MS} ms or {}% of the best score \
                     ({best:.1})",
                    MARGIN_FRACTION * 100.0
                )
            };
        }
        order.push(chosen);
    }
    let mut explanation = format!("preference {}:", preference_name(preference));
    for (index, input) in inputs.iter().enumerate() {
        let _ = write!(
            explanation,
            " {} (latency {}, errors {:.0}%, cost {}, score {:.1});",
            input.name,
            input
                .observation
                .latency_ms
                .map_or_else(|| "unmeasured".to_owned(), |ms| format!("{ms:.1} ms")),
            input.observation.error_rate * 100.0,
            input
                .cost
                .map_or_else(|| "none".to_owned(), |cost| cost.to_string()),
            scores[index]
        );
    }
    if let Some(&first) = order.first() {
        let _ = write!(explanation, " chose {}: {why}", inputs[first].name);
    }
    Ranking { order, explanation }
}

fn preference_name(preference: Preference) -> &'static str {
    match preference {
        Preference::Balanced => "balanced",
        Preference::Latency => "latency",
        Preference::Cost => "cost",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(name: &str, latency_ms: Option<f64>, error_rate: f64, cost: Option<f64>) -> Input {
        Input {
            name: name.to_owned(),
            observation: Observation {
                latency_ms,
                error_rate,
            },
            cost,
        }
    }

    #[test]
    fn nothing_measured_keeps_route_order() {
        let inputs = [
            input("a", None, 0.0, None),
            input("b", None, 0.0, None),
            input("c", None, 0.0, None),
        ];
        for preference in [Preference::Balanced, Preference::Latency, Preference::Cost] {
            let ranking = rank(preference, &inputs);
            assert_eq!(ranking.order, [0, 1, 2]);
            assert!(ranking.explanation.ends_with("chose a: the best score"));
        }
    }

    #[test]
    fn route_order_decides_between_close_scores() {
        // b is faster, but within the margin: a, listed first, keeps the traffic.
        let ranking = rank(
            Preference::Latency,
            &[
                input("a", Some(40.0), 0.0, None),
                input("b", Some(5.0), 0.0, None),
            ],
        );
        assert_eq!(ranking.order, [0, 1]);
        assert!(
            ranking.explanation.contains(
                "chose a: first in route order within 100 ms or 25% of the best score (5.0)"
            ),
            "{}",
            ranking.explanation
        );
        // 25% of a large best score is the wider margin.
        let ranking = rank(
            Preference::Latency,
            &[
                input("a", Some(1200.0), 0.0, None),
                input("b", Some(1000.0), 0.0, None),
            ],
        );
        assert_eq!(ranking.order, [0, 1]);
    }

    #[test]
    fn slow_or_failing_endpoints_lose() {
        let slow = rank(
            Preference::Balanced,
            &[
                input("a", Some(300.0), 0.0, None),
                input("b", Some(20.0), 0.0, None),
                input("c", None, 0.0, None),
            ],
        );
        // c is unmeasured (0), b within the margin of it and listed first.
        assert_eq!(slow.order, [1, 2, 0]);
        assert_eq!(
            slow.explanation,
            "preference balanced: a (latency 300.0 ms, errors 0%, cost none, score 300.0); \
             b (latency 20.0 ms, errors 0%, cost none, score 20.0); c (latency unmeasured, \
             errors 0%, cost none, score 0.0); chose b: first in route order within 100 ms or \
             25% of the best score (0.0)"
        );
        let failing = rank(
            Preference::Latency,
            &[
                input("a", Some(2.0), 0.3, None),
                input("b", Some(80.0), 0.0, None),
            ],
        );
        assert_eq!(failing.order, [1, 0]);
        assert!(
            failing
                .explanation
                .contains("a (latency 2.0 ms, errors 30%")
        );
        assert!(failing.explanation.ends_with("chose b: the best score"));
    }

    #[test]
    fn cost_weighs_by_preference() {
        let inputs = [
            input("dear", Some(10.0), 0.0, Some(10.0)),
            input("cheap", Some(200.0), 0.0, Some(0.5)),
        ];
        // Latency alone: dear is faster.
        assert_eq!(rank(Preference::Latency, &inputs).order, [0, 1]);
        // dear: 10 + 1000 = 1010; cheap: 200 + 50 = 250.
        let balanced = rank(Preference::Balanced, &inputs);
        assert_eq!(balanced.order, [1, 0]);
        assert!(balanced.explanation.contains("cost 10, score 1010.0"));
        // Cost: dear 2.5 + 1000, cheap 50 + 50.
        assert_eq!(rank(Preference::Cost, &inputs).order, [1, 0]);
        // A fast free endpoint without cost beats both under balanced.
        let free = [input("free", Some(30.0), 0.0, None), inputs[1].clone()];
        assert_eq!(rank(Preference::Balanced, &free).order, [0, 1]);
    }

    #[test]
    fn moving_averages_and_forgetting() {
        let observed = Observed::default();
        let start = Instant::now();
        assert_eq!(observed.view_at(start), Observation::default());
        observed.record_at(Duration::from_millis(100), false, start);
        observed.record_at(Duration::from_millis(200), true, start);
        let view = observed.view_at(start);
        assert!((view.latency_ms.unwrap() - 130.0).abs() < 1e-9, "{view:?}");
        assert!((view.error_rate - 0.3).abs() < 1e-9, "{view:?}");
        assert_eq!(observed.samples(), 2);
        // A minute later the endpoint is unmeasured again, and a new sample starts afresh.
        let later = start + FORGET_AFTER;
        assert_eq!(observed.view_at(later), Observation::default());
        observed.record_at(Duration::from_millis(10), false, later);
        assert_eq!(
            observed.view_at(later),
            Observation {
                latency_ms: Some(10.0),
                error_rate: 0.0
            }
        );
        assert_eq!(observed.samples(), 1);
    }
}
