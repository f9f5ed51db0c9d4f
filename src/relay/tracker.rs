//! Which items we want, who can give them to us, and what is in flight. Sans-IO: it is
//! told about announcements, deliveries, NOTFOUNDs, peers and the clock, and answers with
//! the GETDATA requests to send.
//!
//! Rules:
//! - An item is requested from one peer at a time. A request expires after the kind's
//!   timeout, or at NOTFOUND or disconnect, and then goes to another peer that
//!   announced the item (or, for blocks the node asked to fetch, any peer).
//! - Each peer has a cap on requests in flight (16 blocks, as Bitcoin Core;
//!   [`MAX_TX_IN_FLIGHT`] transactions) and on announcements it may queue with us
//!   ([`MAX_PEER_ANNOUNCEMENTS`]); anything beyond is dropped, so a peer cannot grow our
//!   memory.
//! - A delivery is solicited when that peer was asked for that item, now or recently.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

use super::bounded::BoundedMap;
use super::id_hash::{IdHasher, IdMap, IdSet};
use super::{ItemIds, ItemKind};
use crate::events::PeerId;
use crate::wire::Hash256;

/// Blocks in flight per peer (Bitcoin Core's MAX_BLOCKS_IN_TRANSIT_PER_PEER).
pub const MAX_BLOCKS_IN_FLIGHT: usize = 16;
/// Transactions in flight per peer.
pub const MAX_TX_IN_FLIGHT: usize = 1000;
/// Announced-but-unrequested items queued per peer (Bitcoin Core's
/// MAX_PEER_TX_ANNOUNCEMENTS).
pub const MAX_PEER_ANNOUNCEMENTS: usize = 5000;
/// Items the node asked to fetch that may wait for a peer.
pub const MAX_FETCH_QUEUE: usize = 100_000;
/// How long we remember who delivered what, to recognise late but solicited deliveries.
const RECENT_DELIVERIES: usize = 20_000;

/// An item id as hex, in the byte order of the wire (for logs).
struct HexId<'a>(&'a Hash256);

impl std::fmt::Display for HexId<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.iter().try_for_each(|b| write!(f, "{b:02x}"))
    }
}

/// Whether a delivered item was asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Requested from this peer and not yet delivered: hand it to the node.
    Expected,
    /// Requested from this peer but already delivered by another: drop silently.
    Duplicate,
    /// Never requested from this peer: misbehaviour.
    Unsolicited,
}

#[derive(Debug)]
struct Wanted {
    kind: ItemKind,
    /// Peers that announced the item, in announcement order.
    announcers: Vec<PeerId>,
    /// Peers already asked (a peer is asked at most once per item).
    asked: Vec<PeerId>,
    in_flight: Option<(PeerId, Instant)>,
    /// Requested by the node through the fetch API: any peer may serve it.
    any_peer: bool,
}

#[derive(Debug, Default)]
struct PeerSlots {
    blocks: usize,
    txs: usize,
    /// Items this peer announced that wait for a free slot, in announcement order. An
    /// entry whose item was settled otherwise (delivered by another peer, forgotten)
    /// leaves `queued` at once and is skipped here later.
    queue: VecDeque<Hash256>,
    /// The live entries of `queue`: what counts against the announcement limit.
    queued: IdSet,
}

impl PeerSlots {
    fn enqueue(&mut self, hash: Hash256, front: bool) {
        if self.queued.insert(hash) {
            if front {
                self.queue.push_front(hash);
            } else {
                self.queue.push_back(hash);
            }
        }
    }

    /// The oldest live entry.
    fn front(&mut self) -> Option<Hash256> {
        while let Some(&hash) = self.queue.front() {
            if self.queued.contains(&hash) {
                return Some(hash);
            }
            self.queue.pop_front();
        }
        None
    }

    fn pop_front(&mut self) {
        if let Some(hash) = self.queue.pop_front() {
            self.queued.remove(&hash);
        }
    }

    /// The item no longer waits here; skipped entries are compacted away once they
    /// outnumber the live ones.
    fn discard(&mut self, hash: &Hash256) {
        if self.queued.remove(hash) && self.queue.len() > 2 * self.queued.len() + 64 {
            let queued = &self.queued;
            self.queue.retain(|h| queued.contains(h));
        }
    }

