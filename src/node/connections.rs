//! Connection policy: inbound admission and eviction, the lifecycle of each connection
//! (handshake, keep-alive, close), filling the outbound target from the address book with
//! network-group diversity, keeping added peers connected with back-off, and asking the
//! DNS seeds when the address book cannot help.

use std::collections::{HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::eviction::{select_eviction, EvictionCandidate};
use super::peer::{Origin, Peer};
use super::session::{Action, Session, SessionOffence, SessionParams};
use super::{MessageIds, Node, NodeEvent, Now};
use crate::addrman::netgroup;
use crate::config::{Config, TransportMode, NODE_P2P_V2};
use crate::encrypted::TransportVersion;
use crate::events::{DisconnectReason, PeerId};
use crate::misbehaviour::Offence;
use crate::relay::ItemKind;
use crate::wire::versions::SENDHEADERS_VERSION;
use crate::wire::{Message, NetAddress, TimestampedAddress, MAX_ADDR_ENTRIES};

/// How often connection management runs without being asked.
const CONNMAN_TICK: Duration = Duration::from_millis(500);
/// With addresses known, Bitcoin Core waits this long for connections before it asks the
/// seeds anyway.
const SEED_DELAY_WITH_ADDRESSES: Duration = Duration::from_secs(11);
/// How long after a seed query the seeds are asked again while the book stays empty.
const SEED_RETRY: Duration = Duration::from_secs(60);
/// Added peers are redialled after this, doubling up to `ADDED_PEER_MAX_BACKOFF`.
pub(super) const ADDED_PEER_BACKOFF: Duration = Duration::from_secs(1);
pub(super) const ADDED_PEER_MAX_BACKOFF: Duration = Duration::from_secs(60);

/// Where an outbound connection goes: an address from the book, or a name the node gave.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DialTarget {
    Addr(SocketAddr),
    Host(String, u16),
}

/// Which transport a connection starts with (BIP324).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TransportPlan {
    /// Outbound, plaintext v1.
    V1,
    /// Outbound, encrypted v2. With `fallback`, a peer that closes before sending a
    /// byte is dialled again with v1 (Bitcoin Core's rule).
    V2 { fallback: bool },
    /// Inbound: v1 or v2 by the peer's first bytes, as the engine's mode allows.
    Detect,
}

/// Why an inbound connection was refused at accept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Banned,
    TooManyFromAddress,
    AtCapacity,
}

/// A peer the node asked to stay connected to, like Bitcoin Core's -addnode.
pub(super) struct AddedPeer {
    pub host: String,
    pub port: u16,
    /// Id reserved for the first attempt (returned by `add_node`).
    pub first_id: Option<PeerId>,
    pub next_attempt: Instant,
    pub backoff: Duration,
    /// The connection (or attempt) currently serving this entry.
    pub active: Option<PeerId>,
}

/// Connection-management state that is not per peer.
pub(super) struct ConnectionPolicy {
    pub added: Vec<AddedPeer>,
    pub seeds: Vec<(String, u16)>,
    /// Automatic outbound dials in progress, with their kind.
    pub dialing: HashMap<PeerId, (SocketAddr, Origin)>,
    /// Manual dials in progress (`add_peer`, added peers).
    pub manual_dials: HashSet<PeerId>,
    /// Secret for the eviction rule's network-group ordering.
    pub eviction_key: u64,
    pub started: Instant,
    pub last_seed_query: Option<Instant>,
    /// Whether the start-up check "few outbound connections after 11 s" is still due.
    pub delayed_seed_check: bool,
    pub initial_seed_check: bool,
    next_tick: Instant,
}

impl ConnectionPolicy {
    pub fn new(config: &Config, eviction_key: u64, now: Now) -> Self {
        ConnectionPolicy {
            added: Vec::new(),
            seeds: config.dns_seeds.clone(),
            dialing: HashMap::new(),
            manual_dials: HashSet::new(),
            eviction_key,
            started: now.mono,
            last_seed_query: None,
            delayed_seed_check: false,
            initial_seed_check: true,
            next_tick: now.mono,
        }
    }

    /// When connection management next has something to do: its period, or an added
    /// peer's next attempt if sooner.
    pub fn next_tick(&self) -> Instant {
        self.added
            .iter()
            .filter(|e| e.active.is_none())
            .map(|e| e.next_attempt)
            .fold(self.next_tick, Instant::min)
    }

