//! Routing by sensitivity, residency and health, over real HTTP on loopback.

use std::time::Duration;

use openshell_router::RouterConfig;
use openshell_router::config::EndpointConfig;
use serde_json::json;

use crate::support::*;

fn node_endpoint(name: &str, url: String, local: bool) -> EndpointConfig {
    EndpointConfig {
        name: name.to_owned(),
        url,
        local,
        region: None,
        spki_pins: Vec::new(),
        model: None,
        api_key_env: None,
    }
}

fn pinned(mut endpoint: EndpointConfig, identity: &Identity) -> EndpointConfig {
    endpoint.spki_pins = vec![openshell_policy::SpkiPin::parse(&identity.pin).unwrap()];
    endpoint
}

const LEVELS_POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: PrivacyRouterPolicy
metadata: {name: levels}
spec:
  routes:
    restricted: [local]
    confidential: [local]
    internal: [cloud-internal]
    public: [cloud-public]
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_level_lands_on_the_endpoint_its_policy_names() {
    let internal_id = Identity::self_signed();
    let public_id = Identity::self_signed();
    let local = StandIn::plain("local", Answer::Json).await;
    let internal = StandIn::tls("cloud-internal", Answer::Json, &internal_id).await;
    let public = StandIn::tls("cloud-public", Answer::Json, &public_id).await;
    let mut config = RouterConfig::default();
    let mut local_endpoint = node_endpoint("local", local.url(false), true);
    local_endpoint.model = Some("local-model".into());
    let mut internal_endpoint = pinned(
        node_endpoint("cloud-internal", internal.url(true), false),
        &internal_id,
    );
    internal_endpoint.api_key_env = Some("INTERNAL_KEY".into());
    let mut public_endpoint = pinned(
        node_endpoint("cloud-public", public.url(true), false),
        &public_id,
    );
    public_endpoint.api_key_env = Some("PUBLIC_KEY".into());
    config.endpoints = vec![local_endpoint, internal_endpoint, public_endpoint];
    let router = Router::start(
        config,
        &[
            ("INTERNAL_KEY", "internal-key"),
            ("PUBLIC_KEY", "public-key"),
        ],
    )
    .await;
    router.register("agent", Some("127.0.0.2"), None, LEVELS_POLICY);
    let client = router.client("127.0.0.2");

    for (text, stand_in, model) in [
        (PUBLIC, &public, "agent-model"),
        (INTERNAL, &internal, "agent-model"),
        (CONFIDENTIAL, &local, "local-model"),
        (RESTRICTED, &local, "local-model"),
    ] {
        let body = json!({"model": "agent-model", "messages": [{"role": "user", "content": text}]});
        let answer = client
            .post_with(
                "/v1/chat/completions",
                body.to_string().as_bytes(),
                &[
                    ("authorization", "Bearer sk-caller-secret"),
                    ("x-secret", "1"),
                    ("x-request-id", "abc"),
                ],
            )
            .await;
        assert_eq!(answer.status, 200, "{text}: {:?}", answer.body);
        assert_eq!(answer.endpoint(), Some(stand_in.name.as_str()), "{text}");
        // The endpoint's answer, byte for byte.
        let expected = serde_json::to_vec(&json_answer(&stand_in.name, &json!(model))).unwrap();
        assert_eq!(answer.body.as_ref(), expected.as_slice(), "{text}");
        assert_eq!(answer.headers["x-request-id"], "req-1");
        assert!(answer.headers.get("set-cookie").is_none());
        // What the endpoint received is what was classified.
        let received = stand_in.received().pop().unwrap();
        assert_eq!(received.path, "/v1/chat/completions");
        assert_eq!(received.body["messages"][0]["content"], text);
        assert_eq!(received.body["model"], model);
        assert!(received.headers.get("x-secret").is_none());
        assert_eq!(received.headers["x-request-id"], "abc");
    }
    assert_eq!((public.count(), internal.count(), local.count()), (1, 1, 2));
    // The caller's Authorization never leaves; the endpoint's credential is injected.
    assert_eq!(
        public.received()[0].headers["authorization"],
        "Bearer public-key"
    );
    assert_eq!(
        internal.received()[0].headers["authorization"],
        "Bearer internal-key"
    );
    assert!(local.received()[0].headers.get("authorization").is_none());

    // One audit event per decision, in the policy's destination and the node trail, with the
    // classification and the rule, and no content.
    let trail = router.trail_events();
    let events = router.audit_events("agent");
    assert_eq!(events.len(), 4, "{events:?}");
    assert_eq!(trail.len(), 4);
    let summary: Vec<(String, String, String)> = events
        .iter()
        .map(|e| {
            (
                e["decision"].as_str().unwrap().to_owned(),
                e["classification"]["sensitivity"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                e["policies"][0].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "route:cloud-public".into(),
                "public".into(),
                "routes.public[0]".into()
            ),
            (
                "route:cloud-internal".into(),
                "internal".into(),
                "routes.internal[0]".into()
            ),
            (
                "route:local".into(),
                "confidential".into(),
                "routes.confidential[0]".into()
            ),
            (
                "route:local".into(),
                "restricted".into(),
                "routes.restricted[0]".into()
            ),
        ]
    );
    assert_eq!(events[0]["component"], "router");
    assert_eq!(events[0]["action"], "router.chat.completions");
    assert_eq!(events[0]["container_id"], "agent");
    let everything = std::fs::read_to_string(router.audit_file("agent")).unwrap()
        + &std::fs::read_to_string(&router.trail).unwrap();
    for secret in [
        "jane.doe",
        "4111",
        "capital of France",
        "invoice before",
        "sk-caller",
    ] {
        assert!(
            !everything.contains(secret),
            "{secret} reached the audit trail"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restricted_data_never_goes_to_the_cloud_even_with_local_down() {
    let cloud_id = Identity::self_signed();
    let cloud = StandIn::tls("cloud", Answer::Json, &cloud_id).await;
    let down = closed_port().await;
    let mut config = RouterConfig::default();
    config.health.cooldown_ms = 60_000;
    config.health.max_cooldown_ms = 60_000;
    config.endpoints = vec![
        node_endpoint("local", format!("http://{down}/v1"), true),
        pinned(node_endpoint("cloud", cloud.url(true), false), &cloud_id),
    ];
    let router = Router::start(config, &[]).await;
    let policy = "privacyRouter:
  routes:
    restricted: [local]
    confidential: [local]
    internal: [cloud]
    public: [cloud, local]
";
    router.register("agent", Some("127.0.0.2"), None, policy);
    let client = router.client("127.0.0.2");

    for text in [RESTRICTED, CONFIDENTIAL] {
        let answer = client.chat(text).await;
        assert_eq!(answer.status, 503, "{text}");
        assert_eq!(answer.code(), "no_endpoint_available");
        let message = answer.json()["error"]["message"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(message.contains("allowed: local"), "{message}");
        assert!(answer.headers.get("retry-after").is_some());
    }
    assert_eq!(cloud.count(), 0, "nothing sensitive reached the cloud");
    let answer = client.chat(PUBLIC).await;
    assert_eq!(
        (answer.status.as_u16(), answer.endpoint()),
        (200, Some("cloud"))
    );

    // A route naming a cloud endpoint for restricted data, with nothing to fall back on, is a
    // refusal: no compliant endpoint at all.
    let cloud_only = "privacyRouter:
  routes:
    restricted: [cloud]
    public: [cloud]
  fallback: deny
";
    router.register("cloud-only", Some("127.0.0.3"), None, cloud_only);
    let answer = router.client("127.0.0.3").chat(RESTRICTED).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.code(), "no_compliant_endpoint");
    let message = answer.json()["error"]["message"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        message.contains("restricted data")
            && message.contains("cloud (routes.restricted[0])")
            && message.contains("not local"),
        "{message}"
    );
    assert_eq!(cloud.count(), 1, "only the public request");
    let decisions: Vec<String> = router
        .trail_events()
        .iter()
        .map(|e| e["decision"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        decisions,
        ["unavailable", "unavailable", "route:cloud", "deny"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eu_residency_keeps_personal_and_financial_data_in_the_eu() {
    let eu_cloud_id = Identity::self_signed();
    let us_cloud_id = Identity::self_signed();
    let eu_local = StandIn::plain("eu-local", Answer::Json).await;
    let us_local = StandIn::plain("us-local", Answer::Json).await;
    let eu_cloud = StandIn::tls("eu-cloud", Answer::Json, &eu_cloud_id).await;
    let us_cloud = StandIn::tls("us-cloud", Answer::Json, &us_cloud_id).await;
    let policy = format!(
        "apiVersion: openshell.nvidia.com/v1
kind: PrivacyRouterPolicy
metadata: {{name: residency}}
spec:
  endpoints:
    - {{name: eu-local, url: '{}', local: true, region: EU}}
    - {{name: us-local, url: '{}', local: true, region: US}}
    - {{name: eu-cloud, url: '{}', region: EU, spkiPins: ['{}']}}
    - {{name: us-cloud, url: '{}', region: US, spkiPins: ['{}']}}
  routes:
    restricted: [us-local, eu-local]
    confidential: [us-local, eu-local]
    internal: [us-cloud, eu-cloud]
    public: [us-cloud, eu-cloud]
  residencyRules:
    - region: EU
      dataTypes: [personalData, financialData]
      allowedEndpoints: [eu-local, eu-cloud]
",
        eu_local.url(false),
        us_local.url(false),
        eu_cloud.url(true),
        eu_cloud_id.pin,
        us_cloud.url(true),
        us_cloud_id.pin
    );
    let mut config = RouterConfig::default();
    config.health.cooldown_ms = 60_000;
    config.health.max_cooldown_ms = 60_000;
    let router = Router::start(config, &[]).await;
    router.register("eu-agent", Some("127.0.0.3"), Some("EU"), &policy);
    router.register("us-agent", Some("127.0.0.4"), Some("US"), &policy);
    let eu = router.client("127.0.0.3");
    let us = router.client("127.0.0.4");

    // Personal data (confidential): local, and in the EU for the EU container.
    assert_eq!(eu.chat(CONFIDENTIAL).await.endpoint(), Some("eu-local"));
    assert_eq!(us.chat(CONFIDENTIAL).await.endpoint(), Some("us-local"));
    // Financial data (internal): cloud, in the EU for the EU container.
    assert_eq!(eu.chat(INTERNAL).await.endpoint(), Some("eu-cloud"));
    assert_eq!(us.chat(INTERNAL).await.endpoint(), Some("us-cloud"));
    // Data the rule does not name follows the route.
    assert_eq!(eu.chat(PUBLIC).await.endpoint(), Some("us-cloud"));
    let decisions = router.audit_events("eu-agent");
    assert_eq!(decisions[0]["policies"][1], "residencyRules[0] (EU)");
    assert!(
        decisions[0]["reason"]
            .as_str()
            .unwrap()
            .contains("us-local (routes.confidential[0]): residencyRules[0] (EU) keeps personalData/financialData data at eu-local, eu-cloud"),
        "{}",
        decisions[0]["reason"]
    );

    // With the EU's local endpoint down, EU personal data waits rather than cross over.
    eu_local.stop().await;
    let before = (us_local.count(), us_cloud.count(), eu_cloud.count());
    // The first request may still go out on a kept-alive connection the endpoint reset as it
    // died (502: sent, then failed; not retried elsewhere); from then on the endpoint is down.
    let first = eu.chat(CONFIDENTIAL).await;
    assert!(
        [502, 503].contains(&first.status.as_u16()),
        "{:?}",
        first.body
    );
    let answer = eu.chat(CONFIDENTIAL).await;
    assert_eq!(answer.status, 503, "{:?}", answer.body);
    assert_eq!(answer.code(), "no_endpoint_available");
    assert_eq!(
        (us_local.count(), us_cloud.count(), eu_cloud.count()),
        before
    );
    assert_eq!(us.chat(CONFIDENTIAL).await.endpoint(), Some("us-local"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_moves_to_the_next_allowed_endpoint_only() {
    let backup = StandIn::plain("backup", Answer::Json).await;
    let forbidden = StandIn::plain("elsewhere", Answer::Json).await;
    let down = closed_port().await;
    let policy = format!(
        "privacyRouter:
  endpoints:
    - {{name: primary, url: 'http://{down}/v1', local: true, region: EU}}
    - {{name: backup, url: '{}', local: true, region: EU}}
    - {{name: elsewhere, url: '{}', local: true, region: US}}
  routes:
    public: [primary, backup]
    restricted: [primary, elsewhere]
  residencyRules:
    - {{region: EU, dataTypes: [all], allowedEndpoints: [primary, backup]}}
  fallback: deny
",
        backup.url(false),
        forbidden.url(false)
    );
    let mut config = RouterConfig::default();
    config.health.cooldown_ms = 60_000;
    config.health.max_cooldown_ms = 60_000;
    // The node's definition of `primary` (same URL) lends it a model name.
    let mut primary = node_endpoint("primary", format!("http://{down}/v1"), true);
    primary.model = Some("primary-model".into());
    config.endpoints = vec![primary];
    let router = Router::start(config, &[]).await;
    router.register("agent", Some("127.0.0.2"), Some("EU"), &policy);
    let client = router.client("127.0.0.2");
    let answer = client.chat(PUBLIC).await;
    assert_eq!(
        (answer.status.as_u16(), answer.endpoint()),
        (200, Some("backup"))
    );
    assert_eq!(
        backup.received()[0].body["model"],
        "agent-model",
        "the backup names no model: the caller's is kept, not the failed endpoint's"
    );
    let (_, endpoints) = router.admin("GET", "/v1/endpoints", None).await;
    let endpoints: serde_json::Value = serde_json::from_str(&endpoints).unwrap();
    let primary = endpoints
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["name"] == "primary")
        .unwrap();
    assert_eq!(primary["health"]["up"], false, "{primary}");
    // The route also names `elsewhere`, but residency forbids it: no failover there.
    let answer = client.chat(RESTRICTED).await;
    assert_eq!(answer.status, 503);
    assert_eq!(forbidden.count(), 0);
    let (_, metrics) = router.admin("GET", "/metrics", None).await;
    assert!(
        metrics.contains("openshell_router_failovers_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("openshell_router_endpoint_up{endpoint=\"primary\"} 0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streaming_arrives_chunk_by_chunk_unchanged() {
    use http_body_util::BodyExt;
    let gate = std::sync::Arc::new(tokio::sync::Semaphore::new(0));
    let chunks: Vec<String> = vec![
        "data: {\"choices\":[{\"delta\":{\"content\":\"Hel\"}}]}\n\n".into(),
        "data: {\"choices\":[{\"delta\":{\"content\":\"lo\"}}]}\n\n".into(),
        "data: [DONE]\n\n".into(),
    ];
    let local = StandIn::plain(
        "local",
        Answer::Stream {
            chunks: chunks.clone(),
            gate: gate.clone(),
        },
    )
    .await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    let policy = format!(
        "privacyRouter:\n  endpoints:\n    - {{name: local, url: '{}', local: true}}\n",
        local.url(false)
    );
    router.register("agent", Some("127.0.0.2"), None, &policy);
    let client = router.client("127.0.0.2");
    let body =
        json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": PUBLIC}]});
    let request = hyper::Request::post(format!("http://{}/v1/chat/completions", router.front))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(hyper::body::Bytes::from(
            body.to_string(),
        )))
        .unwrap();
    gate.add_permits(1);
    let response = client.send(request).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    let mut body = response.into_body();
    let mut received = Vec::new();
    for (i, chunk) in chunks.iter().enumerate() {
        // Chunk i reaches the client while the stand-in still holds chunk i+1.
        let mut got = Vec::new();
        while got.len() < chunk.len() {
            let frame = tokio::time::timeout(Duration::from_secs(5), body.frame())
                .await
                .unwrap_or_else(|_| panic!("chunk {i} did not arrive before the next was sent"))
                .unwrap()
                .unwrap();
            if let Ok(data) = frame.into_data() {
                got.extend_from_slice(&data);
            }
        }
        assert_eq!(String::from_utf8(got.clone()).unwrap(), *chunk, "chunk {i}");
        received.extend(got);
        gate.add_permits(1);
    }
    assert!(body.frame().await.is_none(), "the stream ends after [DONE]");
    assert_eq!(received, chunks.concat().into_bytes());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_routes_repeats_without_reclassifying() {
    let local = StandIn::plain("local", Answer::Json).await;
    let router = Router::start(RouterConfig::default(), &[]).await;
    let policy = format!(
        "privacyRouter:\n  endpoints:\n    - {{name: local, url: '{}', local: true}}\n",
        local.url(false)
    );
    router.register("agent", Some("127.0.0.2"), None, &policy);
    let client = router.client("127.0.0.2");
    let first = client.chat(RESTRICTED).await;
    assert_eq!(first.status, 200);
    assert_eq!(router.cache_figure("classifier_runs").await, 1);
    // The same conversation, formatted differently and with other parameters.
    let again = format!(
        "{{ \"temperature\": 0.5,\n  \"messages\": [ {{ \"content\": {}, \"role\": \"user\" }} ], \"model\": \"other\" }}",
        serde_json::to_string(RESTRICTED).unwrap()
    );
    let second = client
        .post_with("/v1/chat/completions", again.as_bytes(), &[])
        .await;
    assert_eq!(second.endpoint(), first.endpoint());
    assert_eq!(
        router.cache_figure("classifier_runs").await,
        1,
        "not re-classified"
    );
    assert_eq!(router.cache_figure("hits").await, 1);
    let events = router.trail_events();
    assert!(events[1]["reason"].as_str().unwrap().contains("cached"));
    assert_eq!(events[1]["classification"], events[0]["classification"]);
    // Another text is classified.
    client.chat(PUBLIC).await;
    assert_eq!(router.cache_figure("classifier_runs").await, 2);
    // The cache holds keyed hashes and classifications: no plaintext. (The card's digits are
    // looked for with their space: four hex digits of a key can be `4111` by chance.)
    let generation = router.core.generation();
    let dump = serde_json::to_string(&generation.classifier.cache().entries()).unwrap();
    assert_eq!(generation.classifier.cache().len(), 2);
    for fragment in ["4111 1111", "Refund", "customer", "capital", "France"] {
        assert!(!dump.contains(fragment), "{fragment} in the cache: {dump}");
    }
    let (_, metrics) = router.admin("GET", "/metrics", None).await;
    assert!(
        metrics.contains("openshell_router_classification_cache_hits_total 1"),
        "{metrics}"
    );
}
