//! `scanForPII` on what a request carries besides its body: the query string (decoded, every
//! name and value) and every header value, classified by the shared `openshell-classifier`
//! and blocked at the same level as bodies. A refusal says where the finding was (`query
//! string`, `header x-customer`) and which detectors fired, never the value.
//!
//! Credentials are what `Authorization`, `Proxy-Authorization` and `Cookie` are for: a finding
//! there that is only a credential is not PII leaving the sandbox, so it does not block; any
//! other finding in them does.

use hyper::header::{AUTHORIZATION, COOKIE, HeaderMap, HeaderName, PROXY_AUTHORIZATION};
use openshell_classifier::{Classifier, ContentClassification};
use openshell_policy::wire::{ClassificationSummary, DataType, Sensitivity};

use crate::body_scan::summary;

/// PII found in a request head.
#[derive(Debug)]
pub struct HeadFinding {
    /// Where: `query string` or `header NAME`.
    pub location: String,
    /// Why, without the value.
    pub reason: String,
    /// The classification of what was found there.
    pub classification: ClassificationSummary,
}

fn carries_credentials(name: &HeaderName) -> bool {
    [AUTHORIZATION, PROXY_AUTHORIZATION, COOKIE].contains(name)
}

fn blocks(
    classification: &ContentClassification,
    block_at: Sensitivity,
    credentials_ok: bool,
) -> bool {
    if classification.sensitivity < block_at {
        return false;
    }
    let only_credentials = !classification.data_types.is_empty()
        && classification
            .data_types
            .iter()
            .all(|d| d.data_type == DataType::Credentials);
    !(credentials_ok && only_credentials && classification.fail_closed.is_none())
}

fn finding(location: String, classification: &ContentClassification) -> HeadFinding {
    let detectors: Vec<&str> = classification
        .evidence
        .iter()
        .map(|e| e.detector.as_str())
        .collect();
    HeadFinding {
        reason: format!(
            "{location} classified {} ({})",
            classification.sensitivity,
            detectors.join(", ")
        ),
        location,
        classification: summary(classification),
    }
}

/// Scans `query` and `headers`; the first place holding data at or above `block_at`.
pub fn scan_head(
    query: Option<&str>,
    headers: &HeaderMap,
    block_at: Sensitivity,
) -> Result<(), HeadFinding> {
    let classifier = Classifier::default();
    if let Some(query) = query.filter(|q| !q.is_empty()) {
        let decoded: Vec<String> = form_urlencoded::parse(query.as_bytes())
            .map(|(name, value)| format!("{name}={value}"))
            .collect();
        let classification = classifier.classify_text(&decoded.join("\n"));
        if blocks(&classification, block_at, false) {
            return Err(finding("query string".to_owned(), &classification));
        }
    }
    for (name, value) in headers {
        let text = String::from_utf8_lossy(value.as_bytes());
        let classification = classifier.classify_text(&text);
        if blocks(&classification, block_at, carries_credentials(name)) {
            return Err(finding(format!("header {name}"), &classification));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(n, v)| (HeaderName::from_static(n), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn pii_in_a_query_string_is_found_encoded_or_not_and_never_quoted() {
        for query in [
            "ssn=536-22-8726",
            "ssn=536%2D22%2D8726",
            "card=4111+1111+1111+1111",
        ] {
            let found = scan_head(Some(query), &HeaderMap::new(), Sensitivity::Restricted)
                .expect_err(query);
            assert_eq!(found.location, "query string");
            assert!(
                found
                    .reason
                    .starts_with("query string classified restricted"),
                "{}",
                found.reason
            );
            assert!(!found.reason.contains("8726") && !found.reason.contains("4111"));
            assert_eq!(found.classification.sensitivity, Sensitivity::Restricted);
        }
        assert!(
            scan_head(
                Some("limit=10&sort=name"),
                &HeaderMap::new(),
                Sensitivity::Restricted
            )
            .is_ok()
        );
    }

    #[test]
    fn header_values_are_scanned_and_credentials_belong_in_authorization() {
        let found = scan_head(
            None,
            &headers(&[
                ("accept", "*/*"),
                ("x-customer", "card 4111 1111 1111 1111"),
            ]),
            Sensitivity::Restricted,
        )
        .unwrap_err();
        assert_eq!(found.location, "header x-customer");
        assert!(!found.reason.contains("4111"));
        let bearer = headers(&[(
            "authorization",
            "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        )]);
        assert!(scan_head(None, &bearer, Sensitivity::Restricted).is_ok());
        let smuggled = headers(&[("authorization", "Basic 4111 1111 1111 1111")]);
        let found = scan_head(None, &smuggled, Sensitivity::Restricted).unwrap_err();
        assert_eq!(found.location, "header authorization");
        let leaked = headers(&[("x-api-note", "ghp_abcdefghijklmnopqrstuvwxyz0123456789")]);
        assert!(
            scan_head(None, &leaked, Sensitivity::Restricted).is_err(),
            "a token outside Authorization"
        );
    }
}