    /// Runs connection management at the next tick instead of waiting for its period.
    pub fn wake(&mut self, now: Now) {
        self.next_tick = self.next_tick.min(now.mono);
    }
}

impl Node {
    fn inbound_count(&self) -> usize {
        self.peers.values().filter(|p| p.inbound()).count()
    }

    /// Connections open or being dialled automatically, against `max_connections`.
    pub(super) fn connection_count(&self) -> usize {
        self.peers.len() + self.connections.dialing.len()
    }

    /// Decides whether an inbound connection from `addr` may stay and, if so, registers
    /// it under a fresh id: refused when banned, when its IP already holds
    /// `max_inbound_per_ip` slots, or when the caps are reached and no inbound peer may be
    /// evicted for it (the victim is closed).
    pub fn accept_inbound(
        &mut self,
        addr: SocketAddr,
        local_addr: SocketAddr,
        now: Now,
    ) -> Result<PeerId, Refusal> {
        if self.is_banned(addr.ip(), now) {
            return Err(Refusal::Banned);
        }
        let from_ip = self
            .peers
            .values()
            .filter(|p| p.inbound() && p.addr.ip() == addr.ip())
            .count();
        if from_ip >= self.config.max_inbound_per_ip {
            return Err(Refusal::TooManyFromAddress);
        }
        let fits = self.inbound_count() < self.config.max_inbound
            && self.peers.len() < self.config.max_connections;
        if !fits && !self.evict_inbound() {
            return Err(Refusal::AtCapacity);
        }
        let id = self.next_id();
        self.connection_opened(id, addr, local_addr, Origin::Inbound, now);
        Ok(id)
    }

    /// The inputs of Bitcoin Core's eviction rule for every inbound peer not closing.
    pub(super) fn eviction_candidates(&self) -> Vec<EvictionCandidate> {
        let allow_local = self.config.allow_local_addresses;
        self.peers
            .values()
            .filter(|p| p.inbound() && !p.closing)
            .map(|p| {
                let group = netgroup(p.addr.ip(), allow_local);
                let mut h = std::collections::hash_map::DefaultHasher::new();
                self.connections.eviction_key.hash(&mut h);
                group.hash(&mut h);
                EvictionCandidate {
                    id: p.id,
                    keyed_netgroup: h.finish(),
                    netgroup: group,
                    connected: p.connected_at,
                    ping: p.ping,
                    last_tx: p.last_tx,
                    last_block: p.last_block,
                }
            })
            .collect()
    }

    /// Closes the inbound peer that gives way to a newcomer, if any may.
    fn evict_inbound(&mut self) -> bool {
        let Some(victim) = select_eviction(self.eviction_candidates()) else {
            return false;
        };
        if let Some(p) = self.peers.get(&victim) {
            tracing::info!(peer = victim, addr = %p.addr, "evicting inbound peer for a newcomer");
        }
        self.close(
            victim,
            DisconnectReason::ConnectionLimit,
            "evicted to make room for a new inbound peer".into(),
        );
        true
    }

    /// A connection is open (accepted, or dialled with `peer` from a `Dial` output):
    /// the core starts its handshake. Returns false when the connection must be dropped
    /// at once (its address was banned while it was being dialled).
    pub fn connection_opened(
        &mut self,
        peer: PeerId,
        addr: SocketAddr,
        local_addr: SocketAddr,
        origin: Origin,
        now: Now,
    ) -> bool {
        self.connections.manual_dials.remove(&peer);
        self.connections.dialing.remove(&peer);
        if origin != Origin::Inbound && self.is_banned(addr.ip(), now) {
            self.after_dial(peer, false, now);
            self.notify(NodeEvent::PeerDisconnected {
                id: peer,
                reason: DisconnectReason::Banned,
                detail: format!("{addr} is banned"),
            });
            return false;
        }
        let nonce = loop {
            let candidate: u64 = self.rng.random();
            if candidate != 0 && self.local_nonces.insert(candidate) {
                break candidate;
            }
        };
        let params = SessionParams {
            inbound: origin == Origin::Inbound,
            relay: origin != Origin::BlockRelay,
            remote_addr: addr,
            local_addr,
            protocol_version: self.config.protocol_version,
            min_protocol_version: self.config.min_protocol_version,
            services: self.config.advertised_services(),
            user_agent: self.config.user_agent.clone(),
            start_height: self.best_height,
            local_nonce: nonce,
            handshake_timeout: self.config.handshake_timeout,
            ping_interval: self.config.ping_interval,
            inactivity_timeout: self.config.inactivity_timeout,
            custom_commands: self.custom.commands(),
        };
        let mut actions = Vec::new();
        let session = Session::new(params, now.mono, now.unix as i64, &mut actions);
        self.peers.insert(
            peer,
            Box::new(Peer::new(
                peer, addr, local_addr, origin, session, nonce, now,
            )),
        );
        tracing::debug!(peer, %addr, inbound = origin == Origin::Inbound, "connection opened");
        self.apply_session(peer, actions, MessageIds::default(), now);
        self.reschedule(peer);
        true
    }

