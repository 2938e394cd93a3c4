//! An OpenAI-compatible chat-completions client (NVIDIA NIM serving Nemotron, vLLM, Ollama)
//! that asks for output constrained to a JSON schema and returns the parsed JSON.
//!
//! The constraint is sent the way the configured server understands it:
//! - NIM: `"nvext": {"guided_json": SCHEMA}`
//! - vLLM: `"guided_json": SCHEMA`
//! - OpenAI / Ollama: `"response_format": {"type": "json_schema", "json_schema": {"name", "schema", "strict": true}}`
//! - llama.cpp (llama-cpp-python's server): `"response_format": {"type": "json_object", "schema": SCHEMA}`
//!
//! The client is blocking (ureq, the project's one HTTP client); async callers run it on a
//! blocking thread. Whatever comes back is only ever parsed as data and validated by the caller.

use std::time::Duration;

use openshell_policy::node_config::{GuidedDecoding, ModelSettings};
use serde_json::{Value, json};

/// Errors talking to the model server.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// Connection failed, timed out, or the server answered with an error status.
    #[error("model server {endpoint}: {message}")]
    Transport {
        /// The chat-completions URL.
        endpoint: String,
        /// What happened.
        message: String,
    },
    /// The answer is not a chat completion carrying JSON.
    #[error("model answer is not usable: {0}")]
    Answer(String),
    /// The JSON does not satisfy the schema or the caller's checks.
    #[error("model output rejected: {0}")]
    Invalid(String),
}

/// The chat-completions client.
#[derive(Clone)]
pub struct ModelClient {
    agent: ureq::Agent,
    url: String,
    model: String,
    guided: GuidedDecoding,
    api_key: Option<String>,
}

impl ModelClient {
    /// A client for the configured server; the API key is read from `api_key_env` if set.
    pub fn new(settings: &ModelSettings) -> ModelClient {
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(settings.timeout_ms)))
            .http_status_as_error(false)
            .build()
            .into();
        let api_key = settings
            .api_key_env
            .as_deref()
            .and_then(|var| std::env::var(var).ok())
            .filter(|k| !k.is_empty());
        ModelClient {
            agent,
            url: format!(
                "{}/chat/completions",
                settings.endpoint.trim_end_matches('/')
            ),
            model: settings.model.clone(),
            guided: settings.guided,
            api_key,
        }
    }

    /// The model name.
    pub fn model(&self) -> &str {
        &self.model
    }

    /// The request body for a schema-constrained completion.
    pub fn request_body(
        &self,
        system: &str,
        user: &str,
        schema_name: &str,
        schema: &Value,
    ) -> Value {
        let mut body = json!({
            "model": self.model,
            "messages": [
                {"role": "system", "content": system},
                {"role": "user", "content": user},
            ],
            "temperature": 0,
            "max_tokens": 2048,
        });
        let object = body.as_object_mut().expect("a JSON object literal");
        match self.guided {
            GuidedDecoding::Nim => {
                object.insert("nvext".into(), json!({"guided_json": schema}));
            }
            GuidedDecoding::Vllm => {
                object.insert("guided_json".into(), schema.clone());
            }
            GuidedDecoding::Openai => {
                object.insert(
                    "response_format".into(),
                    json!({"type": "json_schema", "json_schema": {"name": schema_name, "schema": schema, "strict": true}}),
                );
            }
            GuidedDecoding::LlamaCpp => {
                object.insert(
                    "response_format".into(),
                    json!({"type": "json_object", "schema": schema}),
                );
            }
        }
        body
    }

    /// Sends one completion request and returns the JSON the model produced.
    pub fn complete_json(
        &self,
        system: &str,
        user: &str,
        schema_name: &str,
        schema: &Value,
    ) -> Result<Value, ModelError> {
        let body = self.request_body(system, user, schema_name, schema);
        let transport = |message: String| ModelError::Transport {
            endpoint: self.url.clone(),
            message,
        };
        let mut request = self
            .agent
            .post(&self.url)
            .header("content-type", "application/json");
        if let Some(key) = &self.api_key {
            request = request.header("authorization", &format!("Bearer {key}"));
        }
        let mut response = request
            .send(
                serde_json::to_vec(&body)
                    .expect("request body serializes")
                    .as_slice(),
            )
            .map_err(|e| transport(e.to_string()))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .with_config()
            .limit(4 * 1024 * 1024)
            .read_to_string()
            .map_err(|e| transport(e.to_string()))?;
        if !(200..300).contains(&status) {
            let snippet: String = text.chars().take(200).collect();
            return Err(transport(format!("HTTP {status}: {snippet}")));
        }
        let completion: Value = serde_json::from_str(&text)
            .map_err(|e| ModelError::Answer(format!("not JSON: {e}")))?;
        let content = completion
            .pointer("/choices/0/message/content")
            .and_then(Value::as_str)
            .ok_or_else(|| ModelError::Answer("no choices[0].message.content".into()))?;
        serde_json::from_str(content.trim())
            .map_err(|e| ModelError::Answer(format!("content is not JSON: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(guided: GuidedDecoding) -> ModelSettings {
        ModelSettings {
            endpoint: "http://127.0.0.1:1/v1/".into(),
            model: "nemotron".into(),
            guided,
            timeout_ms: 100,
            cache_entries: 8,
            cache_ttl_s: 60,
            api_key_env: None,
            compile_natural_language: false,
        }
    }

    #[test]
    fn each_server_gets_its_constraint_field() {
        let schema = json!({"type": "object"});
        let nim =
            ModelClient::new(&settings(GuidedDecoding::Nim)).request_body("s", "u", "x", &schema);
        assert_eq!(nim["nvext"]["guided_json"], schema);
        let vllm =
            ModelClient::new(&settings(GuidedDecoding::Vllm)).request_body("s", "u", "x", &schema);
        assert_eq!(vllm["guided_json"], schema);
        let openai = ModelClient::new(&settings(GuidedDecoding::Openai))
            .request_body("s", "u", "x", &schema);
        assert_eq!(openai["response_format"]["type"], "json_schema");
        assert_eq!(openai["response_format"]["json_schema"]["schema"], schema);
        assert_eq!(openai["model"], "nemotron");
        let llama = ModelClient::new(&settings(GuidedDecoding::LlamaCpp))
            .request_body("s", "u", "x", &schema);
        assert_eq!(
            llama["response_format"],
            json!({"type": "json_object", "schema": schema})
        );
        assert!(llama.get("nvext").is_none() && llama.get("guided_json").is_none());
        assert_eq!(openai["messages"][1]["content"], "u");
    }

    #[test]
    fn unreachable_server_is_a_transport_error() {
        let client = ModelClient::new(&settings(GuidedDecoding::Nim));
        let err = client.complete_json("s", "u", "x", &json!({})).unwrap_err();
        assert!(matches!(err, ModelError::Transport { .. }), "{err}");
        assert!(
            err.to_string()
                .contains("http://127.0.0.1:1/v1/chat/completions")
        );
    }
}
