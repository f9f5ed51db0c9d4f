//! Answering GETDATA, a little at a time per peer, as Bitcoin Core does. A peer's
//! requests queue with it; once [`SERVE_BURST`] bytes went out since its send buffer
//! last drained, serving waits until the runtime reports that it drained, so a peer
//! asking for many large items, in one GETDATA or in many, cannot fill its own buffer
//! or starve others. Items the relay cache
//! lacks go to the node's data provider [`PROVIDER_BATCH`] at a time, one batch per peer
//! in flight, so every peer's lookups interleave fairly on the dispatcher thread.
//!
//! A requested item that is in the relay cache stays pinned there until it is served,
//! so that a peer waiting its turn is not answered NOTFOUND for an item that was
//! cached when it asked.
//!
//! Requests for items the engine can serve neither from the cache nor through the
//! provider draw on a per-peer allowance ([`UNKNOWN_ALLOWANCE`], refilled at
//! [`UNKNOWN_REFILL_PER_SEC`]); each GETDATA message that overdraws it costs
//! [`Offence::UnknownItemRequests`].

use std::collections::VecDeque;
use std::time::Instant;

use bytes::Bytes;

use super::{Node, NodeEvent, Now, Outgoing, Output};
use crate::events::{DisconnectReason, PeerId};
use crate::misbehaviour::Offence;
use crate::relay::{ItemForm, ItemKind};
use crate::wire::{Hash256, Inventory, Message, HEADER_LEN, MAX_INV_ENTRIES};

/// Bytes sent in answer to GETDATA per pass before waiting for the send buffer to drain
/// (Bitcoin Core pauses at its 1 MB send buffer).
pub(super) const SERVE_BURST: usize = 1024 * 1024;
/// Items handed to the data provider in one batch.
pub(super) const PROVIDER_BATCH: usize = 16;
/// Requests a peer may have waiting; an honest peer asks only for what it was
/// announced, far less. Beyond it requests are answered with NOTFOUND at once.
pub(super) const MAX_QUEUED_REQUESTS: usize = 2 * MAX_INV_ENTRIES;
/// Requests answered NOTFOUND for overflowing [`MAX_QUEUED_REQUESTS`] while the peer's
/// send buffer does not drain. A peer that keeps asking without reading would otherwise
/// fill its send buffer with NOTFOUNDs before the send-buffer limit cuts it off; past
/// this it is cut off as that limit would (one full NOTFOUND message's worth).
pub(super) const MAX_OVERFLOW_WHILE_STALLED: usize = MAX_INV_ENTRIES;
/// Requests for unknown items a peer may make before they cost it.
pub(super) const UNKNOWN_ALLOWANCE: f64 = MAX_INV_ENTRIES as f64;
pub(super) const UNKNOWN_REFILL_PER_SEC: f64 = 1000.0;

/// One requested item waiting to be served.
#[derive(Clone, Copy)]
struct Request {
    item: Inventory,
    /// The number of the GETDATA message it came in.
    message: u64,
    /// It holds a pin in the relay cache.
    pinned: bool,
}

/// One peer's GETDATA state.
pub(super) struct Serving {
    /// Requests waiting.
    queue: VecDeque<Request>,
    messages: u64,
    /// A batch is with the data provider.
    provider_busy: bool,
    /// That batch's requests, in order.
    pending_batch: Vec<Request>,
    /// Bytes sent in answers since the send buffer last drained.
    sent_since_drain: usize,
    /// That reached the burst size; the runtime reports when the buffer drained.
    awaiting_drain: bool,
    /// Requests answered NOTFOUND for overflow since the send buffer last drained.
    overflow_since_drain: usize,
    unknown_tokens: f64,
    refilled: Option<Instant>,
    /// The last message already charged for overdrawing.
    charged_message: u64,
}

impl Default for Serving {
    fn default() -> Self {
        Serving {
            queue: VecDeque::new(),
            messages: 0,
            provider_busy: false,
            pending_batch: Vec::new(),
            sent_since_drain: 0,
            awaiting_drain: false,
            overflow_since_drain: 0,
            unknown_tokens: UNKNOWN_ALLOWANCE,
            refilled: None,
            charged_message: 0,
        }
    }
}