    /// The runtime settled the connection's transport.
    pub fn transport_ready(
        &mut self,
        peer: PeerId,
        version: TransportVersion,
        session_id: Option<[u8; 32]>,
    ) {
        if let Some(p) = self.peers.get_mut(&peer) {
            p.transport_version = match version {
                TransportVersion::V1 => 1,
                TransportVersion::V2 => 2,
            };
            p.session_id = session_id.map(Box::new);
        }
    }

    /// A connection ended, for whatever reason; the node hears about it.
    pub fn connection_closed(
        &mut self,
        peer: PeerId,
        reason: DisconnectReason,
        detail: String,
        now: Now,
    ) {
        let Some(mut p) = self.peers.remove(&peer) else {
            return;
        };
        self.local_nonces.remove(&p.local_nonce);
        self.timers.remove(peer);
        let mut released = std::mem::take(&mut p.announce).drain_all();
        released.extend(p.serving.pinned_requests());
        self.release_announcements(released);
        self.relay.tracker.remove_peer(peer);
        self.relay.tracker_changed = true;
        if p.is_established() && p.origin != Origin::Inbound {
            // Bitcoin Core's `Connected`: the last-seen time of an outbound peer is
            // refreshed when the connection ends.
            self.addrman.mark_connected(p.addr, now.unix);
        }
        tracing::debug!(peer, addr = %p.addr, reason = reason.name(), %detail, "connection closed");
        self.notify(NodeEvent::PeerDisconnected {
            id: peer,
            reason,
            detail,
        });
        self.after_dial(peer, p.is_established(), now);
        self.request_items_soon(now);
        self.connections.wake(now);
    }

    /// An outbound connection could not be opened.
    pub fn dial_failed(&mut self, peer: PeerId, detail: String, now: Now) {
        self.connections.dialing.remove(&peer);
        self.connections.manual_dials.remove(&peer);
        tracing::info!(peer, %detail, "outbound connection failed");
        self.notify(NodeEvent::PeerDisconnected {
            id: peer,
            reason: DisconnectReason::ConnectFailed,
            detail,
        });
        self.after_dial(peer, false, now);
        self.connections.wake(now);
    }

    /// A connection or attempt ended. Schedules the next attempt of the added peer
    /// `peer` served, if any: soon after a connection that completed the handshake, with
    /// doubling back-off otherwise; and counts the outcome of an attempt to a known
    /// address (an established one was counted at its handshake).
    fn after_dial(&mut self, peer: PeerId, established: bool, now: Now) {
        self.outbound_attempt_ended(peer, established, now);
        if let Some(entry) = self
            .connections
            .added
            .iter_mut()
            .find(|e| e.active == Some(peer))
        {
            entry.active = None;
            entry.backoff = if established {
                ADDED_PEER_BACKOFF
            } else {
                (entry.backoff * 2).min(ADDED_PEER_MAX_BACKOFF)
            };
            entry.next_attempt = now.mono + entry.backoff;
        }
    }

    /// A decoded message from a peer, with the ids the runtime computed for it.
    pub fn on_message(&mut self, peer: PeerId, msg: Message, ids: MessageIds, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if p.closing {
            return;
        }
        let mut actions = Vec::new();
        let nonces = &self.local_nonces;
        p.session.on_message(
            msg,
            now.mono,
            now.unix as i64,
            |nonce| nonces.contains(&nonce),
            &mut actions,
        );
        self.apply_session(peer, actions, ids, now);
        self.reschedule(peer);
    }

