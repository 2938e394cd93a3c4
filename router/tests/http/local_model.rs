//! The router in front of a real local model: llama.cpp's OpenAI-compatible server serving
//! SmolLM2-135M-Instruct (installed by `scripts/local-model.sh`), with a TLS stand-in for the
//! cloud. Customer data goes to the local model and gets a real completion, plain and streamed;
//! a public prompt goes to the cloud. The local model's time to first token is printed.

use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper::body::Bytes;
use openshell_router::RouterConfig;
use openshell_router::config::EndpointConfig;
use serde_json::{Value, json};

use crate::support::*;

#[path = "../../../integration/src/local_model.rs"]
mod llama;

const POLICY: &str = "apiVersion: openshell.nvidia.com/v1
kind: PrivacyRouterPolicy
metadata: {name: local-model}
spec:
  routes:
    restricted: [local]
    confidential: [local]
    internal: [cloud]
    public: [cloud]
";

/// A prompt carrying a customer's email address and card number.
const CUSTOMER: &str =
    "Customer jane.doe@example.com paid with card 4111 1111 1111 1111. Say thank you in one line.";

/// Another customer's email address and card number.
const CUSTOMER_STREAMED: &str =
    "Write one polite sentence to bob@example.org: his card 5500 0000 0000 0004 was refunded.";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn customer_data_is_answered_by_the_real_local_model_and_public_prompts_by_the_cloud() {
    let model = tokio::task::spawn_blocking(llama::LocalModel::start)
        .await
        .unwrap();
    let cloud_id = Identity::self_signed();
    let cloud = StandIn::tls("cloud", Answer::Json, &cloud_id).await;
    let config = RouterConfig {
        endpoints: vec![
            EndpointConfig {
                name: "local".into(),
                url: model.url(),
                local: true,
                region: None,
                spki_pins: Vec::new(),
                model: Some(llama::MODEL_ALIAS.into()),
                api_key_env: None,
            },
            EndpointConfig {
                name: "cloud".into(),
                url: cloud.url(true),
                local: false,
                region: None,
                spki_pins: vec![openshell_policy::SpkiPin::parse(&cloud_id.pin).unwrap()],
                model: None,
                api_key_env: None,
            },
        ],
        ..RouterConfig::default()
    };
    let router = Router::start(config, &[]).await;
    router.register("agent", Some("127.0.0.2"), None, POLICY);
    let client = router.client("127.0.0.2");

    // A whole completion from the local model.
    let body = json!({"model": "agent-model", "max_tokens": 24, "temperature": 0,
                      "messages": [{"role": "user", "content": CUSTOMER}]});
    let answer = client
        .post_with("/v1/chat/completions", body.to_string().as_bytes(), &[])
        .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.endpoint(), Some("local"));
    let completion = answer.json();
    let content = completion["choices"][0]["message"]["content"]
        .as_str()
        .unwrap_or_default();
    assert!(!content.trim().is_empty(), "{completion}");
    assert_eq!(completion["model"], llama::MODEL_ALIAS, "{completion}");
    assert!(
        completion.get("served_by").is_none(),
        "not the stand-in: {completion}"
    );
    assert_eq!(cloud.count(), 0);

    // Streamed: time to the first token through the router (another prompt, so that the
    // server's prompt cache does not shorten it).
    let body = json!({"model": "agent-model", "max_tokens": 16, "temperature": 0, "stream": true,
                      "messages": [{"role": "user", "content": CUSTOMER_STREAMED}]});
    let started = Instant::now();
    let response = client
        .send(
            Request::post(format!("http://{}/v1/chat/completions", client.target))
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))
                .unwrap(),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get("x-openshell-endpoint")
            .and_then(|v| v.to_str().ok()),
        Some("local")
    );
    let mut body = response.into_body();
    let mut buffered = String::new();
    let mut first_token = None;
    let mut text = String::new();
    let mut done = false;
    while let Some(frame) = tokio::time::timeout(Duration::from_secs(120), body.frame())
        .await
        .expect("the stream stalled")
    {
        let Ok(data) = frame.unwrap().into_data() else {
            continue;
        };
        buffered.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffered.find("\n\n") {
            let event: String = buffered.drain(..end + 2).collect();
            let Some(payload) = event.trim().strip_prefix("data:").map(str::trim) else {
                continue;
            };
            if payload == "[DONE]" {
                done = true;
                continue;
            }
            let chunk: Value = serde_json::from_str(payload).unwrap();
            if let Some(delta) = chunk["choices"][0]["delta"]["content"].as_str()
                && !delta.is_empty()
            {
                first_token.get_or_insert_with(|| started.elapsed());
                text.push_str(delta);
            }
        }
    }
    assert!(done, "no [DONE] event; got {text:?}");
    let first_token = first_token.expect("the stream carried no token");
    println!(
        "local model (SmolLM2-135M-Instruct on llama.cpp, via the router): first token after {} ms; streamed {:?}",
        first_token.as_millis(),
        text
    );
    assert!(!text.trim().is_empty());
    assert_eq!(cloud.count(), 0);

    // A public prompt goes to the cloud stand-in.
    let answer = client.chat(PUBLIC).await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.endpoint(), Some("cloud"));
    assert_eq!(answer.json()["served_by"], "cloud");
    assert_eq!(cloud.count(), 1);
    drop(model);
}
