//! One peer's state inside the core: its handshake and keep-alive session, what it is
//! known to have, its misbehaviour score, address-relay budget, relay history and queued
//! announcements.

use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use std::collections::HashMap;

use super::announce::Announcements;
use super::custom::Bucket;
use super::serving::Serving;
use super::session::{RemoteVersion, Session};
use crate::config::NODE_WITNESS;
use crate::encrypted::MAX_V2_PAYLOAD;
use crate::events::{ConnectionKind, PeerId, PeerInfo};
use crate::misbehaviour::Score;
use crate::relay::bounded::BoundedSet;
use crate::relay::id_hash::IdHasher;
use crate::relay::{ItemIds, ItemKind};
use crate::wire::{Command, Hash256, InvKind};

/// Ids a peer is known to have (it announced or sent them, or we announced them to it),
/// remembered so nothing is announced to it twice. Bitcoin Core keeps 50,000 in a bloom
/// filter; this set is allocated on first use, so an idle peer costs nothing.
const KNOWN_INVENTORY: usize = 50_000;
/// Addresses remembered per peer as known to it (Bitcoin Core's filter holds 5,000).
const KNOWN_ADDRESSES: usize = 5_000;

/// How a connection came about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Inbound,
    /// Chosen from the address book to fill the outbound target.
    Automatic,
    /// Asked for by the node (`add_peer`, `add_node`).
    Manual,
    /// Outbound for blocks only: no transactions and no addresses either way, so the
    /// connection is hard to tell apart and to map (Bitcoin Core's block-relay-only).
    BlockRelay,
    /// A short outbound connection that tests an address from the book's new table and
    /// closes after the handshake.
    Feeler,
}

/// Bitcoin Core's address-relay token bucket and getaddr bookkeeping for one peer.
pub(super) struct AddrRelay {
    pub tokens: f64,
    pub refilled: Instant,
    pub answered_getaddr: bool,
    /// Addresses the peer sent us or we sent it (Core's `m_addr_known`), allocated
    /// with the first: relaying an address back to where it is known would make
    /// announcements circle between nodes. Boxed, so a peer without any costs 8 bytes.
    known: Option<Box<BoundedSet<SocketAddr>>>,
}

impl AddrRelay {
    /// Records that the peer knows `addr`; false if it was known already.
    pub fn mark_known(&mut self, addr: SocketAddr) -> bool {
        self.known
            .get_or_insert_with(|| Box::new(BoundedSet::new(KNOWN_ADDRESSES)))
            .insert(addr)
    }
}

pub(super) struct Peer {
    pub id: PeerId,
    pub addr: SocketAddr,
    pub local_addr: SocketAddr,
    pub origin: Origin,
    pub connected_at: Instant,
    pub connected_unix: u64,
    pub session: Session,
    pub local_nonce: u64,
    /// The remote version, once the handshake completed.
    pub remote: Option<RemoteVersion>,
    /// Asked to close: takes no further part in relay, eviction or gossip.
    pub closing: bool,
    pub score: Score,
    /// Boxed, as `AddrRelay::known`.
    known: Option<Box<BoundedSet<Hash256, IdHasher>>>,
    pub addr_relay: AddrRelay,
    /// The peer sent `sendheaders` (BIP130): new blocks are announced to it by `headers`.
    pub prefers_headers: bool,
    /// The peer's fee floor from its `feefilter`, satoshis per 1,000 vbytes (0: none).
    pub fee_filter: u64,
    /// When the peer last gave us a block or transaction new to us (eviction protects
    /// peers that do).
    pub last_block: Option<Instant>,
    /// When the peer last announced a block new to us (stale-tip recovery rotates out
    /// the outbound peer that did so least recently).
    pub last_block_announcement: Option<Instant>,
    /// The highest block height the peer is known to have: its version's start height,
    /// raised by headers, announcements and blocks whose height the engine can tell.
    pub best_known_height: i32,
    pub last_tx: Option<Instant>,
    pub ping: Option<Duration>,
    /// Announcements waiting for room, and those the peer has not settled.
    pub announce: Announcements,
    /// Its GETDATA requests being served.
    pub serving: Serving,
    /// 1 (v1) or 2 (BIP324 v2), and the v2 session id (boxed: a v1 peer has none).
    pub transport_version: u8,
    pub session_id: Option<Box<[u8; 32]>>,
    /// Its rate budgets for node-defined commands, allocated with the first one; boxed,
    /// as most peers never send one.
    #[allow(clippy::box_collection)] // the map itself is 48 bytes; the box is 8
    pub custom_buckets: Option<Box<HashMap<Command, Bucket>>>,
    /// When the queued transaction announcements go out.
    pub next_trickle: Option<Instant>,
}

impl Peer {
    pub fn new(
        id: PeerId,
        addr: SocketAddr,
        local_addr: SocketAddr,
        origin: Origin,
        session: Session,
        local_nonce: u64,
        now: super::Now,
    ) -> Peer {
        Peer {
            id,
            addr,
            local_addr,
            origin,
            connected_at: now.mono,
            connected_unix: now.unix,
            session,
            local_nonce,
            remote: None,
            closing: false,
            score: Score::default(),
            known: None,
            fee_filter: 0,
            prefers_headers: false,
            addr_relay: AddrRelay {
                tokens: 1.0,
                refilled: now.mono,
                answered_getaddr: false,
                known: None,
            },
            last_block: None,
            last_block_announcement: None,
            best_known_height: 0,
            last_tx: None,
            ping: None,
            announce: Announcements::default(),
            serving: Serving::default(),
            custom_buckets: None,
            transport_version: 1,
            session_id: None,
            next_trickle: None,
        }
    }