impl Serving {
    /// The requests still holding relay-cache pins (the peer is gone).
    pub fn pinned_requests(&self) -> Vec<Hash256> {
        self.queue
            .iter()
            .chain(&self.pending_batch)
            .filter(|r| r.pinned)
            .map(|r| r.item.hash)
            .collect()
    }
}

impl Node {
    /// A peer asked for items: they queue with it and are served in passes.
    pub(super) fn queue_get_data(&mut self, peer: PeerId, items: Vec<Inventory>, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let serving = &mut p.serving;
        serving.messages += 1;
        let message = serving.messages;
        let room = MAX_QUEUED_REQUESTS.saturating_sub(serving.queue.len());
        let mut overflow = Vec::new();
        for (i, item) in items.into_iter().enumerate() {
            if i < room {
                let pinned = self.relay.cache.pin(&item.hash);
                serving.queue.push_back(Request {
                    item,
                    message,
                    pinned,
                });
            } else {
                overflow.push(item);
            }
        }
        if !overflow.is_empty() {
            if serving.awaiting_drain {
                serving.overflow_since_drain += overflow.len();
                if serving.overflow_since_drain > MAX_OVERFLOW_WHILE_STALLED {
                    let detail = format!(
                        "{} requests over the limit of {MAX_QUEUED_REQUESTS} waiting while its \
                         send buffer did not drain",
                        serving.overflow_since_drain
                    );
                    self.close(peer, DisconnectReason::SendBufferFull, detail);
                    return;
                }
            }
            tracing::debug!(
                peer,
                dropped = overflow.len(),
                "too many requests waiting; answered NOTFOUND"
            );
            self.send(peer, Message::NotFound(overflow), now);
        }
        self.serve(peer, 0, now);
    }

    /// Sends a cached item (found by id, or by wtxid for MSG_WTX); its size, or `None`
    /// when it is not cached. A segwit transaction or block asked for by MSG_TX or
    /// MSG_BLOCK is sent without its witnesses (BIP144).
    fn send_cached(&mut self, peer: PeerId, item: &Inventory, now: Now) -> Option<usize> {
        let kind = ItemKind::from_inv(item.kind)?;
        let ids = self.relay.cache.ids(&item.hash)?;
        let mut frame = self.relay.cache.get(&ids.id)?.clone();
        if let Some(legacy) = ItemForm::of(item.kind).convert(kind, frame.payload()) {
            frame = item_message(kind, legacy.into()).frame(self.config.magic);
        }
        let len = frame.len();
        if !self
            .peers
            .get(&peer)?
            .can_carry(len.saturating_sub(HEADER_LEN))
        {
            return None;
        }
        if let Some(p) = self.peers.get_mut(&peer) {
            p.mark_known_item(&ids);
        }
        self.send_outgoing(peer, Outgoing::Frame(frame), now);
        Some(len)
    }

    /// A request was answered: its pin, if any, is released.
    fn answered(&mut self, request: &Request) {
        if request.pinned {
            self.relay.cache.unpin(&request.item.hash);
        }
    }

