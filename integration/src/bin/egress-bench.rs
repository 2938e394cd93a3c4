//! Benchmarks of the egress engine, in namespaces of its own (see `egress_world`):
//!
//! 1. Network setup per sandbox: `sandbox_net::setup_sandbox` (register with the engine, veth
//!    pair, addresses and routes over rtnetlink, a connection to the proxy from inside) for N
//!    namespaces in a row while all stay registered, then `teardown_sandbox` for each; and the
//!    engine's resident memory before and with all N registered (target: ≤ 4 MB a sandbox).
//! 2. The proxy's cost: `wrk` against a small HTTP server in the internet namespace, directly
//!    from the node namespace and through the explicit proxy from a wired sandbox namespace,
//!    alternating the two. One connection for unloaded latency (p50/p99), then `--connections`
//!    for throughput. The proxied path carries everything production does: per-request policy
//!    lookup, rules, resolution, upstream reuse and one audit event per request. A bare TCP
//!    relay (socat) on the node is measured too, as a control for the cost of the extra hop.
//! 3. TLS to the same server (`wrk` cannot speak through CONNECT, so these use
//!    `openshell_integration::http_load`, for the direct baseline too): straight from the node,
//!    through a CONNECT tunnel the engine relays without decrypting (a sandbox whose policy
//!    has no `tlsDecrypt`), and through a CONNECT tunnel the engine intercepts (`tlsDecrypt:
//!    true`: the sandbox's handshake completed with a minted leaf, every request decided and
//!    audited, re-encrypted upstream).
//! 4. Bulk transfer: the plain HTTP, TLS and tunnel paths (and the relay control) again, each
//!    request answered with a 1 MiB body, so what is compared is bytes moved a second.
//! 5. An API call the catalog names (`payment.process`, a JSON POST under the threshold of
//!    the policy's approval trigger), decided in line by the engine (the action, its amount
//!    and destination from the body, the intent classified, the compiled record decided by the
//!    embedded decision engine, audited) against the same POST sent directly.
//!
//! `egress-bench [--sandboxes N] [--seconds S] [--connections C[,C…]] [--rounds R]
//! [--trail-dir DIR] [--csv FILE]`: every path is measured with one connection (unloaded),
//! then with each C, small responses then bulk ones; `--csv` writes what each path adds at
//! each load to FILE (`path,connections,direct_rps,engine_rps,ratio,p50_added_ms,p99_added_ms`,
//! a bulk path's name ending in `-bulk`; `scripts/bench.sh` plots the small ones)
//! (`--trail-dir /dev/shm`: the audit trail on a tmpfs, where the audit library's per-batch
//! fdatasync costs nothing; by default it is on the world's directory under /tmp)
//! (build with `cargo build --release -p openshell-egress -p openshell-integration --bins`).

use std::convert::Infallible;
use std::process::Stdio;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use openshell_egress::client::block_on;
use openshell_egress::sandbox::EgressPolicy;
use openshell_egress::sandbox_net::{setup_sandbox, teardown_sandbox};
use openshell_integration::egress_world::{EgressWorld, GATEWAY, NODE_SIDE, WorldOptions};
use openshell_integration::http_load::{self, Load, Measured, Route, Tls};
use openshell_integration::netns::TestNetns;

const BENCH_PORT: u16 = 8080;
const TLS_PORT: u16 = 8443;
const TLS_HOST: &str = "api.hubspot.com";
const RELAY_PORT: u16 = 9000;
const UPSTREAM: &str = "203.0.113.10";
const PAYMENTS: &str = "/api/v1/payments";
const PAYMENT: &str = r#"{"amount": 45, "currency": "usd", "recipient": "acct-77"}"#;
/// The path the upstream answers with [`BULK_BYTES`] instead of `ok`.
const BULK: &str = "/bulk";
/// The size of a bulk response's body.
const BULK_BYTES: usize = 1 << 20;

/// What each request asks for.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Traffic {
    /// `ok`: the cost of a request, of the proxy's per-request work.
    Small,
    /// A 1 MiB body: the cost of moving bytes.
    Bulk,
}

