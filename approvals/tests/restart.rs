//! The daemon as a child process of its binary, killed with SIGKILL and restarted on the same
//! state directory: approvals and undelivered notifications survive, and expiries that passed
//! while it was down are enforced at start.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use openshell_approvals::client::ApprovalsClient;
use openshell_policy::wire::{ApprovalState, Enforcement};

/// The daemon binary, built next to this test.
const BINARY: &str = env!("CARGO_BIN_EXE_openshell-approvals");

struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start(dir: &Path, config: &Path, socket: &Path, trail: &Path) -> Running {
    let child = Command::new(BINARY)
        .arg("--socket")
        .arg(socket)
        .arg("--config")
        .arg(config)
        .arg("--state-dir")
        .arg(dir.join("state"))
        .arg("--audit-trail")
        .arg(trail)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    Running(child)
}

async fn ready(client: &ApprovalsClient) {
    for _ in 0..200 {
        if client.list(None).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "the daemon did not come up at {}",
        client.socket().display()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_spooled_notifications_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let slack_addr = free_addr();
    let config = dir.path().join("approvals.toml");
    std::fs::write(
        &config,
        format!(
            "public_url = \"http://console.example\"\n\
             [channels.slack]\nwebhook_url = \"http://{slack_addr}/hook\"\n"
        ),
    )
    .unwrap();
    let socket: PathBuf = dir.path().join("approvals.sock");
    let trail = dir.path().join("audit.jsonl");
    let client = ApprovalsClient::new(&socket);

    let mut first = start(dir.path(), &config, &socket, &trail);
    ready(&client).await;
    let lasting = client
        .submit(&request(&["slack"], 8000, Enforcement::Deny))
        .await
        .unwrap();
    let lapsing = client
        .submit(&request(&["slack"], 700, Enforcement::Allow))
        .await
        .unwrap();
    // The audit writer's linger (2 ms) passes, so "requested" is on the trail; then SIGKILL:
    // no shutdown, no flush of anything else.
    tokio::time::sleep(Duration::from_millis(100)).await;
    first.0.kill().unwrap();
    first.0.wait().unwrap();
    drop(first);
    tokio::time::sleep(Duration::from_millis(1000)).await;

    // Slack is back; the daemon restarts on the same state directory.
    let slack = StandIn::start_at(slack_addr).await;
    let _second = start(dir.path(), &config, &socket, &trail);
    ready(&client).await;

    let kept = client.get(&lasting.id).await.unwrap();
    assert_eq!(kept.state, ApprovalState::Pending);
    assert_eq!(kept.request, lasting.request);
    assert_eq!(kept.expires_at, lasting.expires_at);

    let lapsed = client.get(&lapsing.id).await.unwrap();
    assert_eq!(lapsed.state, ApprovalState::TimedOut);
    assert_eq!(lapsed.enforced, Some(Enforcement::Allow));
    assert_eq!(lapsed.decided_by.as_deref(), Some("timeout"));
    assert_eq!(lapsed.channel.as_deref(), Some("timeout"));

    // The lasting approval's notification, never delivered, goes out now; the lapsed one's is
    // dropped (nobody can answer it any more).
    let got = slack.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let url = got[0]["blocks"][1]["elements"][0]["url"].as_str().unwrap();
    assert!(url.contains(&lasting.id), "{url}");

    // It still times out at its own expiry.
    let done = client
        .wait(&lasting.id, Duration::from_secs(15))
        .await
        .unwrap();
    assert_eq!(done.state, ApprovalState::TimedOut);
    assert_eq!(done.enforced, Some(Enforcement::Deny));
    assert!(done.decided_at.unwrap() >= lasting.expires_at);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(slack.bodies().len(), 1);

    let mut events = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            events = read_trail(&trail);
            steps(&events, &lasting.id).contains(&"timed-out".to_owned())
        })
        .await,
        "{events:?}"
    );
    assert_eq!(
        steps(&events, &lapsing.id).first().map(String::as_str),
        Some("requested")
    );
    assert!(steps(&events, &lapsing.id).contains(&"timed-out".to_owned()));
    assert!(steps(&events, &lasting.id).contains(&"notified".to_owned()));
}
