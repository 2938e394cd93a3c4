//! The sensitivity classifier: findings → public / internal / confidential / restricted, the
//! data types present, a confidence and the evidence. Fails closed: input it cannot scan
//! (too large, not UTF-8) is restricted.
//!
//! Rules, in order:
//! 1. every finding implies a level on its own ([`crate::Detector::sensitivity`], or the field
//!    name's); the result is the highest;
//! 2. health data next to anything that identifies a person is protected health information:
//!    restricted;
//! 3. no finding: public, with confidence [`NO_FINDING_CONFIDENCE`] (absence of evidence).
//!
//! The confidence is that of the most confident finding at the resulting level.

use std::collections::BTreeMap;

use openshell_policy::wire::{DataType, DataTypeAssessment, Evidence, Sensitivity};
use serde::Serialize;

use crate::field_names::field_meaning;
use crate::scanner::Scanner;

/// Largest input scanned by default (1 MiB); anything larger is restricted unread.
pub const DEFAULT_MAX_BYTES: usize = 1 << 20;
/// Confidence of a `public` result: no detector fired.
pub const NO_FINDING_CONFIDENCE: f32 = 0.6;

/// Why the classifier refused to look and answered `restricted`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum FailClosed {
    /// The input is larger than the limit.
    TooLarge {
        /// Input size.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
    /// The input is not UTF-8 text.
    InvalidUtf8 {
        /// Bytes of valid UTF-8 before the first invalid sequence.
        valid_up_to: usize,
    },
}

impl std::fmt::Display for FailClosed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailClosed::TooLarge { bytes, limit } => {
                write!(
                    f,
                    "input of {bytes} bytes exceeds the {limit}-byte scan limit"
                )
            }
            FailClosed::InvalidUtf8 { valid_up_to } => {
                write!(f, "input is not UTF-8 (invalid at byte {valid_up_to})")
            }
        }
    }
}

/// The classification of a piece of content.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ContentClassification {
    /// The level.
    pub sensitivity: Sensitivity,
    /// 0.0 to 1.0.
    pub confidence: f32,
    /// The data types present, each with its evidence.
    pub data_types: Vec<DataTypeAssessment>,
    /// Every finding, in scan order.
    pub evidence: Vec<Evidence>,
    /// Set when the input was not scanned and the result is restricted by default.
    pub fail_closed: Option<FailClosed>,
}

impl ContentClassification {
    /// Whether `data_type` is present.
    pub fn has(&self, data_type: DataType) -> bool {
        self.data_types.iter().any(|d| d.data_type == data_type)
    }

    fn failed(reason: FailClosed) -> ContentClassification {
        let evidence = Evidence {
            field: None,
            detector: "fail-closed".into(),
            span: None,
            sample: None,
            confidence: 1.0,
        };
        ContentClassification {
            sensitivity: Sensitivity::Restricted,
            confidence: 1.0,
            data_types: Vec::new(),
            evidence: vec![evidence],
            fail_closed: Some(reason),
        }
    }
}

/// Scan limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input scanned; larger input is restricted unread.
    pub max_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bytes: DEFAULT_MAX_BYTES,
        }
    }
}

/// The classifier: the shared [`Scanner`] and the scan limits.
#[derive(Clone, Copy)]
pub struct Classifier {
    scanner: &'static Scanner,
    limits: Limits,
}

impl Default for Classifier {
    fn default() -> Self {
        Classifier::new(Limits::default())
    }
}

