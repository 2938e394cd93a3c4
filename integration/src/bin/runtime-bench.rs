//! Times `openshell run` against `crun run` and `runc run` of `true` on the same busybox
//! bundle, alternating them in one run so all see the same machine (each start after a 50 ms
//! pause, as a node starts sandboxes), and prints medians, p90s
//! and ratios against both baselines. It then times what every runtime's start includes and
//! none controls: moving a process into a new cgroup (see [`cgroup_migration`]).
//!
//! crun refuses a hybrid cgroup host whose cgroup2 hierarchy has controllers ("cgroups in
//! hybrid mode not supported"); there each crun run is started in a mount namespace of its own
//! where `/sys/fs/cgroup/unified` is unmounted (what `unshare -m sh -c 'umount
//! /sys/fs/cgroup/unified && exec crun …'` does, without the extra processes), so crun uses the
//! v1 controllers as runc does.
//!
//! `runtime-bench [--runs N] [--policy FILE [--admission]] [--samples FILE]`:
//! - with `--policy`, openshell runs the container hardened by that SandboxPolicy (attached as
//!   the bundle's `openshell-policy.yaml`) while crun and runc run it plain — the "hardened
//!   run vs a plain run" figure;
//! - with `--admission` as well, the hardened run is timed three ways: with the
//!   `openshell-hook` calls replaced by `/bin/true` (the run without admission work), with the
//!   hook deciding in-process (embedded engine; without and with its `[hooks]
//!   admission_cache`), and on a node running a `nemotron-service` the bench starts on a
//!   private socket (where the runtime injects the thin `openshell-hook-client`). The differences are what admission, registration
//!   and the audit event add to a run. The `createRuntime` hook is then also timed alone (its
//!   process started as the runtime starts it, the OCI state on its stdin, against a compiled
//!   policy record of that bundle), next to the start of `/bin/true`, and the admission
//!   latency the audit trail reports is summarised.
//!
//! - with `--samples FILE`, every timed start is also written to FILE as CSV
//!   (`variant,percentile,ms`, each variant's samples sorted; `scripts/bench.sh` plots them);
//!
//! - `runtime-bench --concurrent N --policy FILE` instead starts N hardened sandboxes running
//!   `sleep` (admission by the embedded engine), checks with `openshell list` that all N run at
//!   once, and reports the time to start them, the memory the node lost while they ran
//!   (`MemAvailable`, everything: kernel, cgroups, namespaces and the sleeping processes),
//!   what openshell itself keeps per sandbox (its processes and state directory) and the time
//!   to delete them all.
//!
//! openshell runs on private node configurations (registration records on a tmpfs, as a node
//! keeps them under `/run`; audit trail and spool in temporary directories on disk);
//! `siem://security-events` resolves to a local HTTP stand-in, so the example's
//! policies work as they are.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use openshell_integration::binaries;
use openshell_integration::bundle::Bundle;
use openshell_integration::node::TestNode;
use openshell_integration::runtime::run_to_files;
use openshell_integration::service::PolicyService;
use openshell_integration::siem::SiemStandIn;
use tempfile::TempDir;

/// One way of running the container, and its timings.
struct Variant {
    label: &'static str,
    /// The label without spaces, for `--samples`.
    key: &'static str,
    program: PathBuf,
    root: TempDir,
    bundle: PathBuf,
    config: Option<PathBuf>,
    /// Run in a mount namespace without the cgroup2 mount of a hybrid host (crun).
    hide_cgroup2: bool,
    /// Containers run so far.
    runs: u64,
    samples: Vec<Duration>,
}

/// The pause before each timed start (and before each timed cgroup move).
const IDLE_BEFORE_START: Duration = Duration::from_millis(50);

/// Where a hybrid host mounts its cgroup2 hierarchy.
const UNIFIED: &str = "/sys/fs/cgroup/unified";

/// Whether this host mounts cgroup2 beside v1 controllers with controllers of its own, which
/// crun refuses.
fn hybrid_with_cgroup2_controllers() -> bool {
    std::fs::read_to_string(Path::new(UNIFIED).join("cgroup.controllers"))
        .is_ok_and(|controllers| !controllers.trim().is_empty())
}

/// In the child before exec: a private mount namespace without the cgroup2 mount.
fn hide_cgroup2() -> std::io::Result<()> {
    use nix::mount::{MntFlags, MsFlags, mount, umount2};
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )?;
    umount2(UNIFIED, MntFlags::MNT_DETACH)?;
    Ok(())
}

