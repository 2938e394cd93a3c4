//! How soon a human hears of an escalated agent action: from the moment a held API call reaches
//! the egress proxy to the moment the first notification (a Slack incoming webhook) arrives.
//!
//! ```text
//! approval-bench [--requests N]   (as root; default 50)
//! ```
//!
//! Builds the egress world of the tests (node namespace with the egress engine, a test
//! internet), starts the node's approval queue (`openshell-approvals`) with a Slack channel
//! pointing at a local stand-in, and runs one restricted sandbox whose policy holds
//! `payment.process` above 100 USD for a human. Then, one at a time, from inside the sandbox's
//! network namespace over a connection to the proxy opened beforehand: sends a 500 USD payment,
//! waits for the stand-in Slack to receive the notification, denies the approval (the held
//! request gets its 403) and reads the answer. Prints p50, p99 and max of the time from the
//! request's last byte leaving the client to the notification's arrival: the in-line decision,
//! the queue's durable write and the webhook's delivery. The stand-in and the client run on the
//! same host as everything else.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use openshell_integration::egress_world::{EgressWorld, GATEWAY};
use openshell_integration::operator;
use openshell_integration::unique_id;

/// The sandbox's policy: payments above 100 USD wait for a human on Slack.
const POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: approval-bench
spec:
  isolation:
    network: restricted
  permissions:
    allowedAPIs: [payment.process]
---
networkPolicy:
  egress:
    allow:
      - domain: crm.example.test
        methods: [POST]
---
approvalPolicy:
  triggers:
    - {action: payment.process, threshold: above-100-usd}
  channels: [slack]
  timeout: 30s
  defaultAction: deny
---
";

/// The egress proxy's port on the sandbox's gateway.
const PROXY_PORT: u16 = 3128;

fn main() {
    openshell_integration::require_root();
    let requests = parse_requests();
    let world = EgressWorld::new();
    let (slack_url, arrivals) = slack_stand_in();
    // The engine asks the queue on the socket the node configuration names.
    let mut queue = world.start_approvals(&slack_url);
    let socket = world.dir().join("approvals.sock");

    let catalog = include_str!("../../../bundles/api-catalog.yaml");
    let policy = world.policy("approval-bench", &format!("{POLICY}{catalog}"));
    let bundle = world.sandbox_bundle(&policy);
    let runtime = world.runtime();
    let id = unique_id("approval-bench");
    runtime.start_detached(&id, bundle.path());
    let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", runtime.pid(&id)));
    let proxy: SocketAddr = format!("{GATEWAY}:{PROXY_PORT}")
        .parse()
        .expect("proxy address");

    let body = r#"{"amount": 500, "currency": "USD", "recipient": "acct-77"}"#;
    let request = format!(
        "POST http://crm.example.test/api/v1/payments HTTP/1.1\r\nHost: crm.example.test\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut samples = Vec::with_capacity(requests);
    for n in 0..requests {
        let mut stream = EgressWorld::connect_from(&netns, proxy).expect("connect to the proxy");
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .expect("read timeout");
        let sent = Instant::now();
        stream
            .write_all(request.as_bytes())
            .expect("send the payment");
        let arrived = arrivals
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("request {n}: no Slack notification within 10 s"));
        samples.push(arrived.saturating_duration_since(sent));
        let pending = operator::pending(&socket);
        let [approval] = pending.as_slice() else {
            panic!("request {n}: expected one pending approval, found {pending:?}");
        };
        let denied = operator::approvals(&socket, &["deny", approval, "--note", "benchmark"]);
        assert!(denied.status.success(), "deny {approval}: {denied:?}");
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        assert!(
            answer.starts_with("HTTP/1.1 403"),
            "request {n}: the denied payment got {answer:?}"
        );
    }
    runtime.ok(&["delete", "--force", &id]);
    let _ = queue.kill();
    let _ = queue.wait();

    samples.sort();
    let at = |p: f64| samples[((samples.len() as f64 * p) as usize).min(samples.len() - 1)];
    println!(
        "held API call -> first notification (Slack), {} requests: p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        samples.len(),
        ms(at(0.50)),
        ms(at(0.99)),
        ms(samples[samples.len() - 1])
    );
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn parse_requests() -> usize {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.as_slice() {
        [] => 50,
        [flag, n] if flag == "--requests" => match n.parse() {
            Ok(n) if n > 0 => n,
            _ => usage(&format!("--requests {n}: not a positive number")),
        },
        _ => usage(&format!("unexpected arguments {args:?}")),
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("approval-bench: {problem}\nusage: approval-bench [--requests N]");
    std::process::exit(2)
}

/// A stand-in Slack incoming webhook on loopback: answers every POST 200 and reports the
/// moment each one's body had arrived. Returns its URL and the arrivals.
fn slack_stand_in() -> (String, mpsc::Receiver<Instant>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind the Slack stand-in");
    let url = format!(
        "http://{}/services/T000/B000/XXXX",
        listener.local_addr().expect("local address")
    );
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let mut reader = BufReader::new(&conn);
            let mut length = 0usize;
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                let header = line.trim_end().to_owned();
                line.clear();
                if header.is_empty() {
                    break;
                }
                if let Some((name, value)) = header.split_once(':')
                    && name.eq_ignore_ascii_case("content-length")
                {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            if reader.read_exact(&mut body).is_ok() {
                let _ = tx.send(Instant::now());
            }
            let _ = (&conn)
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
        }
    });
    (url, rx)
}
