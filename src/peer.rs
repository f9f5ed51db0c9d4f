//! One TCP connection: a reader task that decodes frames and drives the sans-IO
//! [`Session`], and a writer task that drains the peer's send queue. The engine talks to a
//! connection only through its [`PeerHandle`].

use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use parking_lot::Mutex;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};

use crate::dispatch::Event;
use crate::engine::Shared;
use crate::events::{DisconnectReason, PeerId, PeerInfo};
use crate::misbehaviour::{Offence, Score};
use crate::relay::bounded::BoundedSet;
use crate::relay::ItemKind;
use crate::session::{Action, RemoteVersion, Session, SessionOffence, SessionParams};
use crate::wire::{
    DecodedFrame, FrameDecoder, Hash256, Inventory, Message, PayloadError, MAX_INV_ENTRIES,
};

/// Largest single read; frames larger than this arrive over several reads.
const READ_CHUNK: usize = 64 * 1024;
/// Ids a peer is known to have (it announced or sent them, or we announced them to it),
/// remembered per peer so nothing is announced to it twice. Bitcoin Core keeps 50,000 in
/// a bloom filter; this set grows only as items are relayed.
const KNOWN_INVENTORY: usize = 50_000;
/// Transaction announcements waiting for a peer's trickle timer.
const TX_ANNOUNCE_QUEUE: usize = 100_000;

/// Why a connection task ended.
type Exit = (DisconnectReason, String);

/// How a connection came about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Origin {
    Inbound,
    /// Chosen from the address book to fill the outbound target.
    Automatic,
    /// Asked for by the node (`add_peer`); kept like Bitcoin Core's -addnode.
    Manual,
}

/// Address-relay state of one peer: Bitcoin Core's token bucket and getaddr bookkeeping.
pub(crate) struct AddrState {
    pub tokens: f64,
    pub refilled: Instant,
    pub answered_getaddr: bool,
}

/// The engine's view of a live connection: identity, statistics and its send queue.
pub(crate) struct PeerHandle {
    pub id: PeerId,
    pub addr: SocketAddr,
    pub inbound: bool,
    pub origin: Origin,
    pub connected_at: Instant,
    /// When the peer last gave us a block or transaction that was new to us.
    pub last_block: Mutex<Option<Instant>>,
    pub last_tx: Mutex<Option<Instant>>,
    pub addr_state: Mutex<AddrState>,
    pub connected_since: SystemTime,
    magic: u32,
    max_send_buffer: usize,
    remote: Mutex<Option<RemoteVersion>>,
    established: AtomicBool,
    ping_time_us: AtomicI64,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    queued_bytes: AtomicUsize,
    outbox: mpsc::UnboundedSender<Bytes>,
    close_request: Mutex<Option<Exit>>,
    close_notify: Notify,
    known: Mutex<Option<BoundedSet<Hash256>>>,
    tx_queue: Mutex<VecDeque<Hash256>>,
    announce_notify: Notify,
    score: Mutex<Score>,
}

impl PeerHandle {
    /// Queues a message. A peer whose queue exceeds the send-buffer limit is not reading;
    /// it is disconnected rather than allowed to grow memory.
    pub fn send(&self, msg: &Message) {
        self.send_frame(msg.to_frame(self.magic));
    }

    pub fn send_frame(&self, frame: Bytes) {
        let queued = self.queued_bytes.fetch_add(frame.len(), Ordering::AcqRel) + frame.len();
        if queued > self.max_send_buffer {
            self.request_close(
                DisconnectReason::SendBufferFull,
                format!("{queued} bytes queued, limit {}", self.max_send_buffer),
            );
            return;
        }
        // The receiver is gone only while the connection is closing.
        let _ = self.outbox.send(frame);
    }

    /// Asks the connection to close; the first reason wins.
    pub fn request_close(&self, reason: DisconnectReason, detail: String) {
        let mut slot = self.close_request.lock();
        if slot.is_none() {
            *slot = Some((reason, detail));
        }
        drop(slot);
        self.close_notify.notify_one();
    }

