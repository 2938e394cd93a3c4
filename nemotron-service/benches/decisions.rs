//! Decision latency over the unix socket, end to end through the real daemon.
//!
//! `cargo bench -p nemotron-service --bench decisions` starts `nemotron-service` (the embedded
//! engine, audit to a file and the node trail), registers the example customer-support policy and
//! measures:
//! 0. `GET /healthz` and `POST /v1/evaluate` one request at a time: the transport's floor and
//!    the unloaded decision latency, each with the daemon's CPU time per request, by thread
//!    (the request threads, the audit writers);
//! 1. `POST /v1/evaluate` at a fixed 5,000 requests/s (open loop over 16 keep-alive
//!    connections, each paced by its own thread; latency counted from each request's scheduled
//!    time, so queueing shows, and from its actual send);
//! 2. the most decisions/s 16 closed-loop connections get;
//! 3. `POST /v1/classify` with the model backend answering from its cache (a local
//!    chat-completions stand-in answers the first call), against the embedded engine;
//! 4. phase 0 again with the client and a new daemon pinned to one CPU: the request and its
//!    answer then pass between processes on the same CPU, where the other phases cross CPUs.
//!
//! The client runs on one thread (a current-thread runtime: each request and its connection's
//! I/O on the same thread, as a blocking client such as the hooks' would), so the figures are
//! the daemon's and the socket's, not hand-offs between the client's own threads.
//!
//! Options (environment): `BENCH_RATE` (default 5000), `BENCH_SECONDS` (default 5),
//! `BENCH_SERVER_THREADS` (the daemon's `--threads`, default one per CPU), `BENCH_AUDIT=0`
//! (no audit, neither the policy's destination nor the node's trail: what audit costs).

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::UnixStream;

struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_daemon(dir: &Path, name: &str, trail: bool, extra: &str) -> Daemon {
    let socket = dir.join(format!("{name}.sock"));
    let config = dir.join(format!("{name}.toml"));
    std::fs::write(
        &config,
        format!(
            "registry_dir = \"{0}/registry-{name}\"\n[audit]\nspool_dir = \"{0}/spool-{name}\"\n{1}{extra}",
            dir.display(),
            if trail { format!("trail = \"{}/trail-{name}.jsonl\"\n", dir.display()) } else { "trail = \"\"\n".to_owned() }
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_nemotron-service"));
    command.args([
        "--socket".as_ref(),
        socket.as_os_str(),
        "--config".as_ref(),
        config.as_os_str(),
    ]);
    if let Ok(threads) = std::env::var("BENCH_SERVER_THREADS") {
        command.args(["--threads", &threads]);
    }
    let child = command
        .stderr(Stdio::null())
        .spawn()
        .expect("start nemotron-service");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::os::unix::net::UnixStream::connect(&socket).is_err() {
        assert!(Instant::now() < deadline, "nemotron-service did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, socket }
}

async fn connect(socket: &Path) -> SendRequest<Full<Bytes>> {
    let stream = UnixStream::connect(socket).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    method: Method,
    path: &str,
    body: &Bytes,
) -> (u16, Bytes) {
    sender.ready().await.unwrap();
    let request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "bench")
        .header("content-type", "application/json")
        .body(Full::new(body.clone()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    (
        status,
        response.into_body().collect().await.unwrap().to_bytes(),
    )
}

/// CPU time each thread name of a process has run (`/proc/PID/task/*/schedstat`).
fn cpu_by_thread(pid: u32) -> BTreeMap<String, Duration> {
    let mut by = BTreeMap::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let name = std::fs::read_to_string(task.path().join("comm")).unwrap_or_default();
        if let Ok(stat) = std::fs::read_to_string(task.path().join("schedstat")) {
            let ns = stat
                .split(' ')
                .next()
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or(0);
            *by.entry(name.trim().to_owned()).or_insert(Duration::ZERO) += Duration::from_nanos(ns);
        }
    }
    by
}

/// Prints the daemon's CPU time per request between two readings, in all and by thread.
fn report_cpu(before: &BTreeMap<String, Duration>, after: &BTreeMap<String, Duration>, n: usize) {
    let spent: Vec<(&String, Duration)> = after
        .iter()
        .map(|(name, t)| {
            (
                name,
                t.saturating_sub(before.get(name).copied().unwrap_or_default()) / n as u32,
            )
        })
        .filter(|(_, t)| !t.is_zero())
        .collect();
    let total: Duration = spent.iter().map(|(_, t)| *t).sum();
    let threads: Vec<String> = spent
        .iter()
        .map(|(name, t)| format!("{name} {t:.1?}"))
        .collect();
    println!(
        "  daemon CPU per request: {total:.1?} ({})",
        threads.join(", ")
    );
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn report(label: &str, mut latencies: Vec<Duration>, elapsed: Duration) {
    latencies.sort();
    println!(
        "{label:<44} n={:<6} rate={:>8.0}/s  p50={:>9.1?}  p99={:>9.1?}  p99.9={:>9.1?}  max={:>9.1?}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        percentile(&latencies, 0.50),
        percentile(&latencies, 0.99),
        percentile(&latencies, 0.999),
        latencies[latencies.len() - 1],
    );
}

const CONNECTIONS: usize = 16;

/// Open-loop load at `rate`/s: one thread per connection, each with its own single-threaded
/// runtime, sleeping (with 1 µs timer slack) until each of its requests' scheduled times, so
/// pacing does not depend on an async timer's millisecond ticks. Returns latencies from the
/// scheduled time (queueing included) and from the actual send.
fn fixed_rate(
    socket: &Path,
    rate: u64,
    seconds: u64,
    body: Bytes,
) -> (Vec<Duration>, Vec<Duration>, Duration) {
    let total = rate * seconds;
    let interval = Duration::from_nanos(1_000_000_000 / rate);
    let start = Instant::now() + Duration::from_millis(100);
    let threads: Vec<_> = (0..CONNECTIONS as u64)
        .map(|k| {
            let socket = socket.to_owned();
            let body = body.clone();
            std::thread::spawn(move || {
                // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let mut sender = runtime.block_on(connect(&socket));
                let (mut scheduled_lat, mut sent_lat) = (Vec::new(), Vec::new());
                let mut i = k;
                while i < total {
                    let scheduled = start + interval * i as u32;
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = Instant::now();
                    let (status, _) =
                        runtime.block_on(send(&mut sender, Method::POST, "/v1/evaluate", &body));
                    assert_eq!(status, 200);
                    scheduled_lat.push(scheduled.elapsed());
                    sent_lat.push(sent.elapsed());
                    i += CONNECTIONS as u64;
                }
                (scheduled_lat, sent_lat)
            })
        })
        .collect();
    let (mut scheduled, mut sent) = (Vec::new(), Vec::new());
    for t in threads {
        let (a, b) = t.join().unwrap();
        scheduled.extend(a);
        sent.extend(b);
    }
    (scheduled, sent, start.elapsed())
}

async fn closed_loop(
    socket: &Path,
    seconds: u64,
    path: &'static str,
    body: Bytes,
) -> (Vec<Duration>, Duration) {
    let started = Instant::now();
    let end = started + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut sender = connect(socket).await;
        let body = body.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < end {
                let t = Instant::now();
                let (status, _) = send(&mut sender, Method::POST, path, &body).await;
                assert_eq!(status, 200);
                latencies.push(t.elapsed());
            }
            latencies
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    (all, started.elapsed())
}

async fn sequential(socket: &Path, n: usize, path: &str, body: Bytes) -> (Vec<Duration>, Duration) {
    let mut sender = connect(socket).await;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = send(&mut sender, Method::POST, path, &body).await;
        assert_eq!(status, 200);
        latencies.push(t.elapsed());
    }
    (latencies, started.elapsed())
}

async fn sequential_get(socket: &Path, n: usize, path: &str) -> (Vec<Duration>, Duration) {
    let mut sender = connect(socket).await;
    let started = Instant::now();
    let mut latencies = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let (status, _) = send(&mut sender, Method::GET, path, &Bytes::new()).await;
        assert_eq!(status, 200);
        latencies.push(t.elapsed());
    }
    (latencies, started.elapsed())
}

/// A chat-completions stand-in that answers every request with the same verdict.
fn model_stand_in() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0;
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 && line != "\r\n" {
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap();
                }
                line.clear();
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let verdict = json!({"sensitivity": "confidential", "reversibility": "partially-reversible", "scope": "single",
                "compliance": ["GDPR"], "data_types": ["personal"], "confidence": 0.9, "rationale": "customer record update"});
            let completion = json!({"choices": [{"message": {"role": "assistant", "content": verdict.to_string()}}]}).to_string();
            let _ = write!(
                conn,
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{completion}",
                completion.len()
            );
        }
    });
    url
}

