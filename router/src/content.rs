//! What of a request is classified: every string value of the JSON body — messages, tool call
//! arguments, prompts, embedding inputs, names, the `user` field, and fields this router does
//! not know yet — joined in a canonical order. Skipped are only the values of keys that carry
//! structure, not content (`model`, `role`, `type`, `tool_call_id`); field names are not
//! scanned (a `name` field is not personal data by itself).
//!
//! Content the detectors cannot read makes the request **unscannable**, which routes it as
//! restricted (fail closed): token-id prompts or inputs (arrays of integers), and non-text
//! content parts (`image_url`, `input_audio`, `file`, …).
//!
//! The joined text is the *normalized content*: the same messages give the same text however
//! the JSON is formatted, in whatever order its keys come, whatever the other parameters
//! (`temperature`, `stream`, `model`) say. It is what the classification cache is keyed on.

use serde_json::Value;

/// Keys whose string values are structure, not content.
pub(crate) const STRUCTURAL_KEYS: &[&str] = &["model", "role", "type", "tool_call_id"];
/// Keys whose integer arrays are token ids.
const TOKEN_KEYS: &[&str] = &["prompt", "input"];
/// Content part types whose payload the detectors cannot read.
const OPAQUE_PART_TYPES: &[&str] = &[
    "image_url",
    "image",
    "input_image",
    "input_audio",
    "audio",
    "file",
    "input_file",
    "video_url",
];

/// The classifiable content of a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Content {
    /// The normalized text: string values in canonical order, one per line.
    pub text: String,
    /// Set when part of the request cannot be classified; the request is then restricted.
    pub unscannable: Option<String>,
}

/// Extracts the content of a parsed request body.
pub fn extract(body: &Value) -> Content {
    let mut walk = Walk {
        text: String::new(),
        unscannable: None,
    };
    walk.value(body, None);
    Content {
        text: walk.text,
        unscannable: walk.unscannable,
    }
}

struct Walk {
    text: String,
    unscannable: Option<String>,
}

impl Walk {
    fn value(&mut self, value: &Value, key: Option<&str>) {
        match value {
            Value::String(s) => {
                if !key.is_some_and(|k| STRUCTURAL_KEYS.contains(&k)) {
                    if !self.text.is_empty() {
                        self.text.push('\n');
                    }
                    self.text.push_str(s);
                }
            }
            Value::Number(_) => {
                if let Some(k) = key.filter(|k| TOKEN_KEYS.contains(k)) {
                    self.opaque(format!("`{k}` holds token ids, which cannot be classified"));
                }
            }
            Value::Array(items) => items.iter().for_each(|item| self.value(item, key)),
            Value::Object(map) => {
                if let Some(Value::String(kind)) = map.get("type")
                    && OPAQUE_PART_TYPES.contains(&kind.as_str())
                {
                    self.opaque(format!("a `{kind}` content part cannot be classified"));
                }
                for (k, v) in map {
                    self.value(v, Some(k));
                }
            }
            Value::Bool(_) | Value::Null => {}
        }
    }

    fn opaque(&mut self, why: String) {
        self.unscannable.get_or_insert(why);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn messages_tools_and_unknown_fields_are_content() {
        let body = json!({
            "model": "gpt-4o",
            "temperature": 0.2,
            "messages": [
                {"role": "system", "content": "You are helpful."},
                {"role": "user", "name": "jane", "content": [{"type": "text", "text": "Hello"}]},
                {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
                    "function": {"name": "lookup", "arguments": "{\"email\":\"a@b.example\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "found"}
            ],
            "user": "u-1",
            "future_field": "more text"
        });
        let content = extract(&body);
        assert_eq!(content.unscannable, None);
        for part in [
            "You are helpful.",
            "jane",
            "Hello",
            "lookup",
            "{\"email\":\"a@b.example\"}",
            "found",
            "u-1",
            "more text",
        ] {
            assert!(
                content.text.contains(part),
                "{part} missing from {:?}",
                content.text
            );
        }
        for structure in ["gpt-4o", "system", "assistant", "function"] {
            assert!(!content.text.lines().any(|l| l == structure), "{structure}");
        }
    }

    #[test]
    fn normalized_text_ignores_formatting_key_order_and_parameters() {
        let a: Value = serde_json::from_str(
            r#"{"model":"a","messages":[{"role":"user","content":"hi there"}],"stream":true}"#,
        )
        .unwrap();
        let b: Value = serde_json::from_str(
            "{ \"messages\" : [ { \"content\" : \"hi there\", \"role\" : \"user\" } ],\n \"model\" : \"b\", \"temperature\": 1 }",
        )
        .unwrap();
        assert_eq!(extract(&a), extract(&b));
        let c = json!({"model": "a", "messages": [{"role": "user", "content": "hi there!"}]});
        assert_ne!(extract(&a), extract(&c));
    }

    #[test]
    fn token_ids_and_images_are_unscannable() {
        let tokens = extract(&json!({"model": "m", "prompt": [[15339, 1917]]}));
        assert!(tokens.unscannable.unwrap().contains("token ids"));
        let embedding = extract(&json!({"model": "m", "input": [1, 2, 3]}));
        assert!(embedding.unscannable.is_some());
        let image = extract(&json!({"messages": [{"role": "user", "content": [
            {"type": "text", "text": "what is this"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}
        ]}]}));
        assert!(image.unscannable.unwrap().contains("image_url"));
        let fine = extract(&json!({"model": "m", "max_tokens": 5, "input": ["text"]}));
        assert_eq!(fine.unscannable, None);
        assert_eq!(fine.text, "text");
    }
}
