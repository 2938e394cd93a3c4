//! What the privacy router adds to a model call, end to end through the real daemon.
//!
//! `cargo bench -p openshell-router --bench routing` starts a stand-in model server (a
//! chat-completions endpoint answering a fixed 300-byte completion) and `openshell-router`
//! (audit to the node trail and the policy's file, one registered sandbox at 127.0.0.2, a
//! policy naming the stand-in as its local endpoint), then measures:
//! 1. one request at a time, alternating direct and through the router (keep-alive
//!    connections both ways): the unloaded added latency;
//! 2. a fixed request rate on each path, directly and through the router interleaved (open
//!    loop over `BENCH_CONNECTIONS` paced threads, each with a keep-alive connection both ways;
//!    latency from each request's scheduled time, so queueing shows, and from its send);
//! 3. in process, without HTTP: a classification answered by the cache (content extraction,
//!    keyed hash, LRU lookup), the whole routing decision on a cache hit (parse, extract,
//!    cache, plan), and a cache miss (the detectors run) for comparison.
//!
//! Every request carries the same ~700-byte conversation, so after the first one the router
//! answers classification from its cache (repeated contexts);
//! `BENCH_UNIQUE=1` makes every request's content different, so each one is classified.
//!
//! Options (environment): `BENCH_RATE` (default 1000), `BENCH_SECONDS` (default 5),
//! `BENCH_CONNECTIONS` (default 8), `BENCH_SEQUENTIAL` (default 4000 requests each way),
//! `BENCH_SERVER_THREADS` (the router's `--threads`, default one per CPU), `BENCH_UNIQUE`.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use openshell_policy::PolicySet;
use openshell_router::classification::ContentClassifier;
use openshell_router::content::extract;
use openshell_router::policy::RoutingPolicy;
use openshell_router::tls::TlsContext;
use openshell_router::upstream::UpstreamPool;
use serde_json::{Value, json};
use tokio::net::{TcpListener, TcpSocket};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The stand-in model server, on its own thread and runtime.
fn start_stand_in() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            let answer = Bytes::from(
                json!({
                    "id": "chatcmpl-bench",
                    "object": "chat.completion",
                    "created": 1_764_000_000,
                    "model": "local-model",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": {
                        "role": "assistant",
                        "content": "The capital of France is Paris. It has been the capital since the tenth century."
                    }}],
                    "usage": {"prompt_tokens": 160, "completion_tokens": 20, "total_tokens": 180}
                })
                .to_string(),
            );
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let _ = stream.set_nodelay(true);
                let answer = answer.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request: Request<_>| {
                        let answer = answer.clone();
                        async move {
                            let _ = BodyExt::collect(request.into_body()).await;
                            Ok::<_, hyper::Error>(
                                Response::builder()
                                    .header("content-type", "application/json")
                                    .body(Full::new(answer))
                                    .unwrap(),
                            )
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
    });
    rx.recv().unwrap()
}

struct Daemon {
    child: Child,
    front: SocketAddr,
}

