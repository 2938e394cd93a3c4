//! Who may call: registered sandbox addresses, caller tokens, and registrations that come and
//! go while the router runs.

use std::time::Duration;

use openshell_router::RouterConfig;
use serde_json::Value;

use crate::support::*;

fn local_policy(stand_in: &StandIn) -> String {
    format!(
        "privacyRouter:\n  endpoints:\n    - {{name: local, url: '{}', local: true}}\n",
        stand_in.url(false)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unregistered_callers_are_refused() {
    let local = StandIn::plain("local", Answer::Json).await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    router.register("agent", Some("127.0.0.2"), None, &local_policy(&local));
    let answer = router.client("127.0.0.9").chat(PUBLIC).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "caller_not_registered");
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("127.0.0.9")
    );
    let models = router.client("127.0.0.9").get("/v1/models", &[]).await;
    assert_eq!(models.status, 403);
    assert_eq!(local.count(), 0);
    // A token is no way in when tokens are off.
    let answer = router
        .client("127.0.0.9")
        .post_with(
            "/v1/chat/completions",
            br#"{"messages":[]}"#,
            &[("authorization", "Bearer osr1.agent.00")],
        )
        .await;
    assert_eq!(answer.status, 403);
    // The refusal is audited, without a container.
    let events = router.trail_events();
    assert_eq!(events[0]["decision"], "deny");
    assert_eq!(events[0]["policies"][0], "identity");
    assert!(events[0].get("container_id").is_none());
    // The registered sandbox is served, and sees the models its policy reaches.
    let models = router.client("127.0.0.2").get("/v1/models", &[]).await;
    assert_eq!(models.status, 200);
    assert_eq!(models.json()["data"][0]["id"], "local");
    assert_eq!(router.client("127.0.0.2").chat(PUBLIC).await.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn caller_tokens_identify_containers_without_a_sandbox_address() {
    let local = StandIn::plain("local", Answer::Json).await;
    let mut config = RouterConfig::default();
    let key_dir = tempfile::tempdir().unwrap();
    config.identity.token_key_file = Some(key_dir.path().join("router.key"));
    let router = Router::start(config, &[]).await;
    let policy = local_policy(&local);
    router.register("host-agent", None, None, &policy);
    router.register("sandboxed", Some("127.0.0.5"), None, &policy);
    let mint = |id: &'static str| {
        let router = &router;
        async move {
            let (status, text) = router
                .admin("POST", &format!("/v1/tokens/{id}"), None)
                .await;
            assert_eq!(status, 200, "{text}");
            let v: Value = serde_json::from_str(&text).unwrap();
            format!("Bearer {}", v["token"].as_str().unwrap())
        }
    };
    let host_token = mint("host-agent").await;
    let answer = router
        .client("127.0.0.1")
        .post_with(
            "/v1/chat/completions",
            br#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
            &[("authorization", &host_token)],
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert!(
        local.received()[0].headers.get("authorization").is_none(),
        "the token is stripped"
    );
    assert_eq!(
        router.audit_events("host-agent")[0]["container_id"],
        "host-agent"
    );
    // A forged token, a token of an unregistered container, a token from another sandbox.
    let mut forged = host_token.clone();
    let last = forged.pop().unwrap();
    forged.push(if last == '0' { '1' } else { '0' });
    let stranger = mint("stranger").await;
    for (source, token, code) in [
        ("127.0.0.1", forged.as_str(), "invalid_caller_token"),
        ("127.0.0.1", stranger.as_str(), "caller_not_registered"),
        ("127.0.0.5", host_token.as_str(), "caller_token_mismatch"),
    ] {
        let answer = router
            .client(source)
            .post_with(
                "/v1/chat/completions",
                br#"{"messages":[]}"#,
                &[("authorization", token)],
            )
            .await;
        assert_eq!(
            (answer.status.as_u16(), answer.code()),
            (403, code.to_owned())
        );
    }
    assert_eq!(local.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_caller_tokens_are_refused() {
    let local = StandIn::plain("local", Answer::Json).await;
    let mut config = RouterConfig::default();
    let key_dir = tempfile::tempdir().unwrap();
    config.identity.token_key_file = Some(key_dir.path().join("router.key"));
    // A token that expires as it is minted: what every token becomes after its lifetime.
    config.identity.token_ttl_s = 0;
    let router = Router::start(config, &[]).await;
    router.register("host-agent", None, None, &local_policy(&local));
    let (status, text) = router.admin("POST", "/v1/tokens/host-agent", None).await;
    assert_eq!(status, 200, "{text}");
    let minted: Value = serde_json::from_str(&text).unwrap();
    assert!(minted["expires"].as_u64().is_some(), "{text}");
    let token = format!("Bearer {}", minted["token"].as_str().unwrap());
    let answer = router
        .client("127.0.0.1")
        .post_with(
            "/v1/chat/completions",
            br#"{"messages":[]}"#,
            &[("authorization", &token)],
        )
        .await;
    assert_eq!(
        (answer.status.as_u16(), answer.code()),
        (403, "invalid_caller_token".to_owned())
    );
    assert_eq!(local.count(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registrations_come_and_go_while_the_router_runs() {
    let local = StandIn::plain("local", Answer::Json).await;
    let config = RouterConfig {
        registry_poll_ms: 50,
        ..RouterConfig::default()
    };
    let router = Router::start(config, &[]).await;
    let client = router.client("127.0.0.6");
    assert_eq!(client.chat(PUBLIC).await.status, 403);
    // A container registered after the router started is served on its first request.
    router.register("late", Some("127.0.0.6"), None, &local_policy(&local));
    assert_eq!(client.chat(PUBLIC).await.status, 200);
    // After poststop removes the record, its address is refused again.
    router.unregister("late");
    let gone = eventually(Duration::from_secs(5), || {
        router.core.callers().by_id("late").is_none()
    })
    .await;
    assert!(gone);
    assert_eq!(client.chat(PUBLIC).await.status, 403);
    // A registration whose compiled policy was changed after it was compiled (its digest no
    // longer matches) is not used: its requests are refused.
    router.register("edited", Some("127.0.0.7"), None, &local_policy(&local));
    let record = router.dir.path().join("registry/edited.json");
    let mut value: Value = serde_json::from_slice(&std::fs::read(&record).unwrap()).unwrap();
    value["policy"]["digest"] = format!("sha256:{}", "0".repeat(64)).into();
    std::fs::write(&record, value.to_string()).unwrap();
    let refused = eventually(Duration::from_secs(5), || {
        router
            .core
            .callers()
            .by_id("edited")
            .is_some_and(|c| c.routing.is_err())
    })
    .await;
    assert!(refused);
    let answer = router.client("127.0.0.7").chat(PUBLIC).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "policy_unusable");
    assert!(
        answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("changed after it was compiled")
    );
}
