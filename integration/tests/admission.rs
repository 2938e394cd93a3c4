//! Admission, registration and audit through real containers: the runtime injects
//! `openshell-hook`, which asks the embedded engine or a running `nemotron-service` whether
//! the sandbox may start, registers it, and audits the decision to the policy's destination.
//! Every test runs on a private node configuration (`OPENSHELL_CONFIG`).

use std::fs;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use openshell_integration::bundle::Bundle;
use openshell_integration::leftovers::assert_clean;
use openshell_integration::node::{TestNode, json_lines};
use openshell_integration::policies::{api_policy, natural_language_policy};
use openshell_integration::runtime::{Runtime, run_to_files};
use openshell_integration::service::PolicyService;
use openshell_integration::siem::SiemStandIn;
use openshell_integration::{unique_id, wait_for};
use serde_json::{Value, json};

const ISOLATED: [&str; 3] = [
    "network: none",
    "filesystem: read-only",
    "syscalls: default",
];

/// A bundle whose process writes `/data/ran` (a host directory) and then runs `then`, with
/// `policy` as its `openshell-policy.yaml`.
struct MarkedBundle {
    bundle: Bundle,
    data: tempfile::TempDir,
}

impl MarkedBundle {
    fn new(policy: &str, then: &str) -> Self {
        let data = tempfile::tempdir().unwrap();
        let mut bundle = Bundle::new(&["sh", "-c", &format!("touch /data/ran; {then}")]);
        let source = data.path().to_str().unwrap().to_owned();
        bundle.edit(|c| {
            c["mounts"].as_array_mut().unwrap().push(json!({
                "destination": "/data", "type": "bind", "source": source, "options": ["rbind", "rw"]
            }));
        });
        fs::write(bundle.path().join("openshell-policy.yaml"), policy).unwrap();
        Self { bundle, data }
    }

    fn path(&self) -> &str {
        self.bundle.path().to_str().unwrap()
    }

    fn ran(&self) -> bool {
        self.data.path().join("ran").exists()
    }

    /// Names the image in an annotation (the audit events' `resource`).
    fn with_image(mut self, image: &str) -> Self {
        self.bundle.edit(|c| {
            c["annotations"] = json!({"org.opencontainers.image.ref.name": image});
        });
        self
    }
}

/// The runtime's stderr, its error lines decoded.
fn stderr(out: &std::process::Output) -> String {
    openshell_integration::runtime::error_text(&out.stderr)
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Asserts that container `id` left nothing: runtime state, staged bundle, cgroups, mounts and
/// the registration record.
fn assert_nothing_left(rt: &Runtime, node: &TestNode, id: &str, bundle: &MarkedBundle) {
    assert_clean(rt.root(), id, bundle.bundle.path());
    assert!(
        !node.record(id).exists(),
        "registration record of {id} left behind"
    );
}

fn admission_events(node: &TestNode, id: &str) -> Vec<Value> {
    node.trail_events(id)
        .into_iter()
        .filter(|e| e["action"] == "sandbox.start")
        .collect()
}

#[test]
fn denied_admission_never_runs_the_process_and_leaves_nothing() {
    let node = TestNode::default();
    let rt = Runtime::with_config(&node.config());
    let policy = api_policy(
        "no-start",
        &ISOLATED,
        &["crm.read"],
        &["sandbox.start"],
        None,
    );
    let bundle = MarkedBundle::new(&policy, "true");

    // `run` would start the process right after `create`: the hook must stop it first.
    let id = unique_id("deny-run");
    let out = rt.output(&["run", "--bundle", bundle.path(), &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("admission denied for container {id}"))
            && err.contains("sandbox.denied-api[sandbox.start]"),
        "{err}"
    );
    assert!(!bundle.ran(), "the denied container's process ran");
    assert_nothing_left(&rt, &node, &id, &bundle);

    let id = unique_id("deny-create");
    let err = rt.fails(&["create", "--bundle", bundle.path(), &id]);
    assert!(
        err.contains(&format!("admission denied for container {id}")),
        "{err}"
    );
    assert!(
        rt.fails(&["start", &id]).contains("does not exist"),
        "a denied container must not exist"
    );
    assert!(!bundle.ran());
    assert_nothing_left(&rt, &node, &id, &bundle);
    let events = admission_events(&node, &id);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["decision"], "deny");
    assert_eq!(
        events[0]["policies"],
        json!(["sandbox.denied-api[sandbox.start]"])
    );
}

