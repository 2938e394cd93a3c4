//! Classification latency of the embedded engine on one core, in process: every action of the
//! corpus (`corpus/agent-actions.jsonl`) as an integration sends it (name, destination, the
//! task text as `data`), classified in turn for `BENCH_SECONDS` (default 3); prints p50, p99
//! and p99.9 per classification, and the same for the facts alone (the text's signals).
//!
//! `cargo bench -p nemotron-service --bench classify`

use std::time::{Duration, Instant};

use nemotron_service::destination::DestinationAnalyzer;
use nemotron_service::facts::ActionFacts;
use nemotron_service::intent::EmbeddedEngine;
use openshell_classifier::Classifier;
use openshell_policy::wire::ActionRequest;
use serde_json::{Value, json};

const CORPUS: &str = include_str!("../corpus/agent-actions.jsonl");

fn requests() -> Vec<ActionRequest> {
    CORPUS
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let row: Value = serde_json::from_str(l).expect("corpus rows are JSON");
            ActionRequest {
                action: row["action"].as_str().unwrap_or_default().to_owned(),
                destination: row["destination"].as_str().map(str::to_owned),
                amount: row["amount"].as_f64(),
                data: Some(json!({ "text": row["text"] })),
                ..ActionRequest::default()
            }
        })
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

fn measure(
    label: &str,
    requests: &[ActionRequest],
    seconds: u64,
    mut f: impl FnMut(&ActionRequest),
) {
    let mut latencies = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        for r in requests {
            let started = Instant::now();
            f(r);
            latencies.push(started.elapsed());
        }
    }
    latencies.sort_unstable();
    println!(
        "{label:<34} n={:<8} p50={:>8.1?}  p99={:>8.1?}  p99.9={:>8.1?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
    );
}

fn main() {
    let seconds = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let destinations =
        DestinationAnalyzer::new(&["company.com".into()]).with_home_countries(&["GB".into()]);
    let engine = EmbeddedEngine::new(Classifier::default(), destinations.clone(), None);
    let requests = requests();
    // Compile the detectors before timing.
    for r in &requests {
        std::hint::black_box(engine.classify(r));
    }
    measure("facts (text signals)", &requests, seconds, |r| {
        std::hint::black_box(ActionFacts::derive(r, &destinations));
    });
    measure(
        "classification (embedded engine)",
        &requests,
        seconds,
        |r| {
            std::hint::black_box(engine.classify(r));
        },
    );
}
