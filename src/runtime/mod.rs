//! The runtime: the only tokio code. It moves bytes and timers and carries out the
//! core's outputs; it holds no policy.
//!
//! - [`Driver`] owns the [`Node`] core and steps it: one input at a time, under one
//!   mutex held only for the step itself. The outputs of a step are carried out after the
//!   mutex is released: frames are encoded and queued on the connection's outbox, closes
//!   signalled, dials and seed lookups spawned, snapshots handed to the storage writer,
//!   events queued for the dispatcher thread.
//! - `connection`: one task pair per connection (read/decode/hash, write/coalesce), so
//!   the hot path stays parallel; generic over the byte stream.
//! - `network`: the listener and the dialer.
//! - `dispatcher`: the thread that calls the node's callbacks and hands their answers
//!   back to the core.
//! - `storage`: writes snapshots off the network threads. `dns`: seed lookups.
//!   `logging`: the per-engine `tracing` bridge.

pub(crate) mod budget;
pub(crate) mod connection;
pub(crate) mod dispatcher;
mod dns;
pub(crate) mod link;
pub(crate) mod logging;
pub(crate) mod network;
pub(crate) mod queue;
mod receive_pool;
pub(crate) mod storage;
#[cfg(test)]
mod tests;
pub(crate) mod traffic;
pub(crate) mod transport;

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;
use tracing::instrument::WithSubscriber;

use crate::config::Config;
use crate::events::PeerId;
use crate::node::{Node, NodeEvent, Now, Outgoing, Output};
use crate::relay::{bitcoin_item_id, HaveFunction, ItemHasher, ItemIds, ItemKind};
use crate::wire::{Command, Frame, Hash256};
use dispatcher::Callbacks;
use link::Link;
use logging::LogFilter;
use queue::EventSender;

/// Owns the core and everything the runtime needs to carry out its outputs.
pub(crate) struct Driver {
    /// This driver, for the tasks it spawns.
    me: std::sync::Weak<Driver>,
    node: Mutex<Node>,
    /// Held from the end of a step until its outputs are carried out, and taken before
    /// the core's lock is released: outputs of successive steps reach the connections
    /// in step order (a ping from a timer step cannot overtake the verack of the step
    /// before it).
    carrying_out: Mutex<()>,
    /// The runtime's handle on each open connection: outbox, close signal, counters.
    links: RwLock<HashMap<PeerId, Arc<Link>>>,
    pub config: Config,
    pub callbacks: Callbacks,
    pub stopped: AtomicBool,
    events: EventSender,
    pub log_filter: Arc<LogFilter>,
    tracing: tracing::Dispatch,
    /// The node's item hasher; `None`: Bitcoin's ids.
    hasher: RwLock<Option<ItemHasher>>,
    /// The node's "already have" query, if it installed one.
    have: RwLock<Option<HaveFunction>>,
    runtime: OnceLock<tokio::runtime::Handle>,
    /// Wakes the timer task when a step brought the next deadline forward.
    timer_wake: Notify,
    /// The deadline the timer task sleeps until, in nanoseconds since `epoch`.
    timer_target: AtomicU64,
    epoch: Instant,
    storage: OnceLock<storage::Writer>,
    seeds: dns::SeedLookups,
    /// Bytes all connections together may hold for large unfinished messages.
    pub receive_budget: Arc<budget::ReceiveBudget>,
    /// Buffers of large received messages, reused once released.
    pub receive_pool: receive_pool::ReceivePool,
    /// Traffic of every connection since start.
    pub traffic: Arc<traffic::Traffic>,
}

/// No deadline.
const NEVER: u64 = u64::MAX;