    /// A peer's deadline passed.
    pub(super) fn peer_timer(&mut self, peer: PeerId, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut actions = Vec::new();
        p.session.on_timer(now.mono, &mut actions);
        let lapsed = p.announce.lapse_at().is_some_and(|at| at <= now.mono);
        if p.next_trickle.is_some_and(|at| at <= now.mono) {
            p.next_trickle = None;
            self.announce_now(peer, true, now);
        }
        if lapsed {
            self.announcements_lapsed(peer, now);
        }
        self.apply_session(peer, actions, MessageIds::default(), now);
        self.reschedule(peer);
    }

    /// Re-files a peer's next deadline after its state changed.
    pub(super) fn reschedule(&mut self, peer: PeerId) {
        let at = self
            .peers
            .get(&peer)
            .filter(|p| !p.closing)
            .and_then(|p| p.next_deadline());
        self.timers.schedule(peer, at);
    }

    /// Carries out what the session decided, in order.
    fn apply_session(&mut self, peer: PeerId, actions: Vec<Action>, ids: MessageIds, now: Now) {
        let mut ids = Some(ids);
        for action in actions {
            match action {
                Action::Send(msg) => self.send(peer, msg, now),
                Action::Established(remote) => self.established(peer, remote, now),
                Action::Deliver(msg) => {
                    let ids = ids.take().unwrap_or_default();
                    self.on_peer_message(peer, msg, ids, now);
                }
                Action::PingMeasured(rtt) => {
                    if let Some(p) = self.peers.get_mut(&peer) {
                        p.ping = Some(rtt);
                        self.notify(NodeEvent::PingMeasured { peer, rtt });
                    }
                }
                Action::Misbehaving(offence) => {
                    let offence = match offence {
                        SessionOffence::MessageBeforeVersion => Offence::MessageBeforeVersion,
                        SessionOffence::DuplicateVersion => Offence::DuplicateVersion,
                    };
                    self.misbehaving(peer, offence, "", now);
                }
                Action::Disconnect(reason, detail) => self.close(peer, reason, detail),
            }
        }
    }

    /// The handshake finished: the node hears of the peer, it may be asked for data, and
    /// an outbound peer is asked for addresses and told ours.
    fn established(&mut self, peer: PeerId, remote: super::session::RemoteVersion, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        tracing::info!(peer, addr = %p.addr, version = remote.version, user_agent = %remote.user_agent, "peer connected");
        let common_version = remote.common_version;
        p.best_known_height = remote.start_height;
        p.remote = Some(remote);
        let (inbound, addr, local_addr) = (p.inbound(), p.addr, p.local_addr);
        let (relays_addresses, relays_txs) = (p.relays_addresses(), p.relays_txs());
        if !inbound {
            if self.addrman.mark_good(addr, now.unix) {
                self.addresses_changed = true;
            }
            if self.outbound_established(peer, now) {
                // A feeler only proves its address.
                return;
            }
        }
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if !inbound && relays_addresses {
            // The answer to our getaddr may be large; Bitcoin Core allows for it.
            p.addr_relay.tokens += MAX_ADDR_ENTRIES as f64;
        }
        let info = p.info();
        self.relay.tracker.add_peer(peer);
        self.relay.tracker_changed = true;
        if let Some(info) = info {
            self.notify(NodeEvent::PeerConnected(info));
        }
        if common_version >= SENDHEADERS_VERSION {
            // BIP130: new blocks are welcome as headers.
            self.send(peer, Message::SendHeaders, now);
        }
        if relays_txs {
            self.send_fee_filter(peer, now);
        }
        if inbound {
            return;
        }
        if !relays_addresses {
            // Block-relay-only: no addresses either way, so gossip cannot map it.
            self.request_items(now);
            return;
        }
        self.send(peer, Message::GetAddr, now);
        if let Some(ours) = self.advertised_address(local_addr) {
            if let Some(p) = self.peers.get_mut(&peer) {
                p.addr_relay.mark_known(ours);
            }
            let entry = TimestampedAddress {
                time: now.unix as u32,
                addr: NetAddress::from_socket_addr(self.config.advertised_services(), ours),
            };
            self.send_addresses(peer, vec![entry], now);
        }
        self.request_items(now);
    }

