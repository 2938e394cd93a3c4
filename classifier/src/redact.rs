//! Redaction for logs and audit trails: detected spans become `[REDACTED:<detector>]`.

use std::borrow::Cow;

use crate::field_names::field_meaning;
use crate::scanner::Scanner;

/// `text` with every redacted detector's match ([`crate::Detector::redacted`]) replaced by
/// `[REDACTED:<detector>]`. Borrows when nothing matched.
pub fn redact(text: &str) -> Cow<'_, str> {
    redact_with(Scanner::global(), text)
}

/// [`redact`] with an explicit scanner.
pub fn redact_with<'t>(scanner: &Scanner, text: &'t str) -> Cow<'t, str> {
    let findings = scanner.scan(text);
    if !findings.iter().any(|f| f.detector.redacted()) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    let mut cursor = 0;
    for f in findings.iter().filter(|f| f.detector.redacted()) {
        out.push_str(&text[cursor..f.span.start]);
        out.push_str("[REDACTED:");
        out.push_str(f.detector.name());
        out.push(']');
        cursor = f.span.end;
    }
    out.push_str(&text[cursor..]);
    Cow::Owned(out)
}

/// Redacts structured data in place: string values by content, and the whole value of a field
/// whose name says it holds personal, financial, health or secret data (`"password": "x"` →
/// `"password": "[REDACTED:credentials]"`).
pub fn redact_json(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::String(s) => {
            if let Cow::Owned(redacted) = redact(s) {
                *s = redacted;
            }
        }
        serde_json::Value::Number(n) => {
            let text = n.to_string();
            if let Cow::Owned(redacted) = redact(&text) {
                *value = serde_json::Value::String(redacted);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(redact_json),
        serde_json::Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                match field_meaning(key) {
                    Some(meaning) if !item.is_null() => {
                        *item =
                            serde_json::Value::String(format!("[REDACTED:{}]", meaning.data_type));
                    }
                    _ => redact_json(item),
                }
            }
        }
        serde_json::Value::Bool(_) | serde_json::Value::Null => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn spans_are_replaced_and_clean_text_is_borrowed() {
        assert_eq!(
            redact("mail jane@example.com, card 4111-1111-1111-1111, invoice 12"),
            "mail [REDACTED:email], card [REDACTED:payment-card], invoice 12"
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            redact("key AKIAIOSFODNN7EXAMPLE for patient with HIV"),
            "key [REDACTED:aws-access-key] for patient with [REDACTED:health-term]"
        );
    }

    #[test]
    fn an_assigned_secret_is_redacted_however_long() {
        let value = "x7Qp".repeat(80);
        assert_eq!(
            redact(&format!("client_secret={value} in config")),
            "client_secret=[REDACTED:secret] in config"
        );
    }

    #[test]
    fn json_fields_are_redacted_by_name_and_content() {
        let mut v = json!({"note": "call +1 415 555 2671", "password": "hunter2", "n": 4111111111111111u64});
        redact_json(&mut v);
        assert_eq!(
            v,
            json!({"note": "call [REDACTED:phone]", "password": "[REDACTED:credentials]", "n": "[REDACTED:payment-card]"})
        );
    }
}
