//! `scanForPII: true`: a request body is received whole (up to a cap, within a time limit),
//! classified by the shared `openshell-classifier`, and blocked when its sensitivity reaches
//! the configured level. Every failure to look fails closed: a body over the cap, one that does
//! not arrive in time, a scan that does not finish in time, or one that is not UTF-8 text is
//! blocked.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use openshell_classifier::{Classifier, ContentClassification, Limits};
use openshell_policy::wire::{ClassificationSummary, Sensitivity};

/// The verdict on one body.
#[derive(Debug)]
pub enum BodyVerdict {
    /// No finding at or above the blocking level; `classification` carries what was found.
    Pass {
        /// The body, to forward.
        body: Bytes,
        /// The classification (for the audit event).
        classification: ClassificationSummary,
    },
    /// Blocked.
    Block {
        /// Why, without any of the body's content.
        reason: String,
        /// The classification, when the body was scanned.
        classification: Option<ClassificationSummary>,
    },
}

/// The scan's bounds and threshold.
#[derive(Clone, Copy, Debug)]
pub struct BodyScanner {
    /// Largest body scanned.
    pub max_bytes: usize,
    /// Time for receiving and scanning.
    pub timeout: Duration,
    /// Blocking threshold.
    pub block_at: Sensitivity,
}

/// The compact form of a classification, for decisions and audit events.
pub(crate) fn summary(classification: &ContentClassification) -> ClassificationSummary {
    ClassificationSummary {
        sensitivity: classification.sensitivity,
        data_types: classification
            .data_types
            .iter()
            .map(|d| d.data_type)
            .collect(),
        reversibility: None,
        scope: None,
        compliance: Vec::new(),
        injected_instructions: false,
        controls_off: false,
    }
}

impl BodyScanner {
    /// Receives `body` and decides on it.
    pub async fn scan(&self, body: Incoming) -> BodyVerdict {
        let started = Instant::now();
        let bytes = match self.receive(body).await {
            Ok(bytes) => bytes,
            Err(reason) => {
                return BodyVerdict::Block {
                    reason,
                    classification: None,
                };
            }
        };
        let remaining = self.timeout.saturating_sub(started.elapsed());
        self.classify(bytes, remaining).await
    }

    /// Receives `body` whole, within the size and time limits, or says why it was not.
    pub async fn receive(&self, body: Incoming) -> Result<Bytes, String> {
        let collected =
            tokio::time::timeout(self.timeout, Limited::new(body, self.max_bytes).collect()).await;
        match collected {
            Err(_) => Err(format!(
                "body not received within the {} ms limit",
                self.timeout.as_millis()
            )),
            Ok(Err(error)) if error.is::<http_body_util::LengthLimitError>() => {
                Err(format!("body exceeds the {}-byte limit", self.max_bytes))
            }
            Ok(Err(error)) => Err(format!("body could not be read: {error}")),
            Ok(Ok(collected)) => Ok(collected.to_bytes()),
        }
    }

    /// Classifies a body already received, within `time`.
    pub async fn classify(&self, body: Bytes, time: Duration) -> BodyVerdict {
        let limits = Limits {
            max_bytes: self.max_bytes,
        };
        let scanned = body.clone();
        let task =
            tokio::task::spawn_blocking(move || Classifier::new(limits).classify_bytes(&scanned));
        let classification = match tokio::time::timeout(time, task).await {
            Ok(Ok(classification)) => classification,
            Ok(Err(_)) | Err(_) => {
                return BodyVerdict::Block {
                    reason: format!(
                        "body scan did not finish within {} ms",
                        self.timeout.as_millis()
                    ),
                    classification: None,
                };
            }
        };
        let found = summary(&classification);
        if let Some(failed) = &classification.fail_closed {
            return BodyVerdict::Block {
                reason: format!("body not scannable: {failed}"),
                classification: Some(found),
            };
        }
        if classification.sensitivity >= self.block_at {
            let detectors: Vec<&str> = classification
                .evidence
                .iter()
                .map(|e| e.detector.as_str())
                .collect();
            return BodyVerdict::Block {
                reason: format!(
                    "body classified {} ({})",
                    classification.sensitivity,
                    detectors.join(", ")
                ),
                classification: Some(found),
            };
        }
        BodyVerdict::Pass {
            body,
            classification: found,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scanner() -> BodyScanner {
        BodyScanner {
            max_bytes: 1024,
            timeout: Duration::from_secs(5),
            block_at: Sensitivity::Restricted,
        }
    }

    #[tokio::test]
    async fn card_numbers_are_blocked_without_quoting_them() {
        let verdict = scanner()
            .classify(
                Bytes::from_static(b"{\"note\":\"card 4111 1111 1111 1111\"}"),
                Duration::from_secs(5),
            )
            .await;
        let BodyVerdict::Block {
            reason,
            classification,
        } = verdict
        else {
            panic!("expected a block, got {verdict:?}");
        };
        assert!(reason.contains("restricted"), "{reason}");
        assert!(
            !reason.contains("4111"),
            "the reason must not carry the body"
        );
        assert_eq!(classification.unwrap().sensitivity, Sensitivity::Restricted);
    }

    #[tokio::test]
    async fn plain_bodies_pass_and_unscannable_ones_fail_closed() {
        let verdict = scanner()
            .classify(
                Bytes::from_static(b"{\"status\":\"resolved\"}"),
                Duration::from_secs(5),
            )
            .await;
        assert!(matches!(verdict, BodyVerdict::Pass { .. }), "{verdict:?}");
        let binary = scanner()
            .classify(
                Bytes::from_static(&[0xff, 0xfe, 0x00]),
                Duration::from_secs(5),
            )
            .await;
        assert!(matches!(binary, BodyVerdict::Block { .. }), "{binary:?}");
        let huge = BodyScanner {
            max_bytes: 8,
            ..scanner()
        }
        .classify(Bytes::from_static(b"0123456789"), Duration::from_secs(5))
        .await;
        assert!(matches!(huge, BodyVerdict::Block { .. }), "{huge:?}");
    }
}