    fn in_flight(&mut self, kind: ItemKind) -> &mut usize {
        match kind {
            ItemKind::Block => &mut self.blocks,
            ItemKind::Tx => &mut self.txs,
        }
    }

    fn has_room(&self, kind: ItemKind) -> bool {
        match kind {
            ItemKind::Block => self.blocks < MAX_BLOCKS_IN_FLIGHT,
            ItemKind::Tx => self.txs < MAX_TX_IN_FLIGHT,
        }
    }
}

/// A GETDATA entry to send to a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    pub peer: PeerId,
    pub kind: ItemKind,
    pub hash: Hash256,
}

/// Per-engine request state.
#[derive(Debug)]
pub struct RequestTracker {
    tx_timeout: Duration,
    block_timeout: Duration,
    wanted: IdMap<Wanted>,
    deadlines: BTreeSet<(Instant, Hash256)>,
    peers: HashMap<PeerId, PeerSlots>,
    /// Peer ids in connection order, for fetches any peer may serve.
    peer_order: Vec<PeerId>,
    fetch_queue: VecDeque<Hash256>,
    delivered: BoundedMap<Hash256, Vec<PeerId>, IdHasher>,
}

impl RequestTracker {
    pub fn new(tx_timeout: Duration, block_timeout: Duration) -> Self {
        RequestTracker {
            tx_timeout,
            block_timeout,
            wanted: IdMap::default(),
            deadlines: BTreeSet::new(),
            peers: HashMap::new(),
            peer_order: Vec::new(),
            fetch_queue: VecDeque::new(),
            delivered: BoundedMap::new(RECENT_DELIVERIES, usize::MAX),
        }
    }

    fn timeout(&self, kind: ItemKind) -> Duration {
        match kind {
            ItemKind::Block => self.block_timeout,
            ItemKind::Tx => self.tx_timeout,
        }
    }

    /// A peer completed the handshake and may be asked for data.
    pub fn add_peer(&mut self, peer: PeerId) {
        if self.peers.insert(peer, PeerSlots::default()).is_none() {
            self.peer_order.push(peer);
        }
    }

    /// A peer left: its requests go elsewhere at the next poll.
    pub fn remove_peer(&mut self, peer: PeerId) {
        if self.peers.remove(&peer).is_none() {
            return;
        }
        self.peer_order.retain(|p| *p != peer);
        let mut orphaned = Vec::new();
        for (hash, w) in self.wanted.iter_mut() {
            w.announcers.retain(|p| *p != peer);
            if let Some((p, deadline)) = w.in_flight {
                if p == peer {
                    w.in_flight = None;
                    self.deadlines.remove(&(deadline, *hash));
                }
            }
            if w.in_flight.is_none() {
                orphaned.push(*hash);
            }
        }
        for hash in orphaned {
            self.reschedule(hash);
        }
    }

    /// The number of items in flight and waiting, for the sync status.
    pub fn counts(&self) -> (usize, usize) {
        let blocks_in_flight = self.peers.values().map(|p| p.blocks).sum();
        (blocks_in_flight, self.fetch_queue.len())
    }

    /// Blocks requested from `peer` and not delivered yet.
    pub fn blocks_in_flight(&self, peer: PeerId) -> usize {
        self.peers.get(&peer).map_or(0, |slots| slots.blocks)
    }

    /// Blocks requested from any peer and not delivered yet.
    pub fn total_blocks_in_flight(&self) -> usize {
        self.peers.values().map(|slots| slots.blocks).sum()
    }

    pub fn is_wanted(&self, hash: &Hash256) -> bool {
        self.wanted.contains_key(hash)
    }

