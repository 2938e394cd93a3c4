//! The thin hook of a node that runs the policy service: the runtime injects
//! `openshell-hook-client` for a sandbox without a network to wire, and the service admits,
//! records and registers it (`POST /v1/sandboxes`) and undoes that at poststop
//! (`DELETE /v1/sandboxes/{id}`). Real containers, a real `nemotron-service`, and the client
//! binary driven directly with bad input, a tampered record, a restricted record, a peer that
//! does not speak HTTP and one that never answers.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use openshell_integration::binaries;
use openshell_integration::bundle::Bundle;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::node::TestNode;
use openshell_integration::policies::api_policy;
use openshell_integration::runtime::Runtime;
use openshell_integration::service::PolicyService;
use openshell_integration::{unique_id, wait_for};
use serde_json::{Value, json};

const ISOLATED: [&str; 3] = [
    "network: none",
    "filesystem: read-only",
    "syscalls: default",
];
const RESTRICTED: [&str; 3] = [
    "network: restricted",
    "filesystem: read-only",
    "syscalls: default",
];

/// A node whose hooks go to the policy service at `<dir>/nemotron.sock`, and the service.
fn service_node(dir: &Path, extra: &str) -> (TestNode, PolicyService, PathBuf) {
    let socket = dir.join("nemotron.sock");
    let node = TestNode::new(&format!(
        "[services]\nnemotron = \"{}\"\n{extra}",
        socket.display()
    ));
    let service = PolicyService::start(&node.config(), &socket);
    (node, service, socket)
}

