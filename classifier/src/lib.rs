//! Content detectors and the sensitivity classifier shared by every openshell component: the
//! Nemotron policy service (intent classification), the egress engine (PII scans of request
//! bodies) and the privacy router (routing by sensitivity).
//!
//! # Public API
//! - [`scan`] / [`Scanner::scan`]: every detector's [`Finding`]s in a string (detector, byte
//!   span, masked sample, confidence). Detectors: email, phone, payment cards (issuer prefix +
//!   Luhn), IBAN (mod-97 + country format), US SSN (Presidio's invalidation rules), UK NINO,
//!   Spanish DNI/NIE, health vocabulary and ICD-10 codes, financial vocabulary and money
//!   amounts, credentials (cloud/API keys, tokens, JWTs, PEM private keys, `password=…`).
//! - [`classify_text`], [`classify_bytes`], [`Classifier::classify_json`]: a
//!   [`ContentClassification`] — public / internal / confidential / restricted, the data types
//!   present (personal, financial, health, credentials), confidence and evidence. Fails closed:
//!   oversized or non-UTF-8 input is restricted ([`FailClosed`]).
//! - [`redact`], [`redact_json`]: detected spans replaced by `[REDACTED:<detector>]`, for logs
//!   and audit events.
//! - [`field_meaning`]: what a field name (`ssn`, `diagnosis`, `password`) reveals.
//!
//! The scanner is compiled once per process ([`Scanner::global`], about a millisecond) and
//! shared; a scan is one multi-pattern regex pass plus one pass over the text's words. Measure with
//! `cargo bench -p openshell-classifier`.
//!
//! ```
//! use openshell_classifier::{classify_text, redact};
//! use openshell_policy::wire::{DataType, Sensitivity};
//!
//! let c = classify_text("refund card 4111 1111 1111 1111 for jane@example.com");
//! assert_eq!(c.sensitivity, Sensitivity::Restricted);
//! assert!(c.has(DataType::Financial) && c.has(DataType::Personal));
//! assert_eq!(redact("mail jane@example.com"), "mail [REDACTED:email]");
//! ```

mod classify;
mod detector;
mod field_names;
mod redact;
mod scanner;
mod validate;
mod vocabulary;

pub use classify::{
    Classifier, ContentClassification, DEFAULT_MAX_BYTES, FailClosed, Limits,
    NO_FINDING_CONFIDENCE, classify_bytes, classify_text,
};
pub use detector::{Detector, Finding};
pub use field_names::{FieldMeaning, field_meaning};
pub use redact::{redact, redact_json, redact_with};
pub use scanner::Scanner;

/// Every detector's findings in `text`, using the process-wide [`Scanner`].
pub fn scan(text: &str) -> Vec<Finding> {
    Scanner::global().scan(text)
}