    /// Whether the connection has been asked to close.
    pub fn is_closing(&self) -> bool {
        self.close_request.lock().is_some()
    }

    /// Records that the peer has an item; returns false if it was already known.
    pub fn mark_known(&self, hash: Hash256) -> bool {
        self.known
            .lock()
            .get_or_insert_with(|| BoundedSet::new(KNOWN_INVENTORY))
            .insert(hash)
    }

    /// Queues a transaction id for the next trickle announcement.
    pub fn queue_tx_announcement(&self, hash: Hash256) {
        let mut queue = self.tx_queue.lock();
        if queue.len() >= TX_ANNOUNCE_QUEUE {
            queue.pop_front();
        }
        queue.push_back(hash);
        drop(queue);
        self.announce_notify.notify_one();
    }

    /// Sends every queued transaction announcement.
    fn flush_tx_announcements(&self) {
        let queued: Vec<Hash256> = self.tx_queue.lock().drain(..).collect();
        for chunk in queued.chunks(MAX_INV_ENTRIES) {
            let items = chunk
                .iter()
                .map(|hash| Inventory {
                    kind: ItemKind::Tx.inv_kind(),
                    hash: *hash,
                })
                .collect();
            self.send(&Message::Inv(items));
        }
    }

    /// Adds misbehaviour points; returns whether the threshold is reached and the total.
    pub fn add_score(&self, points: u32) -> (bool, u32) {
        let mut score = self.score.lock();
        let reached = score.add_points(points);
        (reached, score.total())
    }

    /// The last measured ping, if any.
    pub fn ping(&self) -> Option<Duration> {
        u64::try_from(self.ping_time_us.load(Ordering::Relaxed))
            .ok()
            .map(Duration::from_micros)
    }

    pub fn is_established(&self) -> bool {
        self.established.load(Ordering::Acquire)
    }

    /// A snapshot for the peer-list API; `None` until the handshake completed.
    pub fn info(&self) -> Option<PeerInfo> {
        let remote = self.remote.lock().clone()?;
        let ping = self.ping_time_us.load(Ordering::Relaxed);
        Some(PeerInfo {
            id: self.id,
            address: self.addr,
            inbound: self.inbound,
            version: remote.version,
            services: remote.services,
            user_agent: remote.user_agent,
            start_height: remote.start_height,
            ping_time: u64::try_from(ping)
                .ok()
                .map(std::time::Duration::from_micros),
            bytes_sent: self.bytes_sent.load(Ordering::Relaxed),
            bytes_received: self.bytes_received.load(Ordering::Relaxed),
            connected_since: self.connected_since,
            misbehaviour_score: self.score.lock().total(),
        })
    }
}

