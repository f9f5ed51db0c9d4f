//! The engine: owns the tokio runtime, the listener, the peer table, the relay state and
//! the dispatcher thread. This is the safe Rust API the FFI layer wraps.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::{mpsc, Notify};
use tracing::instrument::WithSubscriber;

use crate::addrman::{netgroup, AddrMan};
use crate::banman::{BanEntry, BanList};
use crate::config::Config;
use crate::connman::{select_eviction, EvictionCandidate};
use crate::dispatch::{
    Callbacks, DataProvider, Dispatcher, Event, GetBlocksCallback, GetHeadersCallback,
    HeadersCallback, ItemCallback, LogCallback, PeerConnectedCallback, PeerDisconnectedCallback,
};
use crate::dns::SeedResolver;
use crate::error::{Error, Result};
use crate::events::{DisconnectReason, LogLevel, PeerId, PeerInfo};
use crate::logging::{self, LogFilter};
use crate::misbehaviour::Offence;
use crate::peer::{self, unix_now, Origin, PeerHandle};
use crate::relay::bounded::{BoundedMap, BoundedSet};
use crate::relay::tracker::{Delivery, RequestTracker};
use crate::relay::{bitcoin_item_id, CachedItem, ItemHasher, ItemKind, Verdict};
use crate::subnet::Subnet;
use crate::wire::{
    BlockLocator, Hash256, Inventory, Message, TimestampedAddress, MAX_ADDR_ENTRIES,
    MAX_INV_ENTRIES,
};

/// How long `stop` lets tasks wind down before the runtime is dropped regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);
/// Items handed to the node (or broadcast by it) that we remember, so each reaches the
/// node at most once.
const SEEN_ITEMS: usize = 500_000;
/// Items in the relay cache at most (besides its byte budget).
const RELAY_CACHE_ITEMS: usize = 200_000;
/// Items waiting for a verdict the node reports later.
const PENDING_VERDICTS: usize = 100_000;
/// File name of the ban list inside the data directory.
const BAN_FILE: &str = "banlist.dat";
/// File name of the address book inside the data directory.
const ADDRESS_FILE: &str = "peers.dat";
/// How often the connection manager looks at its targets without being woken.
const CONNMAN_TICK: Duration = Duration::from_millis(500);
/// How often the address book is written while running.
const ADDRESS_SAVE_INTERVAL: Duration = Duration::from_secs(60);
/// Below this many known addresses the DNS seeds are asked at start.
const SEED_WHEN_FEWER_THAN: usize = 1000;
/// With addresses known, Bitcoin Core waits this long for connections before it asks
/// the seeds anyway.
const SEED_DELAY_WITH_ADDRESSES: Duration = Duration::from_secs(11);
/// How long after a failed or fruitless seed query it is tried again.
const SEED_RETRY: Duration = Duration::from_secs(60);
/// Added peers are redialled after this, doubling to `ADDED_PEER_MAX_BACKOFF`.
const ADDED_PEER_BACKOFF: Duration = Duration::from_secs(1);
const ADDED_PEER_MAX_BACKOFF: Duration = Duration::from_secs(60);
/// Bitcoin Core's address rate limit: tokens per second and bucket size.
const ADDR_TOKENS_PER_SEC: f64 = 0.1;
const ADDR_TOKEN_BUCKET: f64 = MAX_ADDR_ENTRIES as f64;
/// Addresses at most this old (seconds) are relayed onwards.
const ADDR_RELAY_MAX_AGE: u64 = 10 * 60;
/// Peers each fresh address is relayed to.
const ADDR_RELAY_FANOUT: usize = 2;

/// A peer the node asked to stay connected to, like Bitcoin Core's -addnode.
struct AddedPeer {
    host: String,
    port: u16,
    /// Id reserved for the first attempt (returned by `add_peer`).
    first_id: Option<PeerId>,
    next_attempt: Instant,
    backoff: Duration,
    active: bool,
}

/// What happens to a block or transaction once received.
struct RelayState {
    tracker: Mutex<RequestTracker>,
    seen: Mutex<BoundedSet<Hash256>>,
    cache: Mutex<BoundedMap<Hash256, CachedItem>>,
    /// Items the node has not judged yet: kind, payload and the peer that sent it.
    pending: Mutex<BoundedMap<Hash256, (ItemKind, Bytes, PeerId)>>,
    /// The item the node's callback is looking at right now.
    judging: Mutex<Option<Judging>>,
    /// Wakes the request scheduler.
    wake: Notify,
}

/// The item in the node's item callback, kept so that a verdict reported from another
/// thread before the callback returns finds it. `item` is taken by such a report.
struct Judging {
    hash: Hash256,
    item: Option<(ItemKind, Bytes, PeerId)>,
}

/// State shared by the API, the connection tasks and the dispatcher.
pub(crate) struct Shared {
    pub config: Config,
    pub callbacks: Callbacks,
    pub stopped: AtomicBool,
    events: mpsc::Sender<Event>,
    log_filter: Arc<LogFilter>,
    tracing: tracing::Dispatch,
    peers: RwLock<HashMap<PeerId, Arc<PeerHandle>>>,
    inbound_count: AtomicUsize,
    /// Inbound connections per remote IP, for `max_inbound_per_ip`.
    inbound_per_ip: Mutex<HashMap<std::net::IpAddr, usize>>,
    outbound_count: AtomicUsize,
    next_peer_id: AtomicU64,
    local_nonces: Mutex<HashSet<u64>>,
    best_height: AtomicI32,
    hasher: RwLock<ItemHasher>,
    relay: RelayState,
    bans: Mutex<BanList>,
    /// Wakes the task that writes the ban list after changes.
    bans_changed: Notify,
    /// Warnings from loading persisted state, logged once the engine starts.
    startup_warnings: Mutex<Vec<String>>,
    addrman: Mutex<AddrMan>,
    added: Mutex<Vec<AddedPeer>>,
    seeds: Mutex<Vec<(String, u16)>>,
    resolver: Mutex<Option<Arc<SeedResolver>>>,
    /// Wakes the connection manager.
    connman_wake: Notify,
    /// Automatic outbound dials in progress.
    dialing: Mutex<HashSet<SocketAddr>>,
    listen_addr: Mutex<Option<SocketAddr>>,
    /// Secret for the eviction rule's network-group ordering.
    eviction_key: u64,
    last_seed_query: Mutex<Option<Instant>>,
}

