//! What the in-line decision adds to a proxied API call: the action built from the request, the
//! intent classified and the compiled record decided by the embedded decision engine, audited
//! to a file, as the proxy's `Evaluate` step does it (`Actions::decide`, off the async
//! threads), and the engine call alone (`PolicyService::evaluate_under`); and, as controls, two
//! fixed computations as long as the engine's median, timed the same way: the host's own tail
//! for work that waits on nothing (arithmetic in registers) and for work that waits on its
//! caches (a pointer chase that stays in L2).
//!
//! `cargo bench --profile ci --workspace --bench inline_decision` (or the bench profile).
//! Options (environment): `BENCH_CALLS` (default 20000).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use hyper::Method;
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_egress::actions::{self, Actions};
use openshell_egress::sandbox::{Sandbox, SandboxRecord};
use openshell_policy::node_config::NodeConfig;
use openshell_policy::{PolicySet, RequestPath};

/// The engine binary's allocator (`src/main.rs`), so the figures are the engine's.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

const POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: bench-inline
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [payment.process]
  auditLog:
    destination: file://@TRAIL@
---
networkPolicy:
  egress:
    allow:
      - domain: crm.example.test
---
apiVersion: openshell.nvidia.com/v1
kind: NaturalLanguagePolicy
metadata:
  name: bench-inline
spec:
  text: Agents may not access health data. Agents may not delete customer records.
---
apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata:
  name: bench-apis
spec:
  apis:
    payment.process:
      - methods: [POST]
        host: crm.example.test
        path: /api/v1/payments
        fields: {amount: /amount, currency: /currency, destination: /recipient}
---
approvalPolicy:
  triggers:
    - {action: payment.process, threshold: above-100-usd}
  channels: [slack]
  timeout: 15m
";

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Prints the percentiles of `samples` under `what`; returns the median.
fn report(what: &str, mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    let us = |d: Duration| d.as_secs_f64() * 1e6;
    println!(
        "{what:<44} p50 {:>6.1} µs   p90 {:>6.1} µs   p99 {:>6.1} µs   p99.9 {:>6.1} µs   ({} calls)",
        us(percentile(&samples, 0.50)),
        us(percentile(&samples, 0.90)),
        us(percentile(&samples, 0.99)),
        us(percentile(&samples, 0.999)),
        samples.len()
    );
    percentile(&samples, 0.50)
}

