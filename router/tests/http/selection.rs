//! Choosing among allowed endpoints by what was observed of them, over real HTTP.

use std::time::Duration;

use openshell_router::RouterConfig;

use crate::support::*;

fn policy(first: &StandIn, second: &StandIn) -> String {
    format!(
        "privacyRouter:
  endpoints:
    - {{name: {}, url: '{}', local: true}}
    - {{name: {}, url: '{}', local: true}}
  routes:
    public: [{}, {}]
  fallback: deny
",
        first.name,
        first.url(false),
        second.name,
        second.url(false),
        first.name,
        second.name
    )
}

fn audit_reasons(router: &Router, id: &str) -> Vec<String> {
    router
        .audit_events(id)
        .iter()
        .map(|e| e["reason"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traffic_moves_off_failing_and_slow_endpoints() {
    let flaky = StandIn::plain("flaky", Answer::Status(500)).await;
    let steady = StandIn::plain("steady", Answer::Json).await;
    let slow = StandIn::plain("slow", Answer::Slow(Duration::from_millis(400))).await;
    let quick = StandIn::plain("quick", Answer::Json).await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    router.register("failing", Some("127.0.0.2"), None, &policy(&flaky, &steady));
    router.register("slowness", Some("127.0.0.3"), None, &policy(&slow, &quick));

    // Nothing measured: route order. The failing endpoint's 500 is the caller's answer.
    let client = router.client("127.0.0.2");
    let first = client.chat(PUBLIC).await;
    assert_eq!(
        (first.status.as_u16(), first.endpoint()),
        (500, Some("flaky"))
    );
    for _ in 0..2 {
        let answer = client.chat(PUBLIC).await;
        assert_eq!(
            (answer.status.as_u16(), answer.endpoint()),
            (200, Some("steady"))
        );
    }
    assert_eq!((flaky.count(), steady.count()), (1, 2));
    let reasons = audit_reasons(&router, "failing");
    assert!(
        reasons[0].contains(
            "preference balanced: flaky (latency unmeasured, errors 0%, cost none, score 0.0); \
             steady (latency unmeasured, errors 0%, cost none, score 0.0); chose flaky: the best score"
        ),
        "{}",
        reasons[0]
    );
    assert!(reasons[1].contains("flaky (latency "), "{}", reasons[1]);
    assert!(reasons[1].contains("errors 100%"), "{}", reasons[1]);
    assert!(
        reasons[1].contains("chose steady: the best score"),
        "{}",
        reasons[1]
    );

    // A slow endpoint loses its traffic to a quick one once measured.
    let client = router.client("127.0.0.3");
    for expected in ["slow", "quick", "quick"] {
        let answer = client.chat(PUBLIC).await;
        assert_eq!(
            (answer.status.as_u16(), answer.endpoint()),
            (200, Some(expected))
        );
    }
    assert_eq!((slow.count(), quick.count()), (1, 2));
    let reasons = audit_reasons(&router, "slowness");
    assert!(
        reasons[1].contains("quick (latency unmeasured"),
        "{}",
        reasons[1]
    );
    assert!(
        reasons[2].contains("chose quick: the best score"),
        "{}",
        reasons[2]
    );
    let slow_ms: f64 = reasons[2]
        .split("slow (latency ")
        .nth(1)
        .and_then(|rest| rest.split(" ms").next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("{}", reasons[2]));
    assert!(slow_ms >= 400.0, "{}", reasons[2]);
    let (_, metrics) = router.admin("GET", "/metrics", None).await;
    assert!(
        metrics.contains("openshell_router_endpoint_error_ratio{endpoint=\"flaky\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("openshell_router_endpoint_latency_seconds{endpoint=\"slow\"} 0.4"));
}
