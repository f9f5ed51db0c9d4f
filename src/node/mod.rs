//! The node core: the one owner of every piece of node policy state — each peer's
//! protocol state, the address book, the ban list, request tracking, the relay cache,
//! added peers, DNS seeds and connection policy.
//!
//! It is sans-IO. The runtime feeds it inputs (a connection opened or closed, a decoded
//! message, an item with its id, a timer tick, an API command, a callback's answer), each
//! with the current time as a [`Now`], and carries out the [`Output`]s it queues (send to a
//! peer, close a peer, dial, tell the node, persist a snapshot, resolve seeds). It reads
//! no clock, draws from no global RNG and touches no socket or file, so every policy is
//! unit-tested with a fake clock and a seeded RNG (see `tests.rs`).
//!
//! The shape is btcd's `peerHandler` and nakamoto's `fsm`: policy in one place, I/O
//! elsewhere. The runtime serialises access (one step at a time) and executes the outputs
//! of a step after the step returns, so no callback and no disk write ever runs inside it.

mod addresses;
mod announce;
mod connections;
mod custom;
mod discipline;
pub(crate) mod event;
pub(crate) mod eviction;
mod health;
mod heights;
mod outbound;
mod peer;
mod relay;
mod relay_cache;
#[cfg(test)]
mod resilience_tests;
mod serving;
pub(crate) mod session;
#[cfg(test)]
mod tests;
mod timers;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::addrman::AddrMan;
use crate::banman::BanList;
use crate::config::Config;
use crate::events::{DisconnectReason, PeerId, PeerInfo};
use crate::relay::ItemIds;
use crate::wire::{Frame, Hash256, Message};

pub(crate) use connections::{DialTarget, TransportPlan};
pub(crate) use discipline::BanRefused;
pub(crate) use event::NodeEvent;
use peer::Peer;
pub(crate) use peer::{unix_seconds, Origin};
use relay::RelayState;
pub use relay::SyncStatus;
pub(crate) use relay::MAX_GETBLOCKS_RESULTS;
use timers::PeerTimers;

/// The current time, read by the runtime and passed into every step: the monotonic clock
/// for deadlines, Unix seconds for what goes on the wire or to disk.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Now {
    pub mono: Instant,
    pub unix: u64,
}

impl Now {
    /// Advances both clocks (tests drive the core with this).
    #[cfg(test)]
    pub fn plus(self, d: Duration) -> Now {
        Now {
            mono: self.mono + d,
            unix: self.unix + d.as_secs(),
        }
    }
}

/// What the runtime computes for a received message off the core's thread, with the
/// node's hash and have functions: the ids of a block or transaction, the id of each
/// header, and which announced items (inv, or a short headers message) the node says it
/// already has.
#[derive(Clone, Debug, Default)]
pub(crate) struct MessageIds {
    pub item: Option<ItemIds>,
    pub headers: Vec<Hash256>,
    pub node_has: Vec<Hash256>,
    /// A block or transaction's v1 frame as received: relayed as it is, without
    /// framing and hashing it again.
    pub frame: Option<Frame>,
}

/// A message for a peer: a control or relay message the runtime encodes, or a frame that
/// is already encoded (relayed items are framed once for every peer).
#[derive(Clone, Debug)]
pub(crate) enum Outgoing {
    Message(Message),
    Frame(Frame),
}

/// Which file a snapshot replaces.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum StoredFile {
    Bans,
    Addresses,
    /// The block-relay-only peers to dial first at the next start.
    Anchors,
}

/// What the core asks the runtime to do, in order.
#[derive(Debug)]
pub(crate) enum Output {
    Send {
        peer: PeerId,
        message: Outgoing,
    },
    Close {
        peer: PeerId,
        reason: DisconnectReason,
        detail: String,
    },
    /// Open an outbound connection; the outcome comes back as `outbound_connected` or
    /// `dial_failed` with the same id.
    Dial {
        peer: PeerId,
        target: DialTarget,
        transport: TransportPlan,
        origin: Origin,
    },
    Notify(NodeEvent),
    /// Replace a file with these bytes (a complete, enveloped snapshot).
    Persist {
        file: StoredFile,
        bytes: Vec<u8>,
    },
    /// Look these seeds up; each answer comes back as `seed_resolved`.
    ResolveSeeds(Vec<(String, u16)>),
    /// Report `send_buffer_drained` once the peer's send buffer is nearly empty.
    WatchDrain {
        peer: PeerId,
    },
}

