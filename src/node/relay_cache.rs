//! The relay cache: items the engine relays, kept as encoded frames so GETDATA is
//! answered without the node. An item announced to a peer that has not fetched it yet
//! (or queued to be announced) is pinned: it outlives the cache's byte budget (up to a hard budget four times as
//! large) so that relaying through a node without a data provider loses nothing. Past
//! the hard budget the oldest pinned item goes, with a warning; peers asking for it then
//! get NOTFOUND and fetch it elsewhere.

use std::collections::VecDeque;

use crate::relay::id_hash::IdMap;

use crate::relay::ItemIds;
use crate::wire::{Frame, Hash256};

/// Pinned items may take this many times the cache's byte budget.
pub(super) const PINNED_BUDGET_FACTOR: usize = 4;

struct Entry {
    frame: Frame,
    /// A segwit transaction's wtxid, by which BIP339 peers ask for it.
    wtxid: Option<Hash256>,
    /// Peers it was announced to that have not fetched it yet.
    pins: u32,
    /// Which queue position is current (older positions in the queues are skipped).
    seq: u64,
}

pub(super) struct RelayCache {
    entries: IdMap<Entry>,
    /// Cached transactions' ids by wtxid.
    by_wtxid: IdMap<Hash256>,
    /// Unpinned items, oldest first (by insertion or by the time they were unpinned).
    unpinned: VecDeque<(u64, Hash256)>,
    /// Pinned items met while evicting, oldest first.
    pinned: VecDeque<(u64, Hash256)>,
    next_seq: u64,
    bytes: usize,
    max_items: usize,
    budget: usize,
}

impl RelayCache {
    pub fn new(max_items: usize, budget: usize) -> Self {
        RelayCache {
            entries: IdMap::default(),
            by_wtxid: IdMap::default(),
            unpinned: VecDeque::new(),
            pinned: VecDeque::new(),
            next_seq: 0,
            bytes: 0,
            max_items,
            budget,
        }
    }

    /// A cached item's frame, by its id or its wtxid.
    pub fn get(&self, hash: &Hash256) -> Option<&Frame> {
        self.entries.get(&self.resolve(hash)?).map(|e| &e.frame)
    }

    /// Whether the item is cached, by its id or its wtxid.
    pub fn contains(&self, hash: &Hash256) -> bool {
        self.resolve(hash).is_some()
    }

    /// The id a cached item is kept under, given its id or its wtxid.
    pub fn resolve(&self, hash: &Hash256) -> Option<Hash256> {
        if self.entries.contains_key(hash) {
            return Some(*hash);
        }
        self.by_wtxid.get(hash).copied()
    }

    /// A cached item's ids, given its id or its wtxid.
    pub fn ids(&self, hash: &Hash256) -> Option<ItemIds> {
        let id = self.resolve(hash)?;
        let e = self.entries.get(&id)?;
        Some(ItemIds { id, wtxid: e.wtxid })
    }

    /// Bytes held.
    #[cfg(test)]
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Adds an item already pinned for `pins` peers, then evicts down to the budgets.
    /// An item already cached gains the pins.
    pub fn insert(&mut self, ids: ItemIds, frame: Frame, pins: u32) {
        let hash = ids.id;
        if let Some(e) = self.entries.get_mut(&hash) {
            e.pins += pins;
            return;
        }
        let seq = self.seq();
        self.bytes += frame.len();
        if let Some(wtxid) = ids.wtxid {
            self.by_wtxid.insert(wtxid, hash);
        }
        self.entries.insert(
            hash,
            Entry {
                frame,
                wtxid: ids.wtxid,
                pins,
                seq,
            },
        );
        if pins == 0 {
            self.unpinned.push_back((seq, hash));
        } else {
            self.pinned.push_back((seq, hash));
        }
        self.evict();
    }

    /// Pins a cached item for one more peer (one that requested it and waits for it to
    /// be served); false when it is not cached.
    pub fn pin(&mut self, hash: &Hash256) -> bool {
        let Some(id) = self.resolve(hash) else {
            return false;
        };
        match self.entries.get_mut(&id) {
            Some(e) => {
                e.pins += 1;
                true
            }
            None => false,
        }
    }

    /// A peer it was queued for fetched it, or its announcement lapsed or was dropped.
    pub fn unpin(&mut self, hash: &Hash256) {
        let Some(id) = self.resolve(hash) else {
            return;
        };
        let Some(e) = self.entries.get_mut(&id) else {
            return;
        };
        e.pins = e.pins.saturating_sub(1);
        if e.pins == 0 {
            self.next_seq += 1;
            e.seq = self.next_seq;
            self.unpinned.push_back((e.seq, id));
            self.evict();
        }
    }

    fn over_soft(&self) -> bool {
        self.bytes > self.budget || self.entries.len() > self.max_items
    }

