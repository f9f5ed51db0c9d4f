//! Inventory relay and block download: which items we want and from whom, which items
//! the node has seen and judged, the relay cache that answers GETDATA, announcing items
//! to peers that lack them (blocks at once, transactions on each peer's trickle timer),
//! and the node's sync requests.

use std::time::{Duration, Instant};

use bytes::Bytes;

use super::peer::{Origin, Peer};
use super::relay_cache::RelayCache;
use super::{Node, NodeEvent, Now};
use crate::config::Config;
use crate::events::{DisconnectReason, PeerId};
use crate::misbehaviour::Offence;
use crate::relay::bounded::{BoundedMap, BoundedSet};
use crate::relay::id_hash::{IdHasher, IdMap};
use crate::relay::tracker::{Delivery, RequestTracker};
use crate::relay::{ItemIds, ItemKind, Verdict, MAX_BLOCKS_TO_ANNOUNCE};
use crate::wire::versions::FEEFILTER_VERSION;
use crate::wire::{
    message::BLOCK_HEADER_LEN, BlockLocator, Frame, Hash256, InvKind, Inventory, Message,
    MAX_HEADERS, MAX_INV_ENTRIES,
};

/// Items handed to the node (or broadcast by it) that we remember, so each reaches the
/// node at most once.
const SEEN_ITEMS: usize = 500_000;
/// All bitcoin there will ever be, in satoshis: the range of a valid fee filter.
const MAX_MONEY: i64 = 21_000_000 * 100_000_000;
/// Items in the relay cache at most (besides its byte budget).
const RELAY_CACHE_ITEMS: usize = 200_000;
/// Items whose verdict the node will report later.
const PENDING_VERDICTS: usize = 100_000;
/// Most block ids announced in answer to one getblocks, as Bitcoin Core.
pub(crate) const MAX_GETBLOCKS_RESULTS: usize = 500;

/// A received item the node has not judged yet, and who sent it.
pub(crate) struct Unjudged {
    pub kind: ItemKind,
    /// A segwit transaction's wtxid, for relaying it to BIP339 peers.
    pub wtxid: Option<Hash256>,
    pub data: Bytes,
    /// Its v1 frame as received (`data` is a slice of it), relayed unchanged.
    pub frame: Option<Frame>,
    pub peer: PeerId,
}

/// What the node can read about block download progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// The node's own height, as it last reported it (`set_best_block`,
    /// `set_best_height`) or the configured start height.
    pub current_height: i32,
    /// The highest block height a connected peer is known to have (see
    /// `PeerInfo::best_known_height`): the target of a sync.
    pub best_peer_height: i32,
    pub peer_count: usize,
    pub blocks_in_flight: usize,
    /// Blocks asked for with `fetch_blocks` that wait for a free peer slot.
    pub blocks_queued: usize,
}

pub(super) struct RelayState {
    pub tracker: RequestTracker,
    /// Whether the tracker may have requests to send.
    pub tracker_changed: bool,
    /// When deferred requests go out: deliveries free request slots one at a time, and
    /// the slots freed by a burst of them are refilled together, in one GETDATA.
    requests_due: Option<Instant>,
    seen: BoundedSet<Hash256, IdHasher>,
    /// Relayed items as encoded frames, to answer GETDATA without the node.
    pub cache: RelayCache,
    /// Items handed to the node's callback whose verdict has not come back. Bounded by
    /// the dispatcher's queue, which holds the same bytes.
    awaiting: IdMap<Unjudged>,
    /// Items the node said it will judge later.
    pending: BoundedMap<Hash256, Unjudged, IdHasher>,
    pub has_data_provider: bool,
    /// The node's own fee floor, sent to peers as `feefilter`.
    fee_filter: Option<u64>,
}

impl RelayState {
    pub fn new(config: &Config) -> Self {
        RelayState {
            tracker: RequestTracker::new(config.tx_request_timeout, config.block_request_timeout),
            tracker_changed: false,
            requests_due: None,
            seen: BoundedSet::new(SEEN_ITEMS),
            cache: RelayCache::new(RELAY_CACHE_ITEMS, config.relay_cache_bytes),
            awaiting: IdMap::default(),
            pending: BoundedMap::new(PENDING_VERDICTS, config.relay_cache_bytes),
            has_data_provider: false,
            fee_filter: None,
        }
    }

