//! Sensitivity classification of a request's content with the shared `openshell-classifier`,
//! behind a bounded cache, failing closed.
//!
//! # The cache
//! Keyed on HMAC-SHA256 of the normalized content ([`crate::content`]) under a key drawn at
//! start and kept only in memory: the cache holds neither the content nor an unkeyed digest of
//! it (a plain hash of a short secret — a card number, an SSN — could be reversed by trying
//! candidates). The value is the classification reduced to its level, data types and the names
//! of the detectors that fired: no spans, no masked samples. It is an LRU of `[cache] entries`
//! entries; a repeated context (the same conversation asked again, a retried request) routes
//! without running the detectors.
//!
//! # Failing closed
//! Unscannable content, content over `[limits] scan_max_bytes`, a classification that takes
//! longer than `classify_timeout_ms` (content over `inline_scan_bytes` is classified on a
//! blocking thread under that timeout) and a classifier that panics all give `restricted`.

use std::num::NonZeroUsize;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lru::LruCache;
use openshell_classifier::{Classifier, ContentClassification};
use openshell_policy::wire::{DataType, DataTypeSet, Sensitivity};
use ring::hmac;
use serde::Serialize;

use crate::content::Content;

/// A request's classification as the router keeps it: no spans, no samples.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classified {
    /// The level.
    pub sensitivity: Sensitivity,
    /// The data types present.
    pub data_types: DataTypeSet,
    /// Names of the detectors and rules that fired (`email`, `payment-card`).
    pub detectors: Vec<String>,
    /// Why the content was not scanned and counts as restricted, if it was not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fail_closed: Option<String>,
}

impl Classified {
    /// Restricted without a scan.
    pub fn restricted(why: impl Into<String>) -> Classified {
        Classified {
            sensitivity: Sensitivity::Restricted,
            data_types: DataTypeSet::NONE,
            detectors: vec!["fail-closed".to_owned()],
            fail_closed: Some(why.into()),
        }
    }

    /// The data types in the policy's spelling (`personalData`), for messages.
    pub fn data_type_names(&self) -> Vec<&'static str> {
        self.data_types.iter().map(DataType::policy_name).collect()
    }

    /// Reduces the classifier's answer.
    pub fn from_classification(c: &ContentClassification) -> Classified {
        let data_types = c.data_types.iter().map(|d| d.data_type).collect();
        let mut detectors: Vec<String> = Vec::new();
        for evidence in &c.evidence {
            if !detectors.contains(&evidence.detector) {
                detectors.push(evidence.detector.clone());
            }
        }
        Classified {
            sensitivity: c.sensitivity,
            data_types,
            detectors,
            fail_closed: c.fail_closed.as_ref().map(ToString::to_string),
        }
    }
}

/// Where a classification came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Origin {
    /// The cache.
    Cache,
    /// The detectors ran.
    Classifier,
    /// Restricted without scanning (unscannable, timeout, panic).
    FailClosed,
}

/// A cache key: HMAC-SHA256 of the normalized content under the process's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CacheKey([u8; 32]);

/// One cache entry as shown by the admin API: the key in hex and the classification.
#[derive(Debug, Clone, Serialize)]
pub struct CacheEntryView {
    /// The keyed hash, hex.
    pub key: String,
    /// The classification.
    pub classification: Classified,
}

/// The bounded classification cache.
pub struct ClassificationCache {
    key: hmac::Key,
    entries: Option<Mutex<LruCache<CacheKey, Arc<Classified>>>>,
    capacity: usize,
    hits: AtomicU64,
    misses: AtomicU64,
}

impl ClassificationCache {
    /// A cache of `capacity` entries (0: disabled) under a fresh random key.
    pub fn new(capacity: usize) -> ClassificationCache {
        let rng = ring::rand::SystemRandom::new();
        let key = hmac::Key::generate(hmac::HMAC_SHA256, &rng)
            .expect("the system random generator is available");
        ClassificationCache {
            key,
            entries: NonZeroUsize::new(capacity).map(|n| Mutex::new(LruCache::new(n))),
            capacity,
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        }
    }