    /// A peer announced an item we do not have. Queued for a request from it.
    pub fn on_announced(&mut self, peer: PeerId, kind: ItemKind, hash: Hash256) {
        let Some(slots) = self.peers.get_mut(&peer) else {
            return;
        };
        let w = self.wanted.entry(hash).or_insert_with(|| Wanted {
            kind,
            announcers: Vec::new(),
            asked: Vec::new(),
            in_flight: None,
            any_peer: false,
        });
        if w.announcers.contains(&peer) || w.asked.contains(&peer) {
            return;
        }
        if slots.queued.len() >= MAX_PEER_ANNOUNCEMENTS {
            if w.announcers.is_empty() && w.in_flight.is_none() && !w.any_peer {
                self.wanted.remove(&hash);
            }
            return;
        }
        w.announcers.push(peer);
        slots.enqueue(hash, false);
    }

    /// The node asked for these blocks; any peer may serve them.
    pub fn fetch(&mut self, hashes: &[Hash256]) -> usize {
        let mut added = 0;
        for hash in hashes {
            if self.fetch_queue.len() >= MAX_FETCH_QUEUE {
                break;
            }
            let w = self.wanted.entry(*hash).or_insert_with(|| Wanted {
                kind: ItemKind::Block,
                announcers: Vec::new(),
                asked: Vec::new(),
                in_flight: None,
                any_peer: false,
            });
            if !w.any_peer {
                w.any_peer = true;
                self.fetch_queue.push_back(*hash);
                added += 1;
            }
        }
        added
    }

    /// Classifies a delivery and, when expected, forgets the request.
    pub fn on_delivered(&mut self, peer: PeerId, hash: Hash256) -> Delivery {
        if let Some(w) = self.wanted.get(&hash) {
            let asked = w.asked.contains(&peer);
            if !asked {
                return Delivery::Unsolicited;
            }
            let w = self.wanted.remove(&hash).expect("present");
            self.unqueue(&hash, &w.announcers);
            if let Some((p, deadline)) = w.in_flight {
                self.deadlines.remove(&(deadline, hash));
                if let Some(slots) = self.peers.get_mut(&p) {
                    *slots.in_flight(w.kind) -= 1;
                }
            }
            self.delivered.insert(hash, w.asked, 1);
            return Delivery::Expected;
        }
        match self.delivered.get(&hash) {
            Some(asked) if asked.contains(&peer) => Delivery::Duplicate,
            _ => Delivery::Unsolicited,
        }
    }

    /// Classifies the delivery of an item known by several ids (a transaction's txid
    /// and wtxid; the peer was asked by one of them) and settles all of them.
    pub fn on_delivered_item(&mut self, peer: PeerId, ids: &ItemIds) -> Delivery {
        let mut delivery = Delivery::Unsolicited;
        for id in ids.all() {
            match self.on_delivered(peer, id) {
                Delivery::Expected => delivery = Delivery::Expected,
                Delivery::Duplicate if delivery == Delivery::Unsolicited => {
                    delivery = Delivery::Duplicate
                }
                _ => {}
            }
        }
        if delivery == Delivery::Expected {
            for id in ids.all() {
                self.forget(&id);
            }
        }
        delivery
    }

    /// The peer says it does not have the item: try someone else.
    pub fn on_not_found(&mut self, peer: PeerId, hash: Hash256) {
        let Some(w) = self.wanted.get_mut(&hash) else {
            return;
        };
        w.announcers.retain(|p| *p != peer);
        if let Some(slots) = self.peers.get_mut(&peer) {
            slots.discard(&hash);
        }
        let Some(w) = self.wanted.get_mut(&hash) else {
            return;
        };
        if let Some((p, deadline)) = w.in_flight {
            if p == peer {
                w.in_flight = None;
                self.deadlines.remove(&(deadline, hash));
                if let Some(slots) = self.peers.get_mut(&p) {
                    *slots.in_flight(w.kind) -= 1;
                }
                self.reschedule(hash);
            }
        }
    }

    /// The item arrived by other means (for example the node broadcast it): stop wanting
    /// it. Peers already asked may still deliver it; that is no offence.
    pub fn forget(&mut self, hash: &Hash256) {
        if let Some(w) = self.wanted.remove(hash) {
            self.unqueue(hash, &w.announcers);
            if let Some((p, deadline)) = w.in_flight {
                self.deadlines.remove(&(deadline, *hash));
                if let Some(slots) = self.peers.get_mut(&p) {
                    *slots.in_flight(w.kind) -= 1;
                }
            }
            if !w.asked.is_empty() {
                self.delivered.insert(*hash, w.asked, 1);
            }
        }
    }