    /// How to dial, as Bitcoin Core decides: v2 to an address the book knows offers it
    /// (NODE_P2P_V2), v1 to other book addresses, and v2 with a v1 fallback to peers
    /// the node names (their services are unknown until they answer).
    pub(super) fn dial_transport(&self, target: &DialTarget) -> TransportPlan {
        match self.config.transport {
            TransportMode::V1Only => TransportPlan::V1,
            TransportMode::V2Only => TransportPlan::V2 { fallback: false },
            TransportMode::PreferV2 => match target {
                DialTarget::Addr(addr) => {
                    let offers_v2 = self
                        .addrman
                        .services(*addr)
                        .is_some_and(|s| s & NODE_P2P_V2 != 0);
                    if offers_v2 {
                        TransportPlan::V2 { fallback: true }
                    } else {
                        TransportPlan::V1
                    }
                }
                DialTarget::Host(..) => TransportPlan::V2 { fallback: true },
            },
        }
    }

    /// The address other nodes can reach us at: the listen address, with the
    /// connection's local IP when listening on all interfaces.
    fn advertised_address(&self, local_addr: SocketAddr) -> Option<SocketAddr> {
        let listen = self.listen_addr?;
        let ip = if listen.ip().is_unspecified() {
            local_addr.ip()
        } else {
            listen.ip()
        };
        Some(SocketAddr::new(ip, listen.port()))
    }

    /// Relay, sync and address messages after the handshake.
    fn on_peer_message(&mut self, peer: PeerId, msg: Message, ids: MessageIds, now: Now) {
        match msg {
            Message::Inv(items) => self.on_inv(peer, &items, &ids.node_has, now),
            Message::GetData(items) => self.on_get_data(peer, items, now),
            Message::NotFound(items) => self.on_not_found(peer, &items, now),
            Message::GetHeaders(locator) => self.notify(NodeEvent::GetHeaders { peer, locator }),
            Message::GetBlocks(locator) => self.notify(NodeEvent::GetBlocks { peer, locator }),
            Message::Addr(addrs) => self.on_addr(peer, &addrs, now),
            Message::AddrV2(entries) => self.on_addrv2(peer, &entries, now),
            Message::GetAddr => self.on_get_addr(peer, now),
            Message::FeeFilter(rate) => self.on_fee_filter(peer, rate),
            Message::Block(data) => {
                self.on_item(peer, ItemKind::Block, ids.item, data, ids.frame, now)
            }
            Message::Tx(data) => self.on_item(peer, ItemKind::Tx, ids.item, data, ids.frame, now),
            Message::Headers(headers) => {
                self.on_headers(peer, headers, &ids.headers, &ids.node_has, now)
            }
            Message::SendHeaders => self.on_send_headers(peer),
            Message::Reject(reject) => {
                tracing::debug!(peer, message = %reject.message, code = reject.code, reason = %reject.reason, "reject received");
            }
            Message::Unknown { command, payload } => {
                self.on_unknown_command(peer, command, payload, now)
            }
            other => {
                tracing::trace!(peer, command = %other.command(), "message ignored");
            }
        }
    }

    /// Closes a peer at the node's request.
    pub fn disconnect(&mut self, peer: PeerId) -> bool {
        if !self.peers.contains_key(&peer) {
            return false;
        }
        self.close(
            peer,
            DisconnectReason::Requested,
            "disconnect requested by node".into(),
        );
        true
    }

    /// The node asks for one connection to `host:port`; returns its id.
    pub fn add_peer(&mut self, host: String, port: u16) -> PeerId {
        let id = self.next_id();
        self.connections.manual_dials.insert(id);
        let target = DialTarget::Host(host, port);
        let transport = self.dial_transport(&target);
        self.out.push(super::Output::Dial {
            peer: id,
            target,
            transport,
            origin: Origin::Manual,
        });
        id
    }

    /// Keeps `host:port` connected, like Bitcoin Core's -addnode; returns the id of the
    /// first attempt, or `None` when it is already added.
    pub fn add_node(&mut self, host: &str, port: u16, now: Now) -> Option<PeerId> {
        if self
            .connections
            .added
            .iter()
            .any(|e| e.host == host && e.port == port)
        {
            return None;
        }
        let id = self.next_id();
        self.connections.added.push(AddedPeer {
            host: host.to_owned(),
            port,
            first_id: Some(id),
            next_attempt: now.mono,
            backoff: ADDED_PEER_BACKOFF,
            active: None,
        });
        self.maintain_added_peers(now);
        Some(id)
    }