    /// The key of some normalized content.
    pub fn key_of(&self, text: &str) -> CacheKey {
        let tag = hmac::sign(&self.key, text.as_bytes());
        let mut key = [0u8; 32];
        key.copy_from_slice(tag.as_ref());
        CacheKey(key)
    }

    /// A cached classification, counting the hit or miss.
    pub fn get(&self, key: &CacheKey) -> Option<Arc<Classified>> {
        let found = self.entries.as_ref().and_then(|e| {
            e.lock()
                .unwrap_or_else(|p| p.into_inner())
                .get(key)
                .cloned()
        });
        let counter = if found.is_some() {
            &self.hits
        } else {
            &self.misses
        };
        counter.fetch_add(1, Ordering::Relaxed);
        found
    }

    /// Remembers a classification.
    pub fn insert(&self, key: CacheKey, classified: Arc<Classified>) {
        if let Some(entries) = &self.entries {
            entries
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .put(key, classified);
        }
    }

    /// Entries held now.
    pub fn len(&self) -> usize {
        self.entries
            .as_ref()
            .map_or(0, |e| e.lock().unwrap_or_else(|p| p.into_inner()).len())
    }

    /// Whether the cache holds nothing.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most entries held.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Lookups answered from the cache.
    pub fn hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    /// Lookups that were not.
    pub fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// Every entry, most recently used first.
    pub fn entries(&self) -> Vec<CacheEntryView> {
        let Some(entries) = &self.entries else {
            return Vec::new();
        };
        let entries = entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .map(|(key, classification)| CacheEntryView {
                key: key.0.iter().map(|b| format!("{b:02x}")).collect(),
                classification: (**classification).clone(),
            })
            .collect()
    }
}

/// Classifies request content: cache, then the detectors (inline or on a blocking thread under
/// a timeout), failing closed.
pub struct ContentClassifier {
    classifier: Classifier,
    cache: ClassificationCache,
    inline_max: usize,
    timeout: Duration,
    runs: AtomicU64,
}

impl ContentClassifier {
    /// A classifier scanning at most `scan_max` bytes, inline up to `inline_max`, with a cache
    /// of `cache_entries`.
    pub fn new(
        scan_max: usize,
        inline_max: usize,
        timeout: Duration,
        cache_entries: usize,
    ) -> ContentClassifier {
        ContentClassifier {
            classifier: Classifier::new(openshell_classifier::Limits {
                max_bytes: scan_max,
            }),
            cache: ClassificationCache::new(cache_entries),
            inline_max,
            timeout,
            runs: AtomicU64::new(0),
        }
    }

    /// The cache.
    pub fn cache(&self) -> &ClassificationCache {
        &self.cache
    }

    /// How many times the detectors ran.
    pub fn runs(&self) -> u64 {
        self.runs.load(Ordering::Relaxed)
    }