/// `args[0]` and the path of the spec's first hook of `kind` (`createRuntime`, `poststop`).
fn hook(spec: &Value, kind: &str) -> (String, String) {
    let hook = &spec["hooks"][kind][0];
    (
        hook["args"][0].as_str().unwrap_or_default().to_owned(),
        hook["path"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The compiled record `create` would write for `policy` on the runtime's node.
fn compiled_record(rt: &Runtime, dir: &Path, name: &str, policy: &str) -> PathBuf {
    let yaml = dir.join(format!("{name}.yaml"));
    fs::write(&yaml, policy).unwrap();
    let bundle = Bundle::new(&["true"]);
    let record = rt.ok(&[
        "policy",
        "compile",
        "--format",
        "json",
        yaml.to_str().unwrap(),
        "--bundle",
        bundle.path().to_str().unwrap(),
        "--id",
        name,
    ]);
    let path = dir.join(format!("{name}.json"));
    fs::write(&path, record).unwrap();
    path
}

#[test]
fn a_service_node_starts_a_sandbox_through_the_thin_client() {
    let dir = tempfile::tempdir().unwrap();
    let (node, service, _socket) = service_node(dir.path(), "");
    let rt = Runtime::with_config(&node.config());
    let bundle = Bundle::new(&["sleep", "300"]);
    fs::write(
        bundle.path().join("openshell-policy.yaml"),
        api_policy("thin", &ISOLATED, &["crm.read"], &[], None),
    )
    .unwrap();
    let id = unique_id("thin");
    rt.ok(&[
        "run",
        "--detach",
        "--bundle",
        bundle.path().to_str().unwrap(),
        &id,
    ]);

    // The spec runs the thin client, found next to the runtime, for both hooks.
    let staged = rt.root().join(".openshell").join(&id);
    let spec: Value =
        serde_json::from_str(&fs::read_to_string(staged.join("config.json")).unwrap()).unwrap();
    let client = binaries::path("openshell-hook-client");
    for kind in ["createRuntime", "poststop"] {
        assert_eq!(
            hook(&spec, kind),
            (
                "openshell-hook-client".to_owned(),
                client.display().to_string()
            ),
            "{kind}"
        );
    }
    // The service admitted it, wrote the record the egress engine and router read, and
    // registered it.
    let record: Value =
        serde_json::from_str(&fs::read_to_string(node.record(&id)).unwrap()).unwrap();
    let compiled: Value =
        serde_json::from_str(&fs::read_to_string(staged.join("policy.json")).unwrap()).unwrap();
    assert_eq!(record["container_id"], id.as_str());
    assert_eq!(record["policy"]["digest"], compiled["digest"]);
    assert_eq!(record["pid"], json!(rt.pid(&id)));
    let (status, body) = service.get(&format!("/v1/containers/{id}"));
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        service.metric("nemotron_decisions_total{kind=\"admission\",outcome=\"allow\""),
        1.0
    );

    // poststop through the service: the record and the registration are gone.
    rt.ok(&["delete", "--force", &id]);
    assert!(!node.record(&id).exists());
    assert_eq!(service.get(&format!("/v1/containers/{id}")).0, 404);
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn restricted_sandboxes_and_a_named_hook_keep_the_full_hook() {
    let dir = tempfile::tempdir().unwrap();
    let (node, _service, socket) = service_node(dir.path(), "");
    let rt = Runtime::with_config(&node.config());
    let spec_of = |rt: &Runtime, name: &str, isolation: &[&str]| -> Value {
        let record = compiled_record(
            rt,
            dir.path(),
            name,
            &api_policy(name, isolation, &["crm.read"], &[], None),
        );
        serde_json::from_str::<Value>(&fs::read_to_string(record).unwrap()).unwrap()["spec"].clone()
    };
    let isolated = spec_of(&rt, "isolated", &ISOLATED);
    assert_eq!(hook(&isolated, "createRuntime").0, "openshell-hook-client");
    // A restricted sandbox's network is wired by openshell-hook.
    let restricted = spec_of(&rt, "restricted", &RESTRICTED);
    assert_eq!(
        hook(&restricted, "createRuntime"),
        (
            "openshell-hook".to_owned(),
            binaries::path("openshell-hook").display().to_string()
        )
    );
    // An operator who names the hook binary gets it, service or not.
    let named = TestNode::new(&format!(
        "[services]\nnemotron = \"{}\"\n[hooks]\nbinary = \"{}\"\n",
        socket.display(),
        binaries::path("openshell-hook").display()
    ));
    let rt = Runtime::with_config(&named.config());
    assert_eq!(
        hook(&spec_of(&rt, "named", &ISOLATED), "poststop").0,
        "openshell-hook"
    );
}

/// `create-runtime` against the service at `socket` with the record at `policy`.
fn create<'a>(socket: &'a Path, policy: &'a Path) -> [&'a str; 5] {
    [
        "create-runtime",
        "--socket",
        socket.to_str().unwrap(),
        "--policy",
        policy.to_str().unwrap(),
    ]
}

/// Runs the thin client with `stdin`, its environment cleared but for `env`.
fn client(args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(binaries::path("openshell-hook-client"))
        .args(args)
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // A client that refuses its arguments may exit before it reads the state;
    // the pipe it closed is then no failure of the test.
    if let Err(e) = child.stdin.take().unwrap().write_all(stdin) {
        assert_eq!(e.kind(), std::io::ErrorKind::BrokenPipe, "{e}");
    }
    child.wait_with_output().unwrap()
}

fn fails_with(out: &Output, text: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && stderr.contains(text),
        "expected a failure naming {text:?}, got {:?}: {stderr}",
        out.status
    );
}

#[test]
fn the_thin_client_refuses_bad_input_and_fails_closed() {
    let dir = tempfile::tempdir().unwrap();
    let (node, service, socket) = service_node(dir.path(), "");
    let rt = Runtime::with_config(&node.config());
    let socket_arg = socket.to_str().unwrap();
    let record = compiled_record(
        &rt,
        dir.path(),
        "agent",
        &api_policy("agent", &ISOLATED, &["crm.read"], &[], None),
    );
    let bundle = tempfile::tempdir().unwrap();
    let id = unique_id("thin-client");
    let state = json!({
        "ociVersion": "1.0.2", "id": id, "status": "creating",
        "pid": std::process::id(), "bundle": bundle.path(),
    })
    .to_string();
    let admit = create(&socket, &record);
    let poststop = ["poststop", "--socket", socket_arg];

    // Well-formed: recorded and registered; poststop undoes both, and again is no error.
    let out = client(&admit, state.as_bytes(), &[]);
    assert!(out.status.success(), "{out:?}");
    assert!(node.record(&id).exists());
    assert_eq!(service.get(&format!("/v1/containers/{id}")).0, 200);
    for _ in 0..2 {
        let out = client(&poststop, state.as_bytes(), &[]);
        assert!(out.status.success(), "{out:?}");
        assert!(!node.record(&id).exists());
    }
    assert_eq!(service.get(&format!("/v1/containers/{id}")).0, 404);

    // Bad state on stdin.
    fails_with(
        &client(&admit, b"{", &[]),
        "OCI state on stdin is not valid",
    );
    let bad_id = state.replace(&id, "../escape");
    fails_with(&client(&admit, bad_id.as_bytes(), &[]), "container id");
    fails_with(&client(&poststop, bad_id.as_bytes(), &[]), "container id");

    // A record changed after it was compiled: refused by the service, nothing written.
    let mut tampered: Value = serde_json::from_str(&fs::read_to_string(&record).unwrap()).unwrap();
    tampered["decisions"]["permissions"]["allowedAPIs"] = json!(["*"]);
    let tampered_path = dir.path().join("tampered.json");
    fs::write(&tampered_path, tampered.to_string()).unwrap();
    let tampered_create = create(&socket, &tampered_path);
    fails_with(
        &client(&tampered_create, state.as_bytes(), &[]),
        "was changed after it was compiled",
    );
    assert!(!node.record(&id).exists());

    // A symlinked or non-JSON policy file never reaches the service.
    let link = dir.path().join("link.json");
    std::os::unix::fs::symlink(&record, &link).unwrap();
    let linked = create(&socket, &link);
    fails_with(
        &client(&linked, state.as_bytes(), &[]),
        "cannot read compiled policy",
    );
    let junk = dir.path().join("junk.json");
    fs::write(&junk, "{\"name\": 1}, {}").unwrap();
    let junk_create = create(&socket, &junk);
    fails_with(
        &client(&junk_create, state.as_bytes(), &[]),
        "is not valid JSON",
    );

    // A restricted sandbox's record: the service leaves its wiring to openshell-hook.
    let restricted = compiled_record(
        &rt,
        dir.path(),
        "restricted",
        &api_policy("restricted", &RESTRICTED, &["crm.read"], &[], None),
    );
    let restricted_create = create(&socket, &restricted);
    fails_with(
        &client(&restricted_create, state.as_bytes(), &[]),
        "wired and registered by openshell-hook",
    );
    assert!(!node.record(&id).exists());

    // Dynamic-loader variables are refused.
    fails_with(
        &client(&admit, state.as_bytes(), &[("LD_LIBRARY_PATH", "/tmp")]),
        "dynamic-loader variables",
    );
    assert!(!node.record(&id).exists());
    assert_eq!(
        service.metric("nemotron_decisions_total{kind=\"admission\",outcome=\"allow\""),
        1.0
    );

    // A peer that does not speak HTTP, one that never answers, and no peer at all.
    let fake = dir.path().join("fake.sock");
    let listener = UnixListener::bind(&fake).unwrap();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let mut request = [0u8; 65536];
            let _ = conn.read(&mut request);
            let _ = conn.write_all(b"SSH-2.0-OpenSSH\r\n\r\n");
        }
    });
    let fake_create = create(&fake, &record);
    fails_with(
        &client(&fake_create, state.as_bytes(), &[]),
        "not an HTTP answer",
    );
    let silent = dir.path().join("silent.sock");
    let listener = UnixListener::bind(&silent).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let started = Instant::now();
    let out = client(
        &[&create(&silent, &record)[..], &["--timeout-ms", "400"]].concat(),
        state.as_bytes(),
        &[],
    );
    let elapsed = started.elapsed();
    fails_with(&out, "did not answer within");
    assert!(
        elapsed >= Duration::from_millis(400) && elapsed < Duration::from_secs(3),
        "took {elapsed:?}"
    );
    let missing = dir.path().join("missing.sock");
    let missing_create = create(&missing, &record);
    fails_with(
        &client(&missing_create, state.as_bytes(), &[]),
        "cannot connect to the policy service",
    );
    assert!(wait_for(Duration::from_secs(1), || !node
        .record(&id)
        .exists()));
}

