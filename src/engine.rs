//! The engine: the safe Rust API the FFI layer wraps. It builds the core from the config
//! and persisted state, starts and stops the runtime and the dispatcher thread, and turns
//! each API call into one step of the core.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::addrman::AddrMan;
use crate::banman::{BanEntry, BanList};
use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::{CommandTraffic, Health, LogLevel, NetTotals, PeerId, PeerInfo};
use crate::node::{BanRefused, Node};
use crate::relay::{HaveFunction, ItemHasher, ItemKind, Verdict};
use crate::runtime::dispatcher::{
    CustomMessageCallback, DataProvider, Dispatcher, GetBlocksCallback, GetHeadersCallback,
    HeadersCallback, HealthCallback, ItemCallback, LogCallback, PeerConnectedCallback,
    PeerDisconnectedCallback, PingCallback,
};
use crate::runtime::logging::{self, LogFilter};
use crate::runtime::queue::{EventSender, Queued, EVENT_QUEUE_BYTES};
use crate::runtime::{network, storage, Driver};
use crate::subnet::Subnet;
use crate::wire::Command;
use crate::wire::{BlockLocator, Hash256};

pub use crate::node::SyncStatus;

/// How long `stop` lets tasks wind down before the runtime is dropped regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// A running engine's resources, torn down by `stop`.
struct Running {
    runtime: Runtime,
    dispatcher: Dispatcher,
    local_addr: Option<SocketAddr>,
}

enum Lifecycle {
    Created(mpsc::Receiver<Queued>),
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

/// What the engine keeps between runs.
struct Stored {
    bans: BanList,
    addrman: AddrMan,
    anchors: Vec<SocketAddr>,
    /// Worth logging once the engine starts.
    warnings: Vec<String>,
}

/// Loads the ban list, the address book and the anchors from the data directory (or
/// starts without them).
fn load_state(config: &Config, now: u64) -> Result<Stored> {
    let Some(dir) = &config.data_dir else {
        return Ok(Stored {
            bans: BanList::new(config.max_bans),
            addrman: AddrMan::new(config.allow_local_addresses),
            anchors: Vec::new(),
            warnings: Vec::new(),
        });
    };
    std::fs::create_dir_all(dir).map_err(|e| {
        Error::Io(std::io::Error::new(
            e.kind(),
            format!("cannot create data directory {}: {e}", dir.display()),
        ))
    })?;
    let mut warnings = Vec::new();
    let (bans, warning) = BanList::load_or_new(dir.join(storage::BAN_FILE), now, config.max_bans);
    warnings.extend(warning);
    let path = dir.join(storage::ADDRESS_FILE);
    let (book, warning) = AddrMan::load_or_new(&path, now, config.allow_local_addresses);
    // A missing file is the normal first start, not worth a warning.
    if path.exists() {
        warnings.extend(warning);
    }
    let (anchors, warning) = crate::anchors::take(&dir.join(storage::ANCHORS_FILE));
    warnings.extend(warning);
    Ok(Stored {
        bans,
        addrman: book,
        anchors,
        warnings,
    })
}

/// A P2P engine. All methods take `&self` and may be called from any thread, including
/// from inside callbacks.
pub struct Engine {
    driver: Arc<Driver>,
    lifecycle: Mutex<Lifecycle>,
    /// Warnings from loading persisted state, logged once the engine starts.
    startup_warnings: Vec<String>,
}

impl Engine {
    /// Builds an engine from a validated copy of `config`. Nothing runs until `start`.
    pub fn new(config: Config) -> Result<Self> {
        config.validate()?;
        let (events_tx, events_rx) =
            EventSender::channel(config.event_queue_capacity, EVENT_QUEUE_BYTES);
        let log_filter = Arc::new(LogFilter::default());
        let tracing = logging::dispatch(log_filter.clone(), events_tx.clone());
        let now = Driver::now();
        let stored = load_state(&config, now.unix)?;
        let startup_warnings = stored.warnings;
        let node = Node::new(
            config.clone(),
            stored.bans,
            stored.addrman,
            stored.anchors,
            rand::random(),
            now,
        );
        let driver = Driver::new(config, node, events_tx, log_filter, tracing);
        Ok(Engine {
            driver,
            lifecycle: Mutex::new(Lifecycle::Created(events_rx)),
            startup_warnings,
        })
    }