/// The node core. See the module documentation.
pub(crate) struct Node {
    config: Config,
    rng: StdRng,
    /// Boxed: the map's table stays small (a peer's record is over a kilobyte), so an
    /// idle peer costs its record and a slot, not twice the record for the table's slack.
    peers: HashMap<PeerId, Box<Peer>>,
    next_peer_id: PeerId,
    /// Version nonces of our own connections, to detect connecting to ourselves.
    local_nonces: HashSet<u64>,
    best_height: i32,
    /// Block heights the engine can tell (see `heights`).
    heights: heights::Heights,
    /// Where we listen, once bound; advertised to outbound peers.
    listen_addr: Option<SocketAddr>,
    relay: RelayState,
    /// The node's own commands (see `custom`).
    custom: custom::CustomCommands,
    bans: BanList,
    addrman: AddrMan,
    connections: connections::ConnectionPolicy,
    /// Outbound connections beyond the full-relay target (see `outbound`).
    outbound: outbound::OutboundPolicy,
    /// The node's standing in the network (see `health`).
    health: health::HealthWatch,
    timers: PeerTimers,
    /// The anchors chosen when stop began, for the final snapshot.
    kept_anchors: Option<Vec<SocketAddr>>,
    /// Whether the address book changed since it was last persisted.
    addresses_changed: bool,
    next_address_save: Instant,
    /// When the changed ban list is written next (changes within a second share a write).
    ban_save_at: Option<Instant>,
    last_ban_save: Option<Instant>,
    out: Vec<Output>,
}

/// How often the address book is persisted while running.
const ADDRESS_SAVE_INTERVAL: Duration = Duration::from_secs(60);
/// The ban list is written at most this often, so a burst of bans costs one write.
const BAN_SAVE_SPACING: Duration = Duration::from_secs(1);

impl Node {
    /// A core over loaded state. `seed` feeds the only RNG the core uses; `anchors` are
    /// the last run's block-relay-only peers, dialled first.
    pub fn new(
        config: Config,
        bans: BanList,
        addrman: AddrMan,
        anchors: Vec<SocketAddr>,
        seed: u64,
        now: Now,
    ) -> Node {
        let mut rng = StdRng::seed_from_u64(seed);
        let connections = connections::ConnectionPolicy::new(&config, rng.random(), now);
        Node {
            outbound: outbound::OutboundPolicy::new(anchors, now, &config),
            health: health::HealthWatch::new(now),
            relay: RelayState::new(&config),
            custom: custom::CustomCommands::new(&config.custom_messages),
            best_height: config.start_height,
            heights: heights::Heights::default(),
            config,
            rng,
            peers: HashMap::new(),
            next_peer_id: 1,
            local_nonces: HashSet::new(),
            listen_addr: None,
            bans,
            addrman,
            connections,
            timers: PeerTimers::default(),
            kept_anchors: None,
            addresses_changed: false,
            next_address_save: now.mono + ADDRESS_SAVE_INTERVAL,
            ban_save_at: None,
            last_ban_save: None,
            out: Vec::new(),
        }
    }

    /// The outputs queued since the last call, in order.
    pub fn take_outputs(&mut self) -> Vec<Output> {
        std::mem::take(&mut self.out)
    }

    /// Where the listener is bound.
    pub fn set_listen_addr(&mut self, addr: Option<SocketAddr>) {
        self.listen_addr = addr;
    }

    pub fn set_best_height(&mut self, height: i32, now: Now) {
        let advanced = height > self.best_height;
        self.best_height = height;
        self.health.tip_reported(None, advanced, now);
        self.check_health(now);
    }

    /// The node's tip: its height goes into version messages, headers building on it
    /// let the engine tell the heights peers announce, and its age is the stale-tip
    /// rule's.
    pub fn set_best_block(&mut self, height: i32, hash: Hash256, now: Now) {
        self.best_height = height;
        self.heights.set(hash, height);
        self.health.tip_reported(Some(hash), false, now);
        self.check_health(now);
    }

    /// A fresh peer id; ids are never reused within one engine.
    pub fn next_id(&mut self) -> PeerId {
        let id = self.next_peer_id;
        self.next_peer_id += 1;
        id
    }

