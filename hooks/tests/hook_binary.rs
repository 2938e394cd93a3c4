//! The hook binary as a runtime runs it: OCI state on stdin, a bundle, a policy file; against
//! the embedded engine and against a real policy service on a unix socket that allows, denies,
//! is gone, or hangs.

use std::io::Write;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nemotron_service::http::{Bound, ServerConfig};
use nemotron_service::{PolicyService, ServiceSettings};
use openshell_policy::CompiledPolicy;
use openshell_policy::node_config::NodeConfig;
use serde_json::{Value, json};

struct Setup {
    dir: tempfile::TempDir,
}

impl Setup {
    /// A container whose compiled policy is `policy` with the spec of an agent (asking for a GPU
    /// if `gpu`), written where the runtime writes it.
    fn new(mut policy: CompiledPolicy, gpu: bool) -> Setup {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("bundle");
        std::fs::create_dir_all(bundle.join("rootfs")).unwrap();
        let mut linux =
            json!({"namespaces": [{"type": "pid"}, {"type": "network"}, {"type": "mount"}]});
        if gpu {
            linux["devices"] =
                json!([{"path": "/dev/nvidia0", "type": "c", "major": 195, "minor": 0}]);
        }
        let spec = json!({
            "ociVersion": "1.0.2",
            "process": {"args": ["/bin/agent", "--serve"], "cwd": "/", "user": {"uid": 0, "gid": 0}, "env": ["PATH=/bin"]},
            "root": {"path": "rootfs", "readonly": true},
            "annotations": {"org.opencontainers.image.ref.name": "registry.example/agent:1"},
            "linux": linux
        });
        std::fs::write(bundle.join("config.json"), spec.to_string()).unwrap();
        policy.spec = serde_json::from_value(spec).unwrap();
        let policy = policy.seal();
        std::fs::write(
            dir.path().join("policy.json"),
            serde_json::to_vec(&policy).unwrap(),
        )
        .unwrap();
        Setup { dir }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn node(&self, socket: Option<&Path>) -> NodeConfig {
        let mut node = NodeConfig {
            registry_dir: self.path("registry"),
            ..NodeConfig::default()
        };
        node.audit.spool_dir = self.path("spool");
        node.audit.trail = Some(self.path("trail.jsonl"));
        node.services.nemotron = socket.map(Path::to_owned);
        node
    }

    fn write_config(&self, socket: Option<&Path>) -> PathBuf {
        let node = self.node(socket);
        let mut text = format!(
            "registry_dir = \"{}\"\n[audit]\nspool_dir = \"{}\"\ntrail = \"{}\"\n",
            node.registry_dir.display(),
            node.audit.spool_dir.display(),
            self.path("trail.jsonl").display()
        );
        if let Some(s) = socket {
            text.push_str(&format!("[services]\nnemotron = \"{}\"\n", s.display()));
        }
        let path = self.path("config.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn state(&self, id: &str) -> String {
        json!({"ociVersion": "1.0.2", "id": id, "status": "creating", "pid": std::process::id(),
               "bundle": self.path("bundle")})
        .to_string()
    }

    fn hook(&self, args: &[&str], stdin: &str, env: &[(&str, &str)]) -> (Output, Duration) {
        let mut command = Command::new(env!("CARGO_BIN_EXE_openshell-hook"));
        command
            .args(args)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let started = Instant::now();
        let mut child = command.spawn().unwrap();
        // A hook that refuses to run exits before reading its stdin (as runtimes, ignore that).
        let written = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        if let Err(e) = written {
            assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
        }
        let out = child.wait_with_output().unwrap();
        (out, started.elapsed())
    }

    fn create(&self, id: &str, config: &Path, timeout_ms: u64) -> (Output, Duration) {
        let policy = self.path("policy.json");
        let timeout = timeout_ms.to_string();
        self.hook(
            &[
                "create-runtime",
                "--policy",
                policy.to_str().unwrap(),
                "--config",
                config.to_str().unwrap(),
                "--timeout-ms",
                &timeout,
            ],
            &self.state(id),
            &[],
        )
    }

    fn record(&self, id: &str) -> PathBuf {
        self.path("registry").join(format!("{id}.json"))
    }
}

/// A compiled policy allowing `crm.read`, denying `denied`, with `gpuAccess: gpu_access`.
fn policy(denied: &[&str], gpu_access: &str) -> CompiledPolicy {
    let yaml = format!(
        "apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {{name: customer-support-agent}}\n\
         spec:\n  resources: {{gpuAccess: {gpu_access}}}\n  permissions: {{allowedAPIs: [crm.read], deniedAPIs: {denied:?}}}\n"
    );
    openshell_policy::compile_default("policy.yaml", &yaml).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A policy service on a unix socket in this process.
struct RunningService {
    service: Arc<PolicyService>,
    stop: tokio::sync::watch::Sender<bool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RunningService {
    fn start(node: NodeConfig, socket: &Path) -> RunningService {
        let service = Arc::new(PolicyService::new(ServiceSettings::new(node)).unwrap());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let config = ServerConfig::new(socket.to_owned());
        let s = Arc::clone(&service);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let bound = Bound::bind(config).await.unwrap();
                ready_tx.send(()).unwrap();
                bound.serve(s, stopped).await;
            });
        });
        ready_rx.recv().unwrap();
        RunningService {
            service,
            stop,
            thread: Some(thread),
        }
    }