    pub fn next_deadline(&self) -> Option<Instant> {
        match (self.tracker.next_deadline(), self.requests_due) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn have(&self, hash: &Hash256) -> bool {
        self.seen.contains(hash) || self.cache.contains(hash)
    }
}

impl Node {
    /// Whether the node registered a data provider (GETDATA misses then go to it).
    pub fn set_has_data_provider(&mut self, present: bool) {
        self.relay.has_data_provider = present;
    }

    /// Expired requests move to other peers.
    pub(super) fn relay_tick(&mut self, now: Now) {
        if self
            .relay
            .tracker
            .next_deadline()
            .is_some_and(|at| at <= now.mono)
        {
            self.relay.tracker_changed = true;
        }
        if self.relay.requests_due.is_some_and(|at| at <= now.mono) {
            self.relay.requests_due = None;
        }
        self.request_items(now);
    }

    /// Sends the tracker's requests at the next tick rather than now.
    pub(super) fn request_items_soon(&mut self, now: Now) {
        self.relay.tracker_changed = true;
        self.relay.requests_due.get_or_insert(now.mono);
    }

    /// Sends the GETDATAs the tracker has ready.
    pub(super) fn request_items(&mut self, now: Now) {
        if !self.relay.tracker_changed {
            return;
        }
        self.relay.tracker_changed = false;
        let mut by_peer: Vec<(PeerId, Vec<Inventory>)> = Vec::new();
        for r in self.relay.tracker.poll(now.mono) {
            let Some(p) = self.peers.get(&r.peer) else {
                continue;
            };
            let item = Inventory {
                kind: p.request_kind(r.kind),
                hash: r.hash,
            };
            match by_peer.iter_mut().find(|(p, _)| *p == r.peer) {
                Some((_, items)) => items.push(item),
                None => by_peer.push((r.peer, vec![item])),
            }
        }
        for (peer, items) in by_peer {
            for chunk in items.chunks(MAX_INV_ENTRIES) {
                self.send(peer, Message::GetData(chunk.to_vec()), now);
            }
        }
    }