/// The client sandbox's policy: `api.hubspot.com` allowed, and `payment.process` catalogued
/// there, allowed and escalated above 100 USD, so catalogued calls are decided in line.
fn policy_text() -> String {
    format!(
        "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: bench
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [payment.process]
---
apiVersion: openshell.nvidia.com/v1
kind: NetworkPolicy
metadata:
  name: bench
spec:
  egress:
    allow:
      - domain: api.hubspot.com
        ports: [{BENCH_PORT}]
  inspection:
    scanForPII: false
---
apiVersion: openshell.nvidia.com/v1
kind: ApiCatalog
metadata:
  name: bench-apis
spec:
  apis:
    payment.process:
      - methods: [POST]
        host: api.hubspot.com
        path: {PAYMENTS}
        fields: {{amount: /amount, currency: /currency, destination: /recipient}}
---
approvalPolicy:
  triggers:
    - {{action: payment.process, threshold: above-100-usd}}
  channels: [slack]
  timeout: 15m
"
    )
}

fn policy() -> EgressPolicy {
    openshell_policy::egress_policy(
        &openshell_policy::PolicySet::parse("bench.yaml", &policy_text()).unwrap(),
    )
}

/// A TLS sandbox's policy: `api.hubspot.com:8443` allowed (no API catalog, so an undecrypted
/// tunnel may go there), decrypted or not.
fn tls_policy(decrypt: bool) -> EgressPolicy {
    let text = format!(
        "apiVersion: openshell.nvidia.com/v1
kind: NetworkPolicy
metadata:
  name: bench-tls
spec:
  egress:
    allow:
      - domain: {TLS_HOST}
        ports: [{TLS_PORT}]
  inspection:
    scanForPII: false
    tlsDecrypt: {decrypt}
"
    );
    openshell_policy::egress_policy(&openshell_policy::PolicySet::parse("tls.yaml", &text).unwrap())
}

fn record() -> openshell_policy::CompiledPolicy {
    openshell_policy::compile_default("bench.yaml", &policy_text()).expect("compile bench policy")
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p).round() as usize]
}

fn report(name: &str, mut samples: Vec<Duration>) {
    samples.sort();
    println!(
        "  {name:<10} p50 {:>8.3} ms   p90 {:>8.3} ms   p99 {:>8.3} ms   max {:>8.3} ms",
        percentile(&samples, 0.5).as_secs_f64() * 1e3,
        percentile(&samples, 0.9).as_secs_f64() * 1e3,
        percentile(&samples, 0.99).as_secs_f64() * 1e3,
        samples.last().unwrap().as_secs_f64() * 1e3,
    );
}

fn setup_times(world: &EgressWorld, sandboxes: usize) {
    println!("network setup per sandbox ({sandboxes} sandboxes, all kept registered):");
    let client = world.client();
    let namespaces: Vec<TestNetns> = (0..sandboxes)
        .map(|_| TestNetns::create("osh-bench"))
        .collect();
    let (mut total, mut register, mut wire, mut verify) = (vec![], vec![], vec![], vec![]);
    let rss_before = world.engine_rss_kib().expect("engine memory");
    for (i, netns) in namespaces.iter().enumerate() {
        let report = block_on(setup_sandbox(
            &client,
            &format!("bench-{i}"),
            netns.path(),
            policy(),
            None,
        ))
        .unwrap()
        .expect("setup");
        total.push(report.total());
        register.push(report.register);
        wire.push(report.wire);
        verify.push(report.verify);
    }
    let rss_registered = world.engine_rss_kib().expect("engine memory");
    let mut teardown = vec![];
    for i in 0..sandboxes {
        let started = Instant::now();
        block_on(teardown_sandbox(Some(&client), &format!("bench-{i}")))
            .unwrap()
            .expect("teardown");
        teardown.push(started.elapsed());
    }
    report("setup", total);
    report("register", register);
    report("wire", wire);
    report("verify", verify);
    report("teardown", teardown);
    println!(
        "  engine memory: {rss_before} KiB idle, {rss_registered} KiB with {sandboxes} registered: \
         {:.1} KiB per sandbox",
        rss_registered.saturating_sub(rss_before) as f64 / sandboxes as f64
    );
}