    fn kill(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        let _ = self.stop.send(true);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for RunningService {
    fn drop(&mut self) {
        self.shutdown();
    }
}

#[test]
fn embedded_engine_admits_registers_and_cleans_up() {
    let s = Setup::new(policy(&["admin.*"], "inference-only"), false);
    let config = s.write_config(None);
    let (out, _) = s.create("c-ok", &config, 5000);
    assert!(out.status.success(), "{}", stderr(&out));
    let record: Value =
        serde_json::from_str(&std::fs::read_to_string(s.record("c-ok")).unwrap()).unwrap();
    assert_eq!(record["policy"]["name"], "customer-support-agent");
    assert_eq!(
        record["netns_path"],
        format!("/proc/{}/ns/net", std::process::id())
    );
    let trail = std::fs::read_to_string(s.path("trail.jsonl")).unwrap();
    assert!(
        trail.contains("\"action\":\"sandbox.start\"") && trail.contains("\"decision\":\"allow\""),
        "{trail}"
    );
    assert!(trail.contains("registry.example/agent:1"));

    let (out, _) = s.hook(
        &["poststop", "--config", config.to_str().unwrap()],
        &s.state("c-ok"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!s.record("c-ok").exists());
}

#[test]
fn embedded_engine_denies_and_leaves_nothing() {
    let s = Setup::new(policy(&["sandbox.start"], "inference-only"), false);
    let config = s.write_config(None);
    let (out, _) = s.create("c-deny", &config, 5000);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("admission denied for container c-deny"),
        "{err}"
    );
    assert!(err.contains("sandbox.denied-api[sandbox.start]"), "{err}");
    assert!(!s.record("c-deny").exists());
}

/// The embedded engine's configuration with `[hooks] admission_cache` in the setup's directory.
fn config_with_cache(s: &Setup) -> PathBuf {
    let config = s.write_config(None);
    let text = std::fs::read_to_string(&config).unwrap().replace(
        "[audit]",
        &format!(
            "[hooks]\nadmission_cache = \"{}\"\n[audit]",
            s.path("cache").display()
        ),
    );
    std::fs::write(&config, text).unwrap();
    config
}

fn cache_entries(s: &Setup) -> Vec<PathBuf> {
    std::fs::read_dir(s.path("cache"))
        .map(|entries| entries.map(|e| e.unwrap().path()).collect())
        .unwrap_or_default()
}

#[test]
fn embedded_engine_reuses_a_verified_admission_and_never_a_denial() {
    let s = Setup::new(policy(&["admin.*"], "inference-only"), false);
    let config = config_with_cache(&s);
    for id in ["c-1", "c-2"] {
        let (out, _) = s.create(id, &config, 5000);
        assert!(out.status.success(), "{}", stderr(&out));
    }
    let entries = cache_entries(&s);
    assert_eq!(entries.len(), 1, "one entry for both containers");
    // A tampered entry is not an answer: the engine decides again and rewrites it.
    let text = std::fs::read_to_string(&entries[0]).unwrap();
    std::fs::write(
        &entries[0],
        text.replace("admission.default", "admission.forged"),
    )
    .unwrap();
    let (out, _) = s.create("c-3", &config, 5000);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&entries[0]).unwrap(), text);
    let trail = std::fs::read_to_string(s.path("trail.jsonl")).unwrap();
    assert_eq!(trail.matches("\"action\":\"sandbox.start\"").count(), 3);
    assert!(!trail.contains("admission.forged"), "{trail}");

    let denied = Setup::new(policy(&["sandbox.start"], "inference-only"), false);
    let config = config_with_cache(&denied);
    for id in ["d-1", "d-2"] {
        let (out, _) = denied.create(id, &config, 5000);
        assert!(!out.status.success());
        assert!(stderr(&out).contains("sandbox.denied-api[sandbox.start]"));
    }
    assert!(
        cache_entries(&denied).is_empty(),
        "a denial is never stored"
    );
}