#[test]
fn a_natural_language_sentence_denies_admission() {
    let node = TestNode::default();
    let rt = Runtime::with_config(&node.config());
    let host_network = [
        "network: host",
        "filesystem: read-only",
        "syscalls: default",
    ];
    let sandbox = api_policy("host-net", &host_network, &["crm.read"], &[], None);
    let on_host_network = |bundle: &mut MarkedBundle| {
        bundle.bundle.edit(|c| {
            c["linux"]["namespaces"]
                .as_array_mut()
                .unwrap()
                .retain(|ns| ns["type"] != "network");
        });
    };

    // Control: the sandbox policy alone lets a host-network container start.
    let mut control = MarkedBundle::new(&sandbox, "true");
    on_host_network(&mut control);
    rt.ok(&["run", "--bundle", control.path(), &unique_id("nl-control")]);
    assert!(control.ran());

    let rules = natural_language_policy(
        "sandbox-rules",
        "Sandboxes may not start on the host network.",
    );
    let mut bundle = MarkedBundle::new(&format!("{sandbox}---\n{rules}"), "true");
    on_host_network(&mut bundle);
    let id = unique_id("nl-deny");
    let out = rt.output(&["run", "--bundle", bundle.path(), &id]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!("admission denied for container {id}")) && err.contains("nl:1.1.1"),
        "{err}"
    );
    assert!(!bundle.ran());
    assert_nothing_left(&rt, &node, &id, &bundle);
}

#[test]
fn an_allowed_container_runs_and_is_registered_until_deleted() {
    let node = TestNode::default();
    let rt = Runtime::with_config(&node.config());
    let policy = api_policy("allowed", &ISOLATED, &["crm.read"], &["admin.*"], None);
    let bundle = MarkedBundle::new(&policy, "exec sleep 300");
    let id = unique_id("allow");
    rt.ok(&["run", "--detach", "--bundle", bundle.path(), &id]);
    assert!(wait_for(Duration::from_secs(5), || bundle.ran()));
    assert_eq!(rt.status(&id), "running");

    let record: Value = serde_json::from_str(&fs::read_to_string(node.record(&id)).unwrap())
        .expect("registration record");
    assert_eq!(record["container_id"], id.as_str());
    assert_eq!(record["policy"]["name"], "allowed");
    assert_eq!(record["pid"], rt.pid(&id));
    let events = admission_events(&node, &id);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["decision"], "allow");

    rt.ok(&["kill", &id, "KILL"]);
    assert!(wait_for(Duration::from_secs(5), || rt.status(&id) == "stopped"));
    assert!(node.record(&id).exists(), "the record lasts until delete");
    rt.ok(&["delete", &id]);
    assert_nothing_left(&rt, &node, &id, &bundle);
}

/// A node whose hooks ask the policy service at `socket`, waiting at most `timeout_ms`.
fn service_node(socket: &Path, timeout_ms: u64) -> TestNode {
    TestNode::new(&format!(
        "[services]\nnemotron = \"{}\"\n[hooks]\ntimeout_ms = {timeout_ms}\n",
        socket.display()
    ))
}

const ADMITTED: &str = "nemotron_decisions_total{kind=\"admission\",outcome=\"allow\"";
const REFUSED: &str = "nemotron_decisions_total{kind=\"admission\",outcome=\"deny\"";

