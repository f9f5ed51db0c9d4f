//! The dispatcher thread: the only thread that calls into the node. Events arrive over a
//! bounded queue in the order each peer produced them; callbacks are looked up per event
//! and called without any engine lock held, so a callback may call any API function.
//! The callbacks' answers (verdicts, headers, block ids, data) go back to the core as
//! inputs; the dispatcher itself sends nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};
use std::time::Duration;

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use super::queue::Queued;
use super::Driver;
use crate::events::{DisconnectReason, Health, LogLevel, PeerId, PeerInfo};
use crate::node::NodeEvent as Event;
use crate::relay::{ItemForm, ItemKind, Verdict};
use crate::wire::{BlockLocator, Hash256};

/// Called when a peer completes the handshake.
pub type PeerConnectedCallback = Arc<dyn Fn(&PeerInfo) + Send + Sync>;
/// Called when a connection ends, with the reason and a human-readable detail.
pub type PeerDisconnectedCallback = Arc<dyn Fn(PeerId, DisconnectReason, &str) + Send + Sync>;
/// Called when the stale-tip flag or the partition signal changes, with the new health.
pub type HealthCallback = Arc<dyn Fn(&Health) + Send + Sync>;
/// Called when a ping round trip to a peer was measured.
pub type PingCallback = Arc<dyn Fn(PeerId, Duration) + Send + Sync>;
/// Receives log records at or above the registered level: (level, target, message).
pub type LogCallback = Arc<dyn Fn(LogLevel, &str, &str) + Send + Sync>;
/// Receives a block or transaction (sender, id, bytes) and returns the node's verdict.
pub type ItemCallback = Arc<dyn Fn(PeerId, &Hash256, &[u8]) -> Verdict + Send + Sync>;
/// Looks up an item the engine does not have cached, to answer a peer's GETDATA: by
/// its id, or a transaction by its wtxid when the form says so. The witness form may be
/// returned for any request; the engine strips it for legacy ones.
pub type DataProvider = Arc<dyn Fn(ItemKind, &Hash256, ItemForm) -> Option<Bytes> + Send + Sync>;
/// Answers a peer's getheaders with up to 2,000 80-byte headers.
pub type GetHeadersCallback = Arc<dyn Fn(PeerId, &BlockLocator) -> Vec<Bytes> + Send + Sync>;
/// Answers a peer's getblocks with up to 500 block ids to announce.
pub type GetBlocksCallback = Arc<dyn Fn(PeerId, &BlockLocator) -> Vec<Hash256> + Send + Sync>;
/// Receives a node-defined message: (sender, command, payload).
pub type CustomMessageCallback = Arc<dyn Fn(PeerId, &str, &[u8]) + Send + Sync>;
/// Receives the 80-byte headers of a peer's headers message.
pub type HeadersCallback = Arc<dyn Fn(PeerId, &[Bytes]) + Send + Sync>;

/// The registered callbacks. Each slot holds an `Arc` so that replacing a callback while
/// it runs keeps the old one (and its user data) alive until that call returns.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub peer_connected: Mutex<Option<PeerConnectedCallback>>,
    pub peer_disconnected: Mutex<Option<PeerDisconnectedCallback>>,
    pub ping: Mutex<Option<PingCallback>>,
    pub health: Mutex<Option<HealthCallback>>,
    pub log: Mutex<Option<LogCallback>>,
    pub block: Mutex<Option<ItemCallback>>,
    pub tx: Mutex<Option<ItemCallback>>,
    pub data_provider: Mutex<Option<DataProvider>>,
    pub get_headers: Mutex<Option<GetHeadersCallback>>,
    pub get_blocks: Mutex<Option<GetBlocksCallback>>,
    pub headers: Mutex<Option<HeadersCallback>>,
    pub custom_message: Mutex<Option<CustomMessageCallback>>,
}

fn current<T: Clone>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().clone()
}

impl Callbacks {
    /// Drops every registration; user-data release functions run once no call holds them.
    pub fn clear(&self) {
        // Take each slot first so the drops (which may run C release functions) happen
        // with no lock held.
        let taken = (
            self.peer_connected.lock().take(),
            self.peer_disconnected.lock().take(),
            self.ping.lock().take(),
            self.health.lock().take(),
            self.log.lock().take(),
            self.block.lock().take(),
            self.tx.lock().take(),
            self.data_provider.lock().take(),
            self.get_headers.lock().take(),
            self.get_blocks.lock().take(),
            self.headers.lock().take(),
            self.custom_message.lock().take(),
        );
        drop(taken);
    }
}