    /// A peer announced inventory: what neither we nor the node (`node_has`) have is
    /// requested. A BIP339 peer announces transactions by wtxid (MSG_WTX), others by
    /// txid (MSG_TX); the other kind is ignored, as Bitcoin Core does.
    pub(super) fn on_inv(
        &mut self,
        peer: PeerId,
        items: &[Inventory],
        node_has: &[Hash256],
        now: Now,
    ) {
        for hash in node_has {
            self.relay.seen.insert(*hash);
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let tx_kind = if p.relays_wtxid() {
            InvKind::WTX
        } else {
            InvKind::TX
        };
        let block_relay_only = p.origin == Origin::BlockRelay;
        for item in items {
            let Some(kind) = ItemKind::from_inv(item.kind) else {
                continue;
            };
            if kind == ItemKind::Tx && block_relay_only {
                self.close_for_tx_on_block_relay(peer, "announced");
                return;
            }
            if kind == ItemKind::Tx && item.kind != tx_kind {
                continue;
            }
            if kind == ItemKind::Block {
                p.has_height(self.heights.of(&item.hash));
                if !self.relay.have(&item.hash) {
                    p.last_block_announcement = Some(now.mono);
                }
            }
            p.mark_known(item.hash);
            if let Some(ids) = self.relay.cache.ids(&item.hash) {
                p.mark_known_item(&ids);
                if p.announce.has(&ids.id) {
                    self.relay.cache.unpin(&ids.id);
                }
            }
            if self.relay.have(&item.hash) {
                continue;
            }
            self.relay.tracker.on_announced(peer, kind, item.hash);
            self.relay.tracker_changed = true;
        }
        self.request_items(now);
    }

    /// We asked a block-relay-only peer for no transactions (version relay flag off);
    /// announcing or sending one breaks that, and Bitcoin Core disconnects for it.
    fn close_for_tx_on_block_relay(&mut self, peer: PeerId, what: &str) {
        self.close(
            peer,
            DisconnectReason::ProtocolViolation,
            format!("transaction {what} on a block-relay-only connection"),
        );
    }

    /// A peer lacks items we asked it for: they are asked of someone else.
    pub(super) fn on_not_found(&mut self, peer: PeerId, items: &[Inventory], now: Now) {
        for item in items {
            self.relay.tracker.on_not_found(peer, item.hash);
        }
        self.relay.tracker_changed = true;
        self.request_items(now);
    }

    /// A peer asked for items: they are served (see `serving`), and the announcements
    /// up to them are settled.
    pub(super) fn on_get_data(&mut self, peer: PeerId, items: Vec<Inventory>, now: Now) {
        // Announcements are kept by id; a BIP339 peer asks by wtxid.
        let requested: Vec<Hash256> = items
            .iter()
            .map(|i| self.relay.cache.resolve(&i.hash).unwrap_or(i.hash))
            .collect();
        self.queue_get_data(peer, items, now);
        self.announcements_requested(peer, &requested, now);
    }

    /// A peer delivered a block or transaction whose ids the runtime computed.
    /// Requested items new to us go to the node; unrequested ones cost the sender.
    pub(super) fn on_item(
        &mut self,
        peer: PeerId,
        kind: ItemKind,
        ids: Option<ItemIds>,
        data: Bytes,
        frame: Option<Frame>,
        now: Now,
    ) {
        let Some(ids) = ids else {
            debug_assert!(false, "an item arrives with its ids");
            return;
        };
        let hash = ids.id;
        let height = match kind {
            ItemKind::Block => data
                .get(..BLOCK_HEADER_LEN)
                .and_then(|h| self.heights.learn(hash, h)),
            ItemKind::Tx => None,
        };
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if kind == ItemKind::Tx && p.origin == Origin::BlockRelay {
            self.close_for_tx_on_block_relay(peer, "sent");
            return;
        }
        p.has_height(height);
        p.mark_known_item(&ids);
        let delivery = self.relay.tracker.on_delivered_item(peer, &ids);
        self.relay.tracker_changed = true;
        match delivery {
            Delivery::Expected => {
                match kind {
                    ItemKind::Block => p.last_block = Some(now.mono),
                    ItemKind::Tx => p.last_tx = Some(now.mono),
                }
                if let Some(wtxid) = ids.wtxid {
                    self.relay.seen.insert(wtxid);
                }
                if self.relay.seen.insert(hash) {
                    if kind == ItemKind::Block {
                        self.health.network_block(now);
                    }
                    self.relay.awaiting.insert(
                        hash,
                        Unjudged {
                            kind,
                            wtxid: ids.wtxid,
                            data: data.clone(),
                            frame: frame.clone(),
                            peer,
                        },
                    );
                    self.notify(NodeEvent::Item {
                        kind,
                        peer,
                        hash,
                        data,
                        frame,
                    });
                }
            }
            Delivery::Duplicate => {}
            Delivery::Unsolicited => {
                self.misbehaving(peer, Offence::UnsolicitedItem, kind.name(), now)
            }
        }
        self.request_items_soon(now);
    }

    /// A peer sent headers (with their ids): it has those blocks, and the node hears of
    /// them. A short message (at most [`MAX_BLOCKS_TO_ANNOUNCE`]) is also taken as an
    /// announcement (BIP130): blocks neither we nor the node (`node_has`) have are
    /// fetched as if announced by `inv`.
    pub(super) fn on_headers(
        &mut self,
        peer: PeerId,
        headers: Vec<Bytes>,
        ids: &[Hash256],
        node_has: &[Hash256],
        now: Now,
    ) {
        for hash in node_has {
            self.relay.seen.insert(*hash);
        }
        let best = headers
            .iter()
            .zip(ids)
            .filter_map(|(header, id)| self.heights.learn(*id, header))
            .max();
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.has_height(best);
        for id in ids {
            p.mark_known(*id);
        }
        if ids.iter().any(|id| !self.relay.have(id)) {
            p.last_block_announcement = Some(now.mono);
        }
        if ids.len() <= MAX_BLOCKS_TO_ANNOUNCE {
            for id in ids {
                if !self.relay.have(id) {
                    self.relay.tracker.on_announced(peer, ItemKind::Block, *id);
                    self.relay.tracker_changed = true;
                }
            }
        }
        self.notify(NodeEvent::Headers { peer, headers });
        self.request_items(now);
    }

    /// The peer asked for new blocks by `headers` (BIP130).
    pub(super) fn on_send_headers(&mut self, peer: PeerId) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.prefers_headers = true;
        }
    }

    /// The node's answer to a peer's getheaders; an empty answer is sent too, as Bitcoin
    /// Core does.
    pub fn headers_answer(&mut self, peer: PeerId, mut headers: Vec<Bytes>, now: Now) {
        headers.truncate(MAX_HEADERS);
        self.send(peer, Message::Headers(headers), now);
    }