#[test]
fn the_policy_service_decides_and_its_failures_fail_closed() {
    let sockets = tempfile::tempdir().unwrap();
    let socket = sockets.path().join("nemotron.sock");
    let timeout_ms = 1500;
    let node = service_node(&socket, timeout_ms);
    let rt = Runtime::with_config(&node.config());
    let mut service = PolicyService::start(&node.config(), &socket);
    let allowed = api_policy("allowed", &ISOLATED, &["crm.read"], &[], None);
    let denied = api_policy("no-start", &ISOLATED, &[], &["sandbox.*"], None);

    // Allowed: decided by the service, registered with it while it runs, unregistered by
    // poststop at delete.
    let running = MarkedBundle::new(&allowed, "exec sleep 300");
    let id = unique_id("svc-allow");
    rt.ok(&["run", "--detach", "--bundle", running.path(), &id]);
    assert!(wait_for(Duration::from_secs(5), || running.ran()));
    assert_eq!(service.metric(ADMITTED), 1.0);
    let (status, body) = service.get(&format!("/v1/containers/{id}"));
    assert_eq!(status, 200, "{body}");
    let registration: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(registration["policy"]["name"], "allowed");
    assert!(node.record(&id).exists());

    // `openshell audit --follow` sees the service's events as they are written.
    let follow_out = node.path("follow.jsonl");
    let mut follow = rt
        .command()
        .args(["audit", "--follow", "--format", "json", &id])
        .stdout(fs::File::create(&follow_out).unwrap())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let followed = |action: &str| {
        json_lines(&follow_out)
            .iter()
            .any(|e| e["action"] == action)
    };
    assert!(wait_for(Duration::from_secs(5), || followed(
        "sandbox.start"
    ) && followed(
        "container.register"
    )));
    rt.ok(&["kill", &id, "KILL"]);
    assert!(wait_for(Duration::from_secs(5), || rt.status(&id) == "stopped"));
    rt.ok(&["delete", &id]);
    assert!(wait_for(Duration::from_secs(5), || followed(
        "container.unregister"
    )));
    follow.kill().unwrap();
    follow.wait().unwrap();
    assert_eq!(service.get(&format!("/v1/containers/{id}")).0, 404);
    assert_nothing_left(&rt, &node, &id, &running);

    // Denied by the service.
    let refused = MarkedBundle::new(&denied, "true");
    let id = unique_id("svc-deny");
    let err = rt.fails(&["run", "--bundle", refused.path(), &id]);
    assert!(
        err.contains(&format!("admission denied for container {id}"))
            && err.contains("sandbox.denied-api[sandbox.*]"),
        "{err}"
    );
    assert_eq!(service.metric(REFUSED), 1.0);
    assert_eq!(service.metric(ADMITTED), 1.0);
    assert!(!refused.ran());
    assert_nothing_left(&rt, &node, &id, &refused);

    // Killed: the socket file stays, nobody answers; create fails at once and leaves nothing.
    service.kill();
    let orphan = MarkedBundle::new(&allowed, "true");
    let id = unique_id("svc-dead");
    let started = Instant::now();
    let err = rt.fails(&["run", "--bundle", orphan.path(), &id]);
    let elapsed = started.elapsed();
    assert!(
        err.contains("cannot connect to the policy service"),
        "{err}"
    );
    assert!(
        elapsed < Duration::from_millis(timeout_ms),
        "took {elapsed:?}"
    );
    assert!(!orphan.ran());
    assert_nothing_left(&rt, &node, &id, &orphan);

    // Hanging: a socket that accepts and never answers; create fails at the hook timeout.
    fs::remove_file(&socket).unwrap();
    let listener = UnixListener::bind(&socket).unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in listener.incoming() {
            held.push(conn);
        }
    });
    let hung = MarkedBundle::new(&allowed, "true");
    let id = unique_id("svc-hang");
    let started = Instant::now();
    let err = rt.fails(&["run", "--bundle", hung.path(), &id]);
    let elapsed = started.elapsed();
    assert!(
        err.contains("did not answer within") || err.contains("failing closed"),
        "{err}"
    );
    assert!(
        elapsed >= Duration::from_millis(timeout_ms)
            && elapsed < Duration::from_millis(timeout_ms + 2000),
        "took {elapsed:?}"
    );
    assert!(!hung.ran());
    assert_nothing_left(&rt, &node, &id, &hung);
}

