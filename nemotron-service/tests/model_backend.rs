//! The model backend against a local stand-in of an OpenAI-compatible server: constrained
//! output requested the configured way, answers validated and merged, cached, and every
//! failure falling back to the embedded engine, audited.

mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::{ModelMode, ModelStandIn, Service};

fn model_config(url: &str, guided: &str, extra: &str) -> String {
    format!(
        "[model]\nendpoint = \"{url}\"\nmodel = \"nemotron-test\"\nguided = \"{guided}\"\ntimeout_ms = 500\n{extra}"
    )
}

fn verdict(sensitivity: &str) -> Value {
    json!({"sensitivity": sensitivity, "reversibility": "irreversible", "scope": "external",
           "compliance": ["SOC2"], "data_types": [], "confidence": 0.9,
           "rationale": "Sending data to a third party cannot be undone."})
}

#[test]
fn model_answers_are_constrained_validated_merged_and_cached() {
    let model = ModelStandIn::start(ModelMode::Answer(verdict("internal")));
    let s = Service::start(&model_config(&model.url, "nim", ""), &[]);
    let action = json!({"action": "crm.export", "destination": "https://partner.example",
                        "data": {"email": "jane@example.com", "note": "card 4111 1111 1111 1111"}});
    let (status, c) = s.json("POST", "/v1/classify", &action);
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["engine"], "model:nemotron-test");
    assert!(c.get("fallback").is_none());
    assert_eq!(c["scope"]["value"], "external");
    assert_eq!(c["scope"]["evidence"][0]["detector"], "model:nemotron-test");
    // The model said internal; the card-number detector keeps it restricted.
    assert_eq!(c["sensitivity"]["value"], "restricted");
    let frameworks: Vec<&str> = c["compliance"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["framework"].as_str().unwrap())
        .collect();
    assert!(
        frameworks.contains(&"SOC2")
            && frameworks.contains(&"PCI-DSS")
            && frameworks.contains(&"GDPR"),
        "{frameworks:?}"
    );

    // The request asked for NIM's guided JSON and showed the model redacted data only.
    let body = model.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["model"], "nemotron-test");
    assert_eq!(body["nvext"]["guided_json"]["required"][0], "sensitivity");
    let prompt = body["messages"][1]["content"].as_str().unwrap();
    assert!(prompt.contains("[REDACTED:"), "{prompt}");
    assert!(
        !prompt.contains("jane@example.com") && !prompt.contains("4111"),
        "{prompt}"
    );

    // Cached: the same action does not reach the model again.
    let (_, again) = s.json("POST", "/v1/classify", &action);
    assert_eq!(again, c);
    assert_eq!(model.requests.load(Ordering::SeqCst), 1);
}

#[test]
fn failures_fall_back_to_the_embedded_engine_and_are_audited() {
    let model = ModelStandIn::start(ModelMode::Garbage);
    let s = Service::start(&model_config(&model.url, "vllm", ""), &[]);
    let (_, c) = s.json(
        "POST",
        "/v1/classify",
        &json!({"action": "crm.read", "resource": "customer:1"}),
    );
    assert_eq!(c["engine"], "embedded");
    assert!(c["fallback"].as_str().unwrap().contains("not JSON"), "{c}");
    assert!(
        model.bodies.lock().unwrap()[0]["guided_json"].is_object(),
        "vLLM's field"
    );

    // Output that is JSON but not the schema is rejected too.
    *model.mode.lock().unwrap() = ModelMode::Answer(json!({"sensitivity": "top-secret"}));
    let (_, c) = s.json(
        "POST",
        "/v1/classify",
        &json!({"action": "crm.read", "resource": "customer:2"}),
    );
    assert!(c["fallback"].as_str().unwrap().contains("rejected"), "{c}");

    // A hanging model costs the timeout, not more.
    *model.mode.lock().unwrap() = ModelMode::Hang;
    let started = Instant::now();
    let (_, c) = s.json(
        "POST",
        "/v1/classify",
        &json!({"action": "crm.read", "resource": "customer:3"}),
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(c["fallback"].is_string(), "{c}");
    assert_eq!(c["sensitivity"]["value"], "confidential");

    let trail = support::wait_for_file(&s.path("trail.jsonl"));
    let fallbacks = trail
        .lines()
        .filter(|l| l.contains("classifier.fallback"))
        .count();
    assert!(fallbacks >= 2, "{trail}");
}

#[test]
fn natural_language_through_the_model() {
    let answer = json!({
        "rules": [{"subject": "agents", "effect": "forbid", "action": "invoke", "verbs": ["delete"],
                   "targets": [{"kind": "service", "name": "backup"}], "conditions": [], "only": false,
                   "source": {"start": 0, "end": 30, "text": "Agents may not delete backups."}}],
        "unparsed": []
    });
    let model = ModelStandIn::start(ModelMode::Answer(answer));
    let s = Service::start(
        &model_config(&model.url, "openai", "compile_natural_language = true"),
        &[],
    );
    let (status, nl) = s.json(
        "POST",
        "/v1/nl/compile",
        &json!({"text": "Agents may not delete backups. Be kind."}),
    );
    assert_eq!(status, 200, "{nl}");
    assert_eq!(nl["compiler"], "model");
    assert_eq!(nl["ir"]["rules"][0]["id"], "nl:1.1.1");
    assert_eq!(nl["ir"]["unparsed"][0]["source"]["text"], "Be kind.");
    assert!(
        nl["cedar"][0]["text"]
            .as_str()
            .unwrap()
            .contains("context.service == \"backup\"")
    );
    let body = model.bodies.lock().unwrap()[0].clone();
    assert_eq!(body["response_format"]["type"], "json_schema");
    assert!(
        body["messages"][1]["content"]
            .as_str()
            .unwrap()
            .contains("[0, 30) Agents may not delete backups.")
    );
    // The grammar is still available on request.
    let (_, nl) = s.json(
        "POST",
        "/v1/nl/compile",
        &json!({"text": "Agents may not delete backups.", "compiler": "grammar"}),
    );
    assert_eq!(nl["compiler"], "grammar");
}

#[path = "../../integration/src/local_model.rs"]
mod local_model;

/// The real local model as the backend: llama.cpp's server with SmolLM2-135M-Instruct
/// (`scripts/local-model.sh`), its output constrained by the grammar llama.cpp builds from the
/// schema. Whatever the tiny model thinks of the action, its answer parses into the
/// classification.
#[test]
fn a_real_local_model_answers_with_guided_json() {
    let model = local_model::LocalModel::start();
    let config = format!(
        "[model]\nendpoint = \"{}\"\nmodel = \"{}\"\nguided = \"llama-cpp\"\ntimeout_ms = 120000\n",
        model.url(),
        local_model::MODEL_ALIAS
    );
    let s = Service::start(&config, &[]);
    let action = json!({"action": "crm.export", "destination": "https://partner.example",
                        "data": {"email": "jane@example.com"}});
    let started = Instant::now();
    let (status, c) = s.json("POST", "/v1/classify", &action);
    println!(
        "local model (SmolLM2-135M-Instruct on llama.cpp): guided classification in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(status, 200, "{c}");
    assert!(
        c.get("fallback").is_none(),
        "{c}\nserver log:\n{}",
        model.log_text()
    );
    assert_eq!(
        c["engine"],
        format!("model:{}", local_model::MODEL_ALIAS),
        "{c}"
    );
    for field in ["sensitivity", "reversibility", "scope"] {
        assert!(c[field]["value"].is_string(), "{field}: {c}");
    }
}