/// `rounds` rounds of integer arithmetic the compiler cannot skip.
fn fixed_work(rounds: u64) -> u64 {
    let mut x = std::hint::black_box(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..rounds {
        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
    }
    x
}

/// Timings of `work(units)`, `units` sized so that one call takes about `target`: the fastest
/// of twenty trials of `probe` units gives the cost of one, so that a slow moment of the host
/// while it is sized does not make the control shorter than the engine's median.
fn sized_samples(target: Duration, calls: usize, probe: u64, work: impl Fn(u64)) -> Vec<Duration> {
    let per_unit = (0..20)
        .map(|_| {
            let started = Instant::now();
            work(probe);
            started.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
        / probe as f64;
    let units = (target.as_secs_f64() / per_unit).max(1.0) as u64;
    (0..calls)
        .map(|_| {
            let started = Instant::now();
            work(units);
            started.elapsed()
        })
        .collect()
}

/// Timings of the same fixed work, sized to take about `target`: what this host's own jitter
/// (interrupts, a busy sibling core, the hypervisor) does to the percentiles of a call whose
/// work never varies, to read the engine's tail against.
fn fixed_work_samples(target: Duration, calls: usize) -> Vec<Duration> {
    sized_samples(target, calls, 100_000, |rounds| {
        std::hint::black_box(fixed_work(rounds));
    })
}

/// A single cycle through `len` slots in a shuffled order (Sattolo's algorithm, a fixed
/// xorshift seed): following it, every load depends on the one before and misses the
/// prefetcher, as a decision's lookups in its tables and automata do.
fn pointer_cycle(len: usize) -> Vec<usize> {
    let mut next: Vec<usize> = (0..len).collect();
    let mut state = 0x2545_f491_4f6c_dd1du64;
    for i in (1..len).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        next.swap(i, (state % i as u64) as usize);
    }
    next
}

/// `steps` loads along `cycle` from slot 0.
fn chase(cycle: &[usize], steps: u64) -> usize {
    let mut at = std::hint::black_box(0);
    for _ in 0..steps {
        at = cycle[at];
    }
    at
}

/// Timings of the same memory-bound work (a pointer chase through 256 KiB, which stays in
/// this host's L2), sized to take about `target`: the host's tail for work that waits on its
/// caches as the engine does, where the arithmetic control waits on nothing.
fn memory_work_samples(target: Duration, calls: usize) -> Vec<Duration> {
    let cycle = pointer_cycle(256 * 1024 / std::mem::size_of::<usize>());
    sized_samples(target, calls, 100_000, |steps| {
        std::hint::black_box(chase(&cycle, steps));
    })
}

fn sandbox(dir: &Path) -> Sandbox {
    let text = POLICY.replace("@TRAIL@", &dir.join("policy.jsonl").display().to_string());
    let set = PolicySet::parse("bench.yaml", &text).expect("bench policy");
    let record = openshell_policy::compile_default("bench.yaml", &text).expect("compile");
    let record = SandboxRecord {
        container_id: "bench-1".to_owned(),
        interface: "osh000000000000".to_owned(),
        sandbox_ip: "10.200.0.2".parse().unwrap(),
        policy: openshell_policy::egress_policy(&set),
        record: Some(record),
        registered_at: chrono::Utc::now(),
    };
    let connections = Arc::new(tokio::sync::Semaphore::new(1));
    Sandbox::compile(record, &[80, 443], None, connections).expect("sandbox")
}

fn main() {
    let calls: usize = std::env::var("BENCH_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let dir = tempfile::tempdir().expect("temp dir");
    let node_text = format!(
        "[audit]\ntrail = \"{0}/trail.jsonl\"\nspool_dir = \"{0}/spool\"\n\
         [policy]\nworkload_audit_destinations = [\"file://{0}/policy.jsonl\"]\n",
        dir.path().display()
    );
    let node = NodeConfig::parse(&node_text, Path::new("bench-node.toml")).expect("node config");
    let sandbox = sandbox(dir.path());
    let record = sandbox.record.record.clone().unwrap();
    let path = RequestPath::parse("/api/v1/payments").unwrap();
    let post = Method::POST;
    let body = Bytes::from_static(br#"{"amount": 45, "currency": "usd", "recipient": "acct-77"}"#);
    let seen = || actions::Seen {
        method: &post,
        host: "crm.example.test",
        path: &path,
        body: Some(&body),
    };

    let engine = PolicyService::for_admission(ServiceSettings::new(node.clone())).unwrap();
    let action = actions::action(
        "payment.process",
        &seen(),
        sandbox
            .apis
            .fields("payment.process", None, "crm.example.test", &path),
    );
    let first = engine
        .evaluate_under("bench-1", &record, &action)
        .expect("decide");
    println!(
        "a payment of 45 USD: {:?}; of 250 USD: {:?}",
        first.outcome,
        engine
            .evaluate_under(
                "bench-1",
                &record,
                &openshell_policy::wire::ActionRequest {
                    amount: Some(250.0),
                    ..action.clone()
                },
            )
            .unwrap()
            .outcome
    );
    let samples: Vec<Duration> = (0..calls)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(engine.evaluate_under("bench-1", &record, &action).unwrap());
            started.elapsed()
        })
        .collect();
    let engine_p50 = report("decision engine (evaluate_under)", samples);
    report(
        "control: fixed work as long as the engine's p50",
        fixed_work_samples(engine_p50, calls),
    );
    report(
        "control: memory-bound work, as long",
        memory_work_samples(engine_p50, calls),
    );

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let actions = Actions::for_node(&node).unwrap();
    let samples: Vec<Duration> = runtime.block_on(async {
        let mut samples = Vec::with_capacity(calls);
        for _ in 0..calls {
            let started = Instant::now();
            std::hint::black_box(actions.decide(&sandbox, "payment.process", seen()).await);
            samples.push(started.elapsed());
        }
        samples
    });
    report("the proxy's Evaluate step (Actions::decide)", samples);
}