    /// One pass over the peer's waiting requests; `sent` bytes just went out in answers
    /// and count against the burst.
    fn serve(&mut self, peer: PeerId, sent: usize, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut sent = p.serving.sent_since_drain + sent;
        let mut batch = Vec::new();
        let mut missing = Vec::new();
        loop {
            let Some(p) = self.peers.get_mut(&peer) else {
                return;
            };
            let serving = &mut p.serving;
            if serving.provider_busy || serving.awaiting_drain || sent >= SERVE_BURST {
                break;
            }
            let Some(request) = serving.queue.pop_front() else {
                break;
            };
            // Once a batch for the provider has started, later items join it, so the
            // peer gets its answers in the order it asked.
            if batch.is_empty() {
                if let Some(len) = self.send_cached(peer, &request.item, now) {
                    self.answered(&request);
                    sent += len;
                    continue;
                }
            }
            if self.relay.has_data_provider && ItemKind::from_inv(request.item.kind).is_some() {
                batch.push(request);
                if batch.len() >= PROVIDER_BATCH {
                    break;
                }
            } else {
                self.answered(&request);
                missing.push((request.item, request.message));
            }
        }
        self.answer_missing(peer, missing, now);
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.serving.sent_since_drain = sent;
        if sent >= SERVE_BURST && !p.serving.awaiting_drain {
            p.serving.awaiting_drain = true;
            self.out.push(Output::WatchDrain { peer });
        }
        if !batch.is_empty() {
            p.serving.provider_busy = true;
            let items = batch.iter().map(|r| r.item).collect();
            p.serving.pending_batch = batch;
            self.notify(NodeEvent::GetData { peer, items });
        }
    }

    /// NOTFOUND for items nobody can serve, charged against the peer's allowance.
    fn answer_missing(&mut self, peer: PeerId, missing: Vec<(Inventory, u64)>, now: Now) {
        if missing.is_empty() {
            return;
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let serving = &mut p.serving;
        if let Some(then) = serving.refilled {
            let elapsed = now.mono.saturating_duration_since(then).as_secs_f64();
            serving.unknown_tokens =
                (serving.unknown_tokens + elapsed * UNKNOWN_REFILL_PER_SEC).min(UNKNOWN_ALLOWANCE);
        }
        serving.refilled = Some(now.mono);
        let mut overdrawn_in = None;
        for (_, message) in &missing {
            serving.unknown_tokens -= 1.0;
            if serving.unknown_tokens < 0.0 && *message > serving.charged_message {
                serving.charged_message = *message;
                overdrawn_in = Some(*message);
            }
        }
        let items: Vec<Inventory> = missing.into_iter().map(|(item, _)| item).collect();
        self.send(peer, Message::NotFound(items), now);
        if overdrawn_in.is_some() {
            self.misbehaving(peer, Offence::UnknownItemRequests, "getdata", now);
        }
    }

    /// The data provider's answers to a batch, in the peer's order: each item is sent
    /// from the cache or from the node's bytes, the rest answered with NOTFOUND; then
    /// the next pass.
    pub fn data_answer(
        &mut self,
        peer: PeerId,
        answers: Vec<(Inventory, Option<Bytes>)>,
        now: Now,
    ) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.serving.provider_busy = false;
        let requests = std::mem::take(&mut p.serving.pending_batch);
        let mut sent = 0;
        let mut missing = Vec::new();
        for (i, (item, data)) in answers.into_iter().enumerate() {
            let message = requests.get(i).map_or(0, |r| r.message);
            let Some(kind) = ItemKind::from_inv(item.kind) else {
                missing.push((item, message));
                continue;
            };
            if let Some(len) = self.send_cached(peer, &item, now) {
                sent += len;
                continue;
            }
            let fits = self
                .peers
                .get(&peer)
                .is_some_and(|p| data.as_ref().is_some_and(|d| p.can_carry(d.len())));
            match data.filter(|_| fits) {
                Some(data) => {
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.mark_known(item.hash);
                    }
                    sent += data.len();
                    self.send(peer, item_message(kind, data), now);
                }
                None => missing.push((item, message)),
            }
        }
        for request in &requests {
            self.answered(request);
        }
        self.answer_missing(peer, missing, now);
        self.serve(peer, sent, now);
    }

    /// The runtime reports that the peer's send buffer drained: the next pass.
    pub fn send_buffer_drained(&mut self, peer: PeerId, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        p.serving.awaiting_drain = false;
        p.serving.sent_since_drain = 0;
        p.serving.overflow_since_drain = 0;
        self.serve(peer, 0, now);
    }
}

/// The `block` or `tx` message carrying an item.
fn item_message(kind: ItemKind, data: Bytes) -> Message {
    match kind {
        ItemKind::Block => Message::Block(data),
        ItemKind::Tx => Message::Tx(data),
    }
}