    /// After losing its peer, an item waits in the queue of another announcer or the
    /// fetch queue; items nobody else can serve are dropped.
    fn reschedule(&mut self, hash: Hash256) {
        let Some(w) = self.wanted.get(&hash) else {
            return;
        };
        let next = w.announcers.iter().find(|p| !w.asked.contains(p)).copied();
        match next {
            Some(peer) => {
                if let Some(slots) = self.peers.get_mut(&peer) {
                    slots.enqueue(hash, true);
                }
            }
            None if w.any_peer => self.fetch_queue.push_front(hash),
            None => {
                tracing::info!(
                    item = %HexId(&hash),
                    asked = w.asked.len(),
                    "no peer left to ask for a wanted item; given up"
                );
                self.wanted.remove(&hash);
            }
        }
    }

    /// An item is no longer wanted: it stops counting against its announcers' limits.
    fn unqueue(&mut self, hash: &Hash256, announcers: &[PeerId]) {
        for peer in announcers {
            if let Some(slots) = self.peers.get_mut(peer) {
                slots.discard(hash);
            }
        }
    }

    /// Expires requests and assigns waiting items to peers with free slots. Returns the
    /// requests to send now, grouped by peer in the order produced.
    pub fn poll(&mut self, now: Instant) -> Vec<Request> {
        self.expire(now);
        let mut out = Vec::new();
        // Items announced by a specific peer go to that peer.
        let peer_ids: Vec<PeerId> = self.peer_order.clone();
        for peer in &peer_ids {
            while let Some(hash) = self.peers.get_mut(peer).and_then(|s| s.front()) {
                let Some(slots) = self.peers.get_mut(peer) else {
                    break;
                };
                let Some(w) = self.wanted.get(&hash) else {
                    slots.pop_front();
                    continue;
                };
                if w.in_flight.is_some() || w.asked.contains(peer) || !w.announcers.contains(peer) {
                    slots.pop_front();
                    continue;
                }
                if !slots.has_room(w.kind) {
                    break;
                }
                slots.pop_front();
                out.push(self.assign(hash, *peer, now));
            }
        }
        // Fetches any peer may serve: round-robin over peers with room, preferring ones
        // not asked before.
        let mut cursor = 0usize;
        let mut stuck = 0usize;
        while let Some(&hash) = self.fetch_queue.front() {
            let Some(w) = self.wanted.get(&hash) else {
                self.fetch_queue.pop_front();
                continue;
            };
            if w.in_flight.is_some() {
                self.fetch_queue.pop_front();
                continue;
            }
            let candidates = peer_ids.len();
            if candidates == 0 || stuck >= candidates {
                break;
            }
            let mut chosen = None;
            for offset in 0..candidates {
                let peer = peer_ids[(cursor + offset) % candidates];
                let room = self.peers.get(&peer).is_some_and(|s| s.has_room(w.kind));
                if room && !w.asked.contains(&peer) {
                    chosen = Some((peer, offset));
                    break;
                }
            }
            if chosen.is_none() {
                // Everyone with room was asked already: start a new round.
                for offset in 0..candidates {
                    let peer = peer_ids[(cursor + offset) % candidates];
                    if self.peers.get(&peer).is_some_and(|s| s.has_room(w.kind)) {
                        chosen = Some((peer, offset));
                        break;
                    }
                }
            }
            match chosen {
                Some((peer, offset)) => {
                    self.fetch_queue.pop_front();
                    cursor = (cursor + offset + 1) % candidates;
                    stuck = 0;
                    if let Some(w) = self.wanted.get_mut(&hash) {
                        if w.asked.contains(&peer) {
                            w.asked.clear();
                        }
                    }
                    out.push(self.assign(hash, peer, now));
                }
                None => {
                    stuck = candidates;
                }
            }
        }
        out
    }