    fn over_hard(&self) -> bool {
        self.bytes > self.budget.saturating_mul(PINNED_BUDGET_FACTOR)
            || self.entries.len() > self.max_items.saturating_mul(PINNED_BUDGET_FACTOR)
    }

    fn remove(&mut self, hash: &Hash256) {
        if let Some(e) = self.entries.remove(hash) {
            self.bytes -= e.frame.len();
            if let Some(wtxid) = e.wtxid {
                self.by_wtxid.remove(&wtxid);
            }
        }
    }

    /// Unpinned items go first, oldest first; pinned ones only past the hard budget.
    fn evict(&mut self) {
        while self.over_soft() {
            let Some((seq, hash)) = self.unpinned.pop_front() else {
                break;
            };
            match self.entries.get(&hash) {
                Some(e) if e.seq == seq && e.pins == 0 => self.remove(&hash),
                Some(e) if e.seq == seq => self.pinned.push_back((seq, hash)),
                _ => {}
            }
        }
        while self.over_hard() {
            let Some((seq, hash)) = self.pinned.pop_front() else {
                break;
            };
            if self.entries.get(&hash).is_some_and(|e| e.seq == seq) {
                tracing::warn!(
                    bytes = self.bytes,
                    "relay cache over its hard budget: an item still announced to peers is dropped; they will get NOTFOUND"
                );
                self.remove(&hash);
            }
        }
        // Pinned items not met yet sit behind unpinned ones; they are found next time.
        if self.unpinned.len() > 2 * self.entries.len() + 64 {
            let entries = &self.entries;
            self.unpinned
                .retain(|(seq, h)| entries.get(h).is_some_and(|e| e.seq == *seq && e.pins == 0));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: u8) -> Hash256 {
        [i; 32]
    }

    /// A frame of `len` bytes, header included.
    fn frame(len: usize) -> Frame {
        let payload = bytes::Bytes::from(vec![0; len - crate::wire::HEADER_LEN]);
        Frame::new(0, crate::wire::Command::TX, payload)
    }

    #[test]
    fn unpinned_items_go_oldest_first() {
        let mut cache = RelayCache::new(100, 300);
        for i in 0..4 {
            cache.insert(ItemIds::single(id(i)), frame(100), 0);
        }
        assert!(!cache.contains(&id(0)));
        assert!(cache.contains(&id(1)) && cache.contains(&id(3)));
        assert_eq!(cache.bytes(), 300);
    }

    #[test]
    fn pinned_items_outlive_the_budget_until_fetched() {
        let mut cache = RelayCache::new(100, 300);
        cache.insert(ItemIds::single(id(0)), frame(100), 1);
        cache.insert(ItemIds::single(id(1)), frame(100), 1);
        cache.insert(ItemIds::single(id(3)), frame(100), 0);
        cache.insert(ItemIds::single(id(4)), frame(100), 0);
        // Over budget: the oldest unpinned item goes, the pinned ones stay.
        assert!(!cache.contains(&id(3)));
        assert!(cache.contains(&id(0)) && cache.contains(&id(1)) && cache.contains(&id(4)));
        // Fetched: an ordinary member from now on, evicted in its turn.
        cache.unpin(&id(0));
        cache.insert(ItemIds::single(id(5)), frame(100), 0);
        assert!(!cache.contains(&id(4)) && cache.contains(&id(0)));
        cache.insert(ItemIds::single(id(6)), frame(100), 0);
        assert!(!cache.contains(&id(0)));
        assert!(cache.contains(&id(1)));
        assert_eq!(cache.bytes(), 300);
    }

    #[test]
    fn a_transaction_is_found_by_its_wtxid_until_evicted() {
        let mut cache = RelayCache::new(1, 1000);
        let ids = ItemIds {
            id: id(1),
            wtxid: Some(id(2)),
        };
        cache.insert(ids, frame(26), 0);
        assert_eq!(cache.resolve(&id(2)), Some(id(1)));
        assert_eq!(cache.resolve(&id(1)), Some(id(1)));
        assert_eq!(cache.ids(&id(1)), Some(ids));
        assert_eq!(cache.ids(&id(2)), Some(ids), "found by wtxid");
        assert!(cache.contains(&id(2)));
        cache.insert(ItemIds::single(id(3)), frame(26), 0);
        assert!(!cache.contains(&id(1)) && !cache.contains(&id(2)));
        assert_eq!(cache.resolve(&id(2)), None);
    }

    #[test]
    fn past_the_hard_budget_the_oldest_pinned_item_goes() {
        let mut cache = RelayCache::new(100, 100);
        for i in 0..6 {
            cache.insert(ItemIds::single(id(i)), frame(100), 1);
        }
        assert_eq!(cache.bytes(), 100 * PINNED_BUDGET_FACTOR);
        assert!(!cache.contains(&id(0)) && !cache.contains(&id(1)));
        assert!(cache.contains(&id(5)));
    }
}
