//! The dispatcher thread: the only thread that calls into the node. Events arrive over a
//! bounded queue in the order each peer produced them; callbacks are looked up per event
//! and called without any engine lock held, so a callback may call any API function.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};

use bytes::Bytes;
use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::engine::Shared;
use crate::events::{DisconnectReason, LogLevel, PeerId, PeerInfo};
use crate::relay::{ItemKind, Verdict};
use crate::wire::{BlockLocator, Hash256, Inventory, Message, MAX_HEADERS};

/// Called when a peer completes the handshake.
pub type PeerConnectedCallback = Arc<dyn Fn(&PeerInfo) + Send + Sync>;
/// Called when a connection ends, with the reason and a human-readable detail.
pub type PeerDisconnectedCallback = Arc<dyn Fn(PeerId, DisconnectReason, &str) + Send + Sync>;
/// Receives log records at or above the registered level: (level, target, message).
pub type LogCallback = Arc<dyn Fn(LogLevel, &str, &str) + Send + Sync>;
/// Receives a block or transaction (sender, id, bytes) and returns the node's verdict.
pub type ItemCallback = Arc<dyn Fn(PeerId, &Hash256, &[u8]) -> Verdict + Send + Sync>;
/// Looks up an item the engine does not have cached, to answer a peer's GETDATA.
pub type DataProvider = Arc<dyn Fn(ItemKind, &Hash256) -> Option<Bytes> + Send + Sync>;
/// Answers a peer's getheaders with up to 2,000 80-byte headers.
pub type GetHeadersCallback = Arc<dyn Fn(PeerId, &BlockLocator) -> Vec<Bytes> + Send + Sync>;
/// Answers a peer's getblocks with up to 500 block ids to announce.
pub type GetBlocksCallback = Arc<dyn Fn(PeerId, &BlockLocator) -> Vec<Hash256> + Send + Sync>;
/// Receives the 80-byte headers of a peer's headers message.
pub type HeadersCallback = Arc<dyn Fn(PeerId, &[Bytes]) + Send + Sync>;

/// Most block ids announced in answer to one getblocks, as Bitcoin Core.
pub const MAX_GETBLOCKS_RESULTS: usize = 500;

/// Something the node should hear about, queued for the dispatcher thread.
#[derive(Debug)]
pub(crate) enum Event {
    PeerConnected(PeerInfo),
    PeerDisconnected {
        id: PeerId,
        reason: DisconnectReason,
        detail: String,
    },
    Log {
        level: LogLevel,
        target: String,
        message: String,
    },
    Item {
        kind: ItemKind,
        peer: PeerId,
        hash: Hash256,
        data: Bytes,
    },
    Headers {
        peer: PeerId,
        headers: Vec<Bytes>,
    },
    GetHeaders {
        peer: PeerId,
        locator: BlockLocator,
    },
    GetBlocks {
        peer: PeerId,
        locator: BlockLocator,
    },
    /// GETDATA entries the relay cache could not serve.
    GetData {
        peer: PeerId,
        items: Vec<Inventory>,
    },
    /// Makes the dispatcher re-check the stop flag.
    Wake,
}

/// The registered callbacks. Each slot holds an `Arc` so that replacing a callback while
/// it runs keeps the old one (and its user data) alive until that call returns.
#[derive(Default)]
pub(crate) struct Callbacks {
    pub peer_connected: Mutex<Option<PeerConnectedCallback>>,
    pub peer_disconnected: Mutex<Option<PeerDisconnectedCallback>>,
    pub log: Mutex<Option<LogCallback>>,
    pub block: Mutex<Option<ItemCallback>>,
    pub tx: Mutex<Option<ItemCallback>>,
    pub data_provider: Mutex<Option<DataProvider>>,
    pub get_headers: Mutex<Option<GetHeadersCallback>>,
    pub get_blocks: Mutex<Option<GetBlocksCallback>>,
    pub headers: Mutex<Option<HeadersCallback>>,
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
            self.log.lock().take(),
            self.block.lock().take(),
            self.tx.lock().take(),
            self.data_provider.lock().take(),
            self.get_headers.lock().take(),
            self.get_blocks.lock().take(),
            self.headers.lock().take(),
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
    pub fn spawn(engine: Arc<Shared>, events: mpsc::Receiver<Event>) -> std::io::Result<Self> {
        let thread = thread::Builder::new()
            .name("p2pnet-dispatch".into())
            .spawn(move || run(engine, events))?;
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

fn run(engine: Arc<Shared>, mut events: mpsc::Receiver<Event>) {
    while let Some(event) = events.blocking_recv() {
        if engine.stopped.load(Ordering::Acquire) {
            break;
        }
        // A panic inside a Rust-side callback must not kill the only thread that talks
        // to the node; C callbacks cannot unwind into Rust.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| deliver(&engine, event)));
    }
}

fn deliver(engine: &Arc<Shared>, event: Event) {
    let callbacks = &engine.callbacks;
    match event {
        Event::PeerConnected(info) => {
            if let Some(cb) = current(&callbacks.peer_connected) {
                cb(&info);
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
        } => {
            let slot = match kind {
                ItemKind::Block => &callbacks.block,
                ItemKind::Tx => &callbacks.tx,
            };
            // Without a callback the node has not opted into relay: nothing is relayed.
            let Some(cb) = current(slot) else { return };
            // A verdict reported from another thread before the callback returns must
            // find the item.
            engine.begin_judging(kind, hash, data.clone(), peer);
            let verdict = cb(peer, &hash, &data);
            engine.settle_verdict(kind, hash, data, peer, verdict);
        }
        Event::Headers { peer, headers } => {
            if let Some(cb) = current(&callbacks.headers) {
                cb(peer, &headers);
            }
        }
        Event::GetHeaders { peer, locator } => {
            let mut headers = current(&callbacks.get_headers)
                .map(|cb| cb(peer, &locator))
                .unwrap_or_default();
            headers.truncate(MAX_HEADERS);
            // Bitcoin Core answers with an empty headers message when it has nothing.
            engine.send_to(peer, &Message::Headers(headers));
        }
        Event::GetBlocks { peer, locator } => {
            let mut hashes = current(&callbacks.get_blocks)
                .map(|cb| cb(peer, &locator))
                .unwrap_or_default();
            hashes.truncate(MAX_GETBLOCKS_RESULTS);
            if !hashes.is_empty() {
                engine.announce_to(peer, ItemKind::Block, &hashes);
            }
        }
        Event::GetData { peer, items } => {
            let provider = current(&callbacks.data_provider);
            let mut missing = Vec::new();
            for item in items {
                let Some(kind) = ItemKind::from_inv(item.kind) else {
                    missing.push(item);
                    continue;
                };
                if engine.send_cached(peer, &item.hash) {
                    continue;
                }
                match provider.as_ref().and_then(|p| p(kind, &item.hash)) {
                    Some(data) => engine.send_item(peer, kind, item.hash, data),
                    None => missing.push(item),
                }
            }
            if !missing.is_empty() {
                engine.send_to(peer, &Message::NotFound(missing));
            }
        }
        Event::Wake => {}
    }
}
