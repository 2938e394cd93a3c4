//! Outbound redaction: the values of the data types a policy's `redaction` names, replaced in a
//! request by typed placeholders before it leaves for an endpoint the redaction covers.
//!
//! Every string value the classifier reads ([`crate::content`]: not `model`, `role`, `type`,
//! `tool_call_id`) is scanned with the shared detectors; each finding of a covered data type is
//! replaced by `[<DETECTOR>_<n>]` (`[EMAIL_1]`, `[PAYMENT_CARD_2]`), numbered per detector in
//! order of appearance. The same value gets the same placeholder throughout the request, so the
//! model reads coherent text; a placeholder that already occurs in the request's content is
//! skipped, so restoring ([`crate::restore`]) never turns the caller's own text into a value.
//! The map placeholder → value lives only as long as the request and is never logged: its
//! `Debug` shows counts.

use std::collections::HashMap;
use std::fmt;

use openshell_classifier::{Detector, Scanner};
use openshell_policy::wire::DataTypeSet;
use serde_json::Value;

use crate::content::STRUCTURAL_KEYS;

/// One placeholder and the value it stands for.
pub(crate) struct Entry {
    /// `[EMAIL_1]`.
    pub(crate) placeholder: String,
    /// The value, as the request had it.
    pub(crate) original: String,
    /// The value escaped for a JSON string, without quotes.
    pub(crate) escaped: String,
}

/// The placeholders of one request.
#[derive(Default)]
pub struct Placeholders {
    entries: Vec<Entry>,
    by_placeholder: HashMap<String, usize>,
    longest: usize,
}

impl fmt::Debug for Placeholders {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Placeholders({} values)", self.entries.len())
    }
}

/// Where a placeholder may begin in some text.
pub(crate) enum Lookup<'p> {
    /// A whole placeholder of `len` bytes.
    Whole(usize, &'p Entry),
    /// The text ends with the beginning of a placeholder.
    Prefix,
    /// No placeholder starts here.
    None,
}

impl Placeholders {
    /// How many distinct values were replaced.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing was replaced.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The placeholder at the start of `text` (which starts with `[`), if any.
    pub(crate) fn lookup(&self, text: &str) -> Lookup<'_> {
        let window = &text.as_bytes()[..text.len().min(self.longest)];
        match window.iter().position(|&b| b == b']') {
            Some(end) => match self.by_placeholder.get(&text[..=end]) {
                Some(&index) => Lookup::Whole(end + 1, &self.entries[index]),
                None => Lookup::None,
            },
            None if text.len() < self.longest
                && self
                    .entries
                    .iter()
                    .any(|e| e.placeholder.as_bytes().starts_with(text.as_bytes())) =>
            {
                Lookup::Prefix
            }
            None => Lookup::None,
        }
    }

    /// `(placeholder, value)` pairs.
    #[cfg(test)]
    pub(crate) fn entries_for_tests(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries
            .iter()
            .map(|e| (e.placeholder.as_str(), e.original.as_str()))
    }

    fn add(&mut self, detector: Detector, original: &str, taken: &str, next: &mut u32) -> usize {
        let label = detector.name().to_ascii_uppercase().replace('-', "_");
        let placeholder = loop {
            *next += 1;
            let candidate = format!("[{label}_{next}]");
            if !taken.contains(&candidate) {
                break candidate;
            }
        };
        let quoted = Value::String(original.to_owned()).to_string();
        let escaped = quoted[1..quoted.len() - 1].to_owned();
        self.longest = self.longest.max(placeholder.len());
        self.by_placeholder
            .insert(placeholder.clone(), self.entries.len());
        self.entries.push(Entry {
            placeholder,
            original: original.to_owned(),
            escaped,
        });
        self.entries.len() - 1
    }
}

/// A request body with covered values replaced.
#[derive(Debug)]
pub struct Redacted {
    /// The body as the covered endpoints receive it.
    pub body: Value,
    /// Placeholder → value, for the answer.
    pub placeholders: Placeholders,
    /// Per detector, the distinct values replaced (for the audit and metrics).
    pub counts: Vec<(Detector, usize)>,
}

impl Redacted {
    /// `email ×2, phone ×1`, for the audit: names and counts, never values.
    pub fn summary(&self) -> String {
        let parts: Vec<String> = self
            .counts
            .iter()
            .map(|(detector, n)| format!("{detector} ×{n}"))
            .collect();
        parts.join(", ")
    }
}

/// Replaces, in every content string of `body`, the findings of a type in `covered`. `content`
/// is the request's normalized content: placeholders it already holds are not used.
pub fn redact(body: &Value, covered: DataTypeSet, scanner: &Scanner, content: &str) -> Redacted {
    let mut walk = Walk {
        covered,
        scanner,
        content,
        placeholders: Placeholders::default(),
        by_value: HashMap::new(),
        next: HashMap::new(),
        counts: Vec::new(),
    };
    let mut body = body.clone();
    walk.value(&mut body, None);
    Redacted {
        body,
        placeholders: walk.placeholders,
        counts: walk.counts,
    }
}