#[test]
fn service_admits_registers_denies_and_unregisters() {
    let s = Setup::new(policy(&[], "none"), false);
    let socket = s.path("nemotron.sock");
    let service = RunningService::start(s.node(None), &socket);
    let config = s.write_config(Some(&socket));

    let (out, _) = s.create("c-svc", &config, 5000);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(s.record("c-svc").exists());
    let written = openshell_policy::CompiledPolicy::read(&s.path("policy.json")).unwrap();
    assert_eq!(
        service.service.registration("c-svc").unwrap().policy.digest,
        written.digest
    );

    let (out, _) = s.hook(
        &["poststop", "--config", config.to_str().unwrap()],
        &s.state("c-svc"),
        &[],
    );
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!s.record("c-svc").exists());
    assert!(service.service.registration("c-svc").is_none());

    // The same policy denies a container that asks for a GPU.
    let gpu = Setup::new(policy(&[], "none"), true);
    let config = gpu.write_config(Some(&socket));
    let (out, _) = gpu.create("c-gpu", &config, 5000);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("admission.gpu-access"),
        "{}",
        stderr(&out)
    );
    assert!(!gpu.record("c-gpu").exists());
    assert!(service.service.registration("c-gpu").is_none());
    service.kill();
}

#[test]
fn service_gone_fails_closed() {
    let s = Setup::new(policy(&[], "inference-only"), false);
    // A service that was killed: its socket file is left behind, nobody listens.
    let socket = s.path("dead.sock");
    drop(UnixListener::bind(&socket).unwrap());
    let config = s.write_config(Some(&socket));
    let (out, elapsed) = s.create("c-dead", &config, 3000);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot connect to the policy service"),
        "{}",
        stderr(&out)
    );
    assert!(elapsed < Duration::from_secs(3));
    assert!(!s.record("c-dead").exists());

    // A service that was stopped cleanly (socket removed).
    let socket = s.path("stopped.sock");
    let service = RunningService::start(s.node(None), &socket);
    service.kill();
    let config = s.write_config(Some(&socket));
    let (out, _) = s.create("c-stopped", &config, 3000);
    assert!(!out.status.success());
    assert!(!s.record("c-stopped").exists());
}

#[test]
fn hanging_service_fails_within_the_timeout() {
    let s = Setup::new(policy(&[], "inference-only"), false);
    let socket = s.path("hang.sock");
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let config = s.write_config(Some(&socket));
    let (out, elapsed) = s.create("c-hang", &config, 700);
    assert!(!out.status.success());
    let err = stderr(&out);
    assert!(
        err.contains("did not answer within") || err.contains("failing closed"),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(700) && elapsed < Duration::from_secs(3),
        "{elapsed:?}"
    );
    assert!(!s.record("c-hang").exists());
}

#[test]
fn untrusted_environment_and_bad_input_are_refused() {
    let s = Setup::new(policy(&[], "inference-only"), false);
    let config = s.write_config(None);
    let policy_file = s.path("policy.json");
    let args = [
        "create-runtime",
        "--policy",
        policy_file.to_str().unwrap(),
        "--config",
        config.to_str().unwrap(),
    ];
    let (out, _) = s.hook(
        &args,
        &s.state("c-env"),
        &[("LD_PRELOAD", "/nonexistent/evil.so")],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("refusing to run") && stderr(&out).contains("LD_PRELOAD"),
        "{}",
        stderr(&out)
    );
    assert!(!s.record("c-env").exists());

    let (out, _) = s.hook(&args, "{not json", &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("OCI state on stdin is not valid"),
        "{}",
        stderr(&out)
    );

    // A compiled policy changed after `create` wrote it is refused, and nothing is registered.
    let mut record: Value = serde_json::from_slice(&std::fs::read(&policy_file).unwrap()).unwrap();
    record["decisions"]["permissions"]["allowedAPIs"] = json!(["*"]);
    std::fs::write(&policy_file, record.to_string()).unwrap();
    let (out, _) = s.hook(&args, &s.state("c-tampered"), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("changed after it was compiled"),
        "{}",
        stderr(&out)
    );
    assert!(!s.record("c-tampered").exists());

    // The policy file must not be a symlink (it could point anywhere the runtime did not write).
    std::fs::rename(&policy_file, s.path("elsewhere.json")).unwrap();
    std::os::unix::fs::symlink(s.path("elsewhere.json"), &policy_file).unwrap();
    let (out, _) = s.hook(&args, &s.state("c-link"), &[]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("cannot read compiled policy"),
        "{}",
        stderr(&out)
    );
}
