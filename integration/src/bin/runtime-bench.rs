//! Times `openshell run` against `runc run` of `true` on the same busybox bundle, alternating
//! them in one run so all see the same machine, and prints medians, p90s and ratios.
//!
//! `runtime-bench [--runs N] [--policy FILE [--admission]]`:
//! - with `--policy`, openshell runs the container hardened by that SandboxPolicy (attached as
//!   the bundle's `openshell-policy.yaml`) while runc runs it plain — the "hardened run vs
//!   runc's plain run" figure;
//! - with `--admission` as well, the hardened run is timed three ways: with the
//!   `openshell-hook` calls replaced by `/bin/true` (the run without admission work), with the
//!   hook deciding in-process (embedded engine), and with the hook asking a `nemotron-service`
//!   the bench starts on a private socket. The differences are what admission, registration
//!   and the audit event add to a run.
//!
//! openshell runs on private node configurations (registry, audit trail and spool in temporary
//! directories); `siem://security-events` resolves to a local HTTP stand-in, so the seed's
//! policies work as they are.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openshell_integration::binaries;
use openshell_integration::bundle::Bundle;
use openshell_integration::node::TestNode;
use openshell_integration::service::PolicyService;
use openshell_integration::siem::SiemStandIn;
use tempfile::TempDir;

/// One way of running the container, and its timings.
struct Variant {
    label: &'static str,
    program: PathBuf,
    root: TempDir,
    bundle: PathBuf,
    config: Option<PathBuf>,
    samples: Vec<Duration>,
}

impl Variant {
    fn new(
        label: &'static str,
        program: PathBuf,
        bundle: &Path,
        config: Option<&TestNode>,
    ) -> Self {
        Variant {
            label,
            program,
            root: tempfile::tempdir().expect("state root"),
            bundle: bundle.to_owned(),
            config: config.map(TestNode::config),
            samples: Vec::new(),
        }
    }

    fn time(&self) -> Duration {
        let mut command = Command::new(&self.program);
        if let Some(config) = &self.config {
            command.env("OPENSHELL_CONFIG", config);
        }
        command
            .arg("--root")
            .arg(self.root.path())
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg("bench")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        let start = Instant::now();
        let status = command.status().expect("spawn runtime");
        let elapsed = start.elapsed();
        assert!(status.success(), "{} run failed", self.label);
        elapsed
    }

    fn summary(&mut self) -> (f64, f64) {
        self.samples.sort();
        let at = |q: f64| self.samples[((self.samples.len() - 1) as f64 * q).round() as usize];
        (ms(at(0.5)), ms(at(0.9)))
    }
}

fn main() {
    let mut runs = 50usize;
    let mut policy = None;
    let mut admission = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--policy" => policy = Some(args.next().expect("--policy FILE")),
            "--admission" => admission = true,
            other => panic!(
                "unknown argument {other:?}; usage: runtime-bench [--runs N] [--policy FILE [--admission]]"
            ),
        }
    }
    assert!(
        !admission || policy.is_some(),
        "--admission needs --policy FILE"
    );
    openshell_integration::require_root();
    let plain = Bundle::new(&["true"]);
    let hardened = Bundle::new(&["true"]);
    if let Some(policy) = &policy {
        std::fs::copy(policy, hardened.path().join("openshell-policy.yaml")).expect("copy policy");
    }
    let siem = SiemStandIn::start();
    let siem_table = format!("[siem]\nsecurity-events = \"{}\"\n", siem.url());
    let embedded = TestNode::new(&siem_table);
    let control = TestNode::new(&format!("{siem_table}[hooks]\nbinary = \"/bin/true\"\n"));
    let sockets = tempfile::tempdir().expect("socket dir");
    let socket = sockets.path().join("nemotron.sock");
    let served = TestNode::new(&format!(
        "{siem_table}[services]\nnemotron = \"{}\"\n",
        socket.display()
    ));
    let _service = admission.then(|| PolicyService::start(&served.config(), &socket));

    let openshell = binaries::openshell();
    let mut variants = vec![Variant::new(
        "runc run (plain)",
        PathBuf::from("runc"),
        plain.path(),
        None,
    )];
    if admission {
        variants.push(Variant::new(
            "openshell, hook = /bin/true",
            openshell.clone(),
            hardened.path(),
            Some(&control),
        ));
        variants.push(Variant::new(
            "openshell, embedded engine",
            openshell.clone(),
            hardened.path(),
            Some(&embedded),
        ));
        variants.push(Variant::new(
            "openshell, policy service",
            openshell,
            hardened.path(),
            Some(&served),
        ));
    } else {
        let label = if policy.is_some() {
            "openshell run (hardened)"
        } else {
            "openshell run"
        };
        variants.push(Variant::new(
            label,
            openshell,
            hardened.path(),
            Some(&embedded),
        ));
    }
    for round in 0..runs + 3 {
        for variant in &mut variants {
            let elapsed = variant.time();
            if round >= 3 {
                // the first rounds warm caches
                variant.samples.push(elapsed);
            }
        }
    }
    let medians: Vec<f64> = variants
        .iter_mut()
        .map(|variant| {
            let (median, p90) = variant.summary();
            println!(
                "{:<30} median {median:>7.2} ms   p90 {p90:>7.2} ms",
                variant.label
            );
            median
        })
        .collect();
    for (variant, median) in variants.iter().zip(&medians).skip(1) {
        println!(
            "ratio ({} / runc, medians): {:.2}",
            variant.label,
            median / medians[0]
        );
    }
    if admission {
        println!(
            "admission hooks add (medians): embedded engine {:+.2} ms, policy service {:+.2} ms",
            medians[2] - medians[1],
            medians[3] - medians[1]
        );
        println!(
            "SIEM stand-in received {} audit events",
            siem.events().len()
        );
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