impl Classifier {
    /// A classifier over the process-wide scanner.
    pub fn new(limits: Limits) -> Classifier {
        Classifier {
            scanner: Scanner::global(),
            limits,
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Classifies text.
    pub fn classify_text(&self, text: &str) -> ContentClassification {
        if text.len() > self.limits.max_bytes {
            return ContentClassification::failed(FailClosed::TooLarge {
                bytes: text.len(),
                limit: self.limits.max_bytes,
            });
        }
        let mut tally = Tally::default();
        for f in self.scanner.scan(text) {
            tally.add(f.to_evidence(None), f.data_type, f.sensitivity);
        }
        tally.finish()
    }

    /// Classifies raw bytes (a request body): too large or not UTF-8 → restricted.
    pub fn classify_bytes(&self, bytes: &[u8]) -> ContentClassification {
        if bytes.len() > self.limits.max_bytes {
            return ContentClassification::failed(FailClosed::TooLarge {
                bytes: bytes.len(),
                limit: self.limits.max_bytes,
            });
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => self.classify_text(text),
            Err(e) => ContentClassification::failed(FailClosed::InvalidUtf8 {
                valid_up_to: e.valid_up_to(),
            }),
        }
    }

    /// Classifies structured data: every string (and number) value is scanned and every field
    /// name looked up; evidence names the field by its path under `root` (`data.customer.email`,
    /// `data.items[2].card`). The total text scanned counts against the limit.
    pub fn classify_json(&self, value: &serde_json::Value, root: &str) -> ContentClassification {
        let mut walk = JsonWalk {
            scanner: self.scanner,
            tally: Tally::default(),
            budget: self.limits.max_bytes,
            used: 0,
        };
        match walk.visit(value, root) {
            Ok(()) => walk.tally.finish(),
            Err(reason) => ContentClassification::failed(reason),
        }
    }
}

/// Classifies text with the default limits.
pub fn classify_text(text: &str) -> ContentClassification {
    Classifier::default().classify_text(text)
}

/// Classifies bytes with the default limits.
pub fn classify_bytes(bytes: &[u8]) -> ContentClassification {
    Classifier::default().classify_bytes(bytes)
}

struct JsonWalk {
    scanner: &'static Scanner,
    tally: Tally,
    budget: usize,
    used: usize,
}

impl JsonWalk {
    fn charge(&mut self, bytes: usize) -> Result<(), FailClosed> {
        self.used += bytes;
        if self.used > self.budget {
            return Err(FailClosed::TooLarge {
                bytes: self.used,
                limit: self.budget,
            });
        }
        Ok(())
    }

    fn scan(&mut self, text: &str, path: &str) -> Result<(), FailClosed> {
        self.charge(text.len())?;
        for f in self.scanner.scan(text) {
            self.tally
                .add(f.to_evidence(Some(path)), f.data_type, f.sensitivity);
        }
        Ok(())
    }

    fn visit(&mut self, value: &serde_json::Value, path: &str) -> Result<(), FailClosed> {
        match value {
            serde_json::Value::String(s) => self.scan(s, path),
            serde_json::Value::Number(n) => self.scan(&n.to_string(), path),
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    self.visit(item, &format!("{path}[{i}]"))?;
                }
                Ok(())
            }
            serde_json::Value::Object(map) => {
                for (key, item) in map {
                    self.charge(key.len())?;
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if let Some(meaning) = field_meaning(key)
                        && !is_empty_value(item)
                    {
                        let evidence = Evidence {
                            field: Some(child.clone()),
                            detector: format!("field-name:{}", meaning.data_type),
                            span: None,
                            sample: Some(key.clone()),
                            confidence: meaning.confidence,
                        };
                        self.tally
                            .add(evidence, meaning.data_type, meaning.sensitivity);
                    }
                    self.visit(item, &child)?;
                }
                Ok(())
            }
            serde_json::Value::Bool(_) | serde_json::Value::Null => Ok(()),
        }
    }
}

fn is_empty_value(value: &serde_json::Value) -> bool {
    match value {
        serde_json::Value::Null => true,
        serde_json::Value::String(s) => s.is_empty(),
        serde_json::Value::Array(a) => a.is_empty(),
        serde_json::Value::Object(o) => o.is_empty(),
        _ => false,
    }
}

/// Accumulates findings into a classification.
#[derive(Default)]
struct Tally {
    evidence: Vec<(Evidence, DataType, Sensitivity)>,
}

impl Tally {
    fn add(&mut self, evidence: Evidence, data_type: DataType, sensitivity: Sensitivity) {
        self.evidence.push((evidence, data_type, sensitivity));
    }