fn serve_upstream(world: &EgressWorld) -> tokio::runtime::Runtime {
    let path = world.internet.path().to_owned();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::clone(&world.internet_tls));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .on_thread_start(move || {
            let file = std::fs::File::open(&path).expect("internet netns");
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET).expect("setns");
        })
        .build()
        .expect("runtime");
    let (ready, bound) = std::sync::mpsc::channel();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::bind((UPSTREAM, BENCH_PORT))
            .await
            .expect("bind upstream");
        let tls_listener = tokio::net::TcpListener::bind((UPSTREAM, TLS_PORT))
            .await
            .expect("bind TLS upstream");
        let _ = ready.send(());
        tokio::spawn(async move {
            while let Ok((stream, _)) = tls_listener.accept().await {
                let _ = stream.set_nodelay(true);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        answer_ok(stream).await;
                    }
                });
            }
        });
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(answer_ok(stream));
        }
    });
    bound
        .recv_timeout(Duration::from_secs(5))
        .expect("upstream");
    runtime
}

/// Answers every request on `io` with `ok`.
async fn answer_ok<S>(io: S)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    static BULK_BODY: std::sync::LazyLock<Bytes> =
        std::sync::LazyLock::new(|| Bytes::from(vec![b'x'; BULK_BYTES]));
    let service = service_fn(|request: Request<hyper::body::Incoming>| async {
        let body = if request.uri().path() == BULK {
            BULK_BODY.clone()
        } else {
            Bytes::from_static(b"ok\n")
        };
        // Read the body, as an API server does, so the connection stays reusable.
        let _ = http_body_util::BodyExt::collect(request.into_body()).await;
        Ok::<_, Infallible>(Response::new(Full::new(body)))
    });
    let _ = http1::Builder::new()
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// The ways to the upstream server.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Path {
    /// wrk on the node straight to the server.
    Direct,
    /// wrk in a wired sandbox through the engine's explicit proxy.
    Proxied,
    /// wrk on the node through a bare TCP relay.
    Relay,
    /// wrk on the node posting a payment straight to the server.
    DirectApi,
    /// wrk in the sandbox posting the payment through the proxy, decided in line.
    DecidedApi,
    /// TLS from the node straight to the server.
    DirectTls,
    /// TLS from a sandbox through a CONNECT tunnel the engine relays.
    Tunnel,
    /// TLS from a sandbox through a CONNECT tunnel the engine decrypts and decides.
    Intercepted,
}

impl Path {
    fn name(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Proxied => "proxied",
            Path::Relay => "tcp relay",
            Path::DirectApi => "direct API call",
            Path::DecidedApi => "decided API call",
            Path::DirectTls => "direct TLS",
            Path::Tunnel => "CONNECT tunnel",
            Path::Intercepted => "intercepted TLS",
        }
    }

    /// Whether the path is measured with bulk responses too (the API calls are small by
    /// nature).
    fn carries_bulk(self) -> bool {
        !matches!(self, Path::DirectApi | Path::DecidedApi)
    }
}

/// Parses `wrk --latency` output: Requests/sec and the 50% and 99% lines, in ms.
fn run_wrk(netns: &TestNetns, args: &[&str]) -> Measured {
    let output = netns
        .command("wrk")
        .args(args)
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(!text.contains("Non-2xx"), "wrk saw errors: {text}");
    let milliseconds = |value: &str| -> f64 {
        let value = value.trim();
        if let Some(v) = value.strip_suffix("us") {
            v.parse::<f64>().unwrap() / 1e3
        } else if let Some(v) = value.strip_suffix("ms") {
            v.parse().unwrap()
        } else if let Some(v) = value.strip_suffix('s') {
            v.parse::<f64>().unwrap() * 1e3
        } else {
            panic!("unknown latency {value:?}")
        }
    };
    let field = |prefix: &str| {
        text.lines()
            .find_map(|line| line.trim().strip_prefix(prefix).map(str::to_owned))
            .unwrap_or_else(|| panic!("no {prefix:?} in wrk output: {text}"))
    };
    Measured {
        requests_per_second: field("Requests/sec:").trim().parse().unwrap(),
        p50: milliseconds(&field("50%")),
        p99: milliseconds(&field("99%")),
    }
}