impl Variant {
    fn new(
        (label, key): (&'static str, &'static str),
        program: PathBuf,
        bundle: &Path,
        config: Option<&TestNode>,
    ) -> Self {
        Variant {
            label,
            key,
            program,
            root: tempfile::tempdir().expect("state root"),
            bundle: bundle.to_owned(),
            config: config.map(TestNode::config),
            hide_cgroup2: false,
            runs: 0,
            samples: Vec::new(),
        }
    }

    /// crun on `bundle`, behind the hybrid-host wrapper where the host needs it.
    fn crun(bundle: &Path) -> Self {
        let mut variant = Variant::new(
            ("crun run (plain)", "crun"),
            PathBuf::from("crun"),
            bundle,
            None,
        );
        variant.hide_cgroup2 = hybrid_with_cgroup2_controllers();
        variant
    }

    /// One `run` of a container with an id of its own, as a node starts sandboxes: caches
    /// keyed by what differs between containers miss as they would there.
    fn time(&mut self) -> Duration {
        self.runs += 1;
        let id = format!("bench-{}", self.runs);
        let mut command = Command::new(&self.program);
        if let Some(config) = &self.config {
            command.env("OPENSHELL_CONFIG", config);
        }
        command
            .arg("--root")
            .arg(self.root.path())
            .args(["run", "--bundle"])
            .arg(&self.bundle)
            .arg(&id)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        if self.hide_cgroup2 {
            // SAFETY: between fork and exec the closure only makes system calls.
            unsafe {
                command.pre_exec(hide_cgroup2);
            }
        }
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
    let mut concurrent = None;
    let mut samples_file = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--runs" => runs = args.next().and_then(|n| n.parse().ok()).expect("--runs N"),
            "--policy" => policy = Some(args.next().expect("--policy FILE")),
            "--admission" => admission = true,
            "--samples" => samples_file = Some(PathBuf::from(args.next().expect("--samples FILE"))),
            "--concurrent" => {
                concurrent = Some(
                    args.next()
                        .and_then(|n| n.parse::<usize>().ok())
                        .expect("--concurrent N"),
                )
            }
            other => panic!(
                "unknown argument {other:?}; usage: runtime-bench [--runs N] [--policy FILE [--admission]] [--samples FILE] | --concurrent N --policy FILE"
            ),
        }
    }
    assert!(
        !admission || policy.is_some(),
        "--admission needs --policy FILE"
    );
    openshell_integration::require_root();
    let siem = SiemStandIn::start();
    let siem_table = format!("[siem]\nsecurity-events = \"{}\"\n", siem.url());
    let embedded = TestNode::on_tmpfs_registry(&siem_table);
    embedded.configure(&format!(
        "{siem_table}[hooks]\nadmission_cache = \"{}\"\n",
        embedded.path("admission-cache").display()
    ));
    let uncached = TestNode::on_tmpfs_registry(&siem_table);
    let sockets = tempfile::tempdir().expect("socket dir");
    let socket = sockets.path().join("nemotron.sock");
    let served = TestNode::on_tmpfs_registry(&format!(
        "{siem_table}[services]\nnemotron = \"{}\"\n",
        socket.display()
    ));
    if let Some(count) = concurrent {
        let policy = policy.expect("--concurrent needs --policy FILE");
        let service = PolicyService::start(&served.config(), &socket);
        concurrent_sandboxes(count, Path::new(&policy), &served, &service);
        return;
    }
    let plain = Bundle::new(&["true"]);
    let hardened = Bundle::new(&["true"]);
    if let Some(policy) = &policy {
        std::fs::copy(policy, hardened.path().join("openshell-policy.yaml")).expect("copy policy");
    }
    let control =
        TestNode::on_tmpfs_registry(&format!("{siem_table}[hooks]\nbinary = \"/bin/true\"\n"));
    let _service = admission.then(|| PolicyService::start(&served.config(), &socket));

    let openshell = binaries::openshell();
    let mut variants = vec![
        Variant::crun(plain.path()),
        Variant::new(
            ("runc run (plain)", "runc"),
            PathBuf::from("runc"),
            plain.path(),
            None,
        ),
    ];
    // The baselines come first: ratios are against them.
    let baselines = variants.len();
    if admission {
        variants.push(Variant::new(
            ("openshell, hook = /bin/true", "openshell-hook-true"),
            openshell.clone(),
            hardened.path(),
            Some(&control),
        ));
        variants.push(Variant::new(
            (
                "openshell, embedded, no cache",
                "openshell-embedded-uncached",
            ),
            openshell.clone(),
            hardened.path(),
            Some(&uncached),
        ));
        variants.push(Variant::new(
            ("openshell, embedded engine", "openshell-embedded"),
            openshell.clone(),
            hardened.path(),
            Some(&embedded),
        ));
        variants.push(Variant::new(
            ("openshell, policy service", "openshell-service"),
            openshell,
            hardened.path(),
            Some(&served),
        ));
    } else {
        let label = if policy.is_some() {
            ("openshell run (hardened)", "openshell-hardened")
        } else {
            ("openshell run", "openshell")
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
            // Each start after a pause, as a node starts sandboxes: a start right after
            // another finds the kernel's cgroup migration lock still held by the last writer
            // and skips its wait (see `cgroup_migration`), so one runtime's start would lend
            // its speed to the next.
            std::thread::sleep(IDLE_BEFORE_START);
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
    if let Some(file) = &samples_file {
        write_samples(file, &variants);
    }
    match cgroup_migration(runs.min(20)) {
        Ok(mut samples) => println!(
            "moving a process into a new cgroup (every runtime does it once a start): median {:.2} ms",
            median_ms(&mut samples)
        ),
        Err(e) => println!("moving a process into a new cgroup: not measured ({e})"),
    }
    for (variant, median) in variants.iter().zip(&medians).skip(baselines) {
        println!(
            "ratio ({} / crun, medians): {:.2}   (/ runc: {:.2})",
            variant.label,
            median / medians[0],
            median / medians[1]
        );
    }
    if admission {
        let control = medians[baselines];
        println!(
            "admission hooks add (medians): embedded engine {:+.2} ms ({:+.2} ms without its admission cache), policy service {:+.2} ms",
            medians[baselines + 2] - control,
            medians[baselines + 1] - control,
            medians[baselines + 3] - control
        );
        println!(
            "SIEM stand-in received {} audit events",
            siem.events().len()
        );
        let policy = policy.as_deref().expect("--admission has --policy");
        let nodes = [
            ("embedded, no cache", &uncached),
            ("embedded engine", &embedded),
            ("policy service", &served),
        ];
        for (label, node) in nodes {
            let probe = HookProbe::new(hardened.path(), Path::new(policy), node);
            let (hook, floor) = probe.time(runs);
            println!(
                "createRuntime hook alone, {label} ({}): median {hook:.2} ms (starting /bin/true: {floor:.2} ms)",
                probe.how()
            );
        }
        for (label, node) in nodes {
            match admission_latency_us(node) {
                Some(us) => println!(
                    "admission latency in the audit trail, {label}: median {:.3} ms",
                    us as f64 / 1000.0
                ),
                None => println!("admission latency in the audit trail, {label}: no events"),
            }
        }
    }
}

/// Writes every variant's (sorted) samples to `file` as CSV: `variant,percentile,ms`.
fn write_samples(file: &Path, variants: &[Variant]) {
    let mut csv = String::from("variant,percentile,ms\n");
    for variant in variants {
        let n = variant.samples.len();
        for (i, sample) in variant.samples.iter().enumerate() {
            let percentile = 100.0 * (i as f64 + 0.5) / n as f64;
            csv.push_str(&format!(
                "{},{percentile:.2},{:.3}\n",
                variant.key,
                ms(*sample)
            ));
        }
    }
    std::fs::write(file, csv).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
}

/// The `createRuntime` and `poststop` hooks the runtime injects on a node, with the compiled
/// policy record and an OCI state, for calling them alone as the runtime calls them.
struct HookProbe {
    _dir: TempDir,
    /// `path` and `args` of the `createRuntime` hook.
    create_runtime: (PathBuf, Vec<String>),
    /// `path` and `args` of the `poststop` hook.
    poststop: (PathBuf, Vec<String>),
    state: Vec<u8>,
}

impl HookProbe {
    /// Creates (and deletes) a container of `bundle` hardened by `policy` on `node`, keeping
    /// the hooks it was given and the compiled record they read.
    fn new(bundle: &Path, policy: &Path, node: &TestNode) -> Self {
        let dir = tempfile::tempdir().expect("probe dir");
        let root = dir.path().join("root");
        let id = "hook-probe";
        let openshell = |args: &[&str]| {
            let status = Command::new(binaries::openshell())
                .env("OPENSHELL_CONFIG", node.config())
                .arg("--root")
                .arg(&root)
                .args(args)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .status()
                .expect("run openshell");
            assert!(status.success(), "openshell {args:?} failed");
        };
        let bundle_arg = bundle.to_str().expect("bundle path");
        openshell(&["create", "--bundle", bundle_arg, id]);
        let staged = root.join(".openshell").join(id);
        let policy_file = dir.path().join("policy.json");
        std::fs::copy(staged.join("policy.json"), &policy_file).unwrap_or_else(|e| {
            panic!(
                "the compiled record of {} under {}: {e}",
                policy.display(),
                staged.display()
            )
        });
        let spec: serde_json::Value = serde_json::from_slice(
            &std::fs::read(staged.join("config.json")).expect("staged config.json"),
        )
        .expect("staged config.json is JSON");
        openshell(&["delete", "--force", id]);
        // The record moves out of the state directory `delete` removes.
        let staged_record = staged.join("policy.json").display().to_string();
        let hook = |kind: &str| {
            let hook = &spec["hooks"][kind][0];
            let args = hook["args"]
                .as_array()
                .unwrap_or_else(|| panic!("no {kind} hook injected"))
                .iter()
                .map(|a| {
                    a.as_str()
                        .expect("hook arg")
                        .replace(&staged_record, &policy_file.display().to_string())
                })
                .collect();
            (
                PathBuf::from(hook["path"].as_str().expect("hook path")),
                args,
            )
        };
        let state = serde_json::to_vec(&serde_json::json!({
            "ociVersion": "1.0.2",
            "id": id,
            "status": "creating",
            "pid": std::process::id(),
            "bundle": staged,
        }))
        .expect("state json");
        HookProbe {
            create_runtime: hook("createRuntime"),
            poststop: hook("poststop"),
            _dir: dir,
            state,
        }
    }

    /// The name of the `createRuntime` hook's program.
    fn program(&self) -> &str {
        self.create_runtime.1.first().map_or("", String::as_str)
    }

    /// Whether the runtime runs these hooks in its own process (the thin client's), not as
    /// processes.
    fn in_process(&self) -> bool {
        self.program() == "openshell-hook-client"
    }

    /// How the runtime runs the hook: `(program, in the runtime's process)` or the program.
    fn how(&self) -> String {
        if self.in_process() {
            format!("{}, in the runtime's process", self.program())
        } else {
            self.program().to_owned()
        }
    }

    /// Medians of `runs` `createRuntime` calls (each followed by an untimed `poststop`), made
    /// as the runtime makes them, and of as many starts of `/bin/true`, alternated.
    fn time(&self, runs: usize) -> (f64, f64) {
        let command = |(path, args): &(PathBuf, Vec<String>)| {
            let mut command = Command::new(path);
            command.args(&args[1..]);
            command
        };
        let hook = |call: &(PathBuf, Vec<String>)| {
            if self.in_process() {
                self.call_in_process(&call.1)
            } else {
                self.call(&mut command(call))
            }
        };
        let mut hook_samples = Vec::with_capacity(runs);
        let mut floor_samples = Vec::with_capacity(runs);
        for round in 0..runs + 3 {
            let elapsed = hook(&self.create_runtime);
            hook(&self.poststop);
            let floor = self.call(&mut Command::new("/bin/true"));
            if round >= 3 {
                hook_samples.push(elapsed);
                floor_samples.push(floor);
            }
        }
        (median_ms(&mut hook_samples), median_ms(&mut floor_samples))
    }

    /// Makes the thin client's call `args` in this process, as the runtime does; returns how long
    /// it took.
    fn call_in_process(&self, args: &[String]) -> Duration {
        let start = Instant::now();
        let call = openshell_hook_client::HookCall::from_args(args).expect("the hook's arguments");
        call.run(&self.state)
            .unwrap_or_else(|e| panic!("{args:?} failed: {e}"));
        start.elapsed()
    }

    /// Runs `command` with a clean environment and the OCI state on stdin, as the runtime runs
    /// hooks; returns how long it took.
    fn call(&self, command: &mut Command) -> Duration {
        use std::io::Write as _;
        command
            .env_clear()
            .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
            .stdin(Stdio::piped())
            .stdout(Stdio::null());
        let start = Instant::now();
        let mut child = command.spawn().expect("spawn hook");
        let mut stdin = child.stdin.take().expect("stdin");
        // `/bin/true` may exit before reading: its closed pipe is no failure.
        let _ = stdin.write_all(&self.state);
        drop(stdin);
        let status = child.wait().expect("wait hook");
        let elapsed = start.elapsed();
        assert!(status.success(), "{command:?} failed");
        elapsed
    }
}

/// The median `latency_us` of the admission decisions in `node`'s audit trail.
fn admission_latency_us(node: &TestNode) -> Option<u64> {
    let text = std::fs::read_to_string(node.trail()).ok()?;
    let mut latencies: Vec<u64> = text
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|event| event["action"] == "sandbox.start")
        .filter_map(|event| event["latency_us"].as_u64())
        .collect();
    latencies.sort_unstable();
    latencies.get(latencies.len().checked_sub(1)? / 2).copied()
}

