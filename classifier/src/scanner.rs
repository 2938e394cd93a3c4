//! The scanner: every regex detector in one multi-pattern pass, the vocabularies in one pass
//! over the words, candidates checked by their validators, overlaps resolved.

use std::sync::OnceLock;

use regex::Regex;
use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::{Input, MatchKind, PatternSet, meta};

use crate::detector::{Detector, Finding};
use crate::validate;
use crate::vocabulary::{TermMatch, Vocabulary};

/// A regex candidate handed to a pattern's check.
struct Candidate<'t> {
    /// The matched text (the capture group's, for patterns with one).
    text: &'t str,
    /// The whole scanned string.
    haystack: &'t str,
    /// Byte offset of `text` in `haystack`.
    start: usize,
}

/// Confidence of a candidate, or `None` when its validator rejects it.
type Check = fn(&Candidate<'_>) -> Option<f32>;

struct Pattern {
    detector: Detector,
    regex: &'static str,
    /// The capture group whose span is the finding (0: the whole match).
    group: usize,
    check: Check,
}

fn validated(ok: bool, confidence: f32) -> Option<f32> {
    ok.then_some(confidence)
}

/// Words that, shortly before a bare nine-digit number, make it an SSN.
fn ssn_context(c: &Candidate<'_>) -> bool {
    let from = c.start.saturating_sub(48);
    let window = c
        .haystack
        .get(from..c.start)
        .unwrap_or("")
        .to_ascii_lowercase();
    ["ssn", "social security", "ss#", "ss #"]
        .iter()
        .any(|w| window.contains(w))
}

/// Whether a run of digits follows a country code and check digits (`DE44 5001 0517…`): it is
/// the rest of an account number written as an IBAN, valid or not, not a card number.
fn after_iban_prefix(c: &Candidate<'_>) -> bool {
    let before = c.haystack[..c.start].trim_end_matches(' ').as_bytes();
    let n = before.len();
    n >= 4
        && before[n - 4..n - 2].iter().all(u8::is_ascii_uppercase)
        && before[n - 2..].iter().all(u8::is_ascii_digit)
        && (n == 4 || !before[n - 5].is_ascii_alphanumeric())
}

/// Masked placeholders are not secrets.
fn real_secret_value(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    !(value.starts_with('[')
        || value.starts_with('<')
        || value.starts_with('$')
        || value.starts_with('{')
        || value
            .chars()
            .all(|c| c == '*' || c == 'x' || c == 'X' || c == '.')
        || lower.contains("redacted"))
}

/// The detectors' patterns. Lengths have no upper bound: a token longer than its format's
/// usual maximum is still that token, to be redacted whole, and a bounded repetition compiles
/// to as many copies of its class, which a short-lived process redacting one event pays for.
const PATTERNS: &[Pattern] = &[
    Pattern {
        detector: Detector::Email,
        regex: r"(?i-u)\b[a-z0-9][a-z0-9._%+\-]*@(?:[a-z0-9](?:[a-z0-9\-]*[a-z0-9])?\.)+[a-z]{2,24}\b",
        group: 0,
        check: |_| Some(0.95),
    },
    Pattern {
        detector: Detector::Phone,
        regex: r"\+[1-9][0-9]{0,2}(?:[ .\-]?\(?[0-9]{1,4}\)?){2,6}",
        group: 0,
        check: |c| validated(validate::international_phone(c.text), 0.8),
    },
    Pattern {
        detector: Detector::Phone,
        regex: r"(?:\([0-9]{3}\) ?|(?-u:\b)[0-9]{3}[ .\-])[0-9]{3}[ .\-][0-9]{4}(?-u:\b)",
        group: 0,
        check: |c| validated(validate::nanp_phone(c.text), 0.75),
    },
    Pattern {
        detector: Detector::PaymentCard,
        regex: r"(?-u:\b)[0-9](?:[ \-]?[0-9]){12,18}(?-u:\b)",
        group: 0,
        check: |c| {
            validated(
                !after_iban_prefix(c) && validate::payment_card(c.text),
                0.97,
            )
        },
    },
    Pattern {
        detector: Detector::Iban,
        regex: r"(?-u:\b)[A-Z]{2}[0-9]{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?-u:\b)",
        group: 0,
        check: |c| validated(validate::iban(c.text), 0.97),
    },
    Pattern {
        detector: Detector::UsSsn,
        regex: r"(?-u:\b)[0-9]{3}[\- ][0-9]{2}[\- ][0-9]{4}(?-u:\b)",
        group: 0,
        check: |c| validated(validate::us_ssn(c.text), 0.85),
    },
    Pattern {
        detector: Detector::UsSsn,
        regex: r"(?-u:\b)[0-9]{9}(?-u:\b)",
        group: 0,
        check: |c| validated(ssn_context(c) && validate::us_ssn(c.text), 0.8),
    },
    Pattern {
        detector: Detector::UkNino,
        regex: r"(?-u:\b)[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z] ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-D](?-u:\b)",
        group: 0,
        check: |c| validated(validate::uk_nino(c.text), 0.85),
    },
    Pattern {
        detector: Detector::EsDni,
        regex: r"(?-u:\b)(?:[0-9]{8}|[XYZ][0-9]{7})-?[A-Z](?-u:\b)",
        group: 0,
        check: |c| validated(validate::es_dni(c.text), 0.9),
    },
    Pattern {
        detector: Detector::AwsAccessKey,
        regex: r"(?-u:\b)(?:AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}(?-u:\b)",
        group: 0,
        check: |_| Some(0.95),
    },
    Pattern {
        detector: Detector::GithubToken,
        regex: r"(?-u:\b)(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{60,})(?-u:\b)",
        group: 0,
        check: |_| Some(0.97),
    },
    Pattern {
        detector: Detector::SlackToken,
        regex: r"(?-u:\b)xox[abposr]-[A-Za-z0-9\-]{10,}",
        group: 0,
        check: |_| Some(0.95),
    },
    Pattern {
        detector: Detector::GoogleApiKey,
        regex: r"(?-u:\b)AIza[0-9A-Za-z_\-]{35}",
        group: 0,
        check: |_| Some(0.9),
    },
    Pattern {
        detector: Detector::HuggingFaceToken,
        regex: r"(?-u:\b)hf_[A-Za-z0-9]{30,40}(?-u:\b)",
        group: 0,
        check: |_| Some(0.9),
    },
    Pattern {
        detector: Detector::StripeKey,
        regex: r"(?-u:\b)[sr]k_(?:live|test)_[0-9A-Za-z]{16,}(?-u:\b)",
        group: 0,
        check: |_| Some(0.95),
    },
    Pattern {
        detector: Detector::OpenaiKey,
        regex: r"(?-u:\b)sk-(?:proj-|svcacct-)?[A-Za-z0-9_\-]{20,}",
        group: 0,
        check: |_| Some(0.85),
    },
    Pattern {
        detector: Detector::Jwt,
        regex: r"(?-u:\b)eyJ[A-Za-z0-9_\-]{8,}\.eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}",
        group: 0,
        check: |_| Some(0.9),
    },
    Pattern {
        detector: Detector::BearerToken,
        regex: r"(?i-u)\bbearer[ \t]+([A-Za-z0-9\-._~+/]{16,}=*)",
        group: 1,
        check: |_| Some(0.8),
    },
    Pattern {
        detector: Detector::PrivateKey,
        regex: r"(?s)-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----.*?(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\z)",
        group: 0,
        check: |_| Some(0.99),
    },
    Pattern {
        detector: Detector::SecretAssignment,
        regex: r#"(?-u:\b)(?i-u:password|passwd|pwd|secret|api[_\-]?key|access[_\-]?token|auth[_\-]?token|client[_\-]?secret|private[_\-]?key)(?-u:\b)["']?[ \t\r\n]*[:=][ \t\r\n]*["']?([^ \t\r\n"',;]{6,})"#,
        group: 1,
        check: |c| validated(real_secret_value(c.text), 0.8),
    },
    Pattern {
        detector: Detector::Icd10Code,
        regex: r"(?-u:\b)[A-TV-Z][0-9][0-9AB]\.[0-9A-TV-Z]{1,4}(?-u:\b)",
        group: 0,
        check: |_| Some(0.7),
    },
    Pattern {
        detector: Detector::Icd10Code,
        regex: r"(?i-u)\bICD-?10(?:-CM)?(?: code)?[: \t\r\n]+([A-TV-Z][0-9][0-9AB](?:\.[0-9A-TV-Z]{1,4})?)(?-u:\b)",
        group: 1,
        check: |_| Some(0.9),
    },
    Pattern {
        detector: Detector::MoneyAmount,
        regex: r"(?:[$€£] ?[0-9]+(?:,[0-9]{3})*(?:\.[0-9]{1,2})?|(?-u:\b)[0-9]+(?:,[0-9]{3})*(?:\.[0-9]{1,2})? ?(?:USD|EUR|GBP|usd|eur|gbp)(?-u:\b))",
        group: 0,
        check: |_| Some(0.5),
    },
];

/// Compiled detectors. Build once ([`Scanner::global`]) and share: scanning takes `&self`.
pub struct Scanner {
    /// Every pattern in one automaton that says which of them a text matches (what
    /// `regex::RegexSet` builds), without a literal prefilter: none can serve patterns that
    /// start with a class (`[0-9]`, `[a-z0-9]`), and looking for one took a third of the set's
    /// construction.
    set: meta::Regex,
    /// Each pattern's own regex (for spans and capture groups), compiled the first time the
    /// set finds that pattern: most texts match none, and compiling them all up front was more
    /// than half of a scanner's construction (which a short-lived process, such as the OCI
    /// hook redacting one audit event, pays in full).
    regexes: Vec<OnceLock<Regex>>,
    vocabulary: Vocabulary,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner::new()
    }
}