    fn assign(&mut self, hash: Hash256, peer: PeerId, now: Instant) -> Request {
        let kind = self.wanted.get(&hash).map_or(ItemKind::Block, |w| w.kind);
        let deadline = now + self.timeout(kind);
        if let Some(w) = self.wanted.get_mut(&hash) {
            w.asked.push(peer);
            w.in_flight = Some((peer, deadline));
        }
        self.deadlines.insert((deadline, hash));
        if let Some(slots) = self.peers.get_mut(&peer) {
            *slots.in_flight(kind) += 1;
        }
        Request { peer, kind, hash }
    }

    fn expire(&mut self, now: Instant) {
        while let Some(&(deadline, hash)) = self.deadlines.first() {
            if deadline > now {
                break;
            }
            self.deadlines.pop_first();
            let Some(w) = self.wanted.get_mut(&hash) else {
                continue;
            };
            if let Some((peer, _)) = w.in_flight.take() {
                tracing::debug!(peer, kind = w.kind.name(), "request timed out");
                let kind = w.kind;
                if let Some(slots) = self.peers.get_mut(&peer) {
                    *slots.in_flight(kind) -= 1;
                }
            }
            self.reschedule(hash);
        }
    }

    /// The earliest request deadline, for the caller's timer.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.deadlines.first().map(|(d, _)| *d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(n: u8) -> Hash256 {
        [n; 32]
    }

    fn tracker() -> RequestTracker {
        let mut t = RequestTracker::new(Duration::from_secs(60), Duration::from_secs(5));
        t.add_peer(1);
        t.add_peer(2);
        t
    }

    #[test]
    fn requests_an_announced_item_once() {
        let now = Instant::now();
        let mut t = tracker();
        t.on_announced(1, ItemKind::Tx, h(1));
        t.on_announced(2, ItemKind::Tx, h(1));
        let reqs = t.poll(now);
        assert_eq!(
            reqs,
            vec![Request {
                peer: 1,
                kind: ItemKind::Tx,
                hash: h(1)
            }]
        );
        assert!(t.poll(now).is_empty());
        assert_eq!(t.on_delivered(1, h(1)), Delivery::Expected);
        assert_eq!(t.on_delivered(1, h(1)), Delivery::Duplicate);
        assert_eq!(t.on_delivered(2, h(1)), Delivery::Unsolicited);
    }

    #[test]
    fn an_item_settled_otherwise_may_still_come_from_the_peer_asked() {
        let now = Instant::now();
        let mut t = tracker();
        t.on_announced(1, ItemKind::Tx, h(1));
        assert_eq!(t.poll(now).len(), 1);
        // The node broadcast it meanwhile: the peer's answer is late, not unsolicited.
        t.forget(&h(1));
        assert_eq!(t.on_delivered(1, h(1)), Delivery::Duplicate);
        assert_eq!(t.on_delivered(2, h(1)), Delivery::Unsolicited);
        // A transaction asked for by wtxid from one peer and by txid from another: the
        // first delivery settles both ids.
        let ids = ItemIds {
            id: h(2),
            wtxid: Some(h(3)),
        };
        t.on_announced(1, ItemKind::Tx, h(3));
        t.on_announced(2, ItemKind::Tx, h(2));
        assert_eq!(t.poll(now).len(), 2);
        assert_eq!(t.on_delivered_item(1, &ids), Delivery::Expected);
        assert_eq!(t.on_delivered_item(2, &ids), Delivery::Duplicate);
        assert_eq!(t.on_delivered_item(3, &ids), Delivery::Unsolicited);
        assert!(!t.is_wanted(&h(2)) && !t.is_wanted(&h(3)));
    }

    #[test]
    fn timeout_moves_the_request_to_another_announcer() {
        let now = Instant::now();
        let mut t = tracker();
        t.on_announced(1, ItemKind::Tx, h(1));
        t.on_announced(2, ItemKind::Tx, h(1));
        assert_eq!(t.poll(now).len(), 1);
        assert!(t.poll(now + Duration::from_secs(59)).is_empty());
        let reqs = t.poll(now + Duration::from_secs(60));
        assert_eq!(
            reqs,
            vec![Request {
                peer: 2,
                kind: ItemKind::Tx,
                hash: h(1)
            }]
        );
        // The first peer delivering late is still solicited, and counts as the delivery.
        assert_eq!(t.on_delivered(1, h(1)), Delivery::Expected);
        assert_eq!(t.on_delivered(2, h(1)), Delivery::Duplicate);
    }

    #[test]
    fn not_found_and_disconnect_move_requests() {
        let now = Instant::now();
        let mut t = tracker();
        t.on_announced(1, ItemKind::Tx, h(1));
        t.on_announced(2, ItemKind::Tx, h(1));
        t.poll(now);
        t.on_not_found(1, h(1));
        assert_eq!(t.poll(now)[0].peer, 2);
        t.remove_peer(2);
        assert!(t.poll(now).is_empty());
        assert!(!t.is_wanted(&h(1)), "nobody left to ask");
    }

    #[test]
    fn unsolicited_delivery_is_detected() {
        let mut t = tracker();
        assert_eq!(t.on_delivered(1, h(9)), Delivery::Unsolicited);
        t.on_announced(1, ItemKind::Block, h(9));
        assert_eq!(
            t.on_delivered(1, h(9)),
            Delivery::Unsolicited,
            "announced but not requested"
        );
    }

    #[test]
    fn block_fetch_respects_per_peer_limit_and_spreads() {
        let now = Instant::now();
        let mut t = tracker();
        let hashes: Vec<Hash256> = (0..40u8).map(h).collect();
        assert_eq!(t.fetch(&hashes), 40);
        let reqs = t.poll(now);
        assert_eq!(reqs.len(), 2 * MAX_BLOCKS_IN_FLIGHT);
        assert_eq!(
            reqs.iter().filter(|r| r.peer == 1).count(),
            MAX_BLOCKS_IN_FLIGHT
        );
        assert_eq!(t.counts(), (32, 8));
        assert_eq!(
            t.on_delivered(reqs[0].peer, reqs[0].hash),
            Delivery::Expected
        );
        assert_eq!(t.poll(now).len(), 1);
    }

    #[test]
    fn stalled_fetch_moves_to_another_peer() {
        let now = Instant::now();
        let mut t = tracker();
        t.fetch(&[h(1)]);
        let first = t.poll(now)[0].peer;
        let second = t.poll(now + Duration::from_secs(5))[0].peer;
        assert_ne!(first, second);
        // With every peer tried, a new round starts rather than giving up.
        let third = t.poll(now + Duration::from_secs(10));
        assert_eq!(third.len(), 1);
    }

    #[test]
    fn announcement_queue_is_bounded() {
        let mut t = tracker();
        for i in 0..(MAX_PEER_ANNOUNCEMENTS + 10) {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            t.on_announced(1, ItemKind::Tx, hash);
        }
        assert_eq!(t.peers[&1].queue.len(), MAX_PEER_ANNOUNCEMENTS);
        assert_eq!(t.wanted.len(), MAX_PEER_ANNOUNCEMENTS);
    }

    #[test]
    fn settled_announcements_stop_counting_against_the_limit() {
        let mut t = tracker();
        let id = |i: usize| {
            let mut hash = [0u8; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            hash
        };
        for i in 0..MAX_PEER_ANNOUNCEMENTS {
            t.on_announced(1, ItemKind::Tx, id(i));
        }
        // The items arrive by other means: the peer's announcements no longer wait.
        for i in 0..MAX_PEER_ANNOUNCEMENTS {
            t.forget(&id(i));
        }
        for i in MAX_PEER_ANNOUNCEMENTS..2 * MAX_PEER_ANNOUNCEMENTS {
            t.on_announced(1, ItemKind::Tx, id(i));
        }
        assert_eq!(t.wanted.len(), MAX_PEER_ANNOUNCEMENTS);
        assert_eq!(t.peers[&1].queued.len(), MAX_PEER_ANNOUNCEMENTS);
        // Skipped entries are compacted away.
        assert!(t.peers[&1].queue.len() <= 2 * MAX_PEER_ANNOUNCEMENTS + 64);
    }
}