/// Times `rounds` writes of a sleeping child's pid into a new cgroup's `cgroup.procs` (on
/// cgroup v2, else in the v1 `pids` hierarchy), 50 ms apart as container starts are. The
/// kernel takes its threadgroup lock for writing there; unless the cgroup2 mount has
/// `favordynmods`, that waits for an RCU grace period whenever the lock was idle, which on a
/// VM is milliseconds of every container start, whichever the runtime.
fn cgroup_migration(rounds: usize) -> std::io::Result<Vec<Duration>> {
    let root = Path::new("/sys/fs/cgroup");
    let hierarchy = if root.join("cgroup.controllers").exists() {
        root.to_owned()
    } else {
        root.join("pids")
    };
    let dir = hierarchy.join(format!("runtime-bench-migration-{}", std::process::id()));
    std::fs::create_dir(&dir)?;
    let samples = (0..rounds).map(|_| time_one_move(&dir)).collect();
    // Each child was reaped before the next: the cgroup is empty and can go.
    std::fs::remove_dir(&dir)?;
    samples
}

/// After 50 ms idle, the time to write a sleeping child's pid into `dir`'s `cgroup.procs`.
fn time_one_move(dir: &Path) -> std::io::Result<Duration> {
    std::thread::sleep(IDLE_BEFORE_START);
    let mut child = Command::new("sleep").arg("5").spawn()?;
    let start = Instant::now();
    let moved = std::fs::write(dir.join("cgroup.procs"), child.id().to_string());
    let elapsed = start.elapsed();
    let _ = child.kill();
    let _ = child.wait();
    moved.map(|()| elapsed)
}

