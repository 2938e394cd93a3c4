//! System calls a policy escalates wait for a human: the runtime names the node's seccomp
//! supervisor as the filter's listener, libcontainer hands it the notification descriptor, and
//! `openshell-supervisor` asks the approval queue (`openshell-approvals`) about each held call:
//! approved, it goes on; denied or unanswered (the policy's default), it fails with EPERM; no
//! supervisor, no sandbox.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use openshell_integration::bundle::Bundle;
use openshell_integration::node::TestNode;
use openshell_integration::operator;
use openshell_integration::runtime::Runtime;
use openshell_integration::{binaries, unique_id, wait_for};

const POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: SandboxPolicy
metadata:
  name: escalating
spec:
  isolation:
    syscallOverrides:
      kill: escalate
---
approvalPolicy:
  timeout: 3s
  defaultAction: deny
";

/// The agent: signals a child and says whether the kernel let it.
const AGENT: &str = "sleep 30 & if kill $! 2>/dev/null; then echo signalled; else echo refused; fi";

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(command: &mut Command, socket: &Path) -> Daemon {
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("start daemon");
    assert!(
        wait_for(Duration::from_secs(10), || socket.exists()),
        "{} did not listen",
        socket.display()
    );
    Daemon(child)
}

fn bundle() -> Bundle {
    let bundle = Bundle::new(&["sh", "-c", AGENT]);
    std::fs::write(bundle.path().join("openshell-policy.yaml"), POLICY).unwrap();
    bundle
}

#[test]
fn escalated_syscalls_wait_for_a_human() {
    let dir = tempfile::tempdir().unwrap();
    let approvals = dir.path().join("approvals.sock");
    let seccomp = dir.path().join("seccomp.sock");
    let node = TestNode::new(&format!(
        "[services]\nseccomp = \"{}\"\napprovals = \"{}\"\n",
        seccomp.display(),
        approvals.display()
    ));
    let rt = Runtime::new().with_node_config(&node.config());

    // No supervisor: the sandbox does not start, and says why.
    let id = unique_id("escalate-none");
    let lonely = bundle();
    let error = rt.fails(&["run", "--bundle", lonely.path().to_str().unwrap(), &id]);
    assert!(error.contains("seccomp supervisor"), "{error}");
    assert!(error.contains(seccomp.to_str().unwrap()), "{error}");
    assert!(rt.output(&["state", &id]).status.code() != Some(0));

    let _queue = start(
        Command::new(binaries::path("openshell-approvals"))
            .arg("--socket")
            .arg(&approvals)
            .arg("--state-dir")
            .arg(dir.path().join("approvals")),
        &approvals,
    );
    let _supervisor = start(
        Command::new(binaries::path("openshell-supervisor"))
            .arg("--socket")
            .arg(&seccomp)
            .arg("--approvals")
            .arg(&approvals)
            .env("OPENSHELL_CONFIG", node.config()),
        &seccomp,
    );

    // Approved: the held kill goes on.
    let id = unique_id("escalate-approve");
    let approved = bundle();
    let run = {
        let rt = Runtime::new().with_node_config(&node.config());
        let path = approved.path().to_owned();
        let id = id.clone();
        std::thread::spawn(move || rt.output(&["run", "--bundle", path.to_str().unwrap(), &id]))
    };
    let mut ids = Vec::new();
    assert!(
        wait_for(Duration::from_secs(10), || {
            ids = operator::pending(&approvals);
            !ids.is_empty()
        }),
        "the held kill was never asked about"
    );
    let shown = operator::show(&approvals, &ids[0]);
    assert_eq!(shown["request"]["action"], "syscall.kill");
    assert_eq!(shown["request"]["origin"], "syscall");
    assert_eq!(shown["request"]["container_id"], id.as_str());
    let answer = operator::approvals(&approvals, &["approve", &ids[0]]);
    assert!(answer.status.success(), "{answer:?}");
    let out = run.join().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "signalled",
        "{out:?}"
    );
    rt.ok(&["delete", "--force", &id]);

    // Nobody answers: the policy's default (deny) after its 3 s timeout, as EPERM.
    let id = unique_id("escalate-timeout");
    let unanswered = bundle();
    let out = rt.output(&["run", "--bundle", unanswered.path().to_str().unwrap(), &id]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "refused",
        "{out:?}"
    );
    rt.ok(&["delete", "--force", &id]);

    // exec: a process started in a running sandbox is held the same way; denied, EPERM.
    let id = unique_id("escalate-exec");
    let running = Bundle::new(&["sleep", "60"]);
    std::fs::write(running.path().join("openshell-policy.yaml"), POLICY).unwrap();
    rt.start_detached(&id, running.path());
    std::thread::scope(|scope| {
        let exec = scope.spawn(|| rt.output(&["exec", &id, "sh", "-c", AGENT]));
        let mut ids = Vec::new();
        assert!(
            wait_for(Duration::from_secs(10), || {
                ids = operator::pending(&approvals);
                !ids.is_empty()
            }),
            "the exec'd process's kill was never asked about"
        );
        let shown = operator::show(&approvals, &ids[0]);
        assert_eq!(shown["request"]["action"], "syscall.kill");
        assert_eq!(shown["request"]["container_id"], id.as_str());
        let answer = operator::approvals(&approvals, &["deny", &ids[0], "--note", "no signals"]);
        assert!(answer.status.success(), "{answer:?}");
        let out = exec.join().unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "refused",
            "{out:?}"
        );
        assert_eq!(operator::show(&approvals, &ids[0])["state"], "denied");
    });
    rt.ok(&["delete", "--force", &id]);
}