/// The running dispatcher thread.
pub(crate) struct Dispatcher {
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl Dispatcher {
    pub fn spawn(driver: Arc<Driver>, events: mpsc::Receiver<Queued>) -> std::io::Result<Self> {
        let thread = thread::Builder::new()
            .name("p2pnet-dispatch".into())
            .spawn(move || run(driver, events))?;
        let thread_id = thread.thread().id();
        Ok(Dispatcher {
            thread: Some(thread),
            thread_id,
        })
    }

    /// True when called from a callback.
    pub fn is_current_thread(&self) -> bool {
        thread::current().id() == self.thread_id
    }

    /// Waits for the dispatcher to exit unless we are on it (free from inside a callback:
    /// the loop exits by itself once that callback returns).
    pub fn join(mut self) {
        if self.is_current_thread() {
            return;
        }
        if let Some(thread) = self.thread.take() {
            // A panicking callback is already caught inside `run`; nothing to report here.
            let _ = thread.join();
        }
    }
}

fn run(driver: Arc<Driver>, mut events: mpsc::Receiver<Queued>) {
    let _log = driver.log_scope();
    while let Some(queued) = events.blocking_recv() {
        if driver.stopped.load(Ordering::Acquire) {
            break;
        }
        // A panic inside a Rust-side callback must not kill the only thread that talks
        // to the node; C callbacks cannot unwind into Rust.
        // The event's share of the queue's byte budget is returned when `queued` drops,
        // after the callback.
        let (event, share) = queued.into_parts();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(&driver, event)));
        drop(share);
    }
}

fn deliver(driver: &Driver, event: Event) {
    let callbacks = &driver.callbacks;
    match event {
        Event::PeerConnected(mut info) => {
            if let Some(cb) = current(&callbacks.peer_connected) {
                driver.fill_link_stats(&mut info);
                cb(&info);
            }
        }
        Event::PingMeasured { peer, rtt } => {
            if let Some(cb) = current(&callbacks.ping) {
                cb(peer, rtt);
            }
        }
        Event::HealthChanged(health) => {
            if let Some(cb) = current(&callbacks.health) {
                cb(&health);
            }
        }
        Event::PeerDisconnected { id, reason, detail } => {
            if let Some(cb) = current(&callbacks.peer_disconnected) {
                cb(id, reason, &detail);
            }
        }
        Event::Log {
            level,
            target,
            message,
        } => {
            if let Some(cb) = current(&callbacks.log) {
                cb(level, &target, &message);
            }
        }
        Event::Item {
            kind,
            peer,
            hash,
            data,
            frame,
        } => {
            let slot = match kind {
                ItemKind::Block => &callbacks.block,
                ItemKind::Tx => &callbacks.tx,
            };
            // Without a callback the node has not opted into relay: nothing is relayed.
            let verdict = current(slot).map_or(Verdict::Ignored, |cb| cb(peer, &hash, &data));
            let frame =
                (verdict == Verdict::Accepted).then(|| driver.relay_frame(kind, &data, frame));
            driver.run_in_scope(|node, now| node.callback_verdict(hash, verdict, frame, now));
        }
        Event::Headers { peer, headers } => {
            if let Some(cb) = current(&callbacks.headers) {
                cb(peer, &headers);
            }
        }
        Event::CustomMessage {
            peer,
            command,
            payload,
        } => {
            if let Some(cb) = current(&callbacks.custom_message) {
                cb(peer, command.as_str(), &payload);
            }
        }
        Event::GetHeaders { peer, locator } => {
            let headers = current(&callbacks.get_headers)
                .map(|cb| cb(peer, &locator))
                .unwrap_or_default();
            driver.run_in_scope(|node, now| node.headers_answer(peer, headers, now));
        }
        Event::GetBlocks { peer, locator } => {
            let hashes = current(&callbacks.get_blocks)
                .map(|cb| cb(peer, &locator))
                .unwrap_or_default();
            driver.run_in_scope(|node, now| node.blocks_answer(peer, hashes, now));
        }
        Event::GetData { peer, items } => {
            let provider = current(&callbacks.data_provider);
            let answers = items
                .into_iter()
                .map(|item| {
                    let form = ItemForm::of(item.kind);
                    let data = ItemKind::from_inv(item.kind)
                        .zip(provider.as_ref())
                        .and_then(|(kind, p)| {
                            let data = p(kind, &item.hash, form)?;
                            // A provider that hands out the witness form for every
                            // request still serves legacy peers correctly.
                            Some(form.convert(kind, &data).map_or(data, Bytes::from))
                        });
                    (item, data)
                })
                .collect();
            driver.run_in_scope(|node, now| node.data_answer(peer, answers, now));
        }
        Event::Wake => {}
    }
}