fn median_ms(samples: &mut [Duration]) -> f64 {
    samples.sort();
    ms(samples[(samples.len() - 1) / 2])
}

/// Starts `count` sandboxes hardened by `policy` at once, admitted and registered by the node's
/// policy `service`, reports what they cost (the service's memory too), deletes them.
fn concurrent_sandboxes(count: usize, policy: &Path, node: &TestNode, service: &PolicyService) {
    let bundle = Bundle::new(&["sleep", "600"]);
    std::fs::copy(policy, bundle.path().join("openshell-policy.yaml")).expect("copy policy");
    let root = tempfile::tempdir().expect("state root");
    // Runs openshell and returns its stdout. A detached container inherits the runtime's
    // stdio, so `run --detach` gets a file rather than a pipe that would stay open.
    let openshell = |args: &[&str]| {
        let output = run_to_files(
            Command::new(binaries::openshell())
                .env("OPENSHELL_CONFIG", node.config())
                .arg("--root")
                .arg(root.path())
                .args(args)
                .stdin(Stdio::null()),
        );
        assert!(
            output.status.success(),
            "openshell {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    };
    let ids: Vec<String> = (0..count).map(|i| format!("sandbox-{i}")).collect();
    let bundle_path = bundle.path().to_str().expect("bundle path");
    let available =
        || openshell_integration::proc_kib("/proc/meminfo", "MemAvailable").expect("MemAvailable");
    let service_rss = || {
        let pid = service.pid().expect("the policy service runs");
        openshell_integration::proc_kib(format!("/proc/{pid}/status"), "VmRSS").expect("VmRSS")
    };
    let available_before = available();
    // What the node holds after each quarter has started, to show how the costs grow.
    let quarter = count.div_ceil(4).max(1);
    let mut checkpoints = vec![Checkpoint {
        started: 0,
        start_time: Duration::ZERO,
        available_kib: available_before,
        state_bytes: 0,
        service_kib: service_rss(),
    }];
    let mut start_time = Duration::ZERO;
    for (i, id) in ids.iter().enumerate() {
        let started = Instant::now();
        openshell(&["run", "--detach", "--bundle", bundle_path, id]);
        start_time += started.elapsed();
        if (i + 1) % quarter == 0 || i + 1 == count {
            checkpoints.push(Checkpoint {
                started: i + 1,
                start_time,
                available_kib: available(),
                state_bytes: directory_bytes(root.path()),
                service_kib: service_rss(),
            });
        }
    }
    let listed: Vec<serde_json::Value> =
        serde_json::from_slice(&openshell(&["list", "--format", "json"])).expect("list json");
    let running = listed.iter().filter(|c| c["status"] == "running").count();
    assert_eq!(running, count, "not every sandbox is running: {listed:?}");
    let available_running =
        openshell_integration::proc_kib("/proc/meminfo", "MemAvailable").expect("MemAvailable");
    let state_bytes = directory_bytes(root.path());
    let resident = openshell_processes();
    let deleted = Instant::now();
    for id in &ids {
        openshell(&["delete", "--force", id]);
    }
    let delete_time = deleted.elapsed();
    println!(
        "{count} hardened sandboxes ({}), all running at once:",
        policy.display()
    );
    println!(
        "  start: {:.2} s in all, {:.1} ms a sandbox; delete --force: {:.1} ms a sandbox",
        start_time.as_secs_f64(),
        ms(start_time) / count as f64,
        ms(delete_time) / count as f64
    );
    println!(
        "  node memory in use while they ran: {:.0} KiB a sandbox (MemAvailable, all of it)",
        available_before.saturating_sub(available_running) as f64 / count as f64
    );
    println!(
        "  openshell's own: {resident} processes left running, state {:.1} KiB a sandbox",
        state_bytes as f64 / 1024.0 / count as f64
    );
    report_growth(&checkpoints);
}

/// What the node held once `started` sandboxes had started.
struct Checkpoint {
    started: usize,
    /// Time spent starting them, in all.
    start_time: Duration,
    available_kib: u64,
    state_bytes: u64,
    /// The policy service's resident memory.
    service_kib: u64,
}

/// Each quarter's cost per sandbox (start time, node memory, state, the policy service's
/// memory), and the last quarter's against the first: a cost that grows no worse than linearly
/// stays near 1.
fn report_growth(checkpoints: &[Checkpoint]) {
    println!("  each quarter, a sandbox: start, node memory, state, policy service memory");
    let costs: Vec<[f64; 4]> = checkpoints
        .windows(2)
        .map(|pair| {
            let (before, after) = (&pair[0], &pair[1]);
            let n = (after.started - before.started) as f64;
            let kib = |less: u64, more: u64| more.saturating_sub(less) as f64 / n;
            let cost = [
                ms(after.start_time - before.start_time) / n,
                kib(after.available_kib, before.available_kib),
                kib(before.state_bytes, after.state_bytes) / 1024.0,
                kib(before.service_kib, after.service_kib),
            ];
            println!(
                "    sandboxes {:>5}-{:<5} {:>7.1} ms {:>7.0} KiB {:>7.1} KiB {:>7.1} KiB",
                before.started + 1,
                after.started,
                cost[0],
                cost[1],
                cost[2],
                cost[3]
            );
            cost
        })
        .collect();
    if let (Some(first), Some(last)) = (costs.first(), costs.last())
        && costs.len() > 1
    {
        let ratio = |i: usize| {
            if first[i] > 0.0 {
                format!("{:.2}", last[i] / first[i])
            } else {
                "-".to_owned()
            }
        };
        println!(
            "  last quarter / first quarter, a sandbox: start {}, node memory {}, state {}, policy service memory {}",
            ratio(0),
            ratio(1),
            ratio(2),
            ratio(3)
        );
    }
    if let (Some(first), Some(last)) = (checkpoints.first(), checkpoints.last()) {
        println!(
            "  policy service: {} KiB resident before, {} KiB with {} sandboxes registered",
            first.service_kib, last.service_kib, last.started
        );
    }
}

/// Bytes of the regular files under `dir`.
fn directory_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .expect("read state directory")
        .flatten()
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => directory_bytes(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map_or(0, |m| m.len()),
            _ => 0,
        })
        .sum()
}

/// How many openshell runtime processes are alive (by `argv[0]`, which the runtime's re-exec
/// through its sealed binary keeps).
fn openshell_processes() -> usize {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter(|entry| {
            std::fs::read(entry.path().join("cmdline")).is_ok_and(|cmdline| {
                let argv0 = cmdline.split(|b| *b == 0).next().unwrap_or_default();
                Path::new(std::ffi::OsStr::from_bytes(argv0)).file_name()
                    == Some(std::ffi::OsStr::new("openshell"))
            })
        })
        .count()
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}