    pub fn config(&self) -> &Config {
        &self.driver.config
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
        events_rx: mpsc::Receiver<Queued>,
    ) -> std::result::Result<Running, (mpsc::Receiver<Queued>, Error)> {
        let config = &self.driver.config;
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
                    network::listen(addr)
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
        self.driver
            .run_now(|node, _| node.set_listen_addr(local_addr));
        let dispatcher = match Dispatcher::spawn(self.driver.clone(), events_rx) {
            Ok(d) => d,
            Err(e) => {
                // The receiver moved into the failed spawn; a fresh engine is needed.
                return Err((mpsc::channel(1).1, e.into()));
            }
        };
        {
            let _guard = runtime.enter();
            self.driver.attach(runtime.handle().clone());
            if let Some(listener) = listener {
                self.driver
                    .spawn(network::accept_loop(self.driver.clone(), listener));
            }
        }
        self.driver.in_log_scope(|| {
            for warning in &self.startup_warnings {
                tracing::warn!("{warning}");
            }
            tracing::info!(listen = %local_addr.map_or_else(|| "none".to_owned(), |a| a.to_string()), magic = format_args!("{:#010x}", config.magic), "engine started");
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
                // Stopping twice is harmless: a node's shutdown path need not track it.
                stopped @ Lifecycle::Stopped(_) => {
                    *lifecycle = stopped;
                    return Ok(());
                }
                created @ Lifecycle::Created(_) => {
                    *lifecycle = created;
                    return Err(Error::InvalidState("engine is not running"));
                }
            }
        };
        self.driver.stopped.store(true, Ordering::Release);
        // Which block-relay-only peers become anchors is decided while they are still
        // connected.
        self.driver.run_now(|node, _| node.keep_anchors());
        // Wake the dispatcher if it is idle; when the queue is full it is busy and sees
        // the flag after its current event.
        self.driver.wake_dispatcher();
        running.runtime.shutdown_timeout(SHUTDOWN_GRACE);
        self.driver.write_final_snapshots();
        if running.dispatcher.is_current_thread() {
            // Called from a callback: it is still on the stack. Keep the thread so that
            // free from another thread can wait for it.
            *self.lifecycle.lock() = Lifecycle::Stopped(Some(running.dispatcher));
        } else {
            running.dispatcher.join();
        }
        self.driver.callbacks.clear();
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

    fn no_peer(id: PeerId) -> Error {
        Error::NotFound(format!("no peer with id {id}"))
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
        self.running(|_| ())?;
        let host = host.to_owned();
        Ok(self.driver.run_now(|node, _| node.add_peer(host, port)))
    }

    /// Keeps a connection to `host:port`, like Bitcoin Core's -addnode: dialled at once
    /// and redialled with back-off (1 s doubling to 60 s) whenever it drops. Returns the
    /// id of the first attempt.
    pub fn add_node(&self, host: &str, port: u16) -> Result<PeerId> {
        check_target(host, port)?;
        self.running(|_| ())?;
        self.driver
            .run_now(|node, now| node.add_node(host, port, now))
            .ok_or_else(|| Error::InvalidArgument(format!("{host}:{port} is already added")))
    }

    /// Stops keeping `host:port` connected (an open connection stays until it drops).
    pub fn remove_node(&self, host: &str, port: u16) -> Result<()> {
        self.not_stopped()?;
        if !self.driver.run_now(|node, _| node.remove_node(host, port)) {
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
        self.driver.run_now(|node, _| node.add_dns_seed(host, port));
        Ok(())
    }

    /// Queries every DNS seed now, in the background; results go to the address book.
    pub fn query_dns_seeds(&self) -> Result<()> {
        self.running(|_| ())?;
        if !self.driver.inspect(|node| node.has_dns_seeds()) {
            return Err(Error::InvalidState("no DNS seeds are configured"));
        }
        self.driver.run_now(|node, now| node.query_seeds(now));
        Ok(())
    }

    /// Addresses in the address book.
    pub fn address_count(&self) -> Result<usize> {
        self.not_stopped()?;
        Ok(self.driver.inspect(|node| node.address_count()))
    }

    /// Whether the address book holds `addr`.
    pub fn knows_address(&self, addr: SocketAddr) -> Result<bool> {
        self.not_stopped()?;
        Ok(self.driver.inspect(|node| node.knows_address(addr)))
    }

    /// Closes the connection to a peer.
    pub fn disconnect_peer(&self, id: PeerId) -> Result<()> {
        self.running(|_| ())?;
        if !self.driver.run_now(|node, _| node.disconnect(id)) {
            return Err(Self::no_peer(id));
        }
        Ok(())
    }

    /// Snapshots of every peer that completed the handshake, ordered by id.
    pub fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.running(|_| ())?;
        let mut peers = self.driver.inspect(|node| node.peer_infos());
        for peer in &mut peers {
            self.driver.fill_link_stats(peer);
        }
        Ok(peers)
    }

    /// The height announced in future version messages.
    pub fn set_best_height(&self, height: i32) -> Result<()> {
        self.not_stopped()?;
        self.driver
            .run_now(|node, now| node.set_best_height(height, now));
        Ok(())
    }

    /// The node's tip: its height is announced in future version messages, and headers
    /// building on it let the engine tell the heights peers have.
    pub fn set_best_block(&self, height: i32, hash: &Hash256) -> Result<()> {
        self.not_stopped()?;
        let hash = *hash;
        self.driver
            .run_now(|node, now| node.set_best_block(height, hash, now));
        Ok(())
    }

    /// The node's fee floor (satoshis per 1,000 vbytes), sent to peers as `feefilter`
    /// (BIP133) so they need not announce cheaper transactions.
    pub fn set_fee_filter(&self, rate: u64) -> Result<()> {
        self.not_stopped()?;
        self.driver
            .run_now(|node, now| node.set_fee_filter(rate, now));
        Ok(())
    }

    /// Relays a block or transaction the node produced or accepted; returns its id.
    /// The engine keeps a copy of `data`; [`broadcast_bytes`](Self::broadcast_bytes)
    /// takes a buffer without copying it.
    pub fn broadcast(&self, kind: ItemKind, data: &[u8]) -> Result<Hash256> {
        self.broadcast_with_fee_rate(kind, data, None)
    }

    /// [`broadcast`](Self::broadcast), with the transaction's fee rate (satoshis per
    /// 1,000 vbytes) when the node knows it: peers whose fee filter is higher are not
    /// told about it.
    pub fn broadcast_with_fee_rate(
        &self,
        kind: ItemKind,
        data: &[u8],
        fee_rate: Option<u64>,
    ) -> Result<Hash256> {
        self.broadcast_bytes(kind, Bytes::copy_from_slice(data), fee_rate)
    }

    /// Relays an item without copying it: the engine shares `data` with every peer it
    /// is sent to and with its relay cache, and releases it when the last of them is
    /// done (a large block is then never copied before it goes on the wire).
    pub fn broadcast_bytes(
        &self,
        kind: ItemKind,
        data: Bytes,
        fee_rate: Option<u64>,
    ) -> Result<Hash256> {
        self.running(|_| ())?;
        if data.is_empty() {
            return Err(Error::InvalidArgument(format!("empty {}", kind.name())));
        }
        let max = self.driver.config.max_message_size as usize;
        if data.len() > max {
            return Err(Error::InvalidArgument(format!(
                "{} of {} bytes exceeds the message limit {max}",
                kind.name(),
                data.len()
            )));
        }
        let ids = self.driver.item_ids(kind, &data);
        let frame = self.driver.item_frame(kind, data);
        self.driver
            .run_now(|node, now| node.broadcast(kind, ids, frame, fee_rate, now));
        Ok(ids.id)
    }

    /// Reports the verdict for an item whose callback returned `Verdict::Pending`.
    pub fn report_verdict(&self, hash: &Hash256, verdict: Verdict) -> Result<()> {
        self.running(|_| ())?;
        if verdict == Verdict::Pending {
            return Err(Error::InvalidArgument(
                "a reported verdict cannot be pending".into(),
            ));
        }
        let item = self
            .driver
            .run_now(|node, _| node.take_unjudged(hash))
            .ok_or_else(|| Error::NotFound("no item awaits a verdict with that id".into()))?;
        let frame = (verdict == Verdict::Accepted).then(|| {
            self.driver
                .relay_frame(item.kind, &item.data, item.frame.clone())
        });
        self.driver
            .run_now(|node, now| node.reported_verdict(*hash, item, verdict, frame, now));
        Ok(())
    }

    /// Adds misbehaviour points to a peer, e.g. for a bad block the node found later.
    pub fn misbehaving(&self, id: PeerId, points: u32, reason: &str) -> Result<()> {
        self.running(|_| ())?;
        if !self
            .driver
            .run_now(|node, now| node.node_reports_misbehaviour(id, points, reason, now))
        {
            return Err(Self::no_peer(id));
        }
        Ok(())
    }

    /// Bans a subnet ("1.2.3.4", "10.0.0.0/8", "2001:db8::/32") until a Unix time:
    /// connections from it are refused at accept, it is never dialled, and current
    /// connections inside it are dropped.
    pub fn ban_until(&self, subnet: &str, until: u64, reason: &str) -> Result<()> {
        self.not_stopped()?;
        let subnet = Subnet::parse(subnet).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        self.driver
            .run_now(|node, now| node.ban(subnet, until, reason, now))
            .map_err(|refused| match refused {
                BanRefused::InThePast => Error::InvalidArgument("ban end is in the past".into()),
                BanRefused::ListFull => Error::InvalidArgument(format!(
                    "ban of {subnet} not stored: the list is full of bans lasting longer"
                )),
            })
    }

    /// Bans a subnet for a duration from now.
    pub fn ban_for(&self, subnet: &str, duration: Duration, reason: &str) -> Result<()> {
        let until = Driver::now().unix.saturating_add(duration.as_secs().max(1));
        self.ban_until(subnet, until, reason)
    }

    /// Lifts a ban; `NotFound` when there was none for exactly this subnet.
    pub fn unban(&self, subnet: &str) -> Result<()> {
        self.not_stopped()?;
        let subnet = Subnet::parse(subnet).map_err(|e| Error::InvalidArgument(e.to_string()))?;
        if !self.driver.run_now(|node, now| node.unban(&subnet, now)) {
            return Err(Error::NotFound(format!("{subnet} is not banned")));
        }
        Ok(())
    }

    /// Bans in force, ordered by subnet.
    pub fn bans(&self) -> Result<Vec<(Subnet, BanEntry)>> {
        self.not_stopped()?;
        let now = Driver::now();
        Ok(self.driver.inspect(|node| node.bans(now)))
    }

    /// Lifts every ban.
    pub fn clear_bans(&self) -> Result<()> {
        self.not_stopped()?;
        self.driver.run_now(|node, now| node.clear_bans(now));
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
        self.running(|_| ())?;
        let locator = BlockLocator {
            version: self.driver.config.protocol_version as u32,
            hashes: locator,
            stop,
        };
        if !self
            .driver
            .run_now(|node, now| node.send_get_headers(id, locator, now))
        {
            return Err(Self::no_peer(id));
        }
        Ok(())
    }

    /// Downloads blocks by id from peers; each arrives through the block callback.
    /// Returns how many were newly queued.
    pub fn fetch_blocks(&self, hashes: &[Hash256]) -> Result<usize> {
        self.running(|_| ())?;
        Ok(self
            .driver
            .run_now(|node, now| node.fetch_blocks(hashes, now)))
    }

    /// Download progress for the node's sync logic.
    pub fn sync_status(&self) -> Result<SyncStatus> {
        self.running(|_| ())?;
        Ok(self.driver.inspect(|node| node.sync_status()))
    }

    /// The id this engine gives an item.
    pub fn item_id(&self, kind: ItemKind, data: &[u8]) -> Hash256 {
        self.driver.item_id(kind, data)
    }

    /// Installs the function that computes item ids (default: Bitcoin's).
    pub fn set_item_hasher(&self, hasher: Option<ItemHasher>) -> Result<()> {
        self.not_stopped()?;
        self.driver.set_hasher(hasher);
        Ok(())
    }

    /// Installs the node's "already have" query (`None` removes it): announced items it
    /// has are not fetched.
    pub fn set_have_function(&self, have: Option<HaveFunction>) -> Result<()> {
        self.not_stopped()?;
        self.driver.set_have(have);
        Ok(())
    }

    pub fn set_on_peer_connected(&self, cb: Option<PeerConnectedCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.peer_connected, cb)
    }

