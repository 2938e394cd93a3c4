//! The daemon over a real unix socket: the API end to end, the routes against openapi.yaml,
//! and hostile input.

mod support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::Service;

/// A container's compiled policy record, as the runtime writes it and the hook sends it.
fn record(yaml: &str) -> Value {
    serde_json::to_value(openshell_policy::compile_default("policy.yaml", yaml).unwrap()).unwrap()
}

fn registration(id: &str, audit_file: &std::path::Path) -> Value {
    let policy = record(&format!(
        r#"apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata: {{name: customer-support-agent}}
spec:
  permissions:
    allowedAPIs: [crm.read, crm.update, ticket.create, ticket.resolve]
    deniedAPIs: ["admin.*", "billing.*", user.delete]
  auditLog: {{enabled: true, destination: "file://{}"}}
---
apiVersion: openshell.nvidia.com/v1
kind: NaturalLanguagePolicy
metadata: {{name: rules}}
spec:
  text: Customer support agents may access customer records for active tickets only.
"#,
        audit_file.display()
    ));
    json!({
        "container_id": id,
        "bundle": "/tmp/bundle",
        "registered_at": "2026-11-24T10:00:00Z",
        "policy": policy,
    })
}

#[test]
fn api_end_to_end() {
    let s = Service::start("", &[]);
    let audit_file = s.path("policy-audit.jsonl");
    let (status, body) = s.json("PUT", "/v1/containers/c1", &registration("c1", &audit_file));
    assert_eq!(status, 201, "{body}");
    assert!(
        body["policies"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "nl:1.1.1.only")
    );
    let (status, body) = s.json("PUT", "/v1/containers/c2", &registration("c1", &audit_file));
    assert_eq!(status, 400, "path and body disagree: {body}");

    let allow = json!({"container_id": "c1", "action": {"action": "crm.read", "resource": "customer:1", "attributes": {"ticket.status": "active"}}});
    let (status, d) = s.json("POST", "/v1/evaluate", &allow);
    assert_eq!(status, 200);
    assert_eq!(
        (d["outcome"].as_str(), d["enforced"].as_str()),
        (Some("allow"), Some("allow")),
        "{d}"
    );
    let deny = json!({"container_id": "c1", "action": {"action": "billing.refund", "amount": 10}});
    let (_, d) = s.json("POST", "/v1/evaluate", &deny);
    assert_eq!(d["outcome"], "deny");
    assert!(
        d["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("sandbox.denied-api[billing.*]")),
        "{d}"
    );
    let (status, _) = s.json(
        "POST",
        "/v1/evaluate",
        &json!({"container_id": "nobody", "action": {"action": "crm.read"}}),
    );
    assert_eq!(status, 404);

    let (status, c) = s.json(
        "POST",
        "/v1/classify",
        &json!({"action": "ehr.read", "resource": "patient:1"}),
    );
    assert_eq!(status, 200);
    assert_eq!(c["sensitivity"]["value"], "restricted");
    assert_eq!(c["compliance"][0]["framework"], "HIPAA");

    let admission = json!({"container_id": "c3", "bundle": "/tmp/b", "args": ["sh"], "requested": {"network": "none"},
        "policy": record("apiVersion: openshell.nvidia.com/v1\nkind: SandboxPolicy\nmetadata: {name: p}\nspec:\n  permissions: {deniedAPIs: [sandbox.start]}\n")});
    let (_, d) = s.json("POST", "/v1/admission", &admission);
    assert_eq!(
        (d["outcome"].as_str(), d["policies"][0].as_str()),
        (Some("deny"), Some("sandbox.denied-api[sandbox.start]"))
    );

    let (status, nl) = s.json(
        "POST",
        "/v1/nl/compile",
        &json!({"text": "Agents may not delete backups. Blah blah."}),
    );
    assert_eq!(status, 200);
    assert_eq!(nl["compiler"], "grammar");
    assert_eq!(nl["ir"]["rules"][0]["effect"], "forbid");
    assert_eq!(nl["ir"]["unparsed"][0]["source"]["start"], 31);
    assert!(
        nl["cedar"][0]["text"]
            .as_str()
            .unwrap()
            .starts_with("@id(\"nl:1.1.1\")")
    );
    let (status, _) = s.json(
        "POST",
        "/v1/nl/compile",
        &json!({"text": "x", "compiler": "model"}),
    );
    assert_eq!(status, 400, "no model configured");

    let (status, r) = s.json("GET", "/v1/containers/c1", &Value::Null);
    assert_eq!(
        (status, r["policy"]["name"].as_str()),
        (200, Some("customer-support-agent"))
    );
    // Audit events are written by a background writer: wait until the last one, the deny, has
    // landed (the registration's event comes before both decisions: two events alone may be
    // the registration and the allow).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let trail = loop {
        let (status, trail) = s.json("GET", "/v1/audit/c1?limit=2", &Value::Null);
        assert_eq!(status, 200);
        if trail["events"]
            .as_array()
            .and_then(|e| e.last())
            .is_some_and(|last| last["decision"] == "deny")
            || std::time::Instant::now() > deadline
        {
            break trail;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let events = trail["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert_eq!(events[1]["decision"], "deny");
    assert!(
        events[1]["policies"]
            .as_array()
            .unwrap()
            .contains(&json!("sandbox.denied-api[billing.*]"))
    );
    let (status, _) = s.json("GET", "/v1/audit/c1?limit=two", &Value::Null);
    assert_eq!(status, 400);

    let (status, metrics) = s.request("GET", "/metrics", None);
    assert_eq!(status, 200);
    assert!(
        metrics.contains("nemotron_decisions_total{kind=\"action\",outcome=\"allow\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("nemotron_decisions_total{kind=\"admission\",outcome=\"deny\"} 1"));
    assert!(metrics.contains("nemotron_registered_containers 1"));

    assert_eq!(s.request("DELETE", "/v1/containers/c1", None).0, 204);
    assert_eq!(s.request("DELETE", "/v1/containers/c1", None).0, 404);
    let text = support::wait_for_file(&audit_file);
    assert!(
        text.lines().count() >= 3,
        "register + two decisions in the policy's file: {text}"
    );
}

#[test]
fn served_routes_match_openapi() {
    let spec: Value = serde_saphyr::from_str(
        &std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.yaml")).unwrap(),
    )
    .unwrap();
    let mut documented: Vec<(String, String)> = Vec::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in ["get", "post", "put", "delete", "patch"] {
            if item.get(method).is_some() {
                documented.push((method.to_owned(), path.clone()));
            }
        }
    }
    documented.sort();
    let mut served: Vec<(String, String)> = nemotron_service::http::ROUTES
        .iter()
        .map(|(m, p)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    served.sort();
    assert_eq!(documented, served);

    // And the router really serves each of them (a route that exists answers neither 405 nor
    // "no such route"), while an undocumented one is 404.
    let s = Service::start("", &[]);
    for (method, path) in &served {
        let path = path.replace("{id}", "some-id");
        let body = (method == "post" || method == "put").then_some("{}");
        let (status, text) = s.request(&method.to_uppercase(), &path, body);
        assert_ne!(status, 405, "{method} {path}");
        assert!(
            !text.contains("no such route"),
            "{method} {path}: {status} {text}"
        );
    }
    let (status, text) = s.request("GET", "/v1/nothing", None);
    assert_eq!(status, 404);
    assert!(text.contains("no such route"));
    assert_eq!(s.request("PATCH", "/v1/evaluate", Some("{}")).0, 405);
}

#[test]
fn hostile_input_gets_4xx_and_the_service_keeps_serving() {
    let s = Service::start(
        "",
        &[
            "--max-body-bytes",
            "65536",
            "--header-timeout-ms",
            "300",
            "--body-timeout-ms",
            "300",
        ],
    );
    let cases: Vec<(&str, String, u16, &str)> = vec![
        (
            "malformed",
            "{\"action\": \"crm.read\"".into(),
            400,
            "invalid request body",
        ),
        (
            "not an object",
            "[1,2,3]".into(),
            400,
            "invalid request body",
        ),
        (
            "unknown field",
            r#"{"action":"crm.read","colour":"red"}"#.into(),
            400,
            "unknown field `colour`",
        ),
        ("wrong type", r#"{"action":42}"#.into(), 400, "invalid type"),
        (
            "deep nesting",
            format!(
                r#"{{"action":"x","data":{}{}}}"#,
                "[".repeat(10_000),
                "]".repeat(10_000)
            ),
            400,
            "recursion limit",
        ),
        (
            "huge",
            format!("{{\"action\":\"{}\"}}", "a".repeat(200_000)),
            413,
            "exceeds 65536 bytes",
        ),
        (
            "escaped nul",
            r#"{"action":"crm\u0000read"}"#.into(),
            200,
            "",
        ),
        (
            "raw control character",
            "{\"action\":\"crm\u{1}read\"}".into(),
            400,
            "control character",
        ),
    ];
    for (name, body, want, message) in cases {
        let (status, text) = s.request("POST", "/v1/classify", Some(&body));
        assert_eq!(status, want, "{name}: {text}");
        assert!(text.contains(message), "{name}: {text}");
        assert!(s.healthy(), "still serving after {name}");
    }
    // Not JSON at all.
    let (status, _) = s.raw(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi");
    assert_eq!(status, 415);
    // A body larger than declared limit, streamed without a length.
    let mut chunked = b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..20 {
        chunked.extend_from_slice(format!("{:x}\r\n{}\r\n", 8192, "a".repeat(8192)).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(s.raw(&chunked).0, 413);
    // Garbage instead of HTTP.
    let (status, _) = s.raw(b"\x16\x03\x01\x02\x00 hello there\r\n\r\n");
    assert!(status == 400 || status == 0, "garbage answered {status}");
    assert!(s.healthy());

    // Slow headers: the connection is closed at the header timeout.
    let mut slow = UnixStream::connect(&s.socket).unwrap();
    slow.write_all(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let started = Instant::now();
    let mut buf = Vec::new();
    let _ = slow.read_to_end(&mut buf);
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "slow client was not cut off"
    );
    assert!(s.healthy());

    // Slow body: 408.
    let mut slow = UnixStream::connect(&s.socket).unwrap();
    slow.write_all(b"POST /v1/classify HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"act").unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let (status, text) = support::read_response(&mut slow);
    assert_eq!(status, 408, "{text}");

    // Many idle connections do not stop others from being served.
    let idle: Vec<UnixStream> = (0..50)
        .map(|_| UnixStream::connect(&s.socket).unwrap())
        .collect();
    assert!(s.healthy());
    drop(idle);
    let (status, _) = s.json("POST", "/v1/classify", &json!({"action": "crm.read"}));
    assert_eq!(status, 200);
}
