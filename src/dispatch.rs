//! The dispatcher thread: the only thread that calls into the node. Events arrive over a
//! bounded queue in the order each peer produced them; callbacks are looked up per event
//! and called without any engine lock held, so a callback may call any API function.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle, ThreadId};

use parking_lot::Mutex;
use tokio::sync::mpsc;

use crate::events::{DisconnectReason, LogLevel, PeerId, PeerInfo};

/// Called when a peer completes the handshake.
pub type PeerConnectedCallback = Arc<dyn Fn(&PeerInfo) + Send + Sync>;
/// Called when a connection ends, with the reason and a human-readable detail.
pub type PeerDisconnectedCallback = Arc<dyn Fn(PeerId, DisconnectReason, &str) + Send + Sync>;
/// Receives log records at or above the registered level: (level, target, message).
pub type LogCallback = Arc<dyn Fn(LogLevel, &str, &str) + Send + Sync>;

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
}

impl Callbacks {
    /// Drops every registration; user-data release functions run once no call holds them.
    pub fn clear(&self) {
        // Take each slot first so the drops (which may run C release functions) happen
        // with no lock held.
        let connected = self.peer_connected.lock().take();
        let disconnected = self.peer_disconnected.lock().take();
        let log = self.log.lock().take();
        drop((connected, disconnected, log));
    }
}

/// State the dispatcher thread shares with the engine.
pub(crate) struct DispatchShared {
    pub callbacks: Callbacks,
    pub stopped: AtomicBool,
}

/// The running dispatcher thread.
pub(crate) struct Dispatcher {
    thread: Option<JoinHandle<()>>,
    thread_id: ThreadId,
}

impl Dispatcher {
    pub fn spawn(
        shared: Arc<DispatchShared>,
        events: mpsc::Receiver<Event>,
    ) -> std::io::Result<Self> {
        let thread = thread::Builder::new()
            .name("p2pnet-dispatch".into())
            .spawn(move || run(shared, events))?;
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

    /// Waits for the dispatcher to exit unless we are on it (stop from inside a callback:
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

fn run(shared: Arc<DispatchShared>, mut events: mpsc::Receiver<Event>) {
    while let Some(event) = events.blocking_recv() {
        if shared.stopped.load(Ordering::Acquire) {
            break;
        }
        // A panic inside a Rust-side callback must not kill the only thread that talks
        // to the node; C callbacks cannot unwind into Rust.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            deliver(&shared.callbacks, event)
        }));
    }
}

fn deliver(callbacks: &Callbacks, event: Event) {
    match event {
        Event::PeerConnected(info) => {
            let cb = callbacks.peer_connected.lock().clone();
            if let Some(cb) = cb {
                cb(&info);
            }
        }
        Event::PeerDisconnected { id, reason, detail } => {
            let cb = callbacks.peer_disconnected.lock().clone();
            if let Some(cb) = cb {
                cb(id, reason, &detail);
            }
        }
        Event::Log {
            level,
            target,
            message,
        } => {
            let cb = callbacks.log.lock().clone();
            if let Some(cb) = cb {
                cb(level, &target, &message);
            }
        }
        Event::Wake => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    struct CountsDrops(Arc<AtomicUsize>);
    impl Drop for CountsDrops {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn delivers_in_order_and_releases_once_after_stop() {
        let shared = Arc::new(DispatchShared {
            callbacks: Callbacks::default(),
            stopped: AtomicBool::new(false),
        });
        let seen = Arc::new(Mutex::new(Vec::new()));
        let released = Arc::new(AtomicUsize::new(0));
        let guard = CountsDrops(released.clone());
        let seen2 = seen.clone();
        *shared.callbacks.peer_disconnected.lock() = Some(Arc::new(move |id, _, _| {
            let _keep = &guard;
            seen2.lock().push(id);
        }));
        let (tx, rx) = mpsc::channel(4);
        let dispatcher = Dispatcher::spawn(shared.clone(), rx).unwrap();
        for id in 0..3 {
            tx.blocking_send(Event::PeerDisconnected {
                id,
                reason: DisconnectReason::Requested,
                detail: String::new(),
            })
            .unwrap();
        }
        drop(tx);
        dispatcher.join();
        assert_eq!(*seen.lock(), vec![0, 1, 2]);
        assert_eq!(released.load(Ordering::SeqCst), 0);
        shared.callbacks.clear();
        assert_eq!(released.load(Ordering::SeqCst), 1);
    }
}