impl Shared {
    /// Spawns a task on the current runtime with this engine's log subscriber attached.
    pub fn spawn<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(future.with_subscriber(self.tracing.clone()))
    }

    /// Queues an event for the dispatcher, waiting while the queue is full: this is the
    /// back-pressure that stops reading from peers when the node is slow.
    pub async fn emit(&self, event: Event) {
        let _ = self.events.send(event).await;
    }

    pub fn best_height(&self) -> i32 {
        self.best_height.load(Ordering::Relaxed)
    }

    pub fn is_local_nonce(&self, nonce: u64) -> bool {
        self.local_nonces.lock().contains(&nonce)
    }

    fn next_id(&self) -> PeerId {
        self.next_peer_id.fetch_add(1, Ordering::Relaxed)
    }

    fn peer(&self, id: PeerId) -> Option<Arc<PeerHandle>> {
        self.peers.read().get(&id).cloned()
    }

    fn established_peers(&self) -> Vec<Arc<PeerHandle>> {
        self.peers
            .read()
            .values()
            .filter(|p| p.is_established())
            .cloned()
            .collect()
    }

    /// Adds a connection to the peer table; returns the version nonce it will use.
    pub fn register_peer(&self, handle: Arc<PeerHandle>, inbound: bool) -> u64 {
        let mut nonces = self.local_nonces.lock();
        let nonce = loop {
            let candidate = rand::random::<u64>();
            if candidate != 0 && nonces.insert(candidate) {
                break candidate;
            }
        };
        drop(nonces);
        if inbound {
            self.inbound_count.fetch_add(1, Ordering::AcqRel);
            *self
                .inbound_per_ip
                .lock()
                .entry(handle.addr.ip())
                .or_default() += 1;
        } else {
            self.outbound_count.fetch_add(1, Ordering::AcqRel);
        }
        self.peers.write().insert(handle.id, handle);
        nonce
    }

    pub fn unregister_peer(&self, handle: &PeerHandle, nonce: u64) {
        self.local_nonces.lock().remove(&nonce);
        if self.peers.write().remove(&handle.id).is_some() {
            if handle.inbound {
                self.inbound_count.fetch_sub(1, Ordering::AcqRel);
                let mut per_ip = self.inbound_per_ip.lock();
                if let Some(count) = per_ip.get_mut(&handle.addr.ip()) {
                    *count -= 1;
                    if *count == 0 {
                        per_ip.remove(&handle.addr.ip());
                    }
                }
            } else {
                self.outbound_count.fetch_sub(1, Ordering::AcqRel);
            }
        }
        self.relay.tracker.lock().remove_peer(handle.id);
        self.relay.wake.notify_one();
        self.connman_wake.notify_one();
    }

    /// The handshake finished: the peer may now be asked for data, and outbound peers
    /// are asked for addresses and told ours.
    pub fn peer_established(&self, handle: &PeerHandle, local_addr: SocketAddr) {
        self.relay.tracker.lock().add_peer(handle.id);
        self.relay.wake.notify_one();
        if handle.inbound {
            return;
        }
        self.addrman
            .lock()
            .mark_good(handle.addr, unix_now().max(0) as u64);
        // The answer to our getaddr may be large; Bitcoin Core allows for it.
        handle.addr_state.lock().tokens += ADDR_TOKEN_BUCKET;
        handle.send(&Message::GetAddr);
        if let Some(ours) = self.advertised_address(local_addr) {
            handle.send(&Message::Addr(vec![TimestampedAddress {
                time: unix_now().max(0) as u32,
                addr: crate::wire::NetAddress::from_socket_addr(self.config.services, ours),
            }]));
        }
    }

    /// The address other nodes can reach us at: the listen address, with the
    /// connection's local IP when listening on all interfaces.
    fn advertised_address(&self, local_addr: SocketAddr) -> Option<SocketAddr> {
        let listen = (*self.listen_addr.lock())?;
        let ip = if listen.ip().is_unspecified() {
            local_addr.ip()
        } else {
            listen.ip()
        };
        Some(SocketAddr::new(ip, listen.port()))
    }

    fn now_secs() -> u64 {
        unix_now().max(0) as u64
    }

    /// A peer sent addresses: rate-limited by Bitcoin Core's token bucket, filtered,
    /// added to the address book and, when fresh, relayed to a couple of peers.
    pub fn on_addr(&self, handle: &PeerHandle, addrs: &[TimestampedAddress]) {
        let now = Self::now_secs();
        let accepted: Vec<TimestampedAddress> = {
            let mut state = handle.addr_state.lock();
            let elapsed = state.refilled.elapsed().as_secs_f64();
            state.refilled = Instant::now();
            state.tokens = (state.tokens + elapsed * ADDR_TOKENS_PER_SEC)
                .min(ADDR_TOKEN_BUCKET.max(state.tokens));
            let mut accepted = Vec::new();
            for a in addrs {
                if state.tokens < 1.0 {
                    break;
                }
                state.tokens -= 1.0;
                accepted.push(*a);
            }
            accepted
        };
        let dropped = addrs.len() - accepted.len();
        if dropped > 0 {
            tracing::debug!(peer = handle.id, dropped, "addr rate limit");
        }
        let usable: Vec<TimestampedAddress> = accepted
            .into_iter()
            .filter(|a| {
                let sa = a.addr.socket_addr();
                sa.port() != 0 && !self.is_banned(sa.ip())
            })
            .collect();
        let entries: Vec<(SocketAddr, u64, u32)> = usable
            .iter()
            .map(|a| (a.addr.socket_addr(), a.addr.services, a.time))
            .collect();
        let added = self.addrman.lock().add(&entries, handle.addr.ip(), now);
        if added > 0 {
            self.connman_wake.notify_one();
        }
        // Relay small announcements of fresh addresses, as Bitcoin Core does.
        if addrs.len() <= 10 {
            let fresh: Vec<TimestampedAddress> = usable
                .into_iter()
                .filter(|a| u64::from(a.time) + ADDR_RELAY_MAX_AGE >= now)
                .filter(|a| self.addrman.lock().contains(a.addr.socket_addr()))
                .collect();
            if !fresh.is_empty() {
                let mut targets: Vec<Arc<PeerHandle>> = self
                    .established_peers()
                    .into_iter()
                    .filter(|p| p.id != handle.id)
                    .collect();
                use rand::seq::SliceRandom;
                targets.shuffle(&mut rand::rng());
                for peer in targets.into_iter().take(ADDR_RELAY_FANOUT) {
                    peer.send(&Message::Addr(fresh.clone()));
                }
            }
        }
    }

    /// Answers getaddr once per connection, from inbound peers only (as Bitcoin Core,
    /// which keeps outbound peers from fingerprinting the node).
    pub fn on_get_addr(&self, handle: &PeerHandle) {
        if !handle.inbound {
            return;
        }
        {
            let mut state = handle.addr_state.lock();
            if state.answered_getaddr {
                return;
            }
            state.answered_getaddr = true;
        }
        let addrs =
            self.addrman
                .lock()
                .get_addresses(MAX_ADDR_ENTRIES, &mut rand::rng(), Self::now_secs());
        let items: Vec<TimestampedAddress> = addrs
            .into_iter()
            .map(|(addr, services, time)| TimestampedAddress {
                time,
                addr: crate::wire::NetAddress::from_socket_addr(services, addr),
            })
            .collect();
        handle.send(&Message::Addr(items));
    }

    fn address_path(&self) -> Option<std::path::PathBuf> {
        self.config.data_dir.as_ref().map(|d| d.join(ADDRESS_FILE))
    }

    fn save_addresses(&self) {
        if let Some(path) = self.address_path() {
            // Serialise under the lock, write outside it.
            let result = self.addrman.lock().save(&path);
            if let Err(e) = result {
                tracing::warn!(error = %e, "cannot write the address book");
            }
        }
    }

    /// Picks the inbound peer that gives way to a newcomer, if any may.
    fn evict_inbound(&self) -> bool {
        let allow_local = self.config.allow_local_addresses;
        let candidates: Vec<EvictionCandidate> = self
            .peers
            .read()
            .values()
            .filter(|p| p.inbound && !p.is_closing())
            .map(|p| {
                let group = netgroup(p.addr.ip(), allow_local);
                use std::hash::{Hash, Hasher};
                let mut h = std::collections::hash_map::DefaultHasher::new();
                self.eviction_key.hash(&mut h);
                group.hash(&mut h);
                EvictionCandidate {
                    id: p.id,
                    keyed_netgroup: h.finish(),
                    netgroup: group,
                    connected: p.connected_at,
                    ping: p.ping(),
                    last_tx: *p.last_tx.lock(),
                    last_block: *p.last_block.lock(),
                }
            })
            .collect();
        match select_eviction(candidates).and_then(|id| self.peer(id)) {
            Some(victim) => {
                tracing::info!(peer = victim.id, addr = %victim.addr, "evicting inbound peer for a newcomer");
                victim.request_close(
                    DisconnectReason::ConnectionLimit,
                    "evicted to make room for a new inbound peer".into(),
                );
                true
            }
            None => false,
        }
    }

    /// Asks every DNS seed for addresses, in the background.
    fn query_seeds(self: &Arc<Self>) {
        let seeds = self.seeds.lock().clone();
        if seeds.is_empty() {
            return;
        }
        *self.last_seed_query.lock() = Some(Instant::now());
        let shared = self.clone();
        self.spawn(async move {
            let resolver = match shared.seed_resolver() {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot query DNS seeds");
                    return;
                }
            };
            let source = shared
                .config
                .dns_server
                .map_or(std::net::IpAddr::from([0, 0, 0, 0]), |s| s.ip());
            for (host, port) in seeds {
                match resolver.resolve(&host).await {
                    Ok(ips) => {
                        let now = Self::now_secs();
                        let entries: Vec<(SocketAddr, u64, u32)> = ips
                            .iter()
                            .filter(|ip| !shared.is_banned(**ip))
                            .map(|ip| (SocketAddr::new(*ip, port), 1, now as u32))
                            .collect();
                        let added = shared.addrman.lock().add(&entries, source, now);
                        tracing::info!(seed = %host, found = ips.len(), added, "DNS seed answered");
                    }
                    Err(e) => {
                        tracing::warn!(seed = %host, error = %e, "DNS seed failed; will retry")
                    }
                }
            }
            shared.connman_wake.notify_one();
        });
    }

    fn seed_resolver(&self) -> std::result::Result<Arc<SeedResolver>, String> {
        let mut slot = self.resolver.lock();
        if let Some(r) = slot.as_ref() {
            return Ok(r.clone());
        }
        let r = Arc::new(SeedResolver::new(self.config.dns_server)?);
        *slot = Some(r.clone());
        Ok(r)
    }

    /// Keeps added peers connected and the outbound target filled; asks the seeds when
    /// the address book cannot.
    async fn connection_manager(self: Arc<Self>) {
        let started = Instant::now();
        let known = self.addrman.lock().len();
        if known < SEED_WHEN_FEWER_THAN && known == 0 {
            self.query_seeds();
        }
        let mut delayed_seed_check = known > 0;
        let mut next_save = Instant::now() + ADDRESS_SAVE_INTERVAL;
        loop {
            self.maintain_added_peers();
            let automatic = self.fill_outbound();
            let now = Instant::now();
            if delayed_seed_check && now >= started + SEED_DELAY_WITH_ADDRESSES {
                delayed_seed_check = false;
                if automatic < 2 {
                    self.query_seeds();
                }
            }
            let last = *self.last_seed_query.lock();
            let needs_addresses =
                automatic == 0 && self.config.max_outbound > 0 && self.addrman.lock().is_empty();
            if needs_addresses && last.is_some_and(|t| now >= t + SEED_RETRY) {
                self.query_seeds();
            }
            if now >= next_save {
                next_save = now + ADDRESS_SAVE_INTERVAL;
                let shared = self.clone();
                let _ = tokio::task::spawn_blocking(move || shared.save_addresses()).await;
            }
            let _ = tokio::time::timeout(CONNMAN_TICK, self.connman_wake.notified()).await;
        }
    }

    fn maintain_added_peers(self: &Arc<Self>) {
        let now = Instant::now();
        let mut due = Vec::new();
        for entry in self.added.lock().iter_mut() {
            if !entry.active && now >= entry.next_attempt {
                entry.active = true;
                let id = entry.first_id.take().unwrap_or_else(|| self.next_id());
                due.push((id, entry.host.clone(), entry.port));
            }
        }
        for (id, host, port) in due {
            let shared = self.clone();
            self.spawn(async move {
                let established = shared
                    .clone()
                    .connect(id, host.clone(), port, Origin::Manual)
                    .await;
                let mut added = shared.added.lock();
                if let Some(entry) = added.iter_mut().find(|e| e.host == host && e.port == port) {
                    entry.active = false;
                    entry.backoff = if established {
                        ADDED_PEER_BACKOFF
                    } else {
                        (entry.backoff * 2).min(ADDED_PEER_MAX_BACKOFF)
                    };
                    entry.next_attempt = Instant::now() + entry.backoff;
                }
                drop(added);
                shared.connman_wake.notify_one();
            });
        }
    }

    /// Dials addresses from the book until the outbound target is met; returns the
    /// number of automatic outbound connections (established or being dialled).
    fn fill_outbound(self: &Arc<Self>) -> usize {
        let allow_local = self.config.allow_local_addresses;
        // As Bitcoin Core, an address counts as connected when any peer shares its IP.
        let (mut groups, connected): (HashSet<Vec<u8>>, HashSet<std::net::IpAddr>) = {
            let peers = self.peers.read();
            let groups = peers
                .values()
                .filter(|p| p.origin == Origin::Automatic)
                .map(|p| netgroup(p.addr.ip(), allow_local))
                .collect();
            let connected = peers.values().map(|p| p.addr.ip().to_canonical()).collect();
            (groups, connected)
        };
        let mut automatic = self
            .peers
            .read()
            .values()
            .filter(|p| p.origin == Origin::Automatic)
            .count()
            + self.dialing.lock().len();
        for dialing in self.dialing.lock().iter() {
            groups.insert(netgroup(dialing.ip(), allow_local));
        }
        let own = *self.listen_addr.lock();
        while automatic < self.config.max_outbound
            && self.connection_count() + self.dialing.lock().len() < self.config.max_connections
        {
            let now = Self::now_secs();
            let dialing = self.dialing.lock().clone();
            let per_group = self.config.one_outbound_per_netgroup;
            let choice = self.addrman.lock().select(now, &mut rand::rng(), |a| {
                connected.contains(&a.ip().to_canonical())
                    || dialing.contains(a)
                    || own.is_some_and(|o| o == *a)
                    || self.is_banned(a.ip())
                    || (per_group && groups.contains(&netgroup(a.ip(), allow_local)))
            });
            let Some(addr) = choice else { break };
            self.addrman.lock().mark_attempt(addr, now);
            self.dialing.lock().insert(addr);
            groups.insert(netgroup(addr.ip(), allow_local));
            automatic += 1;
            let id = self.next_id();
            let shared = self.clone();
            self.spawn(async move {
                shared
                    .clone()
                    .connect(id, addr.ip().to_string(), addr.port(), Origin::Automatic)
                    .await;
                shared.connman_wake.notify_one();
            });
        }
        automatic
    }

    fn connection_count(&self) -> usize {
        self.inbound_count.load(Ordering::Acquire) + self.outbound_count.load(Ordering::Acquire)
    }

    fn inbound_from(&self, ip: std::net::IpAddr) -> usize {
        self.inbound_per_ip.lock().get(&ip).copied().unwrap_or(0)
    }

    /// Whether an inbound connection fits under the caps.
    fn admits_inbound(&self) -> bool {
        self.inbound_count.load(Ordering::Acquire) < self.config.max_inbound
            && self.connection_count() < self.config.max_connections
    }

    /// Adds misbehaviour points; at the threshold the peer is disconnected.
    pub fn misbehaving(&self, handle: &PeerHandle, offence: Offence, detail: &str) {
        self.add_score(handle, offence.score(), &offence.to_string(), detail);
    }

    fn add_score(&self, handle: &PeerHandle, points: u32, what: &str, detail: &str) {
        let (reached, total) = handle.add_score(points);
        tracing::debug!(
            peer = handle.id,
            offence = what,
            points,
            score = total,
            detail,
            "misbehaving"
        );
        if reached {
            tracing::info!(peer = handle.id, addr = %handle.addr, score = total, "banning misbehaving peer");
            handle.request_close(
                DisconnectReason::Misbehaviour,
                format!("misbehaviour score {total} ({what})"),
            );
            let until = unix_now().max(0) as u64 + self.config.ban_time.as_secs();
            self.ban(
                Subnet::single(handle.addr.ip()),
                until,
                &format!("misbehaviour: {what}"),
            );
        }
    }

    fn ban_path(&self) -> Option<std::path::PathBuf> {
        self.config.data_dir.as_ref().map(|d| d.join(BAN_FILE))
    }

    pub fn is_banned(&self, ip: std::net::IpAddr) -> bool {
        self.bans.lock().is_banned(&ip, unix_now().max(0) as u64)
    }

    /// Bans a subnet and drops existing connections inside it.
    fn ban(&self, subnet: Subnet, until: u64, reason: &str) -> bool {
        let now = unix_now().max(0) as u64;
        let outcome = self.bans.lock().ban(subnet, until, reason, now);
        if !outcome.is_in_force() {
            return false;
        }
        for peer in self.peers.read().values() {
            if subnet.contains(&peer.addr.ip()) {
                peer.request_close(DisconnectReason::Banned, format!("{subnet} is banned"));
            }
        }
        self.bans_changed.notify_one();
        true
    }

    /// Writes the ban list whenever it changed, off the network threads.
    async fn ban_writer(self: Arc<Self>) {
        let Some(path) = self.ban_path() else { return };
        loop {
            self.bans_changed.notified().await;
            let shared = self.clone();
            let path = path.clone();
            let result = tokio::task::spawn_blocking(move || shared.save_bans(&path)).await;
            if let Ok(Err(e)) = result {
                tracing::warn!(error = %e, "cannot write the ban list");
            }
        }
    }

    fn save_bans(&self, path: &std::path::Path) -> std::io::Result<()> {
        let mut bans = self.bans.lock();
        bans.prune(unix_now().max(0) as u64);
        bans.save_if_dirty(path).map(|_| ())
    }

    pub fn item_id(&self, kind: ItemKind, data: &[u8]) -> Hash256 {
        let hasher = self.hasher.read().clone();
        hasher(kind, data)
    }

    fn have_item(&self, hash: &Hash256) -> bool {
        self.relay.seen.lock().contains(hash) || self.relay.cache.lock().contains_key(hash)
    }

    /// Sends an item from the relay cache; false when it is not there.
    pub fn send_cached(&self, peer: PeerId, hash: &Hash256) -> bool {
        let Some(frame) = self.relay.cache.lock().get(hash).map(|c| c.frame.clone()) else {
            return false;
        };
        if let Some(handle) = self.peer(peer) {
            handle.mark_known(*hash);
            handle.send_frame(frame);
        }
        true
    }

    pub fn send_to(&self, peer: PeerId, msg: &Message) {
        if let Some(handle) = self.peer(peer) {
            handle.send(msg);
        }
    }

    /// Sends an item in answer to GETDATA.
    pub fn send_item(&self, peer: PeerId, kind: ItemKind, hash: Hash256, data: Bytes) {
        if let Some(handle) = self.peer(peer) {
            handle.mark_known(hash);
            handle.send(&match kind {
                ItemKind::Block => Message::Block(data),
                ItemKind::Tx => Message::Tx(data),
            });
        }
    }

    /// Announces ids to one peer at once (answering getblocks).
    pub fn announce_to(&self, peer: PeerId, kind: ItemKind, hashes: &[Hash256]) {
        if let Some(handle) = self.peer(peer) {
            let items: Vec<Inventory> = hashes
                .iter()
                .map(|h| Inventory {
                    kind: kind.inv_kind(),
                    hash: *h,
                })
                .collect();
            handle.send(&Message::Inv(items));
        }
    }

    /// Caches an item and announces it to every peer that does not know it: blocks at
    /// once, transactions through each peer's trickle timer.
    fn relay_item(&self, kind: ItemKind, hash: Hash256, data: &[u8]) {
        let item = CachedItem::encode(kind, data, self.config.magic);
        let weight = item.frame.len();
        self.relay.cache.lock().insert(hash, item, weight);
        for peer in self.established_peers() {
            if !peer.mark_known(hash) {
                continue;
            }
            match kind {
                ItemKind::Block => peer.send(&Message::Inv(vec![Inventory {
                    kind: kind.inv_kind(),
                    hash,
                }])),
                ItemKind::Tx => peer.queue_tx_announcement(hash),
            }
        }
    }

    /// Acts on the node's verdict for an item received from `peer`.
    /// Marks an item as the one the node's callback is about to judge.
    pub fn begin_judging(&self, kind: ItemKind, hash: Hash256, data: Bytes, peer: PeerId) {
        *self.relay.judging.lock() = Some(Judging {
            hash,
            item: Some((kind, data, peer)),
        });
    }

    /// Applies the verdict the item callback returned, unless the node already reported
    /// one while the callback ran.
    pub fn settle_verdict(
        &self,
        kind: ItemKind,
        hash: Hash256,
        data: Bytes,
        peer: PeerId,
        verdict: Verdict,
    ) {
        let judging = self.relay.judging.lock().take();
        if judging.is_some_and(|j| j.hash == hash && j.item.is_none()) {
            return;
        }
        self.apply_verdict_with(kind, hash, data, peer, verdict, Offence::InvalidItem);
    }

    /// Takes an item awaiting the node's verdict: pending, or in the callback right now.
    fn take_unjudged(&self, hash: &Hash256) -> Option<(ItemKind, Bytes, PeerId)> {
        if let Some(item) = self.relay.pending.lock().remove(hash) {
            return Some(item);
        }
        match &mut *self.relay.judging.lock() {
            Some(j) if j.hash == *hash => j.item.take(),
            _ => None,
        }
    }

    fn apply_verdict_with(
        &self,
        kind: ItemKind,
        hash: Hash256,
        data: Bytes,
        peer: PeerId,
        verdict: Verdict,
        offence: Offence,
    ) {
        match verdict {
            Verdict::Accepted => self.relay_item(kind, hash, &data),
            Verdict::Ignored => {}
            Verdict::Invalid => {
                if let Some(handle) = self.peer(peer) {
                    self.misbehaving(&handle, offence, kind.name());
                }
            }
            Verdict::Pending => {
                let weight = data.len();
                self.relay
                    .pending
                    .lock()
                    .insert(hash, (kind, data, peer), weight);
            }
        }
    }

    /// A peer announced inventory.
    pub fn on_inv(&self, handle: &PeerHandle, items: &[Inventory]) {
        let mut announced = false;
        for item in items {
            let Some(kind) = ItemKind::from_inv(item.kind) else {
                continue;
            };
            handle.mark_known(item.hash);
            if self.have_item(&item.hash) {
                continue;
            }
            self.relay
                .tracker
                .lock()
                .on_announced(handle.id, kind, item.hash);
            announced = true;
        }
        if announced {
            self.relay.wake.notify_one();
        }
    }

    /// A peer says it lacks items we asked for.
    pub fn on_not_found(&self, handle: &PeerHandle, items: &[Inventory]) {
        let mut tracker = self.relay.tracker.lock();
        for item in items {
            tracker.on_not_found(handle.id, item.hash);
        }
        drop(tracker);
        self.relay.wake.notify_one();
    }

    /// A peer asked for items: served from the relay cache, the rest by the node's data
    /// provider on the dispatcher thread, or answered with NOTFOUND.
    pub async fn on_get_data(&self, handle: &PeerHandle, items: Vec<Inventory>) {
        let has_provider = self.callbacks.data_provider.lock().is_some();
        let mut rest = Vec::new();
        let mut missing = Vec::new();
        for item in items {
            if !rest.is_empty() {
                rest.push(item);
                continue;
            }
            if ItemKind::from_inv(item.kind).is_some() && self.send_cached(handle.id, &item.hash) {
                continue;
            }
            if has_provider {
                rest.push(item);
            } else {
                missing.push(item);
            }
        }
        if !missing.is_empty() {
            handle.send(&Message::NotFound(missing));
        }
        if !rest.is_empty() {
            self.emit(Event::GetData {
                peer: handle.id,
                items: rest,
            })
            .await;
        }
    }

    /// A peer delivered a block or transaction.
    pub async fn on_item(&self, handle: &PeerHandle, kind: ItemKind, data: Bytes) {
        let hash = self.item_id(kind, &data);
        handle.mark_known(hash);
        let delivery = self.relay.tracker.lock().on_delivered(handle.id, hash);
        self.relay.wake.notify_one();
        match delivery {
            Delivery::Expected => {
                let slot = match kind {
                    ItemKind::Block => &handle.last_block,
                    ItemKind::Tx => &handle.last_tx,
                };
                *slot.lock() = Some(Instant::now());
                if self.relay.seen.lock().insert(hash) {
                    self.emit(Event::Item {
                        kind,
                        peer: handle.id,
                        hash,
                        data,
                    })
                    .await;
                }
            }
            Delivery::Duplicate => {}
            Delivery::Unsolicited => {
                self.misbehaving(handle, Offence::UnsolicitedItem, kind.name());
            }
        }
    }

    /// A peer sent headers: it has those blocks.
    pub async fn on_headers(&self, handle: &PeerHandle, headers: Vec<Bytes>) {
        for header in &headers {
            handle.mark_known(self.item_id(ItemKind::Block, header));
        }
        self.emit(Event::Headers {
            peer: handle.id,
            headers,
        })
        .await;
    }

    /// Sends the request scheduler's GETDATAs as they become due.
    async fn request_loop(self: Arc<Self>) {
        loop {
            let deadline = self.relay.tracker.lock().next_deadline();
            tokio::select! {
                _ = self.relay.wake.notified() => {}
                _ = peer::sleep_until(deadline) => {}
            }
            let requests = self.relay.tracker.lock().poll(Instant::now());
            let mut by_peer: Vec<(PeerId, Vec<Inventory>)> = Vec::new();
            for r in requests {
                let item = Inventory {
                    kind: r.kind.inv_kind(),
                    hash: r.hash,
                };
                match by_peer.iter_mut().find(|(p, _)| *p == r.peer) {
                    Some((_, items)) => items.push(item),
                    None => by_peer.push((r.peer, vec![item])),
                }
            }
            for (peer, items) in by_peer {
                if let Some(handle) = self.peer(peer) {
                    for chunk in items.chunks(MAX_INV_ENTRIES) {
                        handle.send(&Message::GetData(chunk.to_vec()));
                    }
                }
            }
        }
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    if self.is_banned(addr.ip()) {
                        tracing::debug!(%addr, "inbound connection refused: banned");
                        continue;
                    }
                    if self.inbound_from(addr.ip()) >= self.config.max_inbound_per_ip {
                        tracing::debug!(%addr, "inbound connection refused: too many from this address");
                        continue;
                    }
                    if !self.admits_inbound() && !self.evict_inbound() {
                        tracing::debug!(%addr, "inbound connection refused: at capacity");
                        continue;
                    }
                    let id = self.next_id();
                    let connection =
                        peer::run_connection(self.clone(), stream, id, Origin::Inbound, addr);
                    // The supervisor holds only the task's handle, not its future.
                    let task = self.spawn(connection);
                    let shared = self.clone();
                    self.spawn(async move { shared.contain(id, task).await });
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Awaits a connection running on a task of its own, so that a panic inside it (a bug,
    /// or a node-installed hash function that panics) ends that connection only. The peer
    /// table entry is released by the task's unwinding; the node is told here.
    async fn contain(&self, id: PeerId, task: tokio::task::JoinHandle<bool>) -> bool {
        match task.await {
            Ok(established) => established,
            // Cancelled: the runtime is shutting down.
            Err(e) if !e.is_panic() => false,
            Err(_) => {
                tracing::error!(peer = id, "connection task panicked");
                self.emit(Event::PeerDisconnected {
                    id,
                    reason: DisconnectReason::InternalError,
                    detail: "the connection task panicked".into(),
                })
                .await;
                false
            }
        }
    }

    /// Dials and runs one outbound connection; returns whether it completed the
    /// handshake.
    async fn connect(self: Arc<Self>, id: PeerId, host: String, port: u16, origin: Origin) -> bool {
        let result = async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            let mut last_error = format!("{host} resolved to no address");
            for addr in addrs {
                if self.is_banned(addr.ip()) {
                    last_error = format!("{addr} is banned");
                    continue;
                }
                match tokio::time::timeout(self.config.connect_timeout, TcpStream::connect(addr))
                    .await
                {
                    Ok(Ok(stream)) => return Ok((stream, addr)),
                    Ok(Err(e)) => last_error = format!("connect to {addr} failed: {e}"),
                    Err(_) => {
                        last_error = format!(
                            "connect to {addr} timed out after {} ms",
                            self.config.connect_timeout.as_millis()
                        )
                    }
                }
            }
            Err(last_error)
        }
        .await;
        let automatic = origin == Origin::Automatic;
        let established = match result {
            Ok((stream, addr)) => {
                if automatic {
                    self.dialing.lock().remove(&addr);
                }
                let connection = peer::run_connection(self.clone(), stream, id, origin, addr);
                self.contain(id, self.spawn(connection)).await
            }
            Err(detail) => {
                tracing::info!(peer = id, %detail, "outbound connection failed");
                self.emit(Event::PeerDisconnected {
                    id,
                    reason: DisconnectReason::ConnectFailed,
                    detail,
                })
                .await;
                false
            }
        };
        if automatic {
            if let Ok(ip) = host.parse::<std::net::IpAddr>() {
                self.dialing.lock().remove(&SocketAddr::new(ip, port));
            }
        }
        established
    }
}