const EMAIL: &str = "jane.doe@example.com";

/// The admission events for `id` that a destination received.
fn events_for(events: &[Value], id: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["container_id"] == id && e["action"] == "sandbox.start")
        .cloned()
        .collect()
}

/// The event is the redacted admission of an allowed container.
fn assert_redacted_allow(event: &Value) {
    assert_eq!(event["decision"], "allow", "{event}");
    let resource = event["resource"].as_str().unwrap();
    assert!(
        resource.contains("[REDACTED:email]") && !resource.contains(EMAIL),
        "PII not redacted: {event}"
    );
}

#[test]
fn audit_events_reach_file_and_siem_survive_an_outage_and_show_in_openshell_audit() {
    let mut siem = SiemStandIn::start();
    let node = TestNode::default();
    let file_destination = node.path("audit-file.jsonl");
    // The bundle's policy is the workload's pick: the node must allow its file destination.
    node.configure(&format!(
        "[siem]\nsecurity-events = \"{}\"\n[policy]\nworkload_audit_destinations = [\"file://{}\"]\n",
        siem.url(),
        file_destination.display()
    ));
    let rt = Runtime::with_config(&node.config());
    let image = format!("registry.example/agents/support:owner-{EMAIL}");
    let to_file = api_policy(
        "to-file",
        &ISOLATED,
        &["crm.read"],
        &[],
        Some(&format!("file://{}", file_destination.display())),
    );
    let to_siem = api_policy(
        "to-siem",
        &ISOLATED,
        &["crm.read"],
        &[],
        Some("siem://security-events"),
    );
    let run = |policy: &str, prefix: &str| -> String {
        let bundle = MarkedBundle::new(policy, "true").with_image(&image);
        let id = unique_id(prefix);
        rt.ok(&["run", "--bundle", bundle.path(), &id]);
        assert!(bundle.ran());
        id
    };

    let in_file = run(&to_file, "audit-file");
    let written = events_for(&json_lines(&file_destination), &in_file);
    assert_eq!(written.len(), 1, "{written:?}");
    assert_redacted_allow(&written[0]);

    let in_siem = run(&to_siem, "audit-siem");
    let received = events_for(&siem.events(), &in_siem);
    assert_eq!(received.len(), 1, "{:?}", siem.events());
    assert_redacted_allow(&received[0]);

    // The SIEM is down: admission still works, the event waits in the spool.
    siem.stop();
    let while_down = run(&to_siem, "audit-down");
    let spooled: Vec<PathBuf> = fs::read_dir(node.siem_spool("security-events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert!(
        !spooled.is_empty(),
        "nothing spooled while the SIEM was down"
    );
    let spooled_text: String = spooled
        .iter()
        .map(|p| fs::read_to_string(p).unwrap())
        .collect();
    assert!(spooled_text.contains(&while_down) && !spooled_text.contains(EMAIL));
    assert!(events_for(&siem.events(), &while_down).is_empty());

    // Back up: the next delivery replays the spool first, then the new event.
    siem.restart();
    let after = run(&to_siem, "audit-after");
    let received = siem.events();
    let replayed = events_for(&received, &while_down);
    assert_eq!(replayed.len(), 1, "{received:?}");
    assert_redacted_allow(&replayed[0]);
    assert_eq!(events_for(&received, &after).len(), 1, "{received:?}");
    let order: Vec<&str> = received
        .iter()
        .filter_map(|e| e["container_id"].as_str())
        .collect();
    let position = |id: &str| order.iter().position(|c| *c == id).unwrap();
    assert!(position(&while_down) < position(&after), "{order:?}");
    let left: Vec<PathBuf> = fs::read_dir(node.siem_spool("security-events"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "jsonl"))
        .collect();
    assert!(left.is_empty(), "spool not drained: {left:?}");

    // The node's trail has every container's events; `openshell audit` shows them, also
    // after the container is gone.
    for id in [&in_file, &in_siem, &while_down, &after] {
        let events = admission_events(&node, id);
        assert_eq!(events.len(), 1, "{id}: {events:?}");
        assert_redacted_allow(&events[0]);
    }
    let text = rt.ok(&["audit", &while_down]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(
        lines[0].contains(" nemotron sandbox.start allow policy=to-siem")
            && lines[0].contains("[REDACTED:email]")
            && !lines[0].contains(EMAIL),
        "{text}"
    );
    let json_text = rt.ok(&["audit", "--format", "json", &in_file]);
    let parsed: Vec<Value> = json_text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(parsed.len(), 1, "{json_text}");
    assert_eq!(parsed[0]["container_id"], in_file.as_str());
    assert_eq!(parsed[0]["policy"], "to-file");

    let unknown = unique_id("never-created");
    let err = rt.fails(&["audit", &unknown]);
    assert!(
        err.contains(&format!("container {unknown:?} does not exist"))
            && err.contains("no events in the audit trail"),
        "{err}"
    );
}

fn seed_policy() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../bundles/customer-support/openshell-policy.yaml")
}

#[test]
fn policy_compile_nl_prints_the_seed_rules_and_names_unparsed_sentences() {
    let rt = Runtime::new();
    let seed = seed_policy();
    let text = rt.ok(&["policy", "compile-nl", seed.to_str().unwrap()]);
    assert!(
        text.contains("NaturalLanguagePolicy customer-support-rules"),
        "{text}"
    );
    for expected in [
        "nl:1.1.1 permit api-call subject=\"customer support agents\"",
        "forbid api-call",
        "redact",
        "Cedar policies",
        "@id(\"nl:1.1.1",
    ] {
        assert!(text.contains(expected), "missing {expected:?}:\n{text}");
    }

    let out = run_to_files(rt.command().args([
        "policy",
        "compile-nl",
        "--format",
        "json",
        seed.to_str().unwrap(),
    ]));
    assert!(out.status.success(), "{}", stderr(&out));
    let report: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(report["compiler"], "grammar");
    let document = &report["documents"][0];
    assert_eq!(document["name"], "customer-support-rules");
    assert!(document["unparsed"].as_array().unwrap().is_empty());
    let rules = document["rules"].as_array().unwrap();
    assert!(rules.len() >= 5, "{rules:?}");
    assert!(rules.iter().any(|r| {
        r["effect"] == "forbid"
            && r["source"]["text"]
                .as_str()
                .unwrap()
                .starts_with("They may not")
    }));
    assert!(!report["cedar"].as_array().unwrap().is_empty());

    // A sentence the grammar does not understand: reported with its position, exit 1.
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    fs::write(
        &bad,
        natural_language_policy(
            "mixed",
            "Agents may read CRM records. Please be nice to everybody.",
        ),
    )
    .unwrap();
    let out = run_to_files(
        rt.command()
            .args(["policy", "compile-nl", bad.to_str().unwrap()]),
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&format!(
            "{}:6:9: NaturalLanguagePolicy \"mixed\", sentence at characters 29..57 not understood",
            bad.display()
        )) && err.contains("\"Please be nice to everybody.\""),
        "{err}"
    );
    assert!(
        stdout(&out).contains("nl:1.1.1"),
        "understood rules still print"
    );

    // A file without natural-language policies is an error too.
    let none = dir.path().join("none.yaml");
    fs::write(&none, api_policy("plain", &ISOLATED, &[], &[], None)).unwrap();
    let err = rt.fails(&["policy", "compile-nl", none.to_str().unwrap()]);
    assert!(err.contains("no NaturalLanguagePolicy document"), "{err}");
}
