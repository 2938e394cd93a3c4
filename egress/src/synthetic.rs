//! Synthetic addresses: what the DNS responder answers for an allowed name, so that a
//! connection redirected to the transparent listener says which name it was meant for (its
//! original destination address), whatever protocol it speaks.
//!
//! A name's address is derived from a SHA-256 of the name (probing on collision), so it is the
//! same in every sandbox and usually the same after the engine restarts. When the range is full
//! the least recently used name gives up its address; a sandbox still holding the old answer
//! then reaches the new name, which its own rules decide like any other.

use std::collections::HashMap;
use std::net::Ipv4Addr;

use ipnet::Ipv4Net;
use sha2::{Digest, Sha256};

struct Entry {
    name: String,
    last_used: u64,
}

/// Name ↔ synthetic address table of one node.
pub struct SyntheticNames {
    range: Ipv4Net,
    slots: u32,
    by_name: HashMap<String, u32>,
    by_slot: HashMap<u32, Entry>,
    clock: u64,
}

impl SyntheticNames {
    /// A table over `range` (its first and last addresses are never handed out).
    pub fn new(range: Ipv4Net) -> SyntheticNames {
        let size = 1u64 << (32 - u32::from(range.prefix_len()));
        SyntheticNames {
            range,
            slots: u32::try_from(size.saturating_sub(2)).unwrap_or(u32::MAX),
            by_name: HashMap::new(),
            by_slot: HashMap::new(),
            clock: 0,
        }
    }

    /// Whether `address` lies in the synthetic range.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        self.range.contains(&address)
    }

    fn address(&self, slot: u32) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.range.network()) + 1 + slot)
    }

    /// The address answered for `name` (lower-case, no trailing dot).
    pub fn address_for(&mut self, name: &str) -> Ipv4Addr {
        self.clock += 1;
        let now = self.clock;
        if let Some(&slot) = self.by_name.get(name) {
            if let Some(entry) = self.by_slot.get_mut(&slot) {
                entry.last_used = now;
            }
            return self.address(slot);
        }
        let digest = Sha256::digest(name.as_bytes());
        let start = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]) % self.slots;
        let free = (0..self.slots)
            .map(|i| (start + i) % self.slots)
            .find(|slot| !self.by_slot.contains_key(slot));
        let slot = match free {
            Some(slot) => slot,
            None => {
                let (&oldest, _) = self
                    .by_slot
                    .iter()
                    .min_by_key(|(_, entry)| entry.last_used)
                    .expect("a full table has entries");
                if let Some(evicted) = self.by_slot.remove(&oldest) {
                    self.by_name.remove(&evicted.name);
                }
                oldest
            }
        };
        self.by_name.insert(name.to_owned(), slot);
        self.by_slot.insert(
            slot,
            Entry {
                name: name.to_owned(),
                last_used: now,
            },
        );
        self.address(slot)
    }

    /// The name `address` was handed out for.
    pub fn name_for(&self, address: Ipv4Addr) -> Option<&str> {
        if !self.contains(address) {
            return None;
        }
        let offset = u32::from(address).checked_sub(u32::from(self.range.network()) + 1)?;
        self.by_slot.get(&offset).map(|entry| entry.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_get_stable_distinct_addresses() {
        let mut table = SyntheticNames::new("10.201.0.0/16".parse().unwrap());
        let a = table.address_for("api.hubspot.com");
        let b = table.address_for("crm.example.test");
        assert_ne!(a, b);
        assert_eq!(table.address_for("api.hubspot.com"), a);
        assert_eq!(table.name_for(a), Some("api.hubspot.com"));
        assert_eq!(table.name_for(b), Some("crm.example.test"));
        assert_eq!(table.name_for("10.201.255.255".parse().unwrap()), None);
        assert_eq!(table.name_for("203.0.113.1".parse().unwrap()), None);
        // A fresh table (an engine restart) derives the same address.
        let mut again = SyntheticNames::new("10.201.0.0/16".parse().unwrap());
        assert_eq!(again.address_for("api.hubspot.com"), a);
    }

    #[test]
    fn a_full_table_recycles_the_least_recently_used() {
        let mut table = SyntheticNames::new("10.9.0.0/30".parse().unwrap());
        let first = table.address_for("a.test");
        let second = table.address_for("b.test");
        assert_ne!(first, second);
        table.address_for("a.test");
        let third = table.address_for("c.test");
        assert_eq!(third, second, "b.test was the least recently used");
        assert_eq!(table.name_for(second), Some("c.test"));
        assert_eq!(table.name_for(first), Some("a.test"));
    }
}