/// Pending connections the kernel queues for accept, as Bitcoin Core's SOMAXCONN: a
/// burst of connections must not push an honest peer's SYN into a retry.
const LISTEN_BACKLOG: u32 = 4096;

/// Binds the listening socket (address reuse on, as for any server restarted in place).
fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// What the node can read about block download progress.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncStatus {
    /// The highest start height announced by a connected peer.
    pub best_peer_height: i32,
    pub peer_count: usize,
    pub blocks_in_flight: usize,
    /// Blocks asked for with `fetch_blocks` that wait for a free peer slot.
    pub blocks_queued: usize,
}

/// A running engine's resources, torn down by `stop`.
struct Running {
    runtime: Runtime,
    dispatcher: Dispatcher,
    local_addr: Option<SocketAddr>,
}

enum Lifecycle {
    Created(mpsc::Receiver<Event>),
    Running(Running),
    /// Holds the dispatcher when `stop` ran on it (from a callback), so that `free` on
    /// another thread can still wait for that callback to return.
    Stopped(Option<Dispatcher>),
}

fn check_target(host: &str, port: u16) -> Result<()> {
    if host.is_empty() {
        return Err(Error::InvalidArgument("host is empty".into()));
    }
    if port == 0 {
        return Err(Error::InvalidArgument("port 0 cannot be dialled".into()));
    }
    Ok(())
}

