//! Per-call cost of the scanner, the classifier and redaction.
//!
//! `cargo bench -p openshell-classifier` prints, per input, the median and 99th percentile of
//! single calls and the mean over a tight loop.

use std::hint::black_box;
use std::time::{Duration, Instant};

use openshell_classifier::{Classifier, redact, scan};

const CLEAN: &str =
    "Customer asked about the delivery window for order 88213; replied with the tracking link.";
const PII: &str = "Refund card 4111 1111 1111 1111 for jane.doe@example.com, phone (415) 555-2671, \
                   IBAN DE89 3704 0044 0532 0130 00, diagnosed with type 2 diabetes (E11.9).";
const SECRET: &str = "export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE\npassword=hunter22\n";

fn document(bytes: usize) -> String {
    let mut doc = String::with_capacity(bytes + PII.len());
    let mut i = 0;
    while doc.len() < bytes {
        doc.push_str(if i % 8 == 7 { PII } else { CLEAN });
        doc.push('\n');
        i += 1;
    }
    doc
}

fn measure(name: &str, input: &str, f: impl Fn(&str)) {
    for _ in 0..200 {
        f(input);
    }
    let samples = if input.len() > 32 * 1024 { 300 } else { 5000 };
    let mut times: Vec<Duration> = (0..samples)
        .map(|_| {
            let start = Instant::now();
            f(input);
            start.elapsed()
        })
        .collect();
    times.sort();
    let p50 = times[times.len() / 2];
    let p99 = times[times.len() * 99 / 100];
    let loops = samples as u32;
    let start = Instant::now();
    for _ in 0..loops {
        f(input);
    }
    let mean = start.elapsed() / loops;
    println!(
        "{name:<10} {:>7} B  p50 {:>9.2?}  p99 {:>9.2?}  mean {:>9.2?}",
        input.len(),
        p50,
        p99,
        mean
    );
}

fn main() {
    let classifier = Classifier::default();
    let inputs = [
        ("clean", CLEAN.to_owned()),
        ("pii", PII.to_owned()),
        ("secret", SECRET.to_owned()),
        ("doc-4k", document(4 * 1024)),
        ("doc-64k", document(64 * 1024)),
    ];
    for (label, text) in &inputs {
        measure(&format!("scan/{label}"), text, |t| {
            black_box(scan(black_box(t)));
        });
        measure(&format!("classify/{label}"), text, |t| {
            black_box(classifier.classify_text(black_box(t)));
        });
        measure(&format!("redact/{label}"), text, |t| {
            black_box(redact(black_box(t)));
        });
    }
}
