//! Classification latency of the embedded engine on one core, in process: every action of the
//! corpus (`corpus/agent-actions.jsonl`) as an integration sends it (name, destination, the
//! task text as `data`), classified in turn for `BENCH_SECONDS` (default 3); prints p50, p99
//! and p99.9 per classification (wall clock, and the process's CPU time, which leaves out
//! waiting for a core on a shared machine), and the same for the facts alone (the text's
//! signals). With `OPENSHELL_MINILM_DIR` set (feature `embeddings`), also the tokenizer alone,
//! the sentence embedding alone (over every text, and of the longest text again and again),
//! how many actions leave the axes undecided (the model runs only for those), and the
//! classification with the semantic signal fused, over every action and over those where the
//! model runs; on one thread (`RAYON_NUM_THREADS=1`, which the benchmark requires).
//!
//! `RAYON_NUM_THREADS=1 OPENSHELL_MINILM_DIR=DIR cargo bench --profile ci --workspace --bench classify`

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

/// The CPU time the process has used, all threads: on a shared machine, what a call costs
/// apart from the time it waited for a core.
fn process_cpu_time() -> Duration {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `t` is a valid timespec for the duration of the call.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut t) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_PROCESS_CPUTIME_ID)");
    Duration::new(t.tv_sec as u64, t.tv_nsec as u32)
}

fn measure(
    label: &str,
    requests: &[ActionRequest],
    seconds: u64,
    mut f: impl FnMut(&ActionRequest),
) {
    let mut latencies = Vec::new();
    let mut cpu = Vec::new();
    let until = Instant::now() + Duration::from_secs(seconds);
    while Instant::now() < until {
        for r in requests {
            let started = Instant::now();
            let cpu_started = process_cpu_time();
            f(r);
            cpu.push(process_cpu_time().saturating_sub(cpu_started));
            latencies.push(started.elapsed());
        }
    }
    latencies.sort_unstable();
    cpu.sort_unstable();
    println!(
        "{label:<34} n={:<8} p50={:>8.1?}  p99={:>8.1?}  p99.9={:>8.1?}  cpu p50={:>8.1?}  cpu p99={:>8.1?}",
        latencies.len(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        percentile(&cpu, 0.50),
        percentile(&cpu, 0.99),
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
    #[cfg(feature = "embeddings")]
    if let Some(dir) = std::env::var_os("OPENSHELL_MINILM_DIR") {
        semantic(&engine, &requests, seconds, std::path::Path::new(&dir));
    }
}

/// The embedding alone and the classification with the semantic signal, on one thread.
#[cfg(feature = "embeddings")]
fn semantic(
    engine: &EmbeddedEngine,
    requests: &[ActionRequest],
    seconds: u64,
    dir: &std::path::Path,
) {
    use nemotron_service::intent::semantic::{MAX_TOKENS, SemanticModel, text_of};

    assert_eq!(
        std::env::var("RAYON_NUM_THREADS").as_deref(),
        Ok("1"),
        "run with RAYON_NUM_THREADS=1: the figures are for one core"
    );
    let model = std::sync::Arc::new(SemanticModel::load(dir).expect("the embedding model loads"));
    let with_model = engine.clone().with_semantic(std::sync::Arc::clone(&model));
    let texts: Vec<String> = requests
        .iter()
        .map(|r| r.data.as_ref().map(text_of).unwrap_or_default())
        .collect();
    let tokens: Vec<usize> = texts
        .iter()
        .map(|t| {
            model
                .encoder()
                .token_count(t)
                .expect("the corpus tokenizes")
        })
        .collect();
    println!(
        "tokens the model reads per text: mean {:.1}, max {}; {} of {} texts reach the cap of {MAX_TOKENS} (the rest is read by the detectors only)",
        tokens.iter().sum::<usize>() as f64 / tokens.len() as f64,
        tokens.iter().max().copied().unwrap_or_default(),
        tokens.iter().filter(|&&t| t >= MAX_TOKENS).count(),
        tokens.len()
    );
    let mut next = texts.iter().cycle();
    measure("tokenization alone", requests, seconds, |_| {
        let text = next.next().expect("cycle");
        std::hint::black_box(model.encoder().token_count(text).expect("tokenizes"));
    });
    let mut next = texts.iter().cycle();
    measure("sentence embedding (MiniLM)", requests, seconds, |_| {
        let text = next.next().expect("cycle");
        std::hint::black_box(model.encoder().embed(text).expect("embeds"));
    });
    let longest = (0..texts.len())
        .max_by_key(|&i| tokens[i])
        .map(|i| texts[i].clone())
        .unwrap_or_default();
    measure(
        "  the longest text, again and again",
        requests,
        seconds,
        |_| {
            std::hint::black_box(model.encoder().embed(&longest).expect("embeds"));
        },
    );
    let undecided: Vec<ActionRequest> = requests
        .iter()
        .filter(|r| with_model.runs_semantic(r))
        .cloned()
        .collect();
    println!(
        "the model runs on {} of {} actions ({:.1}%): the others' axes are decided by the detectors",
        undecided.len(),
        requests.len(),
        100.0 * undecided.len() as f64 / requests.len() as f64
    );
    measure("classification (with embeddings)", requests, seconds, |r| {
        std::hint::black_box(with_model.classify(r));
    });
    if !undecided.is_empty() {
        measure("  where the model runs", &undecided, seconds, |r| {
            std::hint::black_box(with_model.classify(r));
        });
    }
}
