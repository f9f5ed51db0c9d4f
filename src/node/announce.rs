//! Announcement pacing for one peer. A receiver keeps at most
//! [`MAX_PEER_ANNOUNCEMENTS`] unrequested announcements from each peer and drops the
//! rest (Bitcoin Core does the same), so a sender that announces a burst at once loses
//! it. Here every announcement waits in a queue and goes out only while fewer than that
//! many are outstanding: announced, and neither requested by the peer nor otherwise
//! settled.
//!
//! An announcement is settled when the peer requests it or anything announced after it
//! (receivers request in announcement order, so everything before has left the
//! receiver's queue: requested, or dropped because it had the item), when the peer
//! announces the item to us, and when the peer has requested nothing for
//! [`ANNOUNCEMENT_LAPSE`] (it has the items, or is not fetching).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::relay::id_hash::IdMap;
use crate::relay::tracker::MAX_PEER_ANNOUNCEMENTS;
use crate::wire::Hash256;

/// Outstanding announcements lapse after the peer requested nothing for this long.
pub(super) const ANNOUNCEMENT_LAPSE: Duration = Duration::from_secs(5);
/// Ids waiting to be announced to one peer at most; past it the oldest are dropped
/// with a warning (the relay's memory of seen items is this large too).
pub(super) const ANNOUNCE_QUEUE: usize = 500_000;

#[derive(Default)]
pub(super) struct Announcements {
    /// Blocks waiting to be announced; they go before transactions.
    blocks: VecDeque<Hash256>,
    /// Transactions waiting for the peer's trickle.
    txs: VecDeque<Hash256>,
    /// Announced and not settled: id → sequence number.
    outstanding: IdMap<u64>,
    /// `outstanding` in announcement order (settled entries are skipped).
    order: VecDeque<(u64, Hash256)>,
    next_seq: u64,
    /// When the peer last requested something from us, or the window last opened.
    last_progress: Option<Instant>,
    /// The last announcement stopped at the window, not at the end of the queue.
    pub backlogged: bool,
}

/// Ids to announce now.
#[derive(Default)]
pub(super) struct Batch {
    pub blocks: Vec<Hash256>,
    pub txs: Vec<Hash256>,
}

impl Announcements {
    /// Queues an id; returns one that was dropped to make room, if any.
    pub fn queue(&mut self, hash: Hash256, block: bool) -> Option<Hash256> {
        let queue = if block {
            &mut self.blocks
        } else {
            &mut self.txs
        };
        queue.push_back(hash);
        if self.blocks.len() + self.txs.len() > ANNOUNCE_QUEUE {
            let dropped = self.txs.pop_front().or_else(|| self.blocks.pop_front());
            tracing::warn!("announcement queue full; the oldest waiting announcement is dropped");
            return dropped;
        }
        None
    }

    pub fn queued(&self) -> usize {
        self.blocks.len() + self.txs.len()
    }

    pub fn queued_txs(&self) -> usize {
        self.txs.len()
    }

    pub fn queued_blocks(&self) -> usize {
        self.blocks.len()
    }

    /// Whether another announcement fits in the window now.
    pub fn has_room(&self) -> bool {
        self.outstanding.len() < MAX_PEER_ANNOUNCEMENTS
    }

    /// Takes what fits in the window: blocks first, transactions when `with_txs`.
    pub fn take(&mut self, with_txs: bool, now: Instant) -> Batch {
        let mut batch = Batch::default();
        let room = MAX_PEER_ANNOUNCEMENTS.saturating_sub(self.outstanding.len());
        if room == 0 {
            self.backlogged = !self.blocks.is_empty() || (with_txs && !self.txs.is_empty());
            return batch;
        }
        if self.outstanding.is_empty() {
            self.last_progress = Some(now);
        }
        while batch.blocks.len() < room {
            let Some(hash) = self.blocks.pop_front() else {
                break;
            };
            batch.blocks.push(hash);
        }
        while with_txs && batch.blocks.len() + batch.txs.len() < room {
            let Some(hash) = self.txs.pop_front() else {
                break;
            };
            batch.txs.push(hash);
        }
        for hash in batch.blocks.iter().chain(&batch.txs) {
            self.next_seq += 1;
            if self.outstanding.insert(*hash, self.next_seq).is_none() {
                self.order.push_back((self.next_seq, *hash));
            }
        }
        self.backlogged = !self.blocks.is_empty() || (with_txs && !self.txs.is_empty());
        batch
    }

