//! A bounded, time-limited cache of model answers keyed by the canonical request JSON.

use std::num::NonZeroUsize;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use lru::LruCache;

/// LRU entries that expire after a TTL.
pub struct TtlCache<V: Clone> {
    entries: Mutex<LruCache<String, (Instant, V)>>,
    ttl: Duration,
}

impl<V: Clone> TtlCache<V> {
    /// A cache of at most `capacity` entries (at least one) living `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> TtlCache<V> {
        let capacity = NonZeroUsize::new(capacity.max(1)).expect("at least one");
        TtlCache {
            entries: Mutex::new(LruCache::new(capacity)),
            ttl,
        }
    }

    /// The live value for `key`.
    pub fn get(&self, key: &str) -> Option<V> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        match entries.get(key) {
            Some((at, value)) if at.elapsed() < self.ttl => Some(value.clone()),
            Some(_) => {
                entries.pop(key);
                None
            }
            None => None,
        }
    }

    /// Stores `value` for `key`.
    pub fn put(&self, key: String, value: V) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.put(key, (Instant::now(), value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_are_evicted() {
        let cache = TtlCache::new(2, Duration::from_millis(30));
        cache.put("a".into(), 1);
        cache.put("b".into(), 2);
        cache.put("c".into(), 3);
        assert_eq!(cache.get("a"), None, "evicted");
        assert_eq!(cache.get("c"), Some(3));
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(cache.get("c"), None, "expired");
    }
}