    /// Stops keeping `host:port` connected; an open connection stays until it drops.
    pub fn remove_node(&mut self, host: &str, port: u16) -> bool {
        let before = self.connections.added.len();
        self.connections
            .added
            .retain(|e| !(e.host == host && e.port == port));
        self.connections.added.len() != before
    }

    /// Adds a DNS seed, queried when the address book runs short.
    pub fn add_dns_seed(&mut self, host: &str, port: u16) {
        let seeds = &mut self.connections.seeds;
        if !seeds.iter().any(|(h, p)| h == host && *p == port) {
            seeds.push((host.to_owned(), port));
        }
    }

    pub fn has_dns_seeds(&self) -> bool {
        !self.connections.seeds.is_empty()
    }

    /// Asks every DNS seed for addresses.
    pub fn query_seeds(&mut self, now: Now) {
        if self.connections.seeds.is_empty() {
            return;
        }
        self.connections.last_seed_query = Some(now.mono);
        self.out
            .push(super::Output::ResolveSeeds(self.connections.seeds.clone()));
    }

    /// Keeps added peers connected and the outbound target filled; asks the seeds when
    /// the address book cannot.
    pub(super) fn manage_connections(&mut self, now: Now) {
        self.connections.next_tick = now.mono + CONNMAN_TICK;
        if self.connections.initial_seed_check {
            self.connections.initial_seed_check = false;
            // An empty book asks the seeds at once; otherwise the seeds wait to see
            // whether the book yields connections.
            if self.addrman.is_empty() {
                self.query_seeds(now);
            } else {
                self.connections.delayed_seed_check = true;
            }
        }
        self.maintain_added_peers(now);
        self.rotate_extra_outbound(now);
        let automatic = self.fill_outbound(now);
        self.check_health(now);
        if self.connections.delayed_seed_check
            && now.mono >= self.connections.started + SEED_DELAY_WITH_ADDRESSES
        {
            self.connections.delayed_seed_check = false;
            if automatic < 2 {
                self.query_seeds(now);
            }
        }
        let needs_addresses =
            automatic == 0 && self.config.max_outbound > 0 && self.addrman.is_empty();
        if needs_addresses
            && self
                .connections
                .last_seed_query
                .is_some_and(|t| now.mono >= t + SEED_RETRY)
        {
            self.query_seeds(now);
        }
    }

    fn maintain_added_peers(&mut self, now: Now) {
        let mut due = Vec::new();
        for i in 0..self.connections.added.len() {
            let entry = &self.connections.added[i];
            if entry.active.is_none() && now.mono >= entry.next_attempt {
                let id = match self.connections.added[i].first_id.take() {
                    Some(id) => id,
                    None => self.next_id(),
                };
                let entry = &mut self.connections.added[i];
                entry.active = Some(id);
                due.push((id, entry.host.clone(), entry.port));
            }
        }
        for (id, host, port) in due {
            self.connections.manual_dials.insert(id);
            let target = DialTarget::Host(host, port);
            let transport = self.dial_transport(&target);
            self.out.push(super::Output::Dial {
                peer: id,
                target,
                transport,
                origin: Origin::Manual,
            });
        }
    }

    /// A seed answered (or failed); its addresses go into the book.
    pub fn seed_resolved(
        &mut self,
        host: &str,
        port: u16,
        answer: Result<Vec<IpAddr>, String>,
        now: Now,
    ) {
        match answer {
            Ok(ips) => {
                let source = self
                    .config
                    .dns_server
                    .map_or(IpAddr::from([0, 0, 0, 0]), |s| s.ip());
                let entries: Vec<(SocketAddr, u64, u32)> = ips
                    .iter()
                    .filter(|ip| !self.bans.is_banned(ip, now.unix))
                    .map(|ip| (SocketAddr::new(*ip, port), 1, now.unix as u32))
                    .collect();
                let added = self.addrman.add(&entries, source, now.unix);
                if added > 0 {
                    self.addresses_changed = true;
                    self.connections.wake(now);
                }
                tracing::info!(seed = %host, found = ips.len(), added, "DNS seed answered");
            }
            Err(e) => tracing::warn!(seed = %host, error = %e, "DNS seed failed; will retry"),
        }
    }
}