    /// The peer requested `hash`: it and everything announced before it are settled.
    /// Returns the settled ids.
    pub fn requested(&mut self, hash: &Hash256, now: Instant) -> Vec<Hash256> {
        let Some(&upto) = self.outstanding.get(hash) else {
            return Vec::new();
        };
        self.last_progress = Some(now);
        let mut settled = Vec::new();
        while let Some(&(seq, h)) = self.order.front() {
            if seq > upto {
                break;
            }
            self.order.pop_front();
            if self.outstanding.get(&h) == Some(&seq) {
                self.outstanding.remove(&h);
                settled.push(h);
            }
        }
        settled
    }

    /// The peer has the item (it announced it): settled.
    pub fn has(&mut self, hash: &Hash256) -> bool {
        self.outstanding.remove(hash).is_some()
    }

    /// When the outstanding announcements lapse, if any are outstanding.
    pub fn lapse_at(&self) -> Option<Instant> {
        if self.outstanding.is_empty() {
            return None;
        }
        self.last_progress.map(|t| t + ANNOUNCEMENT_LAPSE)
    }

    /// Settles everything outstanding (lapsed); returns the ids.
    pub fn lapse(&mut self) -> Vec<Hash256> {
        self.order.clear();
        self.outstanding.drain().map(|(h, _)| h).collect()
    }

    /// Everything queued or outstanding, for a peer that left.
    pub fn drain_all(&mut self) -> Vec<Hash256> {
        let mut all = self.lapse();
        all.extend(self.blocks.drain(..));
        all.extend(self.txs.drain(..));
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(i: usize) -> Hash256 {
        let mut h = [0u8; 32];
        h[..8].copy_from_slice(&(i as u64).to_le_bytes());
        h
    }

    #[test]
    fn a_burst_goes_out_a_window_at_a_time_and_requests_open_it() {
        let now = Instant::now();
        let mut a = Announcements::default();
        for i in 0..12_000 {
            assert_eq!(a.queue(id(i), false), None);
        }
        let first = a.take(true, now);
        assert_eq!(first.txs.len(), MAX_PEER_ANNOUNCEMENTS);
        assert!(a.backlogged);
        assert!(a.take(true, now).txs.is_empty());
        // Requesting the 1,000th settles the first 1,000.
        assert_eq!(a.requested(&id(999), now).len(), 1000);
        let next = a.take(true, now);
        assert_eq!(next.txs.len(), 1000);
        assert_eq!(next.txs[0], id(MAX_PEER_ANNOUNCEMENTS));
        assert_eq!(a.queued(), 12_000 - MAX_PEER_ANNOUNCEMENTS - 1000);
    }

    #[test]
    fn blocks_go_first_and_an_idle_peer_lets_the_window_lapse() {
        let now = Instant::now();
        let mut a = Announcements::default();
        a.queue(id(1), false);
        a.queue(id(2), true);
        let batch = a.take(true, now);
        assert_eq!((batch.blocks, batch.txs), (vec![id(2)], vec![id(1)]));
        assert_eq!(a.lapse_at(), Some(now + ANNOUNCEMENT_LAPSE));
        assert!(a.has(&id(1)));
        assert_eq!(a.lapse(), vec![id(2)]);
        assert_eq!(a.lapse_at(), None);
    }
}