/// Removes the peer from the engine however the task ends (including runtime shutdown).
struct Registration {
    engine: Arc<Shared>,
    handle: Arc<PeerHandle>,
    local_nonce: u64,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.engine.unregister_peer(&self.handle, self.local_nonce);
    }
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Registers a connection in the peer table at once (so the connection caps see it
/// before its task first runs) and returns the future that runs it from the first byte
/// to the disconnect event, resolving to whether the handshake completed.
pub(crate) fn run_connection(
    engine: Arc<Shared>,
    stream: TcpStream,
    id: PeerId,
    origin: Origin,
    remote_addr: SocketAddr,
) -> impl Future<Output = bool> + Send + 'static {
    let inbound = origin == Origin::Inbound;
    let local_addr = stream
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let _ = stream.set_nodelay(true);
    let (reader, writer) = stream.into_split();
    let (outbox_tx, outbox_rx) = mpsc::unbounded_channel();
    let config = &engine.config;
    let handle = Arc::new(PeerHandle {
        id,
        addr: remote_addr,
        inbound,
        origin,
        connected_at: Instant::now(),
        last_block: Mutex::new(None),
        last_tx: Mutex::new(None),
        addr_state: Mutex::new(AddrState {
            tokens: 1.0,
            refilled: Instant::now(),
            answered_getaddr: false,
        }),
        connected_since: SystemTime::now(),
        magic: config.magic,
        max_send_buffer: config.max_send_buffer,
        remote: Mutex::new(None),
        established: AtomicBool::new(false),
        ping_time_us: AtomicI64::new(-1),
        bytes_sent: AtomicU64::new(0),
        bytes_received: AtomicU64::new(0),
        queued_bytes: AtomicUsize::new(0),
        outbox: outbox_tx,
        close_request: Mutex::new(None),
        close_notify: Notify::new(),
        known: Mutex::new(None),
        tx_queue: Mutex::new(VecDeque::new()),
        announce_notify: Notify::new(),
        score: Mutex::new(Score::default()),
    });
    let local_nonce = engine.register_peer(handle.clone(), inbound);
    let registration = Registration {
        engine: engine.clone(),
        handle: handle.clone(),
        local_nonce,
    };
    let params = SessionParams {
        inbound,
        remote_addr,
        local_addr,
        protocol_version: config.protocol_version,
        min_protocol_version: config.min_protocol_version,
        services: config.services,
        user_agent: config.user_agent.clone(),
        start_height: engine.best_height(),
        local_nonce,
        handshake_timeout: config.handshake_timeout,
        ping_interval: config.ping_interval,
        inactivity_timeout: config.inactivity_timeout,
    };
    let trickle = if inbound {
        config.tx_trickle_inbound
    } else {
        config.tx_trickle_outbound
    };
    async move {
        tracing::debug!(peer = id, %remote_addr, inbound, "connection opened");
        // Aborted when this future ends, by returning or by unwinding from a panic.
        let writer_task = AbortOnDrop(engine.spawn(write_loop(writer, outbox_rx, handle.clone())));
        let (reason, detail) = Connection {
            engine: &engine,
            handle: &handle,
            trickle,
            local_addr,
        }
        .read_loop(reader, params)
        .await;
        drop(writer_task);
        drop(registration);
        tracing::debug!(peer = id, %remote_addr, reason = reason.name(), %detail, "connection closed");
        engine
            .emit(Event::PeerDisconnected { id, reason, detail })
            .await;
        handle.is_established()
    }
}

/// Small frames queued together are written with one system call up to this size.
const WRITE_BATCH: usize = 64 * 1024;

/// Writes queued frames in order. Frames that are already waiting are coalesced into
/// one write, so a burst of small messages (tx relay) does not cost a system call each;
/// a large frame is written as it is, without a copy.
async fn write_loop(
    mut writer: OwnedWriteHalf,
    mut outbox: mpsc::UnboundedReceiver<Bytes>,
    handle: Arc<PeerHandle>,
) {
    while let Some(first) = outbox.recv().await {
        let result = match outbox.try_recv() {
            // A lone frame: no batch, no copy.
            Err(_) => write_counted(&mut writer, &first, &handle).await,
            Ok(second) => {
                let burst = [first, second]
                    .into_iter()
                    .chain(std::iter::from_fn(|| outbox.try_recv().ok()));
                write_burst(&mut writer, burst, &handle).await
            }
        };
        if let Err(e) = result {
            handle.request_close(DisconnectReason::IoError, format!("write failed: {e}"));
            return;
        }
    }
}

/// Writes frames that were queued together, coalescing the small ones. The batch is
/// freed afterwards, so an idle peer keeps no write buffer.
async fn write_burst(
    writer: &mut OwnedWriteHalf,
    frames: impl Iterator<Item = Bytes>,
    handle: &PeerHandle,
) -> std::io::Result<()> {
    let mut batch = BytesMut::new();
    for frame in frames {
        if frame.len() >= WRITE_BATCH {
            flush(writer, &mut batch, handle).await?;
            write_counted(writer, &frame, handle).await?;
        } else {
            batch.extend_from_slice(&frame);
            if batch.len() >= WRITE_BATCH {
                flush(writer, &mut batch, handle).await?;
            }
        }
    }
    flush(writer, &mut batch, handle).await
}

