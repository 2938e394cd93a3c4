//! Times `openshell run` against `runc run` of `true` on the same busybox bundle, alternating the
//! two in one run so both see the same machine, and prints medians, p90s and their ratio.
//!
//! `runtime-bench [--runs N] [--policy FILE]`: with `--policy`, openshell runs the container
//! hardened by that SandboxPolicy (attached as the bundle's `openshell-policy.yaml`) while runc
//! runs it plain — the "hardened run vs runc's plain run" figure.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openshell_integration::binaries;
use openshell_integration::bundle::Bundle;

fn main() {
    let mut runs = 50usize;
    let mut policy = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--policy" => policy = Some(args.next().expect("--policy FILE")),
            other => panic!(
                "unknown argument {other:?}; usage: runtime-bench [--runs N] [--policy FILE]"
            ),
        }
    }
    openshell_integration::require_root();
    let plain = Bundle::new(&["true"]);
    let hardened = Bundle::new(&["true"]);
    if let Some(policy) = &policy {
        std::fs::copy(policy, hardened.path().join("openshell-policy.yaml")).expect("copy policy");
    }
    let os_root = tempfile::tempdir().unwrap();
    let runc_root = tempfile::tempdir().unwrap();
    let openshell = binaries::openshell();
    let time = |program: &Path, root: &Path, bundle: &Path, id: &str| {
        let start = Instant::now();
        let status = Command::new(program)
            .arg("--root")
            .arg(root)
            .args(["run", "--bundle"])
            .arg(bundle)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .status()
            .expect("spawn runtime");
        assert!(status.success(), "{} run failed", program.display());
        start.elapsed()
    };
    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for round in 0..runs + 3 {
        let a = time(
            &openshell,
            os_root.path(),
            hardened.path(),
            "bench-openshell",
        );
        let b = time(
            Path::new("runc"),
            runc_root.path(),
            plain.path(),
            "bench-runc",
        );
        if round >= 3 {
            // the first rounds warm caches
            ours.push(a);
            theirs.push(b);
        }
    }
    let label = if policy.is_some() {
        "openshell run (hardened)"
    } else {
        "openshell run"
    };
    let (om, op) = summary(&mut ours);
    let (rm, rp) = summary(&mut theirs);
    println!(
        "{label:<26} median {:>7.2} ms   p90 {:>7.2} ms",
        ms(om),
        ms(op)
    );
    println!(
        "{:<26} median {:>7.2} ms   p90 {:>7.2} ms",
        "runc run (plain)",
        ms(rm),
        ms(rp)
    );
    println!("ratio (openshell / runc, medians): {:.2}", ms(om) / ms(rm));
}

fn summary(samples: &mut [Duration]) -> (Duration, Duration) {
    samples.sort();
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.9))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