impl Scanner {
    /// Compiles the detectors (each pattern's own regex on first use).
    pub fn new() -> Scanner {
        let sources: Vec<&str> = PATTERNS.iter().map(|p| p.regex).collect();
        let set = meta::Builder::new()
            .configure(
                meta::Config::new()
                    .match_kind(MatchKind::All)
                    .utf8_empty(true)
                    .which_captures(WhichCaptures::None)
                    .auto_prefilter(false),
            )
            .build_many(&sources)
            .expect("detector patterns are valid regexes");
        let regexes = PATTERNS.iter().map(|_| OnceLock::new()).collect();
        Scanner {
            set,
            regexes,
            vocabulary: Vocabulary::new(),
        }
    }

    /// The process-wide scanner, compiled on first use.
    pub fn global() -> &'static Scanner {
        static SCANNER: OnceLock<Scanner> = OnceLock::new();
        SCANNER.get_or_init(Scanner::new)
    }

    /// Every detector's findings in `text`, ordered by position, overlaps resolved in favour of
    /// the more confident (then the longer) match.
    pub fn scan(&self, text: &str) -> Vec<Finding> {
        let mut findings = Vec::new();
        let mut matched = PatternSet::new(self.set.pattern_len());
        self.set
            .which_overlapping_matches(&Input::new(text), &mut matched);
        for index in matched.iter().map(|id| id.as_usize()) {
            let pattern = &PATTERNS[index];
            let regex = self.regexes[index].get_or_init(|| {
                Regex::new(pattern.regex).expect("detector patterns are valid regexes")
            });
            if pattern.group == 0 {
                for m in regex.find_iter(text) {
                    self.consider(pattern, text, m.start(), m.end(), &mut findings);
                }
            } else {
                for caps in regex.captures_iter(text) {
                    if let Some(m) = caps.get(pattern.group) {
                        self.consider(pattern, text, m.start(), m.end(), &mut findings);
                    }
                }
            }
        }
        let mut terms = Vec::new();
        self.vocabulary.find(text, &mut terms);
        findings.extend(terms.into_iter().map(|t| term_finding(text, t)));
        resolve_overlaps(findings)
    }

    fn consider(
        &self,
        pattern: &Pattern,
        text: &str,
        start: usize,
        end: usize,
        out: &mut Vec<Finding>,
    ) {
        let candidate = Candidate {
            text: &text[start..end],
            haystack: text,
            start,
        };
        if let Some(confidence) = (pattern.check)(&candidate) {
            out.push(Finding {
                detector: pattern.detector,
                data_type: pattern.detector.data_type(),
                sensitivity: pattern.detector.sensitivity(),
                span: start..end,
                confidence,
                sample: mask(pattern.detector, candidate.text),
            });
        }
    }
}

