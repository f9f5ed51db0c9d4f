//! Insertion-ordered sets and maps with a hard capacity: the oldest entry goes first.
//! Every per-peer and per-engine memory of hashes is built from these, so none can grow
//! without limit. They allocate lazily, so an idle peer costs almost nothing.

use std::collections::hash_map::RandomState;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{BuildHasher, Hash};

/// A set that forgets its oldest members beyond `capacity`.
///
/// cbindgen:ignore
#[derive(Debug)]
pub struct BoundedSet<T: Eq + Hash + Clone, S = RandomState> {
    members: HashSet<T, S>,
    order: VecDeque<T>,
    capacity: usize,
}

impl<T: Eq + Hash + Clone, S: BuildHasher + Default> BoundedSet<T, S> {
    pub fn new(capacity: usize) -> Self {
        BoundedSet {
            members: HashSet::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
        }
    }

    /// Inserts; returns false if already present.
    pub fn insert(&mut self, value: T) -> bool {
        if !self.members.insert(value.clone()) {
            return false;
        }
        self.order.push_back(value);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.members.remove(&old);
            }
        }
        true
    }

    pub fn contains(&self, value: &T) -> bool {
        self.members.contains(value)
    }

    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }
}

/// A map that forgets its oldest entries beyond `capacity` entries or `max_weight` total
/// weight (for example bytes).
///
/// cbindgen:ignore
#[derive(Debug)]
pub struct BoundedMap<K: Eq + Hash + Clone, V, S = RandomState> {
    entries: HashMap<K, (V, usize), S>,
    order: VecDeque<K>,
    capacity: usize,
    max_weight: usize,
    weight: usize,
}

impl<K: Eq + Hash + Clone, V, S: BuildHasher + Default> BoundedMap<K, V, S> {
    pub fn new(capacity: usize, max_weight: usize) -> Self {
        BoundedMap {
            entries: HashMap::default(),
            order: VecDeque::new(),
            capacity: capacity.max(1),
            max_weight,
            weight: 0,
        }
    }

    /// Inserts or replaces, then evicts the oldest entries until within bounds. An entry
    /// heavier than the whole budget is not stored.
    pub fn insert(&mut self, key: K, value: V, weight: usize) {
        if weight > self.max_weight {
            return;
        }
        if let Some((_, old_weight)) = self.entries.insert(key.clone(), (value, weight)) {
            self.weight -= old_weight;
        } else {
            self.order.push_back(key);
        }
        self.weight += weight;
        while self.entries.len() > self.capacity || self.weight > self.max_weight {
            let Some(old) = self.order.pop_front() else {
                break;
            };
            if let Some((_, w)) = self.entries.remove(&old) {
                self.weight -= w;
            }
        }
    }

    pub fn get(&self, key: &K) -> Option<&V> {
        self.entries.get(key).map(|(v, _)| v)
    }

    pub fn remove(&mut self, key: &K) -> Option<V> {
        let (value, weight) = self.entries.remove(key)?;
        self.weight -= weight;
        // The key stays in `order` until it reaches the front; `insert` skips it then.
        if self.order.len() > 2 * self.capacity.max(self.entries.len()) {
            let entries = &self.entries;
            self.order.retain(|k| entries.contains_key(k));
        }
        Some(value)
    }

    pub fn contains_key(&self, key: &K) -> bool {
        self.entries.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn weight(&self) -> usize {
        self.weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_forgets_oldest_beyond_capacity() {
        let mut s: BoundedSet<i32> = BoundedSet::new(3);
        for i in 0..5 {
            assert!(s.insert(i));
        }
        assert!(!s.insert(4));
        assert_eq!(s.len(), 3);
        assert!(!s.contains(&0) && !s.contains(&1));
        assert!(s.contains(&2) && s.contains(&4));
    }

    #[test]
    fn map_bounds_count_and_weight() {
        let mut m: BoundedMap<i32, &str> = BoundedMap::new(10, 100);
        m.insert(1, "a", 60);
        m.insert(2, "b", 30);
        m.insert(3, "c", 30);
        assert!(!m.contains_key(&1), "weight over 100 evicts the oldest");
        assert_eq!(m.weight(), 60);
        m.insert(4, "huge", 101);
        assert!(!m.contains_key(&4));
        for k in 10..30 {
            m.insert(k, "x", 1);
        }
        assert_eq!(m.len(), 10);
        assert_eq!(m.remove(&29), Some("x"));
        assert_eq!(m.len(), 9);
    }

    #[test]
    fn map_remove_keeps_order_bounded() {
        let mut m: BoundedMap<i32, ()> = BoundedMap::new(4, usize::MAX);
        for k in 0..1000 {
            m.insert(k, (), 1);
            m.remove(&k);
        }
        assert!(m.order.len() <= 8);
        assert!(m.is_empty());
    }
}