impl Driver {
    pub fn new(
        config: Config,
        node: Node,
        events: EventSender,
        log_filter: Arc<LogFilter>,
        tracing: tracing::Dispatch,
    ) -> Arc<Driver> {
        Arc::new_cyclic(|me| Driver {
            me: me.clone(),
            node: Mutex::new(node),
            carrying_out: Mutex::new(()),
            links: RwLock::new(HashMap::new()),
            seeds: dns::SeedLookups::new(config.dns_server),
            receive_budget: budget::ReceiveBudget::new(config.receive_budget),
            receive_pool: receive_pool::ReceivePool::new(config.receive_budget / 2),
            traffic: Arc::default(),
            config,
            callbacks: Callbacks::default(),
            stopped: AtomicBool::new(false),
            events,
            log_filter,
            tracing,
            hasher: RwLock::new(None),
            have: RwLock::new(None),
            runtime: OnceLock::new(),
            timer_wake: Notify::new(),
            timer_target: AtomicU64::new(NEVER),
            epoch: Instant::now(),
            storage: OnceLock::new(),
        })
    }

    fn self_arc(&self) -> Option<Arc<Driver>> {
        self.me.upgrade()
    }

    /// The clocks, read once per step.
    pub fn now() -> Now {
        Now {
            mono: Instant::now(),
            unix: crate::node::unix_seconds(SystemTime::now()),
        }
    }