fn term_finding(text: &str, t: TermMatch) -> Finding {
    Finding {
        detector: t.detector,
        data_type: t.detector.data_type(),
        sensitivity: t.detector.sensitivity(),
        span: t.start..t.end,
        confidence: t.confidence,
        sample: text[t.start..t.end].to_ascii_lowercase(),
    }
}

/// Keeps, among overlapping findings, the most confident (then most sensitive, then longest);
/// a finding inside another that is as confident is part of it (the digits of an IBAN are not a
/// card number of their own).
fn resolve_overlaps(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(|f| (f.span.start, std::cmp::Reverse(f.span.end)));
    let mut kept: Vec<Finding> = Vec::with_capacity(findings.len());
    for f in findings {
        match kept.last_mut() {
            Some(last) if f.span.start < last.span.end => {
                let inside = f.span.end <= last.span.end && f.confidence <= last.confidence;
                let rank = |x: &Finding| (x.confidence, x.sensitivity, x.span.len());
                if !inside && rank(&f) > rank(last) {
                    *last = f;
                }
            }
            _ => kept.push(f),
        }
    }
    kept
}

/// The match with its identifying part hidden, for evidence that may be logged.
fn mask(detector: Detector, matched: &str) -> String {
    let digits = validate::digits(matched);
    let last = |s: &str, n: usize| s[s.len().saturating_sub(n)..].to_owned();
    match detector {
        Detector::Email => match matched.split_once('@') {
            Some((local, domain)) => {
                format!("{}***@{domain}", local.chars().next().unwrap_or('*'))
            }
            None => "***".into(),
        },
        Detector::Phone => format!("***{}", last(&digits, 2)),
        Detector::PaymentCard => format!("****{}", last(&digits, 4)),
        Detector::Iban => {
            let compact: String = matched.chars().filter(|c| !c.is_whitespace()).collect();
            format!("{}****{}", &compact[..2], last(&compact, 4))
        }
        Detector::UsSsn => "***-**-****".into(),
        Detector::UkNino | Detector::EsDni => "*********".into(),
        Detector::PrivateKey => "-----BEGIN PRIVATE KEY----- …".into(),
        Detector::AwsAccessKey
        | Detector::GithubToken
        | Detector::SlackToken
        | Detector::GoogleApiKey
        | Detector::HuggingFaceToken
        | Detector::StripeKey
        | Detector::OpenaiKey
        | Detector::Jwt
        | Detector::BearerToken
        | Detector::SecretAssignment => {
            let prefix: String = matched.chars().take(4).collect();
            format!("{prefix}…")
        }
        Detector::HealthTerm
        | Detector::Icd10Code
        | Detector::FinancialTerm
        | Detector::MoneyAmount
        | Detector::FieldName => matched.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(text: &str) -> Vec<(&'static str, &str, String)> {
        Scanner::global()
            .scan(text)
            .into_iter()
            .map(|f| (f.detector.name(), &text[f.span.clone()], f.sample))
            .collect()
    }

    #[test]
    fn structured_identifiers_are_found_with_masked_samples() {
        let text = "Mail jane.doe@example.com or call (415) 555-2671 / +44 20 7946 0958. \
                    Card 4111 1111 1111 1111, IBAN DE89 3704 0044 0532 0130 00, SSN 536-22-8726.";
        assert_eq!(
            found(text),
            vec![
                (
                    "email",
                    "jane.doe@example.com",
                    "j***@example.com".to_owned()
                ),
                ("phone", "(415) 555-2671", "***71".to_owned()),
                ("phone", "+44 20 7946 0958", "***58".to_owned()),
                ("payment-card", "4111 1111 1111 1111", "****1111".to_owned()),
                ("financial-term", "IBAN", "iban".to_owned()),
                (
                    "iban",
                    "DE89 3704 0044 0532 0130 00",
                    "DE****3000".to_owned()
                ),
                ("us-ssn", "536-22-8726", "***-**-****".to_owned()),
            ]
        );
    }

    #[test]
    fn the_digits_of_an_iban_are_not_a_card() {
        // Its 18 digits pass the card checksum; the IBAN's own checksum holds.
        assert_eq!(
            found("pay DE74 2914 1777 6317 0669 07 today"),
            vec![(
                "iban",
                "DE74 2914 1777 6317 0669 07",
                "DE****6907".to_owned()
            )]
        );
        // An IBAN whose own checksum fails is still no card.
        assert_eq!(
            found("to their usual account DE44 5001 0517 5407 3249 31.")[0].0,
            "iban"
        );
        let unchecked = found("to their usual account DE45 5001 0517 5407 3249 31.");
        assert!(unchecked.is_empty(), "{unchecked:?}");
        assert_eq!(found("card 4111 1111 1111 1111")[0].0, "payment-card");
    }

    #[test]
    fn invalid_candidates_are_rejected() {
        assert!(found("order 4111 1111 1111 1112 shipped").is_empty());
        assert!(found("ref DE89370400440532013001").is_empty());
        assert!(found("ticket 123-45-6789 and 666-12-3456").is_empty());
        assert!(found("build 2024-01-15 at 10:30").is_empty());
    }

    #[test]
    fn bare_ssn_needs_context() {
        assert!(found("order 536228726").is_empty());
        assert_eq!(found("SSN: 536228726")[0].0, "us-ssn");
    }

    #[test]
    fn credentials_are_found() {
        let text = "key AKIAIOSFODNN7EXAMPLE token ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 \
                    password=hunter22 Authorization: Bearer abcdefghijklmnop1234 \
                    hf_qXrTmLpA82kZvNw4YbeCd91JfHsUo7Gt";
        let kinds: Vec<_> = found(text).into_iter().map(|f| f.0).collect();
        assert_eq!(
            kinds,
            vec![
                "aws-access-key",
                "github-token",
                "secret",
                "bearer-token",
                "huggingface-token"
            ]
        );
        assert!(found("see hf_hub_download in the docs").is_empty());
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----\ntail";
        let f = Scanner::global().scan(pem);
        assert_eq!(f.len(), 1);
        assert_eq!(&pem[f[0].span.clone()], &pem[..pem.len() - 5]);
        assert!(found("password=[REDACTED:secret]").is_empty());
    }

    #[test]
    fn a_token_longer_than_usual_is_found_whole() {
        for token in [
            format!("ghp_{}", "a1".repeat(150)),
            format!("xoxb-{}", "7".repeat(300)),
            format!("sk_live_{}", "Z9".repeat(200)),
            format!("sk-proj-{}", "q".repeat(250)),
        ] {
            let text = format!("token {token} end");
            let f = Scanner::global().scan(&text);
            assert_eq!(f.len(), 1, "{token}");
            assert_eq!(&text[f[0].span.clone()], token);
        }
        let address = format!("{}@example.com", "j".repeat(70));
        let text = format!("write to {address} today");
        let f = Scanner::global().scan(&text);
        assert_eq!(&text[f[0].span.clone()], address);
    }

    #[test]
    fn national_ids_and_health() {
        let kinds: Vec<_> = found("NINO AB 12 34 56 C, DNI 12345678Z, dx E11.9 diabetes")
            .into_iter()
            .map(|f| f.0)
            .collect();
        assert_eq!(
            kinds,
            vec!["uk-nino", "es-dni", "icd10-code", "health-term"]
        );
    }
}