    /// The classification of `content`, and where it came from.
    pub async fn classify(&self, content: Content) -> (Arc<Classified>, Origin) {
        if let Some(why) = content.unscannable {
            return (Arc::new(Classified::restricted(why)), Origin::FailClosed);
        }
        let key = self.cache.key_of(&content.text);
        if let Some(hit) = self.cache.get(&key) {
            return (hit, Origin::Cache);
        }
        self.runs.fetch_add(1, Ordering::Relaxed);
        let classifier = self.classifier;
        let text = content.text;
        let outcome = if text.len() <= self.inline_max {
            std::panic::catch_unwind(AssertUnwindSafe(|| classifier.classify_text(&text)))
                .map_err(|_| "the classifier failed".to_owned())
        } else {
            let scan = tokio::task::spawn_blocking(move || classifier.classify_text(&text));
            match tokio::time::timeout(self.timeout, scan).await {
                Ok(Ok(c)) => Ok(c),
                Ok(Err(_)) => Err("the classifier failed".to_owned()),
                Err(_) => Err(format!(
                    "classification did not finish within {:?}",
                    self.timeout
                )),
            }
        };
        match outcome {
            Ok(c) => {
                let classified = Arc::new(Classified::from_classification(&c));
                self.cache.insert(key, Arc::clone(&classified));
                (classified, Origin::Classifier)
            }
            Err(why) => (Arc::new(Classified::restricted(why)), Origin::FailClosed),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content(text: &str) -> Content {
        Content {
            text: text.to_owned(),
            unscannable: None,
        }
    }

    #[tokio::test]
    async fn repeated_content_is_answered_by_the_cache() {
        let c = ContentClassifier::new(1 << 20, 1 << 16, Duration::from_secs(1), 16);
        let (first, origin) = c.classify(content("mail jane@example.com")).await;
        assert_eq!(origin, Origin::Classifier);
        assert_eq!(first.sensitivity, Sensitivity::Confidential);
        assert_eq!(first.data_types, DataType::Personal.set());
        let (second, origin) = c.classify(content("mail jane@example.com")).await;
        assert_eq!(origin, Origin::Cache);
        assert!(Arc::ptr_eq(&first, &second));
        assert_eq!((c.runs(), c.cache().hits(), c.cache().misses()), (1, 1, 1));
    }

    #[tokio::test]
    async fn the_cache_holds_no_plaintext() {
        let c = ContentClassifier::new(1 << 20, 1 << 16, Duration::from_secs(1), 16);
        let secret = "card 4111 1111 1111 1111 for jane.doe@example.com, diagnosed with asthma";
        let (classified, _) = c.classify(content(secret)).await;
        assert_eq!(classified.sensitivity, Sensitivity::Restricted);
        assert!(
            classified
                .data_types
                .intersects(DataType::PaymentCard.set().with(DataType::Health.set()))
        );
        let dump = serde_json::to_string(&c.cache().entries()).unwrap()
            + &format!("{:?}", c.cache().entries());
        // The card's digits are looked for with their space: four hex digits of a key can be
        // `4111` or `1111` by chance.
        for fragment in ["4111 1111", "jane", "doe", "example.com", "asthma"] {
            assert!(!dump.contains(fragment), "{fragment} in {dump}");
        }
        // The key is keyed: another cache (another key) gives another key for the same text.
        let other = ClassificationCache::new(1);
        assert_ne!(other.key_of(secret), c.cache().key_of(secret));
    }

    #[tokio::test]
    async fn failures_are_restricted_and_not_cached() {
        let tiny = ContentClassifier::new(8, 4, Duration::from_secs(1), 16);
        let (big, origin) = tiny.classify(content("the weather is nice")).await;
        assert_eq!(origin, Origin::Classifier);
        assert_eq!(big.sensitivity, Sensitivity::Restricted);
        assert!(big.fail_closed.as_ref().unwrap().contains("exceeds"));
        let opaque = Content {
            text: "hello".into(),
            unscannable: Some("an image".into()),
        };
        let (c, origin) = tiny.classify(opaque).await;
        assert_eq!(
            (c.sensitivity, origin),
            (Sensitivity::Restricted, Origin::FailClosed)
        );
        let slow = ContentClassifier::new(64 << 20, 0, Duration::from_nanos(1), 16);
        let (c, origin) = slow.classify(content(&"x ".repeat(4 << 20))).await;
        assert_eq!(
            (c.sensitivity, origin),
            (Sensitivity::Restricted, Origin::FailClosed)
        );
        assert!(c.fail_closed.as_ref().unwrap().contains("did not finish"));
        assert!(slow.cache().is_empty());
    }

    #[test]
    fn disabled_cache_counts_misses() {
        let cache = ClassificationCache::new(0);
        let key = cache.key_of("x");
        cache.insert(key, Arc::new(Classified::restricted("t")));
        assert!(cache.get(&key).is_none());
        assert_eq!((cache.len(), cache.misses()), (0, 1));
    }
}