    /// The node's answer to a peer's getblocks: the ids are announced.
    pub fn blocks_answer(&mut self, peer: PeerId, mut hashes: Vec<Hash256>, now: Now) {
        hashes.truncate(MAX_GETBLOCKS_RESULTS);
        if hashes.is_empty() {
            return;
        }
        let items = hashes
            .into_iter()
            .map(|hash| Inventory {
                kind: ItemKind::Block.inv_kind(),
                hash,
            })
            .collect();
        self.send(peer, Message::Inv(items), now);
    }

    /// The node relays an item it produced or accepted (`frame` is its encoded message);
    /// `fee_rate` (satoshis per 1,000 vbytes), when the node gives one for a
    /// transaction, keeps it from peers whose fee filter is higher (BIP133).
    pub fn broadcast(
        &mut self,
        kind: ItemKind,
        ids: ItemIds,
        frame: Frame,
        fee_rate: Option<u64>,
        now: Now,
    ) {
        for id in ids.all() {
            self.relay.seen.insert(id);
            self.relay.tracker.forget(&id);
        }
        if kind == ItemKind::Block {
            if let Some(header) = frame.payload().get(..BLOCK_HEADER_LEN) {
                self.heights.learn(ids.id, header);
            }
        }
        self.relay_item(kind, ids, frame, fee_rate, now);
    }

    /// The node's own fee floor (satoshis per 1,000 vbytes), sent to every peer that
    /// understands `feefilter` now and to later peers after their handshake.
    pub fn set_fee_filter(&mut self, rate: u64, now: Now) {
        self.relay.fee_filter = Some(rate);
        for peer in self.established_ids() {
            self.send_fee_filter(peer, now);
        }
    }

    /// Sends the node's fee floor to a peer at BIP133's version or later.
    pub(super) fn send_fee_filter(&mut self, peer: PeerId, now: Now) {
        let Some(rate) = self.relay.fee_filter else {
            return;
        };
        let understands = self.peers.get(&peer).is_some_and(|p| {
            p.remote
                .as_ref()
                .is_some_and(|r| r.common_version >= FEEFILTER_VERSION)
        });
        if understands {
            let rate = i64::try_from(rate).unwrap_or(MAX_MONEY);
            self.send(peer, Message::FeeFilter(rate), now);
        }
    }