/// A P2P engine. All methods take `&self` and may be called from any thread, including
/// from inside callbacks.
pub struct Engine {
    shared: Arc<Shared>,
    lifecycle: Mutex<Lifecycle>,
}

impl Engine {
    /// Builds an engine from a validated copy of `config`. Nothing runs until `start`.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        let (events_tx, events_rx) = mpsc::channel(config.event_queue_capacity.max(1));
        let log_filter = Arc::new(LogFilter::default());
        let tracing = logging::dispatch(log_filter.clone(), events_tx.clone());
        let relay = RelayState {
            tracker: Mutex::new(RequestTracker::new(
                config.tx_request_timeout,
                config.block_request_timeout,
            )),
            seen: Mutex::new(BoundedSet::new(SEEN_ITEMS)),
            cache: Mutex::new(BoundedMap::new(RELAY_CACHE_ITEMS, config.relay_cache_bytes)),
            pending: Mutex::new(BoundedMap::new(PENDING_VERDICTS, config.relay_cache_bytes)),
            judging: Mutex::new(None),
            wake: Notify::new(),
        };
        let mut startup_warnings = Vec::new();
        let bans = match &config.data_dir {
            Some(dir) => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    Error::Io(std::io::Error::new(
                        e.kind(),
                        format!("cannot create data directory {}: {e}", dir.display()),
                    ))
                })?;
                let (bans, warning) = BanList::load_or_new(
                    dir.join(BAN_FILE),
                    unix_now().max(0) as u64,
                    config.max_bans,
                );
                startup_warnings.extend(warning);
                bans
            }
            None => BanList::new(config.max_bans),
        };
        let addrman = match &config.data_dir {
            Some(dir) => {
                let path = dir.join(ADDRESS_FILE);
                let (book, warning) = AddrMan::load_or_new(
                    &path,
                    unix_now().max(0) as u64,
                    config.allow_local_addresses,
                );
                // A missing file is the normal first start, not worth a warning.
                if path.exists() {
                    startup_warnings.extend(warning);
                }
                book
            }
            None => AddrMan::new(config.allow_local_addresses),
        };
        let seeds = config.dns_seeds.clone();
        let shared = Arc::new(Shared {
            best_height: AtomicI32::new(config.start_height),
            config,
            callbacks: Callbacks::default(),
            stopped: AtomicBool::new(false),
            events: events_tx,
            log_filter,
            tracing,
            peers: RwLock::new(HashMap::new()),
            inbound_count: AtomicUsize::new(0),
            inbound_per_ip: Mutex::new(HashMap::new()),
            outbound_count: AtomicUsize::new(0),
            next_peer_id: AtomicU64::new(1),
            local_nonces: Mutex::new(HashSet::new()),
            hasher: RwLock::new(Arc::new(bitcoin_item_id)),
            relay,
            bans: Mutex::new(bans),
            bans_changed: Notify::new(),
            startup_warnings: Mutex::new(startup_warnings),
            addrman: Mutex::new(addrman),
            added: Mutex::new(Vec::new()),
            seeds: Mutex::new(seeds),
            resolver: Mutex::new(None),
            connman_wake: Notify::new(),
            dialing: Mutex::new(HashSet::new()),
            listen_addr: Mutex::new(None),
            eviction_key: rand::random(),
            last_seed_query: Mutex::new(None),
        });
        Ok(Engine {
            shared,
            lifecycle: Mutex::new(Lifecycle::Created(events_rx)),
        })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// Starts the runtime, binds the listener and starts the dispatcher thread.
    pub fn start(&self) -> Result<()> {
        let mut lifecycle = self.lifecycle.lock();
        let events_rx = match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped(None)) {
            Lifecycle::Created(rx) => rx,
            other => {
                let msg = match other {
                    Lifecycle::Running(_) => "engine is already running",
                    _ => "engine was stopped and cannot be restarted",
                };
                *lifecycle = other;
                return Err(Error::InvalidState(msg));
            }
        };
        match self.launch(events_rx) {
            Ok(running) => {
                *lifecycle = Lifecycle::Running(running);
                Ok(())
            }
            Err((rx, e)) => {
                *lifecycle = Lifecycle::Created(rx);
                Err(e)
            }
        }
    }

    fn launch(
        &self,
        events_rx: mpsc::Receiver<Event>,
    ) -> std::result::Result<Running, (mpsc::Receiver<Event>, Error)> {
        let config = &self.shared.config;
        let runtime = match tokio::runtime::Builder::new_multi_thread()
            .worker_threads(config.worker_threads)
            .thread_name("p2pnet-worker")
            .enable_all()
            .build()
        {
            Ok(rt) => rt,
            Err(e) => return Err((events_rx, e.into())),
        };
        let listener = match config.listen_address {
            Some(addr) => {
                let bound = {
                    let _guard = runtime.enter();
                    listen(addr)
                };
                match bound {
                    Ok(l) => Some(l),
                    Err(e) => {
                        let err = Error::Io(std::io::Error::new(
                            e.kind(),
                            format!("cannot listen on {addr}: {e}"),
                        ));
                        return Err((events_rx, err));
                    }
                }
            }
            None => None,
        };
        let local_addr = listener.as_ref().and_then(|l| l.local_addr().ok());
        *self.shared.listen_addr.lock() = local_addr;
        let dispatcher = match Dispatcher::spawn(self.shared.clone(), events_rx) {
            Ok(d) => d,
            Err(e) => {
                // The receiver moved into the failed spawn; a fresh engine is needed.
                return Err((mpsc::channel(1).1, e.into()));
            }
        };
        {
            let _guard = runtime.enter();
            if let Some(listener) = listener {
                self.shared.spawn(self.shared.clone().accept_loop(listener));
            }
            self.shared.spawn(self.shared.clone().request_loop());
            self.shared.spawn(self.shared.clone().ban_writer());
            self.shared.spawn(self.shared.clone().connection_manager());
        }
        tracing::dispatcher::with_default(&self.shared.tracing, || {
            for warning in self.shared.startup_warnings.lock().drain(..) {
                tracing::warn!("{warning}");
            }
            tracing::info!(listen = ?local_addr, magic = format_args!("{:#010x}", config.magic), "engine started");
        });
        Ok(Running {
            runtime,
            dispatcher,
            local_addr,
        })
    }

    /// Stops everything. Waits for an in-flight callback (unless called from one); no
    /// callback runs after this returns, and registered user data is released.
    pub fn stop(&self) -> Result<()> {
        let running = {
            let mut lifecycle = self.lifecycle.lock();
            match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped(None)) {
                Lifecycle::Running(running) => running,
                other @ (Lifecycle::Created(_) | Lifecycle::Stopped(_)) => {
                    let msg = if matches!(other, Lifecycle::Created(_)) {
                        "engine is not running"
                    } else {
                        "engine is already stopped"
                    };
                    *lifecycle = other;
                    return Err(Error::InvalidState(msg));
                }
            }
        };
        self.shared.stopped.store(true, Ordering::Release);
        // Wake the dispatcher if it is idle; when the queue is full it is busy and sees
        // the flag after its current event.
        let _ = self.shared.events.try_send(Event::Wake);
        running.runtime.shutdown_timeout(SHUTDOWN_GRACE);
        if let Some(path) = self.shared.ban_path() {
            // Nothing is left to report a failure to once stopped; the next start warns
            // if the file is unreadable.
            let _ = self.shared.save_bans(&path);
        }
        self.shared.save_addresses();
        if running.dispatcher.is_current_thread() {
            // Called from a callback: it is still on the stack. Keep the thread so that
            // free from another thread can wait for it.
            *self.lifecycle.lock() = Lifecycle::Stopped(Some(running.dispatcher));
        } else {
            running.dispatcher.join();
        }
        self.shared.callbacks.clear();
        Ok(())
    }

    fn running<T>(&self, f: impl FnOnce(&Running) -> T) -> Result<T> {
        match &*self.lifecycle.lock() {
            Lifecycle::Running(running) => Ok(f(running)),
            Lifecycle::Created(_) => Err(Error::InvalidState("engine is not running")),
            Lifecycle::Stopped(_) => Err(Error::InvalidState("engine is stopped")),
        }
    }

    /// Fails once the engine was stopped.
    pub fn not_stopped(&self) -> Result<()> {
        match &*self.lifecycle.lock() {
            Lifecycle::Stopped(_) => Err(Error::InvalidState("engine is stopped")),
            _ => Ok(()),
        }
    }

    fn peer_handle(&self, id: PeerId) -> Result<Arc<PeerHandle>> {
        self.running(|_| ())?;
        self.shared
            .peer(id)
            .ok_or_else(|| Error::NotFound(format!("no peer with id {id}")))
    }

    /// The address the listener is bound to (with the real port when 0 was configured).
    pub fn local_addr(&self) -> Result<Option<SocketAddr>> {
        self.running(|r| r.local_addr)
    }

    /// Connects once to `host:port` (an IP address or a name) in the background; the
    /// outcome arrives as a peer connected or disconnected event. Returns the id the
    /// connection will have. Nothing redials it when it drops (see `add_node`).
    pub fn add_peer(&self, host: &str, port: u16) -> Result<PeerId> {
        check_target(host, port)?;
        let handle = self.running(|r| r.runtime.handle().clone())?;
        let id = self.shared.next_id();
        let _guard = handle.enter();
        let shared = self.shared.clone();
        let host = host.to_owned();
        self.shared
            .spawn(async move { shared.connect(id, host, port, Origin::Manual).await });
        Ok(id)
    }

    /// Keeps a connection to `host:port`, like Bitcoin Core's -addnode: dialled at once
    /// and redialled with back-off (1 s doubling to 60 s) whenever it drops. Returns the
    /// id of the first attempt.
    pub fn add_node(&self, host: &str, port: u16) -> Result<PeerId> {
        check_target(host, port)?;
        self.running(|_| ())?;
        let id = self.shared.next_id();
        {
            let mut added = self.shared.added.lock();
            if added.iter().any(|e| e.host == host && e.port == port) {
                return Err(Error::InvalidArgument(format!(
                    "{host}:{port} is already added"
                )));
            }
            added.push(AddedPeer {
                host: host.to_owned(),
                port,
                first_id: Some(id),
                next_attempt: Instant::now(),
                backoff: ADDED_PEER_BACKOFF,
                active: false,
            });
        }
        self.shared.connman_wake.notify_one();
        Ok(id)
    }

    /// Stops keeping `host:port` connected (an open connection stays until it drops).
    pub fn remove_node(&self, host: &str, port: u16) -> Result<()> {
        self.not_stopped()?;
        let mut added = self.shared.added.lock();
        let before = added.len();
        added.retain(|e| !(e.host == host && e.port == port));
        if added.len() == before {
            return Err(Error::NotFound(format!("{host}:{port} was not added")));
        }
        Ok(())
    }

    /// Adds a DNS seed, queried when the address book runs short.
    pub fn add_dns_seed(&self, host: &str, port: u16) -> Result<()> {
        self.not_stopped()?;
        if host.is_empty() || port == 0 {
            return Err(Error::InvalidArgument(
                "a seed needs a name and a port".into(),
            ));
        }
        let mut seeds = self.shared.seeds.lock();
        if !seeds.iter().any(|(h, p)| h == host && *p == port) {
            seeds.push((host.to_owned(), port));
        }
        Ok(())
    }

    /// Queries every DNS seed now, in the background; results go to the address book.
    pub fn query_dns_seeds(&self) -> Result<()> {
        let handle = self.running(|r| r.runtime.handle().clone())?;
        if self.shared.seeds.lock().is_empty() {
            return Err(Error::InvalidState("no DNS seeds are configured"));
        }
        let _guard = handle.enter();
        self.shared.query_seeds();
        Ok(())
    }

    /// Addresses in the address book.
    pub fn address_count(&self) -> Result<usize> {
        self.not_stopped()?;
        Ok(self.shared.addrman.lock().len())
    }

    /// Whether the address book holds `addr`.
    pub fn knows_address(&self, addr: SocketAddr) -> Result<bool> {
        self.not_stopped()?;
        Ok(self.shared.addrman.lock().contains(addr))
    }

    /// Closes the connection to a peer.
    pub fn disconnect_peer(&self, id: PeerId) -> Result<()> {
        self.peer_handle(id)?.request_close(
            DisconnectReason::Requested,
            "disconnect requested by node".into(),
        );
        Ok(())
    }

    /// Snapshots of every peer that completed the handshake, ordered by id.
    pub fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.running(|_| ())?;
        let mut peers: Vec<PeerInfo> = self
            .shared
            .established_peers()
            .iter()
            .filter_map(|p| p.info())
            .collect();
        peers.sort_by_key(|p| p.id);
        Ok(peers)
    }

    /// The height announced in future version messages.
    pub fn set_best_height(&self, height: i32) -> Result<()> {
        self.not_stopped()?;
        self.shared.best_height.store(height, Ordering::Relaxed);
        Ok(())
    }

    /// Relays a block or transaction the node produced or accepted; returns its id.
    pub fn broadcast(&self, kind: ItemKind, data: &[u8]) -> Result<Hash256> {
        self.running(|_| ())?;
        if data.is_empty() {
            return Err(Error::InvalidArgument(format!("empty {}", kind.name())));
        }
        let max = self.shared.config.max_message_size as usize;
        if data.len() > max {
            return Err(Error::InvalidArgument(format!(
                "{} of {} bytes exceeds the message limit {max}",
                kind.name(),
                data.len()
            )));
        }
        let hash = self.shared.item_id(kind, data);
        self.shared.relay.seen.lock().insert(hash);
        self.shared.relay.tracker.lock().forget(&hash);
        self.shared.relay_item(kind, hash, data);
        Ok(hash)
    }

    /// Reports the verdict for an item whose callback returned `Verdict::Pending`.
    pub fn report_verdict(&self, hash: &Hash256, verdict: Verdict) -> Result<()> {
        self.running(|_| ())?;
        if verdict == Verdict::Pending {
            return Err(Error::InvalidArgument(
                "a reported verdict cannot be pending".into(),
            ));
        }
        let (kind, data, peer) = self
            .shared
            .take_unjudged(hash)
            .ok_or_else(|| Error::NotFound("no item awaits a verdict with that id".into()))?;
        self.shared.apply_verdict_with(
            kind,
            *hash,
            data,
            peer,
            verdict,
            Offence::InvalidItemReportedLater,
        );
        Ok(())
    }

    /// Adds misbehaviour points to a peer, e.g. for a bad block the node found later.
    pub fn misbehaving(&self, id: PeerId, points: u32, reason: &str) -> Result<()> {
        let handle = self.peer_handle(id)?;
        self.shared
            .add_score(&handle, points, "reported by node", reason);
        Ok(())
    }

    /// Bans a subnet ("1.2.3.4", "10.0.0.0/8", "2001:db8::/32") until a Unix time:
    /// connections from it are refused at accept, it is never dialled, and current
    /// connections inside it are dropped.
    pub fn ban_until(&self, subnet: &str, until: u64, reason: &str) -> Result<()> {
        self.not_stopped()?;
        let subnet = Subnet::parse(subnet).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if until <= unix_now().max(0) as u64 {
            return Err(Error::InvalidArgument("ban end is in the past".into()));
        }
        if !self.shared.ban(subnet, until, reason) {
            return Err(Error::InvalidArgument(format!(
                "ban of {subnet} not stored: the list is full of bans lasting longer"
            )));
        }
        Ok(())
    }

    /// Bans a subnet for a duration from now.
    pub fn ban_for(&self, subnet: &str, duration: Duration, reason: &str) -> Result<()> {
        let until = (unix_now().max(0) as u64).saturating_add(duration.as_secs().max(1));
        self.ban_until(subnet, until, reason)
    }

    /// Lifts a ban; `NotFound` when there was none for exactly this subnet.
    pub fn unban(&self, subnet: &str) -> Result<()> {
        self.not_stopped()?;
        let subnet = Subnet::parse(subnet).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if !self.shared.bans.lock().unban(&subnet) {
            return Err(Error::NotFound(format!("{subnet} is not banned")));
        }
        self.shared.bans_changed.notify_one();
        Ok(())
    }

    /// Bans in force, ordered by subnet.
    pub fn bans(&self) -> Result<Vec<(Subnet, BanEntry)>> {
        self.not_stopped()?;
        Ok(self.shared.bans.lock().list(unix_now().max(0) as u64))
    }

    /// Lifts every ban.
    pub fn clear_bans(&self) -> Result<()> {
        self.not_stopped()?;
        self.shared.bans.lock().clear();
        self.shared.bans_changed.notify_one();
        Ok(())
    }

    /// Sends getheaders with the node's block locator to a peer.
    pub fn send_get_headers(&self, id: PeerId, locator: Vec<Hash256>, stop: Hash256) -> Result<()> {
        if locator.len() > crate::wire::MAX_LOCATOR_HASHES {
            return Err(Error::InvalidArgument(format!(
                "locator has {} hashes, limit {}",
                locator.len(),
                crate::wire::MAX_LOCATOR_HASHES
            )));
        }
        let handle = self.peer_handle(id)?;
        handle.send(&Message::GetHeaders(BlockLocator {
            version: self.shared.config.protocol_version as u32,
            hashes: locator,
            stop,
        }));
        Ok(())
    }

    /// Downloads blocks by id from peers; each arrives through the block callback.
    /// Returns how many were newly queued.
    pub fn fetch_blocks(&self, hashes: &[Hash256]) -> Result<usize> {
        self.running(|_| ())?;
        let wanted: Vec<Hash256> = {
            let seen = self.shared.relay.seen.lock();
            hashes
                .iter()
                .filter(|h| !seen.contains(h))
                .copied()
                .collect()
        };
        let added = self.shared.relay.tracker.lock().fetch(&wanted);
        self.shared.relay.wake.notify_one();
        Ok(added)
    }

    /// Download progress for the node's sync logic.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        self.running(|_| ())?;
        let peers = self.shared.established_peers();
        let (blocks_in_flight, blocks_queued) = self.shared.relay.tracker.lock().counts();
        Ok(SyncStatus {
            best_peer_height: peers
                .iter()
                .filter_map(|p| p.info())
                .map(|p| p.start_height)
                .max()
                .unwrap_or(0),
            peer_count: peers.len(),
            blocks_in_flight,
            blocks_queued,
        })
    }

    /// The id this engine gives an item.
    pub fn item_id(&self, kind: ItemKind, data: &[u8]) -> Hash256 {
        self.shared.item_id(kind, data)
    }

    /// Installs the function that computes item ids (default: Bitcoin's).
    pub fn set_item_hasher(&self, hasher: Option<ItemHasher>) -> Result<()> {
        self.not_stopped()?;
        *self.shared.hasher.write() = hasher.unwrap_or_else(|| Arc::new(bitcoin_item_id));
        Ok(())
    }

    pub fn set_on_peer_connected(&self, cb: Option<PeerConnectedCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.peer_connected, cb)
    }

    pub fn set_on_peer_disconnected(&self, cb: Option<PeerDisconnectedCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.peer_disconnected, cb)
    }

    pub fn set_on_block(&self, cb: Option<ItemCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.block, cb)
    }

    pub fn set_on_transaction(&self, cb: Option<ItemCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.tx, cb)
    }

    pub fn set_data_provider(&self, cb: Option<DataProvider>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.data_provider, cb)
    }

    pub fn set_on_get_headers(&self, cb: Option<GetHeadersCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.get_headers, cb)
    }

    pub fn set_on_get_blocks(&self, cb: Option<GetBlocksCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.get_blocks, cb)
    }

    pub fn set_on_headers(&self, cb: Option<HeadersCallback>) -> Result<()> {
        self.replace_callback(&self.shared.callbacks.headers, cb)
    }

    /// Installs the log callback with the most verbose level it wants; `None` turns it off.
    pub fn set_log_callback(
        &self,
        max_level: Option<LogLevel>,
        cb: Option<LogCallback>,
    ) -> Result<()> {
        let level = if cb.is_some() { max_level } else { None };
        self.replace_callback(&self.shared.callbacks.log, cb)?;
        self.shared.log_filter.set(level);
        Ok(())
    }

    /// Log records dropped because the node's event queue was full.
    pub fn dropped_log_records(&self) -> u64 {
        self.shared.log_filter.dropped()
    }

    fn replace_callback<T>(&self, slot: &Mutex<Option<T>>, cb: Option<T>) -> Result<()> {
        // Holding the lifecycle lock orders this against `stop`, so a registration can
        // never slip in after stop cleared the callbacks.
        let lifecycle = self.lifecycle.lock();
        if matches!(*lifecycle, Lifecycle::Stopped(_)) {
            return Err(Error::InvalidState("engine is stopped"));
        }
        let old = std::mem::replace(&mut *slot.lock(), cb);
        drop(lifecycle);
        // The old callback's user data is released here unless a call is in flight.
        drop(old);
        Ok(())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop();
        // A callback that stopped the engine may still be running: wait for it (unless
        // this is that callback freeing the engine) so nothing runs after free returns.
        let pending = match &mut *self.lifecycle.lock() {
            Lifecycle::Stopped(dispatcher) => dispatcher.take(),
            _ => None,
        };
        if let Some(dispatcher) = pending {
            dispatcher.join();
        }
        self.shared.callbacks.clear();
    }
}