/// The host's load averages (`/proc/loadavg`), to tell a quiet host's figures from a busy one's.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|text| {
            text.split_whitespace()
                .take(3)
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn main() {
    let (mut sandboxes, mut seconds, mut rounds) = (50usize, 5u64, 3usize);
    let mut connections = vec![32usize];
    let mut trail_dir: Option<tempfile::TempDir> = None;
    let mut csv_file: Option<std::path::PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let value = |args: &mut std::iter::Skip<std::env::Args>| {
            args.next().and_then(|v| v.parse::<usize>().ok())
        };
        match arg.as_str() {
            "--sandboxes" => sandboxes = value(&mut args).expect("--sandboxes N"),
            "--seconds" => seconds = value(&mut args).expect("--seconds S") as u64,
            "--connections" => {
                connections = args
                    .next()
                    .and_then(|list| list.split(',').map(|c| c.parse().ok()).collect())
                    .filter(|list: &Vec<usize>| list.iter().all(|c| *c > 0))
                    .expect("--connections C[,C…]")
            }
            "--csv" => csv_file = Some(args.next().expect("--csv FILE").into()),
            "--rounds" => rounds = value(&mut args).expect("--rounds R"),
            "--trail-dir" => {
                let parent = args.next().expect("--trail-dir DIR");
                trail_dir = Some(tempfile::tempdir_in(parent).expect("trail directory"));
            }
            other => panic!(
                "unknown argument {other:?}; usage: egress-bench [--sandboxes N] [--seconds S] \
                 [--connections C[,C…]] [--rounds R] [--trail-dir DIR] [--csv FILE]"
            ),
        }
    }
    // The benchmark measures the proxy, not the per-sandbox request rate limit.
    let world = EgressWorld::with_options(WorldOptions {
        trail_dir: trail_dir.as_ref().map(|d| d.path()),
        engine_limits: "requests_per_second = 1000000\nrequest_burst = 1000000\n",
        ..WorldOptions::default()
    });
    // The wiring runs where the node's veths live.
    world.node.enter_current_thread();
    setup_times(&world, sandboxes);

    let _upstream = serve_upstream(&world);
    let sandbox = TestNetns::create("osh-bench-client");
    block_on(setup_sandbox(
        &world.client(),
        "bench-client",
        sandbox.path(),
        policy(),
        Some(record()),
    ))
    .unwrap()
    .expect("wire the client sandbox");
    let proxy_script = |name: &str, path: &str| {
        let script = world.dir().join(name);
        std::fs::write(
            &script,
            format!(
                "wrk.path = \"http://api.hubspot.com:{BENCH_PORT}{path}\"\n\
                 wrk.headers[\"Host\"] = \"api.hubspot.com:{BENCH_PORT}\"\n"
            ),
        )
        .expect("write wrk script");
        script.display().to_string()
    };
    let script = proxy_script("proxy.lua", "/bench");
    let bulk_script = proxy_script("proxy-bulk.lua", BULK);
    let payment_lua = |path: &str| {
        format!(
            "wrk.method = \"POST\"\nwrk.path = \"{path}\"\nwrk.body = '{PAYMENT}'\n\
             wrk.headers[\"Host\"] = \"api.hubspot.com:{BENCH_PORT}\"\n\
             wrk.headers[\"Content-Type\"] = \"application/json\"\n"
        )
    };
    let decided_script = world.dir().join("decided.lua");
    std::fs::write(
        &decided_script,
        payment_lua(&format!("http://api.hubspot.com:{BENCH_PORT}{PAYMENTS}")),
    )
    .expect("write wrk script");
    let direct_api_script = world.dir().join("direct-api.lua");
    std::fs::write(&direct_api_script, payment_lua(PAYMENTS)).expect("write wrk script");
    let decided_script = decided_script.display().to_string();
    let direct_api_script = direct_api_script.display().to_string();
    let direct_api_url = format!("http://{UPSTREAM}:{BENCH_PORT}{PAYMENTS}");
    let direct_url = format!("http://{UPSTREAM}:{BENCH_PORT}/bench");
    let direct_bulk_url = format!("http://{UPSTREAM}:{BENCH_PORT}{BULK}");
    let proxy_url = format!("http://{GATEWAY}:3128/");
    let duration = format!("{seconds}s");
    // Control: a bare TCP relay (socat, a process per connection, no HTTP, no policy) on the
    // node, one hop like the engine, to tell the cost of the extra hop from the engine's own.
    let relay = world
        .node
        .command("socat")
        .args([
            &format!("TCP-LISTEN:{RELAY_PORT},bind={NODE_SIDE},fork,reuseaddr"),
            &format!("TCP:{UPSTREAM}:{BENCH_PORT}"),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok();
    let relay_url = format!("http://{NODE_SIDE}:{RELAY_PORT}/bench");
    let relay_bulk_url = format!("http://{NODE_SIDE}:{RELAY_PORT}{BULK}");
    // The TLS paths: two more sandboxes, one tunnelling without decryption, one intercepted;
    // the client trusts the test internet's CA (direct) and the engine's (intercepted).
    let tunnel_sandbox = TestNetns::create("osh-bench-tunnel");
    let intercept_sandbox = TestNetns::create("osh-bench-tls");
    for (id, netns, decrypt) in [
        ("bench-tunnel", &tunnel_sandbox, false),
        ("bench-tls", &intercept_sandbox, true),
    ] {
        block_on(setup_sandbox(
            &world.client(),
            id,
            netns.path(),
            tls_policy(decrypt),
            None,
        ))
        .unwrap()
        .unwrap_or_else(|e| panic!("wire {id}: {e}"));
    }
    let tls = Tls {
        config: http_load::tls_trusting(&[&world.dir().join("test-ca.pem"), &world.egress_ca()]),
        server_name: TLS_HOST.try_into().expect("server name"),
    };
    let through_proxy = Route::Connect {
        proxy: format!("{GATEWAY}:3128").parse().unwrap(),
        authority: format!("{TLS_HOST}:{TLS_PORT}"),
    };
    let tls_load = |netns: &TestNetns, route: Route, connections: usize, path: &str| Load {
        netns: netns.path().to_owned(),
        route,
        tls: Some(tls.clone()),
        request: format!("GET {path} HTTP/1.1\r\nHost: {TLS_HOST}:{TLS_PORT}\r\n\r\n").into_bytes(),
        connections,
        duration: Duration::from_secs(seconds),
    };
    let measure = |path: Path, connections: usize, traffic: Traffic| {
        let count = connections.to_string();
        let mut args = vec!["--latency", "-t", "1", "-c", &count, "-d", &duration];
        let bulk = traffic == Traffic::Bulk;
        let tls_path = if bulk { BULK } else { "/bench" };
        match path {
            Path::Proxied => {
                args.extend(["-s", if bulk { &bulk_script } else { &script }, &proxy_url]);
                run_wrk(&sandbox, &args)
            }
            Path::Direct => {
                args.push(if bulk { &direct_bulk_url } else { &direct_url });
                run_wrk(&world.node, &args)
            }
            Path::Relay => {
                args.push(if bulk { &relay_bulk_url } else { &relay_url });
                run_wrk(&world.node, &args)
            }
            Path::DirectApi => {
                args.extend(["-s", &direct_api_script, &direct_api_url]);
                run_wrk(&world.node, &args)
            }
            Path::DecidedApi => {
                args.extend(["-s", &decided_script, &proxy_url]);
                run_wrk(&sandbox, &args)
            }
            Path::DirectTls => {
                let server = format!("{UPSTREAM}:{TLS_PORT}").parse().unwrap();
                http_load::run(&tls_load(
                    &world.node,
                    Route::Direct(server),
                    connections,
                    tls_path,
                ))
            }
            Path::Tunnel => http_load::run(&tls_load(
                &tunnel_sandbox,
                through_proxy.clone(),
                connections,
                tls_path,
            )),
            Path::Intercepted => http_load::run(&tls_load(
                &intercept_sandbox,
                through_proxy.clone(),
                connections,
                tls_path,
            )),
        }
    };
    let mut paths = vec![
        Path::Direct,
        Path::Proxied,
        Path::DirectApi,
        Path::DecidedApi,
        Path::DirectTls,
        Path::Tunnel,
        Path::Intercepted,
    ];
    if relay.is_some() {
        std::thread::sleep(Duration::from_millis(200));
        paths.push(Path::Relay);
    } else {
        println!("(socat not installed: no relay control)");
    }
    println!("host load before (1, 5, 15 min): {}", load_average());
    // Warm every path.
    for path in &paths {
        measure(*path, 1, Traffic::Small);
    }
    // One row per path, traffic and load; written grouped by path, each path's loads in order.
    let mut csv: Vec<(String, String)> = Vec::new();
    let loads = std::iter::once(1).chain(connections.into_iter().filter(|c| *c > 1));
    for load in loads {
        for traffic in [Traffic::Small, Traffic::Bulk] {
            let paths: Vec<Path> = paths
                .iter()
                .copied()
                .filter(|path| traffic == Traffic::Small || path.carries_bulk())
                .collect();
            let mut results: Vec<Vec<Measured>> = paths.iter().map(|_| Vec::new()).collect();
            for _ in 0..rounds {
                for (path, results) in paths.iter().zip(&mut results) {
                    results.push(measure(*path, load, traffic));
                }
            }
            let summary = |wanted: Path| {
                let results = &results[paths.iter().position(|p| *p == wanted).unwrap()];
                (
                    median(results.iter().map(|r| r.requests_per_second).collect()),
                    median(results.iter().map(|r| r.p50).collect()),
                    median(results.iter().map(|r| r.p99).collect()),
                )
            };
            let label = match (load, traffic) {
                (1, Traffic::Small) => "unloaded".to_owned(),
                (_, Traffic::Small) => "loaded".to_owned(),
                (1, Traffic::Bulk) => format!("bulk ({} KiB responses)", BULK_BYTES / 1024),
                (_, Traffic::Bulk) => {
                    format!("bulk, loaded ({} KiB responses)", BULK_BYTES / 1024)
                }
            };
            println!(
                "proxy vs direct, {label} ({load} connections, {seconds} s x {rounds} rounds, \
                 medians):"
            );
            for path in &paths {
                let baseline = match path {
                    Path::Direct | Path::Proxied | Path::Relay => Path::Direct,
                    Path::DirectApi | Path::DecidedApi => Path::DirectApi,
                    Path::DirectTls | Path::Tunnel | Path::Intercepted => Path::DirectTls,
                };
                let (rps, p50, p99) = summary(*path);
                let rate = match traffic {
                    Traffic::Small => format!("{rps:>10.0} req/s"),
                    Traffic::Bulk => {
                        format!("{:>8.0} MiB/s", rps * BULK_BYTES as f64 / 1048576.0)
                    }
                };
                println!(
                    "  {:<16} {rate}   p50 {p50:>7.3} ms   p99 {p99:>7.3} ms   ratio {:.2} (to {})",
                    path.name(),
                    rps / summary(baseline).0,
                    baseline.name(),
                );
            }
            let compared = [
                (
                    "plain HTTP (explicit proxy)",
                    "plain-http",
                    Path::Direct,
                    Path::Proxied,
                ),
                (
                    "an API call decided in line",
                    "decided-api-call",
                    Path::DirectApi,
                    Path::DecidedApi,
                ),
                (
                    "a CONNECT tunnel (TLS relayed)",
                    "connect-tunnel",
                    Path::DirectTls,
                    Path::Tunnel,
                ),
                (
                    "intercepted TLS",
                    "intercepted-tls",
                    Path::DirectTls,
                    Path::Intercepted,
                ),
            ];
            for (what, key, baseline, path) in compared {
                if !paths.contains(&path) {
                    continue;
                }
                let ((b_rps, b50, b99), (rps, p50, p99)) = (summary(baseline), summary(path));
                let (key, what) = match traffic {
                    Traffic::Small => (key.to_owned(), what.to_owned()),
                    Traffic::Bulk => (
                        format!("{key}-bulk"),
                        format!("{what}, {} KiB responses", BULK_BYTES / 1024),
                    ),
                };
                let row = format!(
                    "{key},{load},{b_rps:.0},{rps:.0},{:.3},{:.3},{:.3}\n",
                    rps / b_rps,
                    p50 - b50,
                    p99 - b99
                );
                csv.push((key, row));
                println!(
                    "  added to {what}: p50 {:>7.3} ms   p99 {:>7.3} ms   throughput ratio {:.2}",
                    p50 - b50,
                    p99 - b99,
                    rps / b_rps
                );
            }
        }
    }
    println!("host load after (1, 5, 15 min): {}", load_average());
    if let Some(file) = &csv_file {
        csv.sort_by(|(a, _), (b, _)| a.cmp(b));
        let csv: String = std::iter::once(
            "path,connections,direct_rps,engine_rps,ratio,p50_added_ms,p99_added_ms\n",
        )
        .chain(csv.iter().map(|(_, row)| row.as_str()))
        .collect();
        std::fs::write(file, csv).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
    }
    if let Some(mut relay) = relay {
        let _ = relay.kill();
        let _ = relay.wait();
    }
    for id in ["bench-client", "bench-tunnel", "bench-tls"] {
        block_on(teardown_sandbox(Some(&world.client()), id))
            .unwrap()
            .expect("teardown");
    }
}