impl Daemon {
    /// Stops the router with SIGTERM, so it flushes its audit trail, and waits for it.
    fn stop(mut self) {
        // SAFETY: kill(2) on the pid of the child this process started and has not reaped.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn policy_text(stand_in: SocketAddr) -> String {
    format!(
        "apiVersion: openshell.nvidia.com/v1
kind: PrivacyRouterPolicy
metadata: {{name: bench}}
spec:
  endpoints:
    - {{name: local, url: 'http://{stand_in}/v1', local: true, region: EU}}
  routes:
    public: [local]
    internal: [local]
    confidential: [local]
    restricted: [local]
  residencyRules:
    - {{region: EU, dataTypes: [personalData], allowedEndpoints: [local]}}
"
    )
}

fn start_router(dir: &Path, stand_in: SocketAddr) -> Daemon {
    let registry = dir.join("registry");
    std::fs::create_dir_all(&registry).unwrap();
    let yaml = format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {{name: bench}}\n\
         spec:\n  auditLog: {{enabled: true, destination: \"file://{}\"}}\n---\n{}",
        dir.join("audit.jsonl").display(),
        policy_text(stand_in)
    );
    let record = json!({
        "container_id": "bench",
        "bundle": "/tmp/bundle",
        "policy": openshell_policy::compile_default("policy.yaml", &yaml).unwrap(),
        "region": "EU",
        "sandbox": {"sandbox_ip": "127.0.0.2"},
        "registered_at": "2026-11-24T10:00:00Z"
    });
    std::fs::write(registry.join("bench.json"), record.to_string()).unwrap();
    let node = dir.join("node.toml");
    std::fs::write(
        &node,
        format!(
            "registry_dir = \"{0}/registry\"\n[audit]\nspool_dir = \"{0}/spool\"\ntrail = \"{0}/trail.jsonl\"\n",
            dir.display()
        ),
    )
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let front: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_openshell-router"));
    command
        .env("OPENSHELL_CONFIG", &node)
        .arg("--admin-socket")
        .arg(dir.join("router.sock"))
        .arg("--listen")
        .arg(front.to_string())
        .stderr(Stdio::null());
    if let Ok(threads) = std::env::var("BENCH_SERVER_THREADS") {
        command.args(["--threads", &threads]);
    }
    let child = command.spawn().expect("start openshell-router");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(front).is_err() {
        assert!(Instant::now() < deadline, "openshell-router did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    Daemon { child, front }
}

async fn connect(target: SocketAddr, source: IpAddr) -> SendRequest<Full<Bytes>> {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(source, 0)).unwrap();
    socket.set_nodelay(true).unwrap();
    let stream = socket.connect(target).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

static UNIQUE: AtomicU64 = AtomicU64::new(0);

fn conversation(unique: bool) -> Value {
    let suffix = if unique {
        format!(" (question {})", UNIQUE.fetch_add(1, Ordering::Relaxed))
    } else {
        String::new()
    };
    json!({
        "model": "agent-model",
        "temperature": 0.2,
        "messages": [
            {"role": "system", "content": "You are a concise assistant for a travel agency. Answer \
              in one or two sentences, cite no sources, and never invent facts. If a question is \
              outside travel and geography, say you cannot help with it and suggest asking a \
              colleague instead. Keep a friendly, professional tone."},
            {"role": "user", "content": "Which city is the capital of France, and since when?"},
            {"role": "assistant", "content": "Paris has been the capital of France since the \
              tenth century, apart from brief periods."},
            {"role": "user", "content": format!("And what is the best season to visit it?{suffix}")}
        ]
    })
}

async fn call(sender: &mut SendRequest<Full<Bytes>>, target: SocketAddr, body: Bytes) -> u16 {
    sender.ready().await.unwrap();
    let request = Request::post(format!("http://{target}/v1/chat/completions"))
        .header("host", target.to_string())
        .header("content-type", "application/json")
        .body(Full::new(body))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let _ = response.into_body().collect().await.unwrap();
    status
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

struct Summary {
    p50: Duration,
    p99: Duration,
}

fn report(label: &str, mut latencies: Vec<Duration>, elapsed: Duration) -> Summary {
    latencies.sort();
    let summary = Summary {
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
    };
    println!(
        "{label:<48} n={:<6} rate={:>7.0}/s  p50={:>9.1?}  p99={:>9.1?}  p99.9={:>9.1?}  max={:>9.1?}",
        latencies.len(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        summary.p50,
        summary.p99,
        percentile(&latencies, 0.999),
        latencies[latencies.len() - 1],
    );
    summary
}

fn added(label: &str, direct: &Summary, routed: &Summary) {
    let sub = |a: Duration, b: Duration| a.as_secs_f64() * 1e6 - b.as_secs_f64() * 1e6;
    println!(
        "{label:<48} added p50={:>7.0} µs  added p99={:>7.0} µs",
        sub(routed.p50, direct.p50),
        sub(routed.p99, direct.p99)
    );
}

/// One request at a time, alternating direct and routed.
fn sequential(stand_in: SocketAddr, router: SocketAddr, n: u64, unique: bool) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let source: IpAddr = "127.0.0.2".parse().unwrap();
        let mut direct = connect(stand_in, source).await;
        let mut routed = connect(router, source).await;
        for _ in 0..200 {
            let body = Bytes::from(conversation(unique).to_string());
            assert_eq!(call(&mut direct, stand_in, body.clone()).await, 200);
            assert_eq!(call(&mut routed, router, body).await, 200);
        }
        let (mut d, mut r) = (Vec::new(), Vec::new());
        let started = Instant::now();
        for _ in 0..n {
            let body = Bytes::from(conversation(unique).to_string());
            let t = Instant::now();
            call(&mut direct, stand_in, body.clone()).await;
            d.push(t.elapsed());
            let t = Instant::now();
            call(&mut routed, router, body).await;
            r.push(t.elapsed());
        }
        let elapsed = started.elapsed();
        let direct = report("sequential, direct to the stand-in", d, elapsed);
        let routed = report("sequential, through the router", r, elapsed);
        added("sequential", &direct, &routed);
    });
}

/// Latencies of one target at a fixed rate: from each request's scheduled time (queueing and
/// pacing included) and from its actual send.
#[derive(Default)]
struct Paced {
    scheduled: Vec<Duration>,
    sent: Vec<Duration>,
}

/// Open-loop load at `rate`/s on each target, interleaved (request i goes to target i % 2, at
/// twice the rate in all), over `connections` paced threads each holding a connection to both:
/// the two see the same machine at the same moments, which a shared, busy machine needs for a
/// fair comparison.
fn fixed_rate(
    targets: [SocketAddr; 2],
    rate: u64,
    seconds: u64,
    connections: u64,
    unique: bool,
) -> ([Paced; 2], Duration) {
    let total = 2 * rate * seconds;
    let interval = Duration::from_nanos(1_000_000_000 / (2 * rate));
    let start = Instant::now() + Duration::from_millis(100);
    let threads: Vec<_> = (0..connections)
        .map(|k| {
            std::thread::spawn(move || {
                // SAFETY: prctl(PR_SET_TIMERSLACK) only changes this thread's timer slack.
                unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1, 0, 0, 0) };
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                let source: IpAddr = "127.0.0.2".parse().unwrap();
                let mut senders = [
                    runtime.block_on(connect(targets[0], source)),
                    runtime.block_on(connect(targets[1], source)),
                ];
                let mut paced: [Paced; 2] = Default::default();
                let mut i = k;
                while i < total {
                    let which = (i % 2) as usize;
                    let body = Bytes::from(conversation(unique).to_string());
                    let scheduled = start + interval * i as u32;
                    if let Some(wait) = scheduled.checked_duration_since(Instant::now()) {
                        std::thread::sleep(wait);
                    }
                    let sent = Instant::now();
                    let status = runtime.block_on(call(&mut senders[which], targets[which], body));
                    assert_eq!(status, 200);
                    paced[which].scheduled.push(scheduled.elapsed());
                    paced[which].sent.push(sent.elapsed());
                    i += connections;
                }
                paced
            })
        })
        .collect();
    let mut all: [Paced; 2] = Default::default();
    for t in threads {
        for (into, from) in all.iter_mut().zip(t.join().unwrap()) {
            into.scheduled.extend(from.scheduled);
            into.sent.extend(from.sent);
        }
    }
    (all, start.elapsed())
}

/// The in-process costs: cache hit, whole decision on a hit, cache miss.
fn in_process(stand_in: SocketAddr, n: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let set = PolicySet::parse("bench.yaml", &policy_text(stand_in)).unwrap();
    let tls = TlsContext::new(Path::new("/nonexistent"));
    let pool = UpstreamPool::default();
    let policy = RoutingPolicy::compile(
        "bench",
        set.privacy_router().map(|p| &p.spec),
        &[],
        |spec| pool.get(spec, &tls, Duration::from_secs(1)),
    );
    let classifier = ContentClassifier::new(1 << 20, 64 << 10, Duration::from_millis(500), 1024);
    let body = Bytes::from(conversation(false).to_string());
    runtime.block_on(async {
        let json: Value = serde_json::from_slice(&body).unwrap();
        classifier.classify(extract(&json)).await;
        let (mut hit, mut decision) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let started = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let (c, _) = classifier.classify(extract(&json)).await;
            hit.push(t.elapsed());
            std::hint::black_box(c);
        }
        report(
            &format!("cache hit ({} B body: extract, HMAC, LRU)", body.len()),
            hit,
            started.elapsed(),
        );
        let started = Instant::now();
        for _ in 0..n {
            let t = Instant::now();
            let json: Value = serde_json::from_slice(&body).unwrap();
            let (c, _) = classifier.classify(extract(&json)).await;
            let plan = policy.plan(Some("EU"), &c, None);
            decision.push(t.elapsed());
            std::hint::black_box(plan.candidates.len());
        }
        report(
            "decision on a cache hit (parse, extract, cache, plan)",
            decision,
            started.elapsed(),
        );
        let mut miss = Vec::with_capacity(n / 4);
        let started = Instant::now();
        for _ in 0..n / 4 {
            let json = conversation(true);
            let t = Instant::now();
            let (c, _) = classifier.classify(extract(&json)).await;
            miss.push(t.elapsed());
            std::hint::black_box(c);
        }
        report(
            "cache miss (extract, HMAC, detectors, insert)",
            miss,
            started.elapsed(),
        );
        // A long context (a 64 KiB conversation history): what the cache saves grows with it.
        let long = |i: usize| {
            let turn = conversation(false)["messages"][0]["content"].clone();
            let mut messages: Vec<Value> = (0..200)
                .map(|_| json!({"role": "user", "content": turn.clone()}))
                .collect();
            messages.push(json!({"role": "user", "content": format!("question {i}")}));
            json!({"model": "m", "messages": messages})
        };
        let size = long(0).to_string().len();
        classifier.classify(extract(&long(0))).await;
        for (label, unique) in [("hit", false), ("miss", true)] {
            let mut latencies = Vec::with_capacity(200);
            let started = Instant::now();
            for i in 0..200 {
                let json = long(if unique { i + 1 } else { 0 });
                let t = Instant::now();
                let (c, _) = classifier.classify(extract(&json)).await;
                latencies.push(t.elapsed());
                std::hint::black_box(c);
            }
            report(
                &format!("cache {label}, {} KiB conversation", size >> 10),
                latencies,
                started.elapsed(),
            );
        }
    });
}

