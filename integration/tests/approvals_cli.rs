//! `openshell approvals`: the runtime's operator commands against a running approval daemon
//! (the built `openshell-approvals` binary on a temp socket and state directory).

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use openshell_integration::binaries;
use serde_json::{Value, json};

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One HTTP/1.1 request over the socket; the status and body.
fn call(socket: &Path, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
    let mut stream = UnixStream::connect(socket).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    write!(
        stream,
        "{method} {path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\
         content-type: application/json\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    (status, body)
}

fn openshell(socket: &Path, args: &[&str]) -> Output {
    Command::new(binaries::openshell())
        .arg("approvals")
        .arg("--socket")
        .arg(socket)
        .args(args)
        .env("SUDO_USER", "ops-alice")
        .output()
        .unwrap()
}

#[test]
fn operators_list_show_and_answer_approvals() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("approvals.sock");
    let _daemon = Daemon(
        Command::new(binaries::path("openshell-approvals"))
            .arg("--socket")
            .arg(&socket)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..200 {
        if UnixStream::connect(&socket).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let request = json!({
        "container_id": "agent-7",
        "policy": "payments",
        "policy_digest": "sha256:abc",
        "origin": "egress",
        "action": "payment.process",
        "destination": "api.stripe.com",
        "amount": 1250.0,
        "currency": "EUR",
        "reason": "payments over 1000 EUR need a human",
        "timeout_ms": 60000,
        "default_action": "deny"
    });
    let (status, body) = call(&socket, "POST", "/v1/approvals", Some(&request));
    assert_eq!(status, 201, "{body}");
    let id = serde_json::from_str::<Value>(&body).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let list = openshell(&socket, &["list"]);
    assert!(list.status.success(), "{list:?}");
    let table = String::from_utf8_lossy(&list.stdout);
    let mut lines = table.lines();
    let header: Vec<&str> = lines.next().unwrap().split_whitespace().collect();
    assert_eq!(
        header,
        [
            "ID",
            "STATE",
            "CONTAINER",
            "ACTION",
            "DESTINATION",
            "AMOUNT",
            "EXPIRES"
        ]
    );
    let row = lines.next().unwrap();
    for cell in [
        id.as_str(),
        "pending",
        "agent-7",
        "payment.process",
        "api.stripe.com",
        "1250 EUR",
    ] {
        assert!(row.contains(cell), "{cell} missing from {row}");
    }

    let approve = openshell(&socket, &["approve", &id, "--note", "invoice checked"]);
    assert!(approve.status.success(), "{approve:?}");
    let again = openshell(&socket, &["deny", &id]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("approved"),
        "{again:?}"
    );

    let show = openshell(&socket, &["show", &id, "--format", "json"]);
    assert!(show.status.success(), "{show:?}");
    let shown: Value = serde_json::from_slice(&show.stdout).unwrap();
    assert_eq!(shown["state"], "approved");
    assert_eq!(shown["enforced"], "allow");
    assert_eq!(shown["decided_by"], "ops-alice");
    assert_eq!(shown["channel"], "cli");
    assert_eq!(shown["note"], "invoice checked");
    let text = openshell(&socket, &["show", &id, "--format", "text"]);
    assert!(String::from_utf8_lossy(&text.stdout).contains("ops-alice"));
}

#[test]
fn an_unreachable_daemon_is_named_and_fails() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("absent.sock");
    let out = openshell(&socket, &["list"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("absent.sock"), "{err}");
    assert!(err.contains("unreachable"), "{err}");
}