    /// Spawns a task on the engine's runtime with this engine's log subscriber attached.
    pub fn spawn<F>(&self, future: F)
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        if let Some(handle) = self.runtime.get() {
            handle.spawn(future.with_subscriber(self.tracing.clone()));
        }
    }

    /// Spawns a task on the current runtime with this engine's log subscriber attached,
    /// so that what it logs reaches the node's log callback; returns its handle.
    pub fn spawn_joinable<F>(&self, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        tokio::spawn(future.with_subscriber(self.tracing.clone()))
    }

    /// Attaches the started runtime and begins the background tasks.
    pub fn attach(self: &Arc<Self>, handle: tokio::runtime::Handle) {
        let _ = self.runtime.set(handle);
        if let Some(dir) = &self.config.data_dir {
            let _ = self.storage.set(storage::Writer::start(self, dir.clone()));
        }
        let driver = self.clone();
        self.spawn(async move { driver.timer_loop().await });
    }

    /// Runs `f` with this engine's log subscriber as the thread's default (for threads
    /// the runtime does not own: the node's and the dispatcher).
    pub fn in_log_scope<T>(&self, f: impl FnOnce() -> T) -> T {
        tracing::dispatcher::with_default(&self.tracing, f)
    }

    /// Reads the core without stepping it.
    pub fn inspect<T>(&self, f: impl FnOnce(&Node) -> T) -> T {
        f(&self.node.lock())
    }

    /// One step of the core, and its outputs carried out in step order; returns its
    /// result and the events for the node.
    fn step<T>(&self, f: impl FnOnce(&mut Node, Now) -> T) -> (T, Vec<NodeEvent>) {
        let now = Self::now();
        let mut node = self.node.lock();
        let result = f(&mut node, now);
        let outputs = node.take_outputs();
        let deadline = node.next_deadline();
        let in_order = self.carrying_out.lock();
        drop(node);
        self.bring_timer_forward(deadline);
        let events = self.carry_out(outputs);
        drop(in_order);
        (result, events)
    }

    /// Steps the core from a task: events for the node are queued with back-pressure,
    /// so a slow node slows the peer whose input produced them.
    pub async fn run<T>(&self, f: impl FnOnce(&mut Node, Now) -> T) -> T {
        let (result, events) = self.step(f);
        let mut events = events.into_iter();
        // Not a `for` loop: its `Option<NodeEvent>` would be kept across the await,
        // in the future of every task that steps the core.
        loop {
            let Some(event) = events.next() else {
                break;
            };
            self.events.send(event).await;
        }
        result
    }

    /// Steps the core from a thread that must not wait (the node's, the dispatcher):
    /// events that do not fit the queue now are queued by a task.
    pub fn run_now<T>(&self, f: impl FnOnce(&mut Node, Now) -> T) -> T {
        self.in_log_scope(|| self.run_in_scope(f))
    }

    /// `run_now` on a thread whose default log subscriber is already this engine's
    /// (the dispatcher).
    pub fn run_in_scope<T>(&self, f: impl FnOnce(&mut Node, Now) -> T) -> T {
        let (result, events) = self.step(f);
        for event in events {
            self.emit_later(event);
        }
        result
    }

    /// Makes this engine's log subscriber the calling thread's default until the guard
    /// drops.
    pub fn log_scope(&self) -> tracing::dispatcher::DefaultGuard {
        tracing::dispatcher::set_default(&self.tracing)
    }

    /// Queues an event without waiting; when the queue is full a task waits instead.
    pub fn emit_later(&self, event: NodeEvent) {
        if let Some(event) = self.events.try_send(event) {
            let events = self.events.clone();
            self.spawn(async move { events.send(event).await });
        }
    }

    /// Wakes the dispatcher so it notices the stop flag.
    pub fn wake_dispatcher(&self) {
        let _ = self.events.try_send(NodeEvent::Wake);
    }

    /// Carries out everything but the node's events, which are returned in order.
    fn carry_out(&self, outputs: Vec<Output>) -> Vec<NodeEvent> {
        let mut events = Vec::new();
        // Consecutive sends usually go to one peer (a GETDATA answer): look it up once.
        let mut last: Option<(PeerId, Option<Arc<Link>>)> = None;
        for output in outputs {
            match output {
                Output::Send { peer, message } => {
                    let frame = match message {
                        Outgoing::Frame(frame) => frame,
                        Outgoing::Message(msg) => msg.frame(self.config.magic),
                    };
                    let link = match &last {
                        Some((id, link)) if *id == peer => link,
                        _ => &last.insert((peer, self.link(peer))).1,
                    };
                    if let Some(link) = link {
                        link.send(frame);
                    }
                }
                Output::Close {
                    peer,
                    reason,
                    detail,
                } => {
                    if let Some(link) = self.link(peer) {
                        link.close(reason, detail);
                    }
                }
                Output::Dial {
                    peer,
                    target,
                    transport,
                    origin,
                } => network::dial(self, peer, target, transport, origin),
                Output::Notify(event) => events.push(event),
                Output::Persist { file, bytes } => {
                    if let Some(storage) = self.storage.get() {
                        storage.write(file, bytes);
                    }
                }
                Output::ResolveSeeds(seeds) => self.seeds.resolve(self, seeds),
                Output::WatchDrain { peer } => {
                    if let Some(link) = self.link(peer) {
                        if link.watch_drain() {
                            self.report_drained(peer);
                        }
                    }
                }
            }
        }
        events
    }

    /// Tells the core a peer's send buffer drained (from a task: this may be called
    /// while carrying out a step's outputs).
    fn report_drained(&self, peer: PeerId) {
        if let Some(driver) = self.self_arc() {
            self.spawn(async move {
                driver
                    .run(|node, now| node.send_buffer_drained(peer, now))
                    .await;
            });
        }
    }

    fn link(&self, peer: PeerId) -> Option<Arc<Link>> {
        self.links.read().get(&peer).cloned()
    }

    /// Registers a connection's link inside the step that opened it, so outputs of later
    /// steps find it.
    fn open_link<T>(
        &self,
        link: &Arc<Link>,
        f: impl FnOnce(&mut Node, Now) -> Option<(PeerId, T)>,
    ) -> (Option<(PeerId, T)>, Vec<NodeEvent>) {
        self.step(|node, now| {
            let opened = f(node, now);
            if let Some((id, _)) = &opened {
                self.links.write().insert(*id, link.clone());
            }
            opened
        })
    }

    fn close_link(&self, peer: PeerId) {
        self.links.write().remove(&peer);
    }

    /// A connection's bytes and socket times, filled into its peer info.
    pub fn fill_link_stats(&self, info: &mut crate::events::PeerInfo) {
        if let Some(link) = self.link(info.id) {
            link.fill_stats(info);
        }
    }

    /// The id this engine gives an item.
    pub fn item_id(&self, kind: ItemKind, data: &[u8]) -> Hash256 {
        match self.hasher.read().clone() {
            Some(hasher) => hasher(kind, data),
            None => bitcoin_item_id(kind, data),
        }
    }

    /// The item's id and, for a segwit transaction, its wtxid.
    pub fn item_ids(&self, kind: ItemKind, data: &[u8]) -> ItemIds {
        match self.hasher.read().clone() {
            Some(hasher) => ItemIds::with_hasher(&hasher, kind, data),
            None => ItemIds::bitcoin(kind, data),
        }
    }

    pub fn set_have(&self, have: Option<HaveFunction>) {
        *self.have.write() = have;
    }

    /// The announced items the node says it has (empty without a query installed).
    pub fn node_has(&self, items: impl Iterator<Item = (ItemKind, Hash256)>) -> Vec<Hash256> {
        let Some(have) = self.have.read().clone() else {
            return Vec::new();
        };
        items
            .filter_map(|(kind, hash)| have(kind, &hash).then_some(hash))
            .collect()
    }

    /// Installs the node's item hasher; `None` restores Bitcoin's ids.
    pub fn set_hasher(&self, hasher: Option<ItemHasher>) {
        *self.hasher.write() = hasher;
    }

    /// The frame an accepted item is relayed in: the v1 frame it was received in, as it
    /// came, or a new one for an item that arrived over v2.
    pub fn relay_frame(&self, kind: ItemKind, payload: &Bytes, received: Option<Frame>) -> Frame {
        received.unwrap_or_else(|| self.item_frame(kind, payload.clone()))
    }

    /// An item's `block` or `tx` message, framed once for every peer it goes to; the
    /// payload is shared, not copied.
    pub fn item_frame(&self, kind: ItemKind, payload: Bytes) -> Frame {
        let command = match kind {
            ItemKind::Block => Command::BLOCK,
            ItemKind::Tx => Command::TX,
        };
        Frame::new(self.config.magic, command, payload)
    }

    fn bring_timer_forward(&self, deadline: Option<Instant>) {
        let at = deadline.map_or(NEVER, |d| self.since_epoch(d));
        if at < self.timer_target.load(Ordering::Acquire) {
            self.timer_target.store(at, Ordering::Release);
            self.timer_wake.notify_one();
        }
    }

    fn since_epoch(&self, at: Instant) -> u64 {
        u64::try_from(at.saturating_duration_since(self.epoch).as_nanos()).unwrap_or(NEVER - 1)
    }

    /// Ticks the core whenever its next deadline passes. The deadline is read and
    /// published under the core's lock, so a step that brings it forward either runs
    /// before the read (and is seen by it) or compares against the published target (and
    /// wakes the loop). While a tick runs the published target is in the past, so steps
    /// do not wake the loop needlessly; it reads the deadline again afterwards.
    async fn timer_loop(self: Arc<Self>) {
        loop {
            let deadline = {
                let node = self.node.lock();
                let deadline = node.next_deadline();
                let target = deadline.map_or(NEVER, |d| self.since_epoch(d));
                self.timer_target.store(target, Ordering::Release);
                deadline
            };
            tokio::select! {
                _ = self.timer_wake.notified() => {}
                _ = sleep_until(deadline) => {}
            }
            self.run(|node, now| node.tick(now)).await;
        }
    }

    /// Snapshots of the persisted state, written synchronously (at stop, after the
    /// runtime is gone).
    pub fn write_final_snapshots(&self) {
        let outputs = self.node.lock().final_snapshots(Self::now());
        let Some(dir) = &self.config.data_dir else {
            return;
        };
        for output in outputs {
            if let Output::Persist { file, bytes } = output {
                // Nothing is left to report a failure to once stopped; the next start
                // warns if the file is unreadable.
                let _ = storage::write_file(dir, file, &bytes);
            }
        }
    }
}

/// Sleeps until the deadline, or forever without one. The timer is boxed: it is over
/// 100 bytes, and a connection waiting for its next read has no deadline at all
/// unless a large message is arriving.
pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => Box::pin(tokio::time::sleep_until(at.into())).await,
        None => std::future::pending().await,
    }
}