/// A stand-in policy service at `socket` that admits every sandbox start (201) and every stop
/// (204) and keeps the connection open; sends the pid of each peer (`SO_PEERCRED`) and its
/// request line.
fn open_ended_service(socket: &Path) -> std::sync::mpsc::Receiver<(i32, String)> {
    use std::os::unix::net::UnixStream;
    let listener = UnixListener::bind(socket).unwrap();
    let (seen, peers) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held: Vec<UnixStream> = Vec::new();
        for mut conn in listener.incoming().flatten() {
            let peer =
                nix::sys::socket::getsockopt(&conn, nix::sys::socket::sockopt::PeerCredentials)
                    .unwrap()
                    .pid();
            let mut request = Vec::new();
            let mut chunk = [0u8; 65536];
            // The head, then as much body as it announces.
            while let Ok(n @ 1..) = conn.read(&mut chunk) {
                request.extend_from_slice(&chunk[..n]);
                let text = String::from_utf8_lossy(&request);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| l.strip_prefix("content-length: "))
                        .map_or(0, |v| v.trim().parse::<usize>().unwrap());
                    if body.len() >= length {
                        break;
                    }
                }
            }
            let line = String::from_utf8_lossy(&request)
                .lines()
                .next()
                .unwrap_or_default()
                .to_owned();
            let answer: &[u8] = if line.starts_with("POST ") {
                b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
            } else {
                b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n"
            };
            conn.write_all(answer).unwrap();
            let _ = seen.send((peer, line));
            // Never closed: the answer's length, not the close, ends it.
            held.push(conn);
        }
    });
    peers
}