    /// A peer's `feefilter`: values outside the money range are ignored, as Core does.
    pub(super) fn on_fee_filter(&mut self, peer: PeerId, rate: i64) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        match u64::try_from(rate) {
            Ok(rate) if rate <= MAX_MONEY as u64 => p.fee_filter = rate,
            _ => tracing::debug!(peer, rate, "feefilter out of range ignored"),
        }
    }

    /// Caches an item and queues its announcement for every peer that does not know
    /// it: blocks go out at once, transactions with each peer's trickle, both only while
    /// the peer's window of unsettled announcements has room. The cache keeps the item
    /// while any of those peers may still ask for it.
    fn relay_item(
        &mut self,
        kind: ItemKind,
        ids: ItemIds,
        frame: Frame,
        fee_rate: Option<u64>,
        now: Now,
    ) {
        let hash = ids.id;
        let unwanted = |p: &Peer| {
            kind == ItemKind::Tx && (!p.relays_txs() || fee_rate.is_some_and(|r| r < p.fee_filter))
        };
        let payload_len = frame.payload().len();
        let targets: Vec<PeerId> = self
            .established_ids()
            .into_iter()
            .filter(|id| {
                self.peers.get_mut(id).is_some_and(|p| {
                    !unwanted(p) && p.can_carry(payload_len) && p.mark_known_item(&ids)
                })
            })
            .collect();
        self.relay.cache.insert(ids, frame, targets.len() as u32);
        let block = kind == ItemKind::Block;
        for peer in targets {
            let Some(p) = self.peers.get_mut(&peer) else {
                continue;
            };
            if let Some(dropped) = p.announce.queue(hash, block) {
                self.relay.cache.unpin(&dropped);
            }
            if block {
                self.announce_now(peer, false, now);
            } else {
                self.start_trickle(peer, now);
            }
        }
    }

    fn trickle_interval(&self, inbound: bool) -> Duration {
        if inbound {
            self.config.tx_trickle_inbound
        } else {
            self.config.tx_trickle_outbound
        }
    }

    /// Starts the peer's trickle timer unless it runs: a Poisson delay, or the next tick
    /// when trickling is off.
    fn start_trickle(&mut self, peer: PeerId, now: Now) {
        // A full window opens when the peer requests, and the backlog goes out then.
        let Some(inbound) = self
            .peers
            .get(&peer)
            .filter(|p| p.next_trickle.is_none() && p.announce.has_room())
            .map(|p| p.inbound())
        else {
            return;
        };
        let delay = poisson_delay(self.trickle_interval(inbound), &mut self.rng);
        if let Some(p) = self.peers.get_mut(&peer) {
            p.next_trickle = Some(now.mono + delay);
        }
        self.reschedule(peer);
    }

    /// Announces what the peer's window has room for: blocks, and transactions when
    /// `with_txs` (their trickle fired, or a burst is being worked off).
    pub(super) fn announce_now(&mut self, peer: PeerId, with_txs: bool, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut batch = p.announce.take(with_txs, now.mono);
        if let Some(headers) = self.headers_announcement(peer, &batch.blocks) {
            self.send(peer, Message::Headers(headers), now);
            batch.blocks.clear();
        }
        let by_wtxid = self.peers.get(&peer).is_some_and(|p| p.relays_wtxid());
        let cache = &self.relay.cache;
        let tx_inventory = |hash: &Hash256| match by_wtxid {
            true => Inventory {
                kind: InvKind::WTX,
                hash: cache.ids(hash).map_or(*hash, |ids| ids.wtxid_or_id()),
            },
            false => Inventory {
                kind: InvKind::TX,
                hash: *hash,
            },
        };
        let items: Vec<Inventory> = batch
            .blocks
            .iter()
            .map(|hash| Inventory {
                kind: ItemKind::Block.inv_kind(),
                hash: *hash,
            })
            .chain(batch.txs.iter().map(tx_inventory))
            .collect();
        for chunk in items.chunks(MAX_INV_ENTRIES) {
            self.send(peer, Message::Inv(chunk.to_vec()), now);
        }
        self.reschedule(peer);
    }

    /// The headers announcing `blocks` to a peer that asked for them by `sendheaders`,
    /// when Bitcoin Core would send them: at most [`MAX_BLOCKS_TO_ANNOUNCE`], each
    /// building on the one before, the first on a block the peer has. Otherwise the
    /// blocks go by `inv`.
    fn headers_announcement(&self, peer: PeerId, blocks: &[Hash256]) -> Option<Vec<Bytes>> {
        let p = self.peers.get(&peer)?;
        if !p.prefers_headers || blocks.is_empty() || blocks.len() > MAX_BLOCKS_TO_ANNOUNCE {
            return None;
        }
        let mut headers = Vec::with_capacity(blocks.len());
        let mut previous: Option<&Hash256> = None;
        for hash in blocks {
            let frame = self.relay.cache.get(hash)?;
            if frame.payload().len() < BLOCK_HEADER_LEN {
                return None;
            }
            let header = frame.payload().slice(..BLOCK_HEADER_LEN);
            let parent: Hash256 = header.get(4..36)?.try_into().ok()?;
            let connects = match previous {
                Some(prev) => *prev == parent,
                None => p.knows(&parent),
            };
            if !connects {
                return None;
            }
            previous = Some(hash);
            headers.push(header);
        }
        Some(headers)
    }

    /// The peer requested items: the announcements up to them are settled, and a
    /// backlog goes out into the room this made.
    fn announcements_requested(&mut self, peer: PeerId, requested: &[Hash256], now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut settled = Vec::new();
        for hash in requested {
            settled.extend(p.announce.requested(hash, now.mono));
        }
        if settled.is_empty() {
            return;
        }
        self.release_announcements(settled);
        self.window_opened(peer, now);
    }

    /// The peer requested nothing for a while: its outstanding announcements lapse.
    pub(super) fn announcements_lapsed(&mut self, peer: PeerId, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let settled = p.announce.lapse();
        self.release_announcements(settled);
        self.window_opened(peer, now);
    }

    fn window_opened(&mut self, peer: PeerId, now: Now) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        if p.announce.backlogged {
            self.announce_now(peer, true, now);
            return;
        }
        let txs_waiting = p.announce.queued_txs() > 0;
        let trickle_off = self.trickle_interval(p.inbound()).is_zero();
        if txs_waiting && trickle_off {
            self.announce_now(peer, true, now);
            return;
        }
        if p.announce.queued_blocks() > 0 {
            self.announce_now(peer, false, now);
        }
        if txs_waiting {
            self.start_trickle(peer, now);
        }
        self.reschedule(peer);
    }

    /// Settled or abandoned announcements no longer keep their items cached.
    pub(super) fn release_announcements(&mut self, ids: Vec<Hash256>) {
        for hash in ids {
            self.relay.cache.unpin(&hash);
        }
    }

    /// The verdict the item callback returned. A verdict the node already reported for
    /// the item (from another thread, while the callback ran) wins; this one is dropped.
    /// `frame` is the item's encoded message, needed when it is accepted.
    pub fn callback_verdict(
        &mut self,
        hash: Hash256,
        verdict: Verdict,
        frame: Option<Frame>,
        now: Now,
    ) {
        let Some(item) = self.relay.awaiting.remove(&hash) else {
            return;
        };
        self.apply_verdict(hash, item, verdict, frame, Offence::InvalidItem, now);
    }

    /// Takes an item that awaits the node's verdict (pending, or not yet answered by the
    /// callback), for a verdict the node reports through the API.
    pub fn take_unjudged(&mut self, hash: &Hash256) -> Option<Unjudged> {
        self.relay
            .pending
            .remove(hash)
            .or_else(|| self.relay.awaiting.remove(hash))
    }

    /// Applies a verdict to an item taken with `take_unjudged`.
    pub fn reported_verdict(
        &mut self,
        hash: Hash256,
        item: Unjudged,
        verdict: Verdict,
        frame: Option<Frame>,
        now: Now,
    ) {
        self.apply_verdict(
            hash,
            item,
            verdict,
            frame,
            Offence::InvalidItemReportedLater,
            now,
        );
    }

    fn apply_verdict(
        &mut self,
        hash: Hash256,
        item: Unjudged,
        verdict: Verdict,
        frame: Option<Frame>,
        offence: Offence,
        now: Now,
    ) {
        match verdict {
            Verdict::Accepted => match frame {
                Some(frame) => {
                    let ids = ItemIds {
                        id: hash,
                        wtxid: item.wtxid,
                    };
                    self.relay_item(item.kind, ids, frame, None, now)
                }
                None => debug_assert!(false, "an accepted item needs its frame"),
            },
            Verdict::Ignored => {}
            Verdict::Invalid => self.misbehaving(item.peer, offence, item.kind.name(), now),
            Verdict::Pending => {
                let weight = item.data.len();
                self.relay.pending.insert(hash, item, weight);
            }
        }
    }

    /// The node asks for blocks by id; any peer may serve them. Returns how many were
    /// newly queued.
    pub fn fetch_blocks(&mut self, hashes: &[Hash256], now: Now) -> usize {
        let wanted: Vec<Hash256> = hashes
            .iter()
            .filter(|h| !self.relay.seen.contains(h))
            .copied()
            .collect();
        let added = self.relay.tracker.fetch(&wanted);
        self.relay.tracker_changed = true;
        self.request_items(now);
        added
    }

    /// Sends getheaders with the node's locator; false when there is no such peer.
    pub fn send_get_headers(&mut self, peer: PeerId, locator: BlockLocator, now: Now) -> bool {
        if !self.peers.contains_key(&peer) {
            return false;
        }
        self.send(peer, Message::GetHeaders(locator), now);
        true
    }

    pub fn sync_status(&self) -> SyncStatus {
        let established = self.peers.values().filter(|p| p.is_established());
        let (peer_count, best_peer_height) = established.fold((0, 0), |(n, best), p| {
            (n + 1, best.max(p.best_known_height))
        });
        let (blocks_in_flight, blocks_queued) = self.relay.tracker.counts();
        SyncStatus {
            current_height: self.best_height,
            best_peer_height,
            peer_count,
            blocks_in_flight,
            blocks_queued,
        }
    }
}

/// Next firing of a Poisson process with the given mean interval.
fn poisson_delay(mean: Duration, rng: &mut impl rand::Rng) -> Duration {
    if mean.is_zero() {
        return Duration::ZERO;
    }
    let uniform: f64 = rng.random();
    let factor = -(1.0 - uniform).ln();
    mean.mul_f64(factor.min(20.0))
}