    pub fn inbound(&self) -> bool {
        self.origin == Origin::Inbound
    }

    /// Transactions go to and come from the peer: not on block-relay-only connections,
    /// nor to a peer whose version asked for none (BIP37's relay flag).
    pub fn relays_txs(&self) -> bool {
        self.origin != Origin::BlockRelay && self.remote.as_ref().is_none_or(|r| r.relay)
    }

    /// Addresses are gossiped with the peer: not on block-relay-only connections, which
    /// would otherwise reveal themselves through the addresses they pass on.
    pub fn relays_addresses(&self) -> bool {
        self.origin != Origin::BlockRelay
    }

    pub fn is_established(&self) -> bool {
        self.remote.is_some()
    }

    /// The peer announced NODE_WITNESS: items are requested from it in witness form.
    pub fn serves_witness(&self) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|r| r.services & NODE_WITNESS != 0)
    }

    /// The peer negotiated BIP339: transactions go to it and come from it by wtxid.
    pub fn relays_wtxid(&self) -> bool {
        self.remote.as_ref().is_some_and(|r| r.wtxid_relay)
    }

    /// The peer listed `command` in its `sendcustom`: it may be sent that command.
    pub fn offered(&self, command: &Command) -> bool {
        self.remote
            .as_ref()
            .is_some_and(|r| r.custom_commands.contains(command))
    }

    /// The inventory type to request an item by from this peer: MSG_WTX from a BIP339
    /// peer (it announced the wtxid), else the witness form from peers that serve it.
    pub fn request_kind(&self, kind: ItemKind) -> InvKind {
        if kind == ItemKind::Tx && self.relays_wtxid() {
            InvKind::WTX
        } else {
            kind.request_kind(self.serves_witness())
        }
    }

    /// Whether a message with `payload_len` bytes can go to the peer: a BIP324 packet
    /// carries at most 16 MiB, so larger items (beyond Bitcoin's 4 MB) reach v2 peers
    /// never; v1 frames carry up to the engine's message limit.
    pub fn can_carry(&self, payload_len: usize) -> bool {
        self.transport_version == 1 || payload_len <= MAX_V2_PAYLOAD
    }

    /// Whether the peer has an item, as far as we know.
    pub fn knows(&self, hash: &Hash256) -> bool {
        self.known.as_ref().is_some_and(|k| k.contains(hash))
    }

    /// Records that the peer has an item; returns false if it was already known.
    pub fn mark_known(&mut self, hash: Hash256) -> bool {
        self.known
            .get_or_insert_with(|| Box::new(BoundedSet::new(KNOWN_INVENTORY)))
            .insert(hash)
    }

    /// Records that the peer has an item under all its ids; false if any of them was
    /// known already (then the peer has it).
    pub fn mark_known_item(&mut self, ids: &ItemIds) -> bool {
        let mut new = true;
        for id in ids.all() {
            new &= self.mark_known(id);
        }
        new
    }

    /// The peer has a block at `height`.
    pub fn has_height(&mut self, height: Option<i32>) {
        if let Some(height) = height {
            self.best_known_height = self.best_known_height.max(height);
        }
    }

    /// The earliest of the session's deadlines, the trickle timer and the lapse of
    /// outstanding announcements.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.session.next_deadline(),
            self.next_trickle,
            self.announce.lapse_at(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// A snapshot for the peer-list API; `None` until the handshake completed.
    pub fn info(&self) -> Option<PeerInfo> {
        let remote = self.remote.as_ref()?;
        Some(PeerInfo {
            id: self.id,
            address: self.addr,
            inbound: self.inbound(),
            version: remote.version,
            services: remote.services,
            user_agent: remote.user_agent.clone(),
            start_height: remote.start_height,
            ping_time: self.ping,
            bytes_sent: 0,
            bytes_received: 0,
            connected_since: UNIX_EPOCH + Duration::from_secs(self.connected_unix),
            misbehaviour_score: self.score.total(),
            announcements_queued: self.announce.queued(),
            kind: match self.origin {
                Origin::Inbound => ConnectionKind::Inbound,
                Origin::Automatic => ConnectionKind::OutboundFullRelay,
                Origin::Manual => ConnectionKind::Manual,
                Origin::BlockRelay => ConnectionKind::BlockRelay,
                Origin::Feeler => ConnectionKind::Feeler,
            },
            // The runtime fills these in from the socket.
            last_send: UNIX_EPOCH,
            last_receive: UNIX_EPOCH,
            blocks_in_flight: 0,
            best_known_height: self.best_known_height,
            transport_version: self.transport_version,
            session_id: self.session_id.as_deref().copied(),
        })
    }
}

/// `SystemTime` as Unix seconds, for the runtime's `Now`.
pub(crate) fn unix_seconds(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