#[test]
fn the_runtime_makes_the_thin_clients_request_itself() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("nemotron.sock");
    let peers = open_ended_service(&socket);
    let node = TestNode::new(&format!(
        "[services]\nnemotron = \"{}\"\n",
        socket.display()
    ));
    let rt = Runtime::with_config(&node.config());
    let bundle = Bundle::new(&["true"]);
    fs::write(
        bundle.path().join("openshell-policy.yaml"),
        api_policy("inproc", &ISOLATED, &["crm.read"], &[], None),
    )
    .unwrap();
    let id = unique_id("inproc");
    // `create` ends although the service never closes the connection, and the request comes
    // from the runtime's own process, not from a hook process it started.
    let mut create = rt.command();
    create.args(["create", "--bundle", bundle.path().to_str().unwrap(), &id]);
    create.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = create.spawn().unwrap();
    let runtime_pid = child.id() as i32;
    let (peer, line) = peers.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(line, "POST /v1/sandboxes HTTP/1.1");
    assert_eq!(
        peer, runtime_pid,
        "the createRuntime request came from another process"
    );
    let done = wait_for(Duration::from_secs(10), || {
        child.try_wait().unwrap().is_some()
    });
    assert!(
        done,
        "create waited for the service to close the connection"
    );
    assert!(child.wait().unwrap().success());
    // The spec still names the client for whoever reads it.
    let spec: Value = serde_json::from_str(
        &fs::read_to_string(rt.root().join(".openshell").join(&id).join("config.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(hook(&spec, "createRuntime").0, "openshell-hook-client");

    let mut delete = rt.command();
    delete.args(["delete", "--force", &id]);
    delete.stdout(Stdio::null()).stderr(Stdio::null());
    let mut child = delete.spawn().unwrap();
    let runtime_pid = child.id() as i32;
    let (peer, line) = peers.recv_timeout(Duration::from_secs(10)).unwrap();
    assert!(
        line.starts_with(&format!("DELETE /v1/sandboxes/{id} ")),
        "{line}"
    );
    assert_eq!(
        peer, runtime_pid,
        "the poststop request came from another process"
    );
    assert!(child.wait().unwrap().success());
    assert_clean(rt.root(), &id, bundle.path());
}

#[test]
fn a_bundles_own_hooks_still_run_as_processes_with_the_state() {
    // Two createRuntime hooks of the bundle's own: a shell, and a shell that calls itself
    // `openshell-hook-client` (not the client next to the runtime). Both are started as
    // processes and read the OCI state on stdin.
    let dir = tempfile::tempdir().unwrap();
    let node = TestNode::default();
    let rt = Runtime::with_config(&node.config());
    let mut bundle = Bundle::new(&["true"]);
    let out = |name: &str| dir.path().join(name).display().to_string();
    let (plain, named) = (out("plain.json"), out("named.json"));
    bundle.edit(|config| {
        config["hooks"] = json!({ "createRuntime": [
            { "path": "/bin/sh", "args": ["sh", "-c", format!("cat > {plain}")] },
            { "path": "/bin/sh", "args": ["openshell-hook-client", "-c", format!("cat > {named}")] },
        ]});
    });
    let id = unique_id("own-hooks");
    rt.ok(&["run", "--bundle", bundle.path().to_str().unwrap(), &id]);
    for file in [&plain, &named] {
        let state: Value = serde_json::from_str(&fs::read_to_string(file).unwrap()).unwrap();
        assert_eq!(state["id"], id.as_str(), "{file}");
        assert!(state["pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    }
    rt.ok(&["delete", "--force", &id]);
}