    fn finish(self) -> ContentClassification {
        let mut by_type: BTreeMap<DataType, DataTypeAssessment> = BTreeMap::new();
        let mut level = Sensitivity::Public;
        let mut confidence = NO_FINDING_CONFIDENCE;
        for (evidence, data_type, sensitivity) in &self.evidence {
            // A finding counts for its type and for the broader type (a card is financial).
            for tagged in std::iter::once(*data_type).chain(data_type.broader()) {
                let entry = by_type.entry(tagged).or_insert_with(|| DataTypeAssessment {
                    data_type: tagged,
                    confidence: 0.0,
                    evidence: Vec::new(),
                });
                entry.confidence = entry.confidence.max(evidence.confidence);
                entry.evidence.push(evidence.clone());
            }
            if *sensitivity > level {
                level = *sensitivity;
                confidence = evidence.confidence;
            } else if *sensitivity == level && level != Sensitivity::Public {
                confidence = confidence.max(evidence.confidence);
            }
        }
        let mut evidence: Vec<Evidence> = self.evidence.into_iter().map(|(e, _, _)| e).collect();
        if let (Some(health), Some(personal)) = (
            by_type.get(&DataType::Health),
            by_type.get(&DataType::Personal),
        ) && level < Sensitivity::Restricted
        {
            let combined = health.confidence.min(personal.confidence);
            level = Sensitivity::Restricted;
            confidence = combined;
            evidence.push(Evidence {
                field: None,
                detector: "rule:health-with-identifier".into(),
                span: None,
                sample: None,
                confidence: combined,
            });
        }
        ContentClassification {
            sensitivity: level,
            confidence,
            data_types: by_type.into_values().collect(),
            evidence,
            fail_closed: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn levels_follow_the_strongest_finding() {
        assert_eq!(
            classify_text("The weather is nice.").sensitivity,
            Sensitivity::Public
        );
        assert_eq!(
            classify_text("Please check the invoice.").sensitivity,
            Sensitivity::Internal
        );
        let c = classify_text("Contact jane@example.com");
        assert_eq!(c.sensitivity, Sensitivity::Confidential);
        assert!(c.has(DataType::Personal));
        assert!((c.confidence - 0.95).abs() < 1e-6);
        let c = classify_text("card 4111111111111111 exp 12/29");
        assert_eq!(c.sensitivity, Sensitivity::Restricted);
        assert!(c.has(DataType::Financial) && c.has(DataType::PaymentCard));
        let iban = classify_text("IBAN DE89370400440532013000");
        assert!(iban.has(DataType::Financial) && !iban.has(DataType::PaymentCard));
    }

    #[test]
    fn health_with_an_identifier_is_restricted() {
        assert_eq!(
            classify_text("Diagnosed with asthma.").sensitivity,
            Sensitivity::Confidential
        );
        let c = classify_text("jane@example.com was diagnosed with asthma");
        assert_eq!(c.sensitivity, Sensitivity::Restricted);
        assert!(
            c.evidence
                .iter()
                .any(|e| e.detector == "rule:health-with-identifier")
        );
    }

    #[test]
    fn fails_closed_on_oversized_or_binary_input() {
        let small = Classifier::new(Limits { max_bytes: 8 });
        let c = small.classify_text("hello world");
        assert_eq!(c.sensitivity, Sensitivity::Restricted);
        assert_eq!(
            c.fail_closed,
            Some(FailClosed::TooLarge {
                bytes: 11,
                limit: 8
            })
        );
        let c = classify_bytes(b"ok \xff\xfe");
        assert_eq!(c.sensitivity, Sensitivity::Restricted);
        assert_eq!(
            c.fail_closed,
            Some(FailClosed::InvalidUtf8 { valid_up_to: 3 })
        );
        assert_eq!(classify_bytes(b"plain").sensitivity, Sensitivity::Public);
    }

    #[test]
    fn json_evidence_names_the_field() {
        let data = json!({
            "customer": {"email": "jane@example.com", "ssn": ""},
            "items": [{"note": "fine"}, {"password": "hunter2"}]
        });
        let c = Classifier::default().classify_json(&data, "data");
        assert_eq!(c.sensitivity, Sensitivity::Restricted);
        let fields: Vec<(&str, &str)> = c
            .evidence
            .iter()
            .map(|e| (e.field.as_deref().unwrap(), e.detector.as_str()))
            .collect();
        assert_eq!(
            fields,
            vec![
                ("data.customer.email", "field-name:personal"),
                ("data.customer.email", "email"),
                ("data.items[1].password", "field-name:credentials"),
            ]
        );
        let budget = Classifier::new(Limits { max_bytes: 10 }).classify_json(&data, "data");
        assert!(budget.fail_closed.is_some());
    }
}
