//! The daemon's API end to end, in process: real unix socket and TCP listener, real HTTP,
//! stand-in Slack, Teams and PagerDuty servers, the audit trail on a temp file.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use hyper::{Method, StatusCode};
use openshell_approvals::client::{ApprovalsClient, ClientError};
use openshell_approvals::config::Config;
use openshell_approvals::daemon::{Daemon, Settings};
use openshell_approvals::notify::RetryPolicy;
use openshell_policy::wire::{ApprovalAnswer, ApprovalState, Enforcement};
use openshell_service_http::UnixClient;

fn answer(by: &str) -> ApprovalAnswer {
    ApprovalAnswer {
        by: by.into(),
        note: Some("checked the invoice".into()),
    }
}

fn channels_config(slack: &str, teams: &str, pagerduty: &str) -> String {
    format!(
        "public_url = \"https://node7.example:9447\"\n\
         [channels.slack]\nwebhook_url = \"{slack}\"\n\
         [channels.teams]\nwebhook_url = \"{teams}\"\n\
         [channels.pagerduty]\nevents_url = \"{pagerduty}\"\nrouting_key = \"R0UTING\"\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channels_get_their_payloads_and_pagerduty_is_resolved() {
    let slack = StandIn::start(&[]).await;
    let teams = StandIn::start(&[]).await;
    let pd = StandIn::start(&[]).await;
    let daemon = TestDaemon::start(&channels_config(
        &slack.url("/services/T/B/X"),
        &teams.url("/webhook"),
        &pd.url("/v2/enqueue"),
    ))
    .await;
    let client = ApprovalsClient::new(&daemon.socket);
    let asked = Instant::now();
    let approval = client
        .submit(&request(
            &["slack", "teams", "pagerduty"],
            60_000,
            Enforcement::Deny,
        ))
        .await
        .unwrap();
    let first = slack.wait_for(1, Duration::from_secs(5)).await;
    let first_after = asked.elapsed();
    eprintln!("first notification received {first_after:?} after the request was sent");
    assert_eq!(first.len(), 1);
    assert!(
        first_after < Duration::from_secs(1),
        "first notification after {first_after:?}"
    );
    assert_eq!(approval.state, ApprovalState::Pending);
    assert_eq!(approval.id.len(), 32);

    // Slack: Block Kit section and two link buttons.
    let s = &first[0];
    assert!(s["text"].as_str().unwrap().contains("payment.process"));
    assert_eq!(s["blocks"][0]["type"], "section");
    assert_eq!(s["blocks"][0]["text"]["type"], "mrkdwn");
    let text = s["blocks"][0]["text"]["text"].as_str().unwrap();
    for fact in [
        "agent-7",
        "payment.process",
        "api.stripe.com",
        "1250 EUR",
        "payments over 1000 EUR need a human",
        "Expires",
    ] {
        assert!(text.contains(fact), "{fact} missing from {text}");
    }
    assert_eq!(s["blocks"][1]["type"], "actions");
    let buttons = s["blocks"][1]["elements"].as_array().unwrap();
    assert_eq!(buttons.len(), 2);
    assert_eq!(buttons[0]["type"], "button");
    assert_eq!(buttons[0]["text"]["text"], "Approve");
    assert_eq!(buttons[0]["style"], "primary");
    assert_eq!(buttons[1]["text"]["text"], "Deny");
    assert_eq!(buttons[1]["style"], "danger");
    let approve_url = buttons[0]["url"].as_str().unwrap();
    assert!(
        approve_url.starts_with(&format!(
            "https://node7.example:9447/v1/callback/{}/approve?expires=",
            approval.id
        )),
        "{approve_url}"
    );
    assert!(approve_url.contains("&sig="));

    // Teams: an Adaptive Card 1.4 with facts and two OpenUrl actions.
    let t = &teams.wait_for(1, Duration::from_secs(5)).await[0];
    assert_eq!(t["type"], "message");
    let attachment = &t["attachments"][0];
    assert_eq!(
        attachment["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    let card = &attachment["content"];
    assert_eq!(card["type"], "AdaptiveCard");
    assert_eq!(card["version"], "1.4");
    assert_eq!(
        card["$schema"],
        "http://adaptivecards.io/schemas/adaptive-card.json"
    );
    assert_eq!(card["body"][0]["type"], "TextBlock");
    assert_eq!(card["body"][1]["type"], "FactSet");
    let facts = card["body"][1]["facts"].as_array().unwrap();
    assert!(
        facts
            .iter()
            .any(|f| f["title"] == "Destination" && f["value"] == "api.stripe.com")
    );
    assert_eq!(card["actions"][0]["type"], "Action.OpenUrl");
    assert_eq!(card["actions"][0]["title"], "Approve");
    assert_eq!(card["actions"][1]["title"], "Deny");
    assert!(
        card["actions"][1]["url"]
            .as_str()
            .unwrap()
            .contains(&format!("/v1/callback/{}/deny?", approval.id))
    );

    // PagerDuty: a trigger, then a resolve with the same dedup key once answered.
    let trigger = pd.wait_for(1, Duration::from_secs(5)).await[0].clone();
    assert_eq!(trigger["routing_key"], "R0UTING");
    assert_eq!(trigger["event_action"], "trigger");
    let dedup = format!("openshell-approval-{}", approval.id);
    assert_eq!(trigger["dedup_key"], dedup);
    assert_eq!(trigger["payload"]["severity"], "warning");
    assert_eq!(trigger["payload"]["component"], "openshell");
    assert_eq!(trigger["payload"]["source"], "agent-7");
    assert!(
        trigger["payload"]["summary"]
            .as_str()
            .unwrap()
            .contains("payment.process")
    );
    assert_eq!(
        trigger["payload"]["custom_details"]["destination"],
        "api.stripe.com"
    );
    assert_eq!(trigger["links"][0]["text"], "Approve");
    assert!(
        trigger["links"][0]["href"]
            .as_str()
            .unwrap()
            .contains("sig=")
    );

    let approved = client
        .approve(&approval.id, &answer("alice"))
        .await
        .unwrap();
    assert_eq!(approved.state, ApprovalState::Approved);
    assert_eq!(approved.enforced, Some(Enforcement::Allow));
    assert_eq!(approved.decided_by.as_deref(), Some("alice"));
    assert_eq!(approved.channel.as_deref(), Some("api"));
    let pd_all = pd.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(pd_all.len(), 2);
    assert_eq!(pd_all[1]["event_action"], "resolve");
    assert_eq!(pd_all[1]["dedup_key"], dedup);
    assert_eq!(pd_all[1]["routing_key"], "R0UTING");

    let id = approval.id.clone();
    let mut events = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            events = daemon.audit();
            steps(&events, &id).len() >= 6
        })
        .await,
        "{events:?}"
    );
    let words = steps(&events, &id);
    assert_eq!(words[0], "requested");
    assert_eq!(words.iter().filter(|w| *w == "notified").count(), 4);
    assert!(words.contains(&"approved".to_owned()));
    let decided = events.iter().find(|e| e["decision"] == "approved").unwrap();
    assert_eq!(decided["component"], "approvals");
    assert_eq!(decided["actor"], "alice");
    assert_eq!(decided["container_id"], "agent-7");
    assert!(decided["reason"].as_str().unwrap().contains("via api"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_are_final_once_and_bad_requests_name_the_field() {
    let daemon = TestDaemon::start("").await;
    let client = ApprovalsClient::new(&daemon.socket);
    let approval = client
        .submit(&request(&[], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    let cli = client.clone().with_channel("cli");
    let denied = cli.deny(&approval.id, &answer("bob")).await.unwrap();
    assert_eq!(denied.state, ApprovalState::Denied);
    assert_eq!(denied.enforced, Some(Enforcement::Deny));
    assert_eq!(denied.channel.as_deref(), Some("cli"));
    assert_eq!(denied.note.as_deref(), Some("checked the invoice"));

    let again = client
        .approve(&approval.id, &answer("carol"))
        .await
        .unwrap_err();
    assert_eq!(again.status(), Some(StatusCode::CONFLICT), "{again}");
    assert!(again.to_string().contains("denied"), "{again}");
    let unknown = client
        .approve("00000000000000000000000000000000", &answer("carol"))
        .await
        .unwrap_err();
    assert_eq!(unknown.status(), Some(StatusCode::NOT_FOUND));
    assert_eq!(
        client.get("nope").await.unwrap_err().status(),
        Some(StatusCode::NOT_FOUND)
    );
    assert_eq!(client.get(&approval.id).await.unwrap(), denied);

    // Expired: the default is enforced by the timer and answers are gone (410).
    let short = client
        .submit(&request(&[], 150, Enforcement::Allow))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(400)).await;
    let late = client
        .approve(&short.id, &answer("dave"))
        .await
        .unwrap_err();
    assert_eq!(late.status(), Some(StatusCode::GONE), "{late}");
    let timed_out = client.get(&short.id).await.unwrap();
    assert_eq!(timed_out.state, ApprovalState::TimedOut);
    assert_eq!(timed_out.enforced, Some(Enforcement::Allow));
    assert_eq!(timed_out.decided_by.as_deref(), Some("timeout"));
    assert_eq!(timed_out.channel.as_deref(), Some("timeout"));

    // Lists filter by state.
    let pending = client
        .submit(&request(&[], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    let listed = client.list(Some(ApprovalState::Pending)).await.unwrap();
    assert_eq!(
        listed.iter().map(|a| &a.id).collect::<Vec<_>>(),
        [&pending.id]
    );
    assert_eq!(client.list(None).await.unwrap().len(), 3);

    // Bad requests: 400 naming the field.
    let cases = [
        ("container_id", {
            let mut r = request(&[], 1000, Enforcement::Deny);
            r.container_id = "../etc".into();
            r
        }),
        ("timeout_ms", request(&[], 0, Enforcement::Deny)),
        ("timeout_ms", request(&[], 86_400_001, Enforcement::Deny)),
        ("action", {
            let mut r = request(&[], 1000, Enforcement::Deny);
            r.action = " ".into();
            r
        }),
    ];
    for (field, bad) in cases {
        let err = client.submit(&bad).await.unwrap_err();
        assert_eq!(err.status(), Some(StatusCode::BAD_REQUEST), "{err}");
        assert!(err.to_string().contains(field), "{field}: {err}");
    }
    let raw = UnixClient::new(&daemon.socket, Duration::from_secs(2), "t", 1 << 20);
    let (status, body) = raw
        .call(Method::GET, "/v1/approvals?state=maybe", None)
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(String::from_utf8_lossy(&body).contains("state"));
    let (status, _) = raw
        .call(
            Method::POST,
            &format!("/v1/approvals/{}/approve", pending.id),
            Some(br#"{"by":""}"#.to_vec()),
        )
        .await
        .unwrap();
    assert_eq!(status, StatusCode::BAD_REQUEST);

    let words = steps(&daemon.audit(), &short.id);
    assert_eq!(words, ["requested", "timed-out"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_links_answer_once_and_forgeries_are_refused() {
    let slack = StandIn::start(&[]).await;
    let config = format!(
        "public_url = \"http://console.example\"\n[channels.slack]\nwebhook_url = \"{}\"\n",
        slack.url("/hook")
    );
    let daemon = TestDaemon::start(&config).await;
    let client = ApprovalsClient::new(&daemon.socket);
    let approval = client
        .submit(&request(&["slack"], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    let message = slack.wait_for(1, Duration::from_secs(5)).await[0].clone();
    let buttons = &message["blocks"][1]["elements"];
    let approve = path_of(buttons[0]["url"].as_str().unwrap());
    let deny = path_of(buttons[1]["url"].as_str().unwrap());

    // A forged signature, a signature for the other verdict, a changed expiry: 403.
    let forged = format!("{}0", &approve[..approve.len() - 1]);
    let forged = if forged == approve {
        format!("{}1", &approve[..approve.len() - 1])
    } else {
        forged
    };
    let swapped = approve.replace("/approve?", "/deny?");
    let stretched = approve.replace("expires=", "expires=9");
    for bad in [&forged, &swapped, &stretched] {
        let (status, _) = tcp_call(daemon.tcp, "GET", bad, &[], None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{bad}");
    }
    assert_eq!(
        client.get(&approval.id).await.unwrap().state,
        ApprovalState::Pending
    );

    // The real link answers (no token needed), once.
    let (status, page) = tcp_call(daemon.tcp, "GET", &approve, &[], None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("approved"), "{page}");
    let done = client.get(&approval.id).await.unwrap();
    assert_eq!(done.state, ApprovalState::Approved);
    assert_eq!(done.channel.as_deref(), Some("link"));
    let (status, _) = tcp_call(daemon.tcp, "GET", &approve, &[], None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, body) = tcp_call(
        daemon.tcp,
        "GET",
        &deny,
        &[("accept", "application/json")],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(body.contains("approved"), "{body}");

    // An expired link: 410.
    let short = client
        .submit(&request(&["slack"], 500, Enforcement::Deny))
        .await
        .unwrap();
    let message = slack.wait_for(2, Duration::from_secs(5)).await[1].clone();
    let link = path_of(message["blocks"][1]["elements"][0]["url"].as_str().unwrap());
    assert!(link.contains(&short.id));
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let (status, _) = tcp_call(daemon.tcp, "GET", &link, &[], None).await;
    assert_eq!(status, StatusCode::GONE);
    assert_eq!(
        client.get(&short.id).await.unwrap().state,
        ApprovalState::TimedOut
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_needs_the_operator_token_and_cannot_ask() {
    let daemon = TestDaemon::start("").await;
    let client = ApprovalsClient::new(&daemon.socket);
    let approval = client
        .submit(&request(&[], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    let token = daemon.token();
    let good = format!("Bearer {token}");
    let paths = [
        ("GET", "/v1/approvals".to_owned(), None),
        ("GET", format!("/v1/approvals/{}", approval.id), None),
        (
            "GET",
            format!("/v1/approvals/{}/wait?timeout_ms=1", approval.id),
            None,
        ),
        (
            "POST",
            format!("/v1/approvals/{}/deny", approval.id),
            Some(r#"{"by":"mallory"}"#),
        ),
    ];
    for (method, path, body) in &paths {
        let (status, _) = tcp_call(daemon.tcp, method, path, &[], *body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
        let (status, _) = tcp_call(
            daemon.tcp,
            method,
            path,
            &[("authorization", "Bearer wrong")],
            *body,
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {path}");
    }
    let (status, body) = tcp_call(
        daemon.tcp,
        "GET",
        "/v1/approvals",
        &[("authorization", &good)],
        None,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.contains(&approval.id));
    let asked = serde_json::to_string(&request(&[], 1000, Enforcement::Deny)).unwrap();
    let (status, _) = tcp_call(
        daemon.tcp,
        "POST",
        "/v1/approvals",
        &[("authorization", &good)],
        Some(&asked),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, body) = tcp_call(
        daemon.tcp,
        "POST",
        &format!("/v1/approvals/{}/approve", approval.id),
        &[("authorization", &good)],
        Some(r#"{"by":"operator-console"}"#),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        client
            .get(&approval.id)
            .await
            .unwrap()
            .decided_by
            .as_deref(),
        Some("operator-console")
    );
    let (status, _) = tcp_call(daemon.tcp, "GET", "/healthz", &[], None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wait_returns_as_soon_as_another_connection_answers() {
    let daemon = TestDaemon::start("").await;
    let client = ApprovalsClient::new(&daemon.socket);
    let approval = client
        .submit(&request(&[], 60_000, Enforcement::Deny))
        .await
        .unwrap();

    // Still pending: the wait ends at its own timeout.
    let start = Instant::now();
    let still = client
        .wait(&approval.id, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(still.state, ApprovalState::Pending);
    assert!(start.elapsed() >= Duration::from_millis(250));

    let waiter = {
        let client = client.clone();
        let id = approval.id.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            let approval = client.wait(&id, Duration::from_secs(30)).await.unwrap();
            (approval, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(200)).await;
    let answered_at = Instant::now();
    client.approve(&approval.id, &answer("erin")).await.unwrap();
    let (waited, _) = waiter.await.unwrap();
    assert_eq!(waited.state, ApprovalState::Approved);
    assert!(
        answered_at.elapsed() < Duration::from_secs(2),
        "the waiter was not woken promptly"
    );
    let missing = client
        .wait("nope", Duration::from_millis(10))
        .await
        .unwrap_err();
    assert!(
        matches!(missing, ClientError::Refused { status, .. } if status == StatusCode::NOT_FOUND)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flaky_channel_is_retried_and_a_dead_one_never_changes_the_decision() {
    let slack = StandIn::start(&[500]).await;
    let dead = free_addr();
    let config = format!(
        "public_url = \"http://console.example\"\n\
         [channels.slack]\nwebhook_url = \"{}\"\n\
         [channels.teams]\nwebhook_url = \"http://{dead}/webhook\"\n",
        slack.url("/hook")
    );
    let daemon = TestDaemon::start(&config).await;
    let client = ApprovalsClient::new(&daemon.socket);
    let approval = client
        .submit(&request(
            &["slack", "teams", "email"],
            2500,
            Enforcement::Allow,
        ))
        .await
        .unwrap();

    // Slack answered 500, then 200: delivered on the second try.
    let got = slack.wait_for(2, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], got[1]);

    // Teams is down: the approval still times out to its default.
    let done = client
        .wait(&approval.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, ApprovalState::TimedOut);
    assert_eq!(done.enforced, Some(Enforcement::Allow));

    let id = approval.id.clone();
    let mut events = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            events = daemon.audit();
            steps(&events, &id)
                .iter()
                .filter(|w| *w == "notification-failed")
                .count()
                >= 2
        })
        .await,
        "{events:?}"
    );
    let failures: Vec<&str> = events
        .iter()
        .filter(|e| e["decision"] == "notification-failed")
        .map(|e| e["reason"].as_str().unwrap())
        .collect();
    assert!(
        failures.iter().any(|r| r.contains("channel teams")),
        "{failures:?}"
    );
    assert!(
        failures.iter().any(|r| r.contains("channel email")),
        "{failures:?}"
    );
    assert!(
        failures.iter().all(|r| !r.contains("/webhook")),
        "webhook paths are secrets: {failures:?}"
    );
    let words = steps(&events, &id);
    assert!(words.contains(&"notified".to_owned()), "{words:?}");
    assert!(words.contains(&"timed-out".to_owned()), "{words:?}");

    let raw = UnixClient::new(&daemon.socket, Duration::from_secs(2), "t", 1 << 20);
    let (status, metrics) = raw.call(Method::GET, "/metrics", None).await.unwrap();
    assert_eq!(status, StatusCode::OK);
    let metrics = String::from_utf8_lossy(&metrics);
    assert!(
        metrics.contains(r#"openshell_approvals_notification_failures_total{channel="teams"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"openshell_approvals_notification_failures_total{channel="email"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"openshell_approvals_decisions_total{state="timed-out"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains("openshell_approvals_pending 0"),
        "{metrics}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_prints_new_pending_approvals_and_decisions() {
    let daemon = TestDaemon::start("").await;
    let client = ApprovalsClient::new(&daemon.socket);
    let before = client
        .submit(&request(&[], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let watcher = {
        let client = client.clone();
        let lines = std::sync::Arc::clone(&lines);
        tokio::spawn(async move {
            openshell_approvals::cli::watch(&client, |line| lines.lock().unwrap().push(line)).await
        })
    };
    let seen = |n: usize| {
        let lines = std::sync::Arc::clone(&lines);
        move || lines.lock().unwrap().len() >= n
    };
    assert!(eventually(Duration::from_secs(5), seen(1)).await);
    let after = client
        .submit(&request(&[], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), seen(2)).await);
    client
        .clone()
        .with_channel("cli")
        .deny(&before.id, &answer("frank"))
        .await
        .unwrap();
    assert!(eventually(Duration::from_secs(5), seen(3)).await);
    watcher.abort();
    let lines = lines.lock().unwrap().clone();
    assert!(
        lines[0].starts_with("pending") && lines[0].contains(&before.id),
        "{lines:?}"
    );
    assert!(
        lines[1].starts_with("pending") && lines[1].contains(&after.id),
        "{lines:?}"
    );
    assert!(
        lines[2].starts_with("denied") && lines[2].contains(&before.id),
        "{lines:?}"
    );
    assert!(lines[2].contains("by frank via cli"), "{lines:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_webhooks_are_verified_against_the_configured_ca() {
    let (ca_pem, acceptor) = ca_and_acceptor();
    let slack = StandIn::start_tls(acceptor).await;
    let dir = tempfile::tempdir().unwrap();
    let ca_file = dir.path().join("webhook-ca.pem");
    std::fs::write(&ca_file, &ca_pem).unwrap();
    let config = |ca_file: Option<&Path>| {
        format!(
            "public_url = \"https://node7.example:9447\"\n[channels]\n{}[channels.slack]\nwebhook_url = \"{}\"\n",
            ca_file
                .map(|p| format!("ca_file = \"{}\"\n", p.display()))
                .unwrap_or_default(),
            slack.url("/services/T/B/X"),
        )
    };
    assert!(slack.url("/").starts_with("https://127.0.0.1:"));

    // Trusting the test CA: the Block Kit message arrives over TLS.
    let daemon = TestDaemon::start(&config(Some(&ca_file))).await;
    let client = ApprovalsClient::new(&daemon.socket);
    let approval = client
        .submit(&request(&["slack"], 60_000, Enforcement::Deny))
        .await
        .unwrap();
    let got = slack.wait_for(1, Duration::from_secs(5)).await;
    assert_eq!(got.len(), 1, "delivered over HTTPS");
    assert_eq!(got[0]["blocks"][1]["type"], "actions", "{}", got[0]);
    let approve = got[0]["blocks"][1]["elements"][0]["url"].as_str().unwrap();
    assert!(approve.contains(&approval.id), "{approve}");

    // The bundled Web PKI roots do not know the test CA: the handshake is refused, nothing is
    // delivered, the failure is audited, and the approval still times out to its default.
    let untrusting = TestDaemon::start(&config(None)).await;
    let client = ApprovalsClient::new(&untrusting.socket);
    let approval = client
        .submit(&request(&["slack"], 1500, Enforcement::Deny))
        .await
        .unwrap();
    let done = client
        .wait(&approval.id, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(done.state, ApprovalState::TimedOut);
    assert_eq!(done.enforced, Some(Enforcement::Deny));
    let id = approval.id.clone();
    let mut events = Vec::new();
    assert!(
        eventually(Duration::from_secs(5), || {
            events = untrusting.audit();
            steps(&events, &id).contains(&"notification-failed".to_owned())
        })
        .await,
        "{events:?}"
    );
    assert!(
        !steps(&events, &id).contains(&"notified".to_owned()),
        "{events:?}"
    );
    let reason = events
        .iter()
        .find(|e| {
            e["resource"] == format!("approval:{id}") && e["decision"] == "notification-failed"
        })
        .and_then(|e| e["reason"].as_str())
        .unwrap_or_default();
    assert!(
        reason.contains("certificate"),
        "the reason names the refusal: {reason}"
    );
    assert_eq!(
        slack.bodies().len(),
        1,
        "nothing reached the stand-in untrusted"
    );

    // A CA file that holds no certificate stops the daemon before it creates anything.
    std::fs::write(&ca_file, "not a certificate\n").unwrap();
    let mut bad = Config::parse(&config(Some(&ca_file)), Path::new("approvals.toml")).unwrap();
    let state = dir.path().join("state");
    bad.state_dir = Some(state.clone());
    bad.socket = Some(dir.path().join("approvals.sock"));
    let error = Daemon::start(Settings {
        config: bad,
        retry: RetryPolicy::default(),
    })
    .await
    .err()
    .expect("a CA file without certificates is refused");
    let message = format!("{error:#}");
    assert!(
        message.contains("channels.ca_file") && message.contains("webhook-ca.pem"),
        "{message}"
    );
    assert!(!state.exists(), "no state directory is left behind");
    assert!(!dir.path().join("approvals.sock").exists());
}