fn main() {
    // `cargo bench` passes `--bench`; `cargo test --benches` runs this once as a smoke test.
    let smoke = !std::env::args().any(|a| a == "--bench");
    let rate = env("BENCH_RATE", 1000);
    let seconds = env("BENCH_SECONDS", if smoke { 1 } else { 5 });
    let connections = env("BENCH_CONNECTIONS", 8);
    let sequential_n = env("BENCH_SEQUENTIAL", if smoke { 200 } else { 4000 });
    let unique = env("BENCH_UNIQUE", 0) == 1;
    let dir = tempfile::tempdir().unwrap();
    let stand_in = start_stand_in();
    let daemon = start_router(dir.path(), stand_in);
    println!(
        "content: {}; rate {rate}/s over {connections} connections for {seconds} s",
        if unique {
            "different every request (classified each time)"
        } else {
            "the same conversation every request (classification cached)"
        }
    );
    sequential(stand_in, daemon.front, sequential_n, unique);
    let ([direct, routed], elapsed) =
        fixed_rate([stand_in, daemon.front], rate, seconds, connections, unique);
    let d = report(
        &format!("fixed {rate}/s, direct, from schedule"),
        direct.scheduled,
        elapsed,
    );
    let r = report(
        &format!("fixed {rate}/s, router, from schedule"),
        routed.scheduled,
        elapsed,
    );
    added(&format!("fixed {rate}/s, from schedule"), &d, &r);
    let d = report(
        &format!("fixed {rate}/s, direct, from send"),
        direct.sent,
        elapsed,
    );
    let r = report(
        &format!("fixed {rate}/s, router, from send"),
        routed.sent,
        elapsed,
    );
    added(&format!("fixed {rate}/s, from send"), &d, &r);
    in_process(stand_in, if smoke { 2000 } else { 20_000 });
    daemon.stop();
    let audited = std::fs::read_to_string(dir.path().join("trail.jsonl"))
        .map(|t| t.lines().count())
        .unwrap_or(0);
    println!("routing decisions audited in the node trail: {audited}");
}