/// Writes the coalesced frames, if any, and empties the batch.
async fn flush(
    writer: &mut OwnedWriteHalf,
    batch: &mut BytesMut,
    handle: &PeerHandle,
) -> std::io::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let result = write_counted(writer, batch, handle).await;
    batch.clear();
    result
}

async fn write_counted(
    writer: &mut OwnedWriteHalf,
    bytes: &[u8],
    handle: &PeerHandle,
) -> std::io::Result<()> {
    writer.write_all(bytes).await?;
    handle
        .bytes_sent
        .fetch_add(bytes.len() as u64, Ordering::Relaxed);
    handle.queued_bytes.fetch_sub(bytes.len(), Ordering::AcqRel);
    Ok(())
}

/// The reader side's state.
struct Connection<'a> {
    engine: &'a Arc<Shared>,
    handle: &'a Arc<PeerHandle>,
    /// Mean of the Poisson transaction-announcement timer; zero announces at once.
    trickle: Duration,
    local_addr: SocketAddr,
}

/// Next firing of a Poisson process with the given mean interval.
fn poisson_delay(mean: Duration) -> Duration {
    let uniform: f64 = rand::random::<f64>();
    let factor = -(1.0 - uniform).ln();
    mean.mul_f64(factor.min(20.0))
}

impl Connection<'_> {
    async fn read_loop(&mut self, reader: OwnedReadHalf, params: SessionParams) -> Exit {
        let mut actions = Vec::new();
        let mut session = Session::new(params, Instant::now(), unix_now(), &mut actions);
        if let Some(exit) = self.apply(&mut session, &mut actions).await {
            return exit;
        }
        let config = &self.engine.config;
        let mut decoder = FrameDecoder::new(config.magic, config.max_message_size);
        let mut buf = BytesMut::new();
        let mut next_trickle: Option<Instant> = None;
        loop {
            loop {
                let frame = match decoder.decode(&mut buf) {
                    Ok(Some(DecodedFrame::Frame(frame))) => frame,
                    Ok(Some(DecodedFrame::BadChecksum { command, length })) => {
                        tracing::debug!(peer = self.handle.id, %command, length, "bad checksum, message dropped");
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => return (DisconnectReason::ProtocolViolation, e.to_string()),
                };
                let command = frame.command;
                match Message::decode(frame.command, frame.payload) {
                    Ok(msg) => {
                        let engine = self.engine;
                        session.on_message(
                            msg,
                            Instant::now(),
                            unix_now(),
                            |nonce| engine.is_local_nonce(nonce),
                            &mut actions,
                        );
                    }
                    Err(e) => {
                        tracing::debug!(peer = self.handle.id, %command, error = %e, "undecodable payload");
                        self.engine
                            .misbehaving(self.handle, offence_for(&e), &e.to_string());
                    }
                }
                if let Some(exit) = self.apply(&mut session, &mut actions).await {
                    return exit;
                }
                if let Some(exit) = self.handle.close_request.lock().take() {
                    return exit;
                }
            }
            // An idle connection holds no receive buffer; one is allocated when bytes
            // arrive, sized by what arrived rather than by any claimed length.
            if buf.is_empty() && buf.capacity() > 0 {
                buf = BytesMut::new();
            }
            let deadline = session.next_deadline();
            tokio::select! {
                biased;
                _ = self.handle.close_notify.notified() => {
                    if let Some(exit) = self.handle.close_request.lock().take() {
                        return exit;
                    }
                }
                _ = self.handle.announce_notify.notified(), if next_trickle.is_none() => {
                    if self.trickle.is_zero() {
                        self.handle.flush_tx_announcements();
                        session.on_sent(Instant::now());
                    } else {
                        next_trickle = Some(Instant::now() + poisson_delay(self.trickle));
                    }
                }
                _ = sleep_until(next_trickle) => {
                    next_trickle = None;
                    self.handle.flush_tx_announcements();
                    session.on_sent(Instant::now());
                }
                ready = reader.readable() => {
                    if let Err(e) = ready {
                        return (DisconnectReason::IoError, format!("read failed: {e}"));
                    }
                    let wanted = decoder
                        .pending_frame_len()
                        .map_or(READ_CHUNK, |len| len.saturating_sub(buf.len()))
                        .clamp(4096, READ_CHUNK);
                    buf.reserve(wanted);
                    match reader.try_read_buf(&mut buf) {
                        Ok(0) => return (DisconnectReason::ClosedByPeer, "connection closed by peer".into()),
                        Ok(n) => {
                            self.handle.bytes_received.fetch_add(n as u64, Ordering::Relaxed);
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(e) => return (DisconnectReason::IoError, format!("read failed: {e}")),
                    }
                }
                _ = sleep_until(deadline) => {
                    session.on_timer(Instant::now(), &mut actions);
                    if let Some(exit) = self.apply(&mut session, &mut actions).await {
                        return exit;
                    }
                }
            }
        }
    }

    /// Carries out the session's actions in order; returns the exit if one closes the
    /// connection.
    async fn apply(&mut self, session: &mut Session, actions: &mut Vec<Action>) -> Option<Exit> {
        for action in actions.drain(..) {
            match action {
                Action::Send(msg) => {
                    self.handle.send(&msg);
                    session.on_sent(Instant::now());
                }
                Action::Established(remote) => {
                    tracing::info!(
                        peer = self.handle.id,
                        addr = %self.handle.addr,
                        version = remote.version,
                        user_agent = %remote.user_agent,
                        "peer connected"
                    );
                    *self.handle.remote.lock() = Some(remote);
                    self.handle.established.store(true, Ordering::Release);
                    self.engine.peer_established(self.handle, self.local_addr);
                    if let Some(info) = self.handle.info() {
                        self.engine.emit(Event::PeerConnected(info)).await;
                    }
                }
                Action::Deliver(msg) => self.on_message(msg).await,
                Action::PingMeasured(rtt) => {
                    let micros = i64::try_from(rtt.as_micros()).unwrap_or(i64::MAX);
                    self.handle.ping_time_us.store(micros, Ordering::Relaxed);
                }
                Action::Misbehaving(offence) => {
                    let offence = match offence {
                        SessionOffence::MessageBeforeVersion => Offence::MessageBeforeVersion,
                        SessionOffence::DuplicateVersion => Offence::DuplicateVersion,
                    };
                    self.engine.misbehaving(self.handle, offence, "");
                }
                Action::Disconnect(reason, detail) => return Some((reason, detail)),
            }
        }
        None
    }

    /// Relay and sync messages after the handshake.
    async fn on_message(&mut self, msg: Message) {
        let engine = self.engine;
        let handle = self.handle;
        match msg {
            Message::Inv(items) => engine.on_inv(handle, &items),
            Message::GetData(items) => engine.on_get_data(handle, items).await,
            Message::NotFound(items) => engine.on_not_found(handle, &items),
            Message::Block(data) => engine.on_item(handle, ItemKind::Block, data).await,
            Message::Tx(data) => engine.on_item(handle, ItemKind::Tx, data).await,
            Message::Headers(headers) => engine.on_headers(handle, headers).await,
            Message::GetHeaders(locator) => {
                engine
                    .emit(Event::GetHeaders {
                        peer: handle.id,
                        locator,
                    })
                    .await
            }
            Message::GetBlocks(locator) => {
                engine
                    .emit(Event::GetBlocks {
                        peer: handle.id,
                        locator,
                    })
                    .await
            }
            Message::Addr(addrs) => engine.on_addr(handle, &addrs),
            Message::GetAddr => engine.on_get_addr(handle),
            Message::Reject(reject) => {
                tracing::debug!(peer = handle.id, message = %reject.message, code = reject.code, reason = %reject.reason, "reject received");
            }
            other => {
                tracing::trace!(peer = handle.id, command = %other.command(), "message ignored");
            }
        }
    }
}

fn offence_for(error: &PayloadError) -> Offence {
    match error {
        PayloadError::TooManyEntries { .. } => Offence::OversizedList,
        _ => Offence::MalformedPayload,
    }
}

pub(crate) async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}
