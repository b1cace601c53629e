//! A bounded interning cache for the store: text and machine ids to their
//! integer ids. Names and machine ids are chosen by clients, so a cache
//! that kept every one it saw grew without limit (1,000 crafted batches
//! added 139 MB; 1.55M forged machine ids most of 150 MB). This one holds
//! two generations of at most `cap` entries each: when the current one is
//! full it becomes the old one and the previous old one is dropped; a hit in
//! the old generation moves the entry back. Entries in use stay cached,
//! memory stays under two generations, and a miss costs one indexed lookup.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;

/// Two generations of at most `cap` entries.
#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    current: HashMap<K, V>,
    old: HashMap<K, V>,
    cap: usize,
}

impl<K: Eq + Hash, V: Copy> Bounded<K, V> {
    /// An empty cache of two generations of `cap` entries.
    pub(crate) fn new(cap: usize) -> Self {
        Bounded {
            current: HashMap::new(),
            old: HashMap::new(),
            cap: cap.max(1),
        }
    }

    /// The cached value, moving it to the current generation if it was old.
    pub(crate) fn get<Q>(&mut self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        if let Some(v) = self.current.get(key) {
            return Some(*v);
        }
        let (k, v) = self.old.remove_entry(key)?;
        self.insert(k, v);
        Some(v)
    }

    /// Caches `key`, retiring the current generation if it is full.
    pub(crate) fn insert(&mut self, key: K, value: V) {
        if self.current.len() >= self.cap {
            self.old = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    /// Forgets everything.
    pub(crate) fn clear(&mut self) {
        self.current = HashMap::new();
        self.old = HashMap::new();
    }

    /// Entries held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.current.len() + self.old.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_holds_more_than_two_generations_and_keeps_what_is_used() {
        let mut c: Bounded<String, i64> = Bounded::new(100);
        c.insert("hot".into(), 0);
        for i in 1..10_000 {
            c.insert(format!("name-{i}"), i);
            assert!(c.get("hot").is_some(), "used entries survive ({i})");
            assert!(c.len() <= 200);
        }
        assert_eq!(c.get("name-9999"), Some(9999));
        assert_eq!(c.get("name-1"), None, "long unused entries are gone");
        c.clear();
        assert_eq!(c.len(), 0);
    }
}