    /// The earliest time at which `tick` has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        [
            self.timers.next(),
            self.relay.next_deadline(),
            Some(self.connections.next_tick()),
            Some(self.next_address_save),
            self.ban_save_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Fires every deadline that has passed: peer handshakes, pings and trickles, request
    /// timeouts, connection management and periodic persistence.
    pub fn tick(&mut self, now: Now) {
        for id in self.timers.due(now.mono) {
            self.peer_timer(id, now);
        }
        self.relay_tick(now);
        if now.mono >= self.connections.next_tick() {
            self.manage_connections(now);
        }
        if now.mono >= self.next_address_save {
            self.next_address_save = now.mono + ADDRESS_SAVE_INTERVAL;
            self.persist_addresses();
        }
        if self.ban_save_at.is_some_and(|at| now.mono >= at) {
            self.ban_save_at = None;
            self.last_ban_save = Some(now.mono);
            self.persist_bans(now);
        }
    }

    /// The engine is stopping: the block-relay-only peers connected now are the anchors
    /// of the next start.
    pub fn keep_anchors(&mut self) {
        self.kept_anchors = Some(self.anchors());
    }

    /// Snapshots of everything persisted, for the final write at stop.
    pub fn final_snapshots(&mut self, now: Now) -> Vec<Output> {
        if self.config.data_dir.is_some() {
            let anchors = self.kept_anchors.take().unwrap_or_else(|| self.anchors());
            self.out.push(Output::Persist {
                file: StoredFile::Anchors,
                bytes: crate::anchors::snapshot(&anchors),
            });
            self.bans.prune(now.unix);
            self.bans.take_dirty();
            self.out.push(Output::Persist {
                file: StoredFile::Bans,
                bytes: self.bans.snapshot(),
            });
        }
        self.persist_addresses();
        self.take_outputs()
    }

    fn persist_addresses(&mut self) {
        if self.config.data_dir.is_none() {
            return;
        }
        self.addresses_changed = false;
        self.out.push(Output::Persist {
            file: StoredFile::Addresses,
            bytes: self.addrman.snapshot(),
        });
    }

    /// The ban list changed: schedules its write.
    fn bans_changed(&mut self, now: Now) {
        if self.config.data_dir.is_none() || self.ban_save_at.is_some() {
            return;
        }
        let earliest = self
            .last_ban_save
            .map_or(now.mono, |last| last + BAN_SAVE_SPACING);
        self.ban_save_at = Some(earliest.max(now.mono));
    }

    fn persist_bans(&mut self, now: Now) {
        self.bans.prune(now.unix);
        if !self.bans.take_dirty() {
            return;
        }
        self.out.push(Output::Persist {
            file: StoredFile::Bans,
            bytes: self.bans.snapshot(),
        });
    }

    fn send(&mut self, peer: PeerId, message: Message, now: Now) {
        self.send_outgoing(peer, Outgoing::Message(message), now);
    }

    fn send_outgoing(&mut self, peer: PeerId, message: Outgoing, now: Now) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.session.on_sent(now.mono);
            self.out.push(Output::Send { peer, message });
        }
    }

    fn notify(&mut self, event: NodeEvent) {
        self.out.push(Output::Notify(event));
    }

    /// Asks the runtime to close a connection; the first reason wins and the peer takes no
    /// further part in relay, eviction or address gossip.
    fn close(&mut self, peer: PeerId, reason: DisconnectReason, detail: String) {
        if let Some(p) = self.peers.get_mut(&peer) {
            if p.closing {
                return;
            }
            p.closing = true;
            self.out.push(Output::Close {
                peer,
                reason,
                detail,
            });
        }
    }

    /// Peers that completed the handshake and are not closing.
    fn established_ids(&self) -> Vec<PeerId> {
        let mut ids: Vec<PeerId> = self
            .peers
            .values()
            .filter(|p| p.is_established() && !p.closing)
            .map(|p| p.id)
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Snapshots of every peer that completed the handshake, ordered by id. Byte counters
    /// and socket times are the runtime's and are filled in there.
    pub fn peer_infos(&self) -> Vec<PeerInfo> {
        let mut peers: Vec<PeerInfo> = self.peers.values().filter_map(|p| p.info()).collect();
        for peer in &mut peers {
            peer.blocks_in_flight = self.relay.tracker.blocks_in_flight(peer.id);
        }
        peers.sort_by_key(|p| p.id);
        peers
    }
}