fn main() {
    let rate: u64 = std::env::var("BENCH_RATE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5000);
    let seconds: u64 = std::env::var("BENCH_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();

    let audit_on = std::env::var("BENCH_AUDIT").map_or(true, |v| v != "0");
    let embedded = start_daemon(dir.path(), "embedded", audit_on, "");
    let audit = dir.path().join("policy-audit.jsonl");
    let registration = json!({
        "container_id": "bench-1", "bundle": "/tmp/bundle", "registered_at": "2026-11-24T10:00:00Z",
        "policy": openshell_policy::compile_default("customer-support.yaml", &format!(
            r#"apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata: {{name: customer-support-agent}}
spec:
  permissions:
    allowedAPIs: [crm.read, crm.update, ticket.create, ticket.resolve]
    deniedAPIs: ["admin.*", "billing.*", user.delete]
  auditLog: {{{}}}
---
apiVersion: openshell.nvidia.com/v1
kind: NaturalLanguagePolicy
metadata: {{name: rules}}
spec:
  text: Customer support agents may access customer records for active tickets only. They may not access financial data, modify account settings, or communicate with customers outside of the ticketing system. All PII must be redacted from internal logs.
---
apiVersion: openshell.nvidia.com/v1
kind: ApprovalPolicy
metadata: {{name: approvals}}
spec:
  triggers:
    - {{action: data.delete, threshold: always}}
    - {{action: payment.process, threshold: above-100-usd}}
  channels: [slack]
  timeout: 15m
  defaultAction: deny
"#,
            if audit_on {
                format!("enabled: true, destination: \"file://{}\"", audit.display())
            } else {
                "enabled: false".to_owned()
            }
        )).unwrap(),
    });
    let evaluate = Bytes::from(
        json!({"container_id": "bench-1", "action": {"action": "crm.update", "resource": "customer:4411",
            "attributes": {"ticket.status": "active"}, "data": {"email": "jane@example.com", "note": "prefers phone"}}})
        .to_string(),
    );
    let socket = Arc::new(embedded.socket.clone());
    let registration = Bytes::from(registration.to_string());
    runtime.block_on(async {
        register(&socket, &registration, &evaluate).await;

        let pid = embedded.child.id();
        let before = cpu_by_thread(pid);
        let (lat, elapsed) = sequential_get(&socket, 5000, "/healthz").await;
        let n = lat.len();
        report("healthz, sequential (transport floor)", lat, elapsed);
        report_cpu(&before, &cpu_by_thread(pid), n);
        let before = cpu_by_thread(pid);
        let (lat, elapsed) = sequential(&socket, 5000, "/v1/evaluate", evaluate.clone()).await;
        // The audit writers finish their last batch.
        std::thread::sleep(Duration::from_millis(300));
        let n = lat.len();
        report("evaluate, embedded, sequential", lat, elapsed);
        report_cpu(&before, &cpu_by_thread(pid), n);
        let fixed = {
            let (socket, body) = (Arc::clone(&socket), evaluate.clone());
            tokio::task::spawn_blocking(move || fixed_rate(&socket, rate, seconds, body)).await.unwrap()
        };
        report(&format!("evaluate, embedded, fixed {rate}/s, from schedule"), fixed.0, fixed.2);
        report(&format!("evaluate, embedded, fixed {rate}/s, from send"), fixed.1, fixed.2);
        let (lat, elapsed) = closed_loop(&socket, 3, "/v1/evaluate", evaluate.clone()).await;
        report("evaluate, embedded, max throughput", lat, elapsed);
        let classify = Bytes::from(
            json!({"action": "crm.update", "resource": "customer:4411", "data": {"email": "jane@example.com"}}).to_string(),
        );
        let (lat, elapsed) = sequential(&socket, 5000, "/v1/classify", classify.clone()).await;
        report("classify, embedded engine, sequential", lat, elapsed);

        let model = start_daemon(
            dir.path(),
            "model",
            audit_on,
            &format!("[model]\nendpoint = \"{}\"\nmodel = \"bench\"\ntimeout_ms = 2000\n", model_stand_in()),
        );
        let (lat, elapsed) = sequential(&model.socket, 1, "/v1/classify", classify.clone()).await;
        report("classify, model backend, first call (miss)", lat, elapsed);
        let (lat, elapsed) = sequential(&model.socket, 5000, "/v1/classify", classify.clone()).await;
        report("classify, model backend, cache hit", lat, elapsed);

        // The same sequential phases with the client and a new daemon on one CPU: what a
        // request and its answer cost when neither has to wake the other on another CPU.
        pin_to_current_cpu();
        let pinned = start_daemon(dir.path(), "pinned", audit_on, "");
        register(&pinned.socket, &registration, &evaluate).await;
        let pid = pinned.child.id();
        let before = cpu_by_thread(pid);
        let (lat, elapsed) = sequential_get(&pinned.socket, 5000, "/healthz").await;
        let n = lat.len();
        report("healthz, sequential, one CPU", lat, elapsed);
        report_cpu(&before, &cpu_by_thread(pid), n);
        let before = cpu_by_thread(pid);
        let (lat, elapsed) = sequential(&pinned.socket, 5000, "/v1/evaluate", evaluate.clone()).await;
        std::thread::sleep(Duration::from_millis(300));
        let n = lat.len();
        report("evaluate, embedded, sequential, one CPU", lat, elapsed);
        report_cpu(&before, &cpu_by_thread(pid), n);
    });
}

/// Registers the bench container with the daemon at `socket`, checks that `evaluate` is allowed,
/// and warms the daemon up.
async fn register(socket: &Path, registration: &Bytes, evaluate: &Bytes) {
    let mut s = connect(socket).await;
    let (status, body) = send(&mut s, Method::PUT, "/v1/containers/bench-1", registration).await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let (_, d) = send(&mut s, Method::POST, "/v1/evaluate", evaluate).await;
    let d: serde_json::Value = serde_json::from_slice(&d).unwrap();
    assert_eq!(d["outcome"], "allow", "{d}");
    closed_loop(socket, 1, "/v1/evaluate", evaluate.clone()).await;
}

/// Pins the calling thread, and so the processes it starts from now on, to the CPU it runs on.
fn pin_to_current_cpu() {
    // SAFETY: sched_getcpu reads nothing of ours; the set is a zeroed (empty) cpu_set_t with
    // one CPU added, which sched_setaffinity only reads.
    unsafe {
        let cpu = usize::try_from(libc::sched_getcpu()).expect("sched_getcpu");
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        assert_eq!(
            libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set),
            0,
            "sched_setaffinity: {}",
            std::io::Error::last_os_error()
        );
    }
}