    pub fn set_on_peer_disconnected(&self, cb: Option<PeerDisconnectedCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.peer_disconnected, cb)
    }

    pub fn set_on_block(&self, cb: Option<ItemCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.block, cb)
    }

    pub fn set_on_transaction(&self, cb: Option<ItemCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.tx, cb)
    }

    pub fn set_data_provider(&self, cb: Option<DataProvider>) -> Result<()> {
        let present = cb.is_some();
        self.replace_callback(&self.driver.callbacks.data_provider, cb)?;
        self.driver
            .run_now(|node, _| node.set_has_data_provider(present));
        Ok(())
    }

    pub fn set_on_get_headers(&self, cb: Option<GetHeadersCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.get_headers, cb)
    }

    pub fn set_on_get_blocks(&self, cb: Option<GetBlocksCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.get_blocks, cb)
    }

    pub fn set_on_headers(&self, cb: Option<HeadersCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.headers, cb)
    }

    /// Installs the log callback with the most verbose level it wants; `None` turns it off.
    pub fn set_log_callback(
        &self,
        max_level: Option<LogLevel>,
        cb: Option<LogCallback>,
    ) -> Result<()> {
        let level = if cb.is_some() { max_level } else { None };
        self.replace_callback(&self.driver.callbacks.log, cb)?;
        self.driver.log_filter.set(level);
        Ok(())
    }

    /// Log records dropped because the node's event queue was full.
    pub fn dropped_log_records(&self) -> u64 {
        self.driver.log_filter.dropped()
    }

    /// Traffic since the engine was created, engine-wide (closed connections included).
    pub fn net_totals(&self) -> NetTotals {
        self.driver.traffic.totals()
    }

    /// Messages and bytes by command since the engine was created.
    pub fn command_traffic(&self) -> Vec<CommandTraffic> {
        self.driver.traffic.by_command()
    }

    /// Installs the callback that receives node-defined messages (`None` removes it).
    pub fn set_on_custom_message(&self, cb: Option<CustomMessageCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.custom_message, cb)
    }

    /// Sends a node-defined message to a peer that offered the command.
    pub fn send_custom_message(&self, peer: PeerId, command: &str, payload: &[u8]) -> Result<()> {
        self.running(|_| ())?;
        let command = Self::custom_command(command)?;
        let payload = Bytes::copy_from_slice(payload);
        self.driver
            .run_now(|node, now| node.send_custom(peer, command, payload, now))
    }

    /// Sends a node-defined message to every peer that offered the command; returns how
    /// many.
    pub fn broadcast_custom_message(&self, command: &str, payload: &[u8]) -> Result<usize> {
        self.running(|_| ())?;
        let command = Self::custom_command(command)?;
        let payload = Bytes::copy_from_slice(payload);
        self.driver
            .run_now(|node, now| node.broadcast_custom(command, payload, now))
    }

    fn custom_command(name: &str) -> Result<Command> {
        Command::new(name)
            .ok_or_else(|| Error::InvalidArgument(format!("{name:?} is not a command name")))
    }

    /// The node's standing in the network: connections by kind against their targets,
    /// the tip's age, and the stale-tip and partition flags (see [`Health`]).
    pub fn health(&self) -> Result<Health> {
        self.not_stopped()?;
        Ok(self.driver.run_now(|node, now| node.health(now)))
    }

    /// Installs the callback told when the stale-tip flag or the partition signal
    /// changes (`None` removes it).
    pub fn set_on_health_change(&self, cb: Option<HealthCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.health, cb)
    }

    /// Installs the callback told of each measured ping round trip (`None` removes it).
    pub fn set_on_ping(&self, cb: Option<PingCallback>) -> Result<()> {
        self.replace_callback(&self.driver.callbacks.ping, cb)
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
        self.driver.callbacks.clear();
    }
}