struct Walk<'a> {
    covered: DataTypeSet,
    scanner: &'a Scanner,
    content: &'a str,
    placeholders: Placeholders,
    by_value: HashMap<String, usize>,
    next: HashMap<Detector, u32>,
    counts: Vec<(Detector, usize)>,
}

impl Walk<'_> {
    fn value(&mut self, value: &mut Value, key: Option<&str>) {
        match value {
            Value::String(text) if !key.is_some_and(|k| STRUCTURAL_KEYS.contains(&k)) => {
                if let Some(replaced) = self.string(text) {
                    *text = replaced;
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|item| self.value(item, key)),
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.value(v, Some(k));
                }
            }
            _ => {}
        }
    }

    fn string(&mut self, text: &str) -> Option<String> {
        let findings = self.scanner.scan(text);
        let mut covered = findings
            .iter()
            .filter(|f| self.covered.contains(f.data_type))
            .peekable();
        covered.peek()?;
        let mut out = String::with_capacity(text.len());
        let mut cursor = 0;
        for finding in covered {
            let original = &text[finding.span.clone()];
            let index = match self.by_value.get(original) {
                Some(&index) => index,
                None => {
                    let next = self.next.entry(finding.detector).or_default();
                    let index =
                        self.placeholders
                            .add(finding.detector, original, self.content, next);
                    self.by_value.insert(original.to_owned(), index);
                    match self.counts.iter_mut().find(|(d, _)| *d == finding.detector) {
                        Some((_, n)) => *n += 1,
                        None => self.counts.push((finding.detector, 1)),
                    }
                    index
                }
            };
            out.push_str(&text[cursor..finding.span.start]);
            out.push_str(&self.placeholders.entries[index].placeholder);
            cursor = finding.span.end;
        }
        out.push_str(&text[cursor..]);
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use openshell_policy::wire::DataType;
    use serde_json::json;

    use super::*;
    use crate::content::extract;

    fn personal(body: &Value) -> Redacted {
        let content = extract(body).text;
        redact(body, DataType::Personal.set(), Scanner::global(), &content)
    }

    #[test]
    fn the_same_value_gets_the_same_placeholder() {
        let body = json!({
            "model": "m",
            "messages": [
                {"role": "system", "content": "Write to jane.doe@example.com or call +44 20 7946 0958."},
                {"role": "user", "content": "Tell jane.doe@example.com and bob@example.org, not jane.doe@example.com's boss."}
            ]
        });
        let redacted = personal(&body);
        assert_eq!(
            redacted.body["messages"][0]["content"],
            "Write to [EMAIL_1] or call [PHONE_1]."
        );
        assert_eq!(
            redacted.body["messages"][1]["content"],
            "Tell [EMAIL_1] and [EMAIL_2], not [EMAIL_1]'s boss."
        );
        assert_eq!(redacted.body["model"], "m");
        assert_eq!(redacted.body["messages"][1]["role"], "user");
        assert_eq!(redacted.placeholders.len(), 3);
        assert_eq!(redacted.summary(), "email ×2, phone ×1");
        // Stable: the same request gives the same placeholders.
        assert_eq!(personal(&body).body, redacted.body);
        let debug = format!("{redacted:?}");
        assert!(!debug.contains("jane"), "{debug}");
    }

    #[test]
    fn only_covered_types_are_replaced() {
        let body = json!({"input": "card 4111 1111 1111 1111 of jane@example.com"});
        let redacted = personal(&body);
        assert_eq!(
            redacted.body["input"],
            "card 4111 1111 1111 1111 of [EMAIL_1]"
        );
        let all = redact(&body, DataTypeSet::ALL, Scanner::global(), "");
        assert_eq!(all.body["input"], "card [PAYMENT_CARD_1] of [EMAIL_1]");
        let clean = personal(&json!({"input": "nothing personal"}));
        assert!(clean.placeholders.is_empty());
        assert_eq!(clean.summary(), "");
    }

    #[test]
    fn placeholders_in_the_request_are_not_reused() {
        let body = json!({"input": "the form shows [EMAIL_1] for jane@example.com"});
        let redacted = personal(&body);
        assert_eq!(
            redacted.body["input"],
            "the form shows [EMAIL_1] for [EMAIL_2]"
        );
        match redacted.placeholders.lookup("[EMAIL_2] rest") {
            Lookup::Whole(9, entry) => assert_eq!(entry.original, "jane@example.com"),
            _ => panic!("[EMAIL_2] is a placeholder"),
        }
        assert!(matches!(
            redacted.placeholders.lookup("[EMAIL_1]"),
            Lookup::None
        ));
        assert!(matches!(
            redacted.placeholders.lookup("[EMA"),
            Lookup::Prefix
        ));
        assert!(matches!(redacted.placeholders.lookup("[X"), Lookup::None));
    }
}
