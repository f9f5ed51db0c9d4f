//! The engine: owns the tokio runtime, the listener, the peer table and the dispatcher
//! thread. This is the safe Rust API the FFI layer wraps.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tokio::net::{TcpListener, TcpStream};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;
use tracing::instrument::WithSubscriber;

use crate::config::Config;
use crate::dispatch::{
    DispatchShared, Dispatcher, Event, LogCallback, PeerConnectedCallback, PeerDisconnectedCallback,
};
use crate::error::{Error, Result};
use crate::events::{DisconnectReason, LogLevel, PeerId, PeerInfo};
use crate::logging::{self, LogFilter};
use crate::peer::{self, PeerHandle};

/// How long `stop` lets tasks wind down before the runtime is dropped regardless.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// State shared by the API, the connection tasks and the dispatcher.
pub(crate) struct Shared {
    pub config: Config,
    dispatch: Arc<DispatchShared>,
    events: mpsc::Sender<Event>,
    log_filter: Arc<LogFilter>,
    tracing: tracing::Dispatch,
    peers: RwLock<HashMap<PeerId, Arc<PeerHandle>>>,
    inbound_count: AtomicUsize,
    outbound_count: AtomicUsize,
    next_peer_id: AtomicU64,
    local_nonces: Mutex<HashSet<u64>>,
    best_height: AtomicI32,
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
        let counter = if inbound {
            &self.inbound_count
        } else {
            &self.outbound_count
        };
        counter.fetch_add(1, Ordering::AcqRel);
        self.peers.write().insert(handle.id, handle);
        nonce
    }

    pub fn unregister_peer(&self, handle: &PeerHandle, nonce: u64) {
        self.local_nonces.lock().remove(&nonce);
        if self.peers.write().remove(&handle.id).is_some() {
            let counter = if handle.inbound {
                &self.inbound_count
            } else {
                &self.outbound_count
            };
            counter.fetch_sub(1, Ordering::AcqRel);
        }
    }

    fn connection_count(&self) -> usize {
        self.inbound_count.load(Ordering::Acquire) + self.outbound_count.load(Ordering::Acquire)
    }

    /// Whether an inbound connection fits under the caps.
    fn admits_inbound(&self) -> bool {
        self.inbound_count.load(Ordering::Acquire) < self.config.max_inbound
            && self.connection_count() < self.config.max_connections
    }

    async fn accept_loop(self: Arc<Self>, listener: TcpListener) {
        loop {
            match listener.accept().await {
                Ok((stream, addr)) => {
                    if !self.admits_inbound() {
                        tracing::debug!(%addr, "inbound connection refused: at capacity");
                        continue;
                    }
                    let id = self.next_id();
                    self.spawn(peer::run_connection(self.clone(), stream, id, true, addr));
                }
                Err(e) => {
                    // Out of file descriptors and similar: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    async fn connect(self: Arc<Self>, id: PeerId, host: String, port: u16) {
        let result = async {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
                .await
                .map_err(|e| format!("cannot resolve {host}: {e}"))?
                .collect();
            let mut last_error = format!("{host} resolved to no address");
            for addr in addrs {
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
        match result {
            Ok((stream, addr)) => {
                peer::run_connection(self.clone(), stream, id, false, addr).await;
            }
            Err(detail) => {
                tracing::info!(peer = id, %detail, "outbound connection failed");
                self.emit(Event::PeerDisconnected {
                    id,
                    reason: DisconnectReason::ConnectFailed,
                    detail,
                })
                .await;
            }
        }
    }
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
    Stopped,
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
        let shared = Arc::new(Shared {
            best_height: AtomicI32::new(config.start_height),
            config,
            dispatch: Arc::new(DispatchShared {
                callbacks: Default::default(),
                stopped: Default::default(),
            }),
            events: events_tx,
            log_filter,
            tracing,
            peers: RwLock::new(HashMap::new()),
            inbound_count: AtomicUsize::new(0),
            outbound_count: AtomicUsize::new(0),
            next_peer_id: AtomicU64::new(1),
            local_nonces: Mutex::new(HashSet::new()),
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
        let events_rx = match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped) {
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
                let bound = std::net::TcpListener::bind(addr).and_then(|l| {
                    l.set_nonblocking(true)?;
                    let _guard = runtime.enter();
                    TcpListener::from_std(l)
                });
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
        let dispatcher = match Dispatcher::spawn(self.shared.dispatch.clone(), events_rx) {
            Ok(d) => d,
            Err(e) => {
                // The receiver moved into the failed spawn; a fresh engine is needed.
                return Err((mpsc::channel(1).1, e.into()));
            }
        };
        if let Some(listener) = listener {
            let shared = self.shared.clone();
            let _guard = runtime.enter();
            self.shared.spawn(shared.accept_loop(listener));
        }
        tracing::dispatcher::with_default(&self.shared.tracing, || {
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
            match std::mem::replace(&mut *lifecycle, Lifecycle::Stopped) {
                Lifecycle::Running(running) => running,
                other @ Lifecycle::Created(_) => {
                    *lifecycle = other;
                    return Err(Error::InvalidState("engine is not running"));
                }
                Lifecycle::Stopped => return Err(Error::InvalidState("engine is already stopped")),
            }
        };
        self.shared
            .dispatch
            .stopped
            .store(true, std::sync::atomic::Ordering::Release);
        // Wake the dispatcher if it is idle; when the queue is full it is busy and sees
        // the flag after its current event.
        let _ = self.shared.events.try_send(Event::Wake);
        running.runtime.shutdown_timeout(SHUTDOWN_GRACE);
        running.dispatcher.join();
        self.shared.dispatch.callbacks.clear();
        Ok(())
    }

    fn running<T>(&self, f: impl FnOnce(&Running) -> T) -> Result<T> {
        match &*self.lifecycle.lock() {
            Lifecycle::Running(running) => Ok(f(running)),
            Lifecycle::Created(_) => Err(Error::InvalidState("engine is not running")),
            Lifecycle::Stopped => Err(Error::InvalidState("engine is stopped")),
        }
    }

    fn not_stopped(&self) -> Result<()> {
        match &*self.lifecycle.lock() {
            Lifecycle::Stopped => Err(Error::InvalidState("engine is stopped")),
            _ => Ok(()),
        }
    }

    /// The address the listener is bound to (with the real port when 0 was configured).
    pub fn local_addr(&self) -> Result<Option<SocketAddr>> {
        self.running(|r| r.local_addr)
    }

    /// Connects to `host:port` in the background; the outcome arrives as a peer
    /// connected or disconnected event. Returns the id the connection will have.
    pub fn add_peer(&self, host: &str, port: u16) -> Result<PeerId> {
        if host.is_empty() {
            return Err(Error::InvalidArgument("host is empty".into()));
        }
        if port == 0 {
            return Err(Error::InvalidArgument("port 0 cannot be dialled".into()));
        }
        let handle = self.running(|r| r.runtime.handle().clone())?;
        let id = self.shared.next_id();
        let shared = self.shared.clone();
        let _guard = handle.enter();
        self.shared.spawn(shared.connect(id, host.to_owned(), port));
        Ok(id)
    }

    /// Closes the connection to a peer.
    pub fn disconnect_peer(&self, id: PeerId) -> Result<()> {
        self.running(|_| ())?;
        let peer = self.shared.peers.read().get(&id).cloned();
        match peer {
            Some(peer) => {
                peer.request_close(
                    DisconnectReason::Requested,
                    "disconnect requested by node".into(),
                );
                Ok(())
            }
            None => Err(Error::NotFound(format!("no peer with id {id}"))),
        }
    }

    /// Snapshots of every peer that completed the handshake, ordered by id.
    pub fn peers(&self) -> Result<Vec<PeerInfo>> {
        self.running(|_| ())?;
        let mut peers: Vec<PeerInfo> = self
            .shared
            .peers
            .read()
            .values()
            .filter(|p| p.is_established())
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

    pub fn set_on_peer_connected(&self, cb: Option<PeerConnectedCallback>) -> Result<()> {
        self.replace_callback(&self.shared.dispatch.callbacks.peer_connected, cb)
    }

    pub fn set_on_peer_disconnected(&self, cb: Option<PeerDisconnectedCallback>) -> Result<()> {
        self.replace_callback(&self.shared.dispatch.callbacks.peer_disconnected, cb)
    }

    /// Installs the log callback with the most verbose level it wants; `None` turns it off.
    pub fn set_log_callback(
        &self,
        max_level: Option<LogLevel>,
        cb: Option<LogCallback>,
    ) -> Result<()> {
        let level = if cb.is_some() { max_level } else { None };
        self.replace_callback(&self.shared.dispatch.callbacks.log, cb)?;
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
        if matches!(*lifecycle, Lifecycle::Stopped) {
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
        self.shared.dispatch.callbacks.clear();
    }
}
