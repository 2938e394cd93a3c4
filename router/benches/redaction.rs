//! What outbound redaction costs, in process.
//!
//! `cargo bench -p openshell-router --bench redaction` measures, on a 4 KiB chat request whose
//! messages hold eight personal values (four distinct emails, two phone numbers, each email
//! twice):
//! 1. redaction alone: every content string scanned, covered findings replaced by stable
//!    placeholders (`openshell_router::redaction::redact`);
//! 2. what a redacted request adds in the router: redaction, then the redacted content's
//!    classification (a cache miss);
//! 3. restoring a JSON answer quoting every placeholder, and the same answer streamed as
//!    server-sent events of three bytes of content each.
//!
//! Options (environment): `BENCH_ITERATIONS` (default 20000; 2000 under `cargo test --benches`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use openshell_classifier::Scanner;
use openshell_policy::wire::DataType;
use openshell_router::classification::ContentClassifier;
use openshell_router::content::extract;
use openshell_router::redaction::redact;
use openshell_router::restore::{SseRestorer, restore_json};
use serde_json::{Value, json};

/// A 4 KiB conversation with eight personal values among ordinary text.
fn prompt() -> Value {
    let filler = "The quarterly roadmap review covers onboarding, search quality and the \
                  migration of the reporting pipeline to the new cluster. ";
    let people = [
        "Ask jane.doe@example.com to confirm, or call +1 415 555 2671 before noon.",
        "Copy bob.smith@example.org and jane.doe@example.com on the summary.",
        "Escalations go to oncall@example.net; the backup is +44 20 7946 0958.",
        "Finally, carol@example.co.uk reviews and bob.smith@example.org signs off.",
    ];
    let mut messages = vec![json!({"role": "system", "content": filler.repeat(8)})];
    for line in people {
        messages.push(
            json!({"role": "user", "content": format!("{}{line} {}", filler.repeat(4), filler)}),
        );
    }
    let body = json!({"model": "m", "messages": messages});
    assert!(
        (3800..4400).contains(&body.to_string().len()),
        "{}",
        body.to_string().len()
    );
    body
}

fn report(label: &str, mut samples: Vec<Duration>) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() as f64 * q) as usize).min(samples.len() - 1)];
    println!(
        "{label:<58} p50 {:>8.2} µs   p99 {:>8.2} µs   (n={})",
        at(0.50).as_secs_f64() * 1e6,
        at(0.99).as_secs_f64() * 1e6,
        samples.len()
    );
}

fn main() {
    let smoke = !std::env::args().any(|a| a == "--bench");
    let n: usize = std::env::var("BENCH_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if smoke { 2000 } else { 20_000 });
    let body = prompt();
    let text = extract(&body).text;
    let scanner = Scanner::global();
    let covered = DataType::Personal.set();
    let redacted = redact(&body, covered, scanner, &text);
    assert_eq!(redacted.placeholders.len(), 6, "{}", redacted.summary());
    println!(
        "request: {} B, {} ({} distinct values)",
        body.to_string().len(),
        redacted.summary(),
        redacted.placeholders.len()
    );

    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = redact(&body, covered, scanner, &text);
        samples.push(t.elapsed());
        std::hint::black_box(r);
    }
    report("redaction, 4 KiB request", samples);

    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let classifier = ContentClassifier::new(1 << 20, 64 << 10, Duration::from_millis(500), 0);
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let r = redact(&body, covered, scanner, &text);
        let residual = runtime.block_on(classifier.classify(extract(&r.body)));
        samples.push(t.elapsed());
        std::hint::black_box((r, residual));
    }
    report("redaction + classifying the redacted content", samples);

    let placeholders = Arc::new(redacted.placeholders);
    let quoted = extract(&redacted.body).text;
    let answer =
        json!({"choices": [{"index": 0, "message": {"role": "assistant", "content": quoted}}]})
            .to_string();
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        let restored = restore_json(answer.as_bytes(), &placeholders);
        samples.push(t.elapsed());
        std::hint::black_box(restored);
    }
    report("restoring a 4 KiB JSON answer", samples);

    let mut events = String::new();
    let mut rest = quoted.as_str();
    while !rest.is_empty() {
        let mut cut = 3.min(rest.len());
        while !rest.is_char_boundary(cut) {
            cut += 1;
        }
        let chunk = json!({"id": "c", "object": "chat.completion.chunk",
            "choices": [{"index": 0, "delta": {"content": &rest[..cut]}, "finish_reason": null}]});
        events.push_str(&format!("data: {chunk}\n\n"));
        rest = &rest[cut..];
    }
    events.push_str("data: [DONE]\n\n");
    let count = events.matches("data: ").count();
    let mut samples = Vec::with_capacity(n / 10);
    for _ in 0..n / 10 {
        let mut restorer = SseRestorer::new(Arc::clone(&placeholders));
        let t = Instant::now();
        let mut out = 0;
        for event in events.split_inclusive("\n\n") {
            out += restorer.push(event.as_bytes()).len();
        }
        out += restorer.finish().len();
        samples.push(t.elapsed() / count as u32);
        std::hint::black_box(out);
    }
    report(
        &format!("restoring a stream, per event ({count} events)"),
        samples,
    );
}
