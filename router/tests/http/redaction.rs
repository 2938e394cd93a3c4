//! Outbound redaction over real HTTP: what the cloud stand-in receives, what the caller gets
//! back (JSON and streamed), and what the audit says.

use http_body_util::BodyExt;
use openshell_router::RouterConfig;
use serde_json::{Value, json};

use crate::support::*;

/// Personal data (an email twice, a phone number) in an otherwise public request.
const PERSONAL: &str = "Write to jane.doe@example.com and call +1 415 555 2671 about jane.doe@example.com's \"order\".";
/// Fragments of the personal data that must never reach the cloud or the audit.
const SECRETS: &[&str] = &["jane", "example.com", "415", "2671"];

fn policy(local: &StandIn, cloud: &StandIn, pin: &str, scope: &str) -> String {
    format!(
        "privacyRouter:
  endpoints:
    - {{name: local, url: '{}', local: true}}
    - {{name: cloud, url: '{}', spkiPins: ['{pin}']}}
  routes:
    confidential: [local]
    public: [cloud]
  redaction: {{dataTypes: [personalData], endpoints: {scope}}}
",
        local.url(false),
        cloud.url(true)
    )
}

fn assert_clean(what: &str, text: &str) {
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret} in {what}: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn personal_data_leaves_redacted_and_comes_back_restored() {
    let identity = Identity::self_signed();
    let local = StandIn::plain("local", Answer::Echo).await;
    let cloud = StandIn::tls("cloud", Answer::Echo, &identity).await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    router.register(
        "agent",
        Some("127.0.0.2"),
        None,
        &policy(&local, &cloud, &identity.pin, "non-local"),
    );
    let client = router.client("127.0.0.2");

    // Not streamed: the cloud sees placeholders, the caller the original, with a right length.
    let answer = client.chat(PERSONAL).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.endpoint(), Some("cloud"));
    assert_eq!(answer.json()["choices"][0]["message"]["content"], PERSONAL);
    assert_eq!(
        answer.headers["content-length"].to_str().unwrap(),
        answer.body.len().to_string()
    );
    let sent = cloud.received()[0].body.to_string();
    assert_clean("the cloud's request", &sent);
    assert_eq!(
        cloud.received()[0].body["messages"][0]["content"],
        "Write to [EMAIL_1] and call [PHONE_1] about [EMAIL_1]'s \"order\"."
    );

    // Streamed in pieces of three bytes, each event in two frames: placeholders split across
    // events and frames are put back together.
    let body = json!({"model": "m", "stream": true,
                      "messages": [{"role": "user", "content": PERSONAL}]});
    let request = hyper::Request::post(format!("http://{}/v1/chat/completions", router.front))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    let response = client.send(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8(bytes.to_vec()).unwrap();
    let mut content = String::new();
    for data in text.lines().filter_map(|l| l.strip_prefix("data: ")) {
        if data == "[DONE]" {
            continue;
        }
        let event: Value = serde_json::from_str(data).unwrap();
        content.push_str(
            event["choices"][0]["delta"]["content"]
                .as_str()
                .unwrap_or(""),
        );
    }
    assert_eq!(content, PERSONAL, "{text}");
    assert!(
        !text.contains("[EMAIL") && !text.contains("[PHONE"),
        "{text}"
    );
    assert!(text.ends_with("data: [DONE]\n\n"), "{text}");
    assert_eq!(cloud.count(), 2);
    assert_clean("the cloud's request", &cloud.received()[1].body.to_string());
    assert_eq!(local.count(), 0);

    // The audit names what was redacted, never the values or the placeholders.
    let events = router.audit_events("agent");
    assert_eq!(events.len(), 2);
    for event in &events {
        assert_eq!(event["decision"], "route:cloud");
        assert_eq!(event["classification"]["sensitivity"], "confidential");
        let policies: Vec<&str> = event["policies"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(policies, ["routes.public[0]", "redaction"]);
        let reason = event["reason"].as_str().unwrap();
        assert!(
            reason.contains(
                "redacted for non-local endpoints: email ×1, phone ×1 (public after redaction)"
            ),
            "{reason}"
        );
        assert!(
            reason.contains("cloud received the redacted request"),
            "{reason}"
        );
        // Every field the request could have reached; the id, timestamp and latency are
        // generated digits in which a fragment such as "415" turns up by chance.
        let mut fields = event.clone();
        for generated in ["id", "timestamp", "latency_us"] {
            fields.as_object_mut().unwrap().remove(generated);
        }
        let whole = fields.to_string();
        assert_clean("the audit event", &whole);
        assert!(!whole.contains("EMAIL_1"), "{whole}");
    }
    let (_, metrics) = router.admin("GET", "/metrics", None).await;
    assert!(
        metrics.contains("openshell_router_redactions_total{detector=\"email\"} 2"),
        "{metrics}"
    );
    assert!(metrics.contains("openshell_router_redactions_total{detector=\"phone\"} 2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redaction_fails_closed() {
    let identity = Identity::self_signed();
    let local = StandIn::plain("local", Answer::Echo).await;
    let cloud = StandIn::tls("cloud", Answer::Echo, &identity).await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    router.register(
        "everywhere",
        Some("127.0.0.2"),
        None,
        &policy(&local, &cloud, &identity.pin, "all"),
    );
    router.register(
        "cloud-only",
        Some("127.0.0.3"),
        None,
        &policy(&local, &cloud, &identity.pin, "non-local"),
    );
    let image = json!({"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": PERSONAL},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
    ]}]})
    .to_string();

    // Unscannable content cannot be redacted: with every endpoint covered, none may have it.
    let answer = router
        .client("127.0.0.2")
        .post_with("/v1/chat/completions", image.as_bytes(), &[])
        .await;
    assert_eq!(answer.status, 403, "{:?}", answer.body);
    assert_eq!(answer.code(), "no_compliant_endpoint");
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains(
            "local (fallback: local-only): redaction cannot be applied: the content was not scanned"
        ),
        "{message}"
    );
    // With only non-local endpoints covered, the local one gets it as it is (restricted).
    let answer = router
        .client("127.0.0.3")
        .post_with("/v1/chat/completions", image.as_bytes(), &[])
        .await;
    assert_eq!(answer.endpoint(), Some("local"));
    assert_eq!(cloud.count(), 0);
    // Scannable personal data still goes out, redacted.
    let answer = router.client("127.0.0.2").chat(PERSONAL).await;
    assert_eq!(answer.endpoint(), Some("cloud"));
    assert_eq!(answer.json()["choices"][0]["message"]["content"], PERSONAL);
    assert_clean("the cloud's request", &cloud.received()[0].body.to_string());
}
