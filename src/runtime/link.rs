//! The runtime's handle on one connection ([`Link`]: outbox, close signal, counters) and
//! the read side of a byte stream ([`ReadHalf`]); shared by the transport negotiation
//! and the connection's read and write loops.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::BytesMut;
#[cfg(test)]
use tokio::io::{AsyncRead, ReadBuf};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::futures::Notified;
use tokio::sync::{mpsc, Notify};

use super::traffic::Traffic;
use crate::events::{DisconnectReason, PeerInfo};
use crate::wire::Frame;

/// A send buffer below this is drained: the core may queue its next GETDATA answers.
const DRAINED: usize = 256 * 1024;

/// Why a connection ended.
pub(crate) type Exit = (DisconnectReason, String);

/// The runtime's handle on one connection: its outbox, its close signal and counters.
pub(crate) struct Link {
    outbox: mpsc::UnboundedSender<Frame>,
    max_send_buffer: usize,
    queued_bytes: AtomicUsize,
    bytes_sent: AtomicU64,
    bytes_received: AtomicU64,
    /// Unix seconds of the last write and read on the socket.
    last_send: AtomicU64,
    last_receive: AtomicU64,
    /// The engine's totals, which outlive this connection.
    pub(crate) traffic: Arc<Traffic>,
    /// The first close reason wins.
    close_request: OnceLock<Exit>,
    close_notify: Notify,
    /// The core waits to hear that the send buffer drained.
    drain_watch: AtomicBool,
}

impl Link {
    /// A link and the receiving end of its outbox.
    pub fn new(
        max_send_buffer: usize,
        traffic: Arc<Traffic>,
    ) -> (Arc<Link>, mpsc::UnboundedReceiver<Frame>) {
        let (outbox, rx) = mpsc::unbounded_channel();
        let opened = unix_now();
        let link = Arc::new(Link {
            outbox,
            max_send_buffer,
            queued_bytes: AtomicUsize::new(0),
            bytes_sent: AtomicU64::new(0),
            bytes_received: AtomicU64::new(0),
            last_send: AtomicU64::new(opened),
            last_receive: AtomicU64::new(opened),
            traffic,
            close_request: OnceLock::new(),
            close_notify: Notify::new(),
            drain_watch: AtomicBool::new(false),
        });
        (link, rx)
    }

    /// Queues a frame. A peer whose queue exceeds the send-buffer limit is not reading;
    /// it is disconnected rather than allowed to grow memory.
    pub fn send(&self, frame: Frame) {
        let queued = self.queued_bytes.fetch_add(frame.len(), Ordering::AcqRel) + frame.len();
        if queued > self.max_send_buffer {
            self.close(
                DisconnectReason::SendBufferFull,
                format!("{queued} bytes queued, limit {}", self.max_send_buffer),
            );
            return;
        }
        // The receiver is gone only while the connection is closing.
        let _ = self.outbox.send(frame);
    }

    /// Asks the connection to close; the first reason wins.
    pub fn close(&self, reason: DisconnectReason, detail: String) {
        let _ = self.close_request.set((reason, detail));
        self.close_notify.notify_one();
    }

    /// Arms the drained report; true when the buffer is drained already (the caller
    /// reports it then).
    pub fn watch_drain(&self) -> bool {
        self.drain_watch.store(true, Ordering::Release);
        self.take_drained()
    }

    /// Disarms and returns true when a report is wanted and the buffer is drained.
    pub(crate) fn take_drained(&self) -> bool {
        self.queued_bytes.load(Ordering::Acquire) < DRAINED
            && self.drain_watch.swap(false, Ordering::AcqRel)
    }

    pub(crate) fn close_requested(&self) -> Option<Exit> {
        self.close_request.get().cloned()
    }

    /// Resolves when a close was asked for (check [`Link::close_requested`]).
    pub(crate) fn closed(&self) -> Notified<'_> {
        self.close_notify.notified()
    }

    /// Bytes and socket times for the peer list.
    pub fn fill_stats(&self, info: &mut PeerInfo) {
        info.bytes_sent = self.bytes_sent.load(Ordering::Relaxed);
        info.bytes_received = self.bytes_received.load(Ordering::Relaxed);
        let at = |secs: &AtomicU64| UNIX_EPOCH + Duration::from_secs(secs.load(Ordering::Relaxed));
        info.last_send = at(&self.last_send);
        info.last_receive = at(&self.last_receive);
    }

    pub(crate) fn received(&self, bytes: usize) {
        self.bytes_received
            .fetch_add(bytes as u64, Ordering::Relaxed);
        self.last_receive.store(unix_now(), Ordering::Relaxed);
        self.traffic.socket_received(bytes);
    }

    pub(crate) fn sent(&self, bytes: usize) {
        self.bytes_sent.fetch_add(bytes as u64, Ordering::Relaxed);
        self.last_send.store(unix_now(), Ordering::Relaxed);
        self.traffic.socket_sent(bytes);
    }

    /// The writer took a queued frame: it no longer counts against the send buffer.
    pub(crate) fn dequeued(&self, frame: &Frame) {
        self.queued_bytes.fetch_sub(frame.len(), Ordering::AcqRel);
        self.traffic.message_sent(frame.command(), frame.len());
    }
}

/// The read side of a byte stream, waited on without holding a buffer: an idle
/// connection holds no receive buffer.
pub(crate) trait ReadHalf: Send + 'static {
    /// Waits until a read would not block.
    fn readable(&mut self) -> impl Future<Output = io::Result<()>> + Send;
    /// Reads what is there without waiting; `WouldBlock` when nothing is.
    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize>;
}

impl ReadHalf for tokio::net::tcp::OwnedReadHalf {
    /// Polls the socket's readiness directly: tokio's `readable` future would add some
    /// 180 bytes to every idle connection's task.
    fn readable(&mut self) -> impl Future<Output = io::Result<()>> + Send {
        std::future::poll_fn(move |cx| self.as_ref().poll_read_ready(cx))
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        tokio::net::tcp::OwnedReadHalf::try_read_buf(self, buf)
    }
}

/// Any `AsyncRead` as a [`ReadHalf`]: readiness is learnt by reading one byte, kept
/// until the next read. For streams without a readiness API (in-memory streams).
#[cfg(test)]
pub(crate) struct Peeking<R> {
    inner: R,
    peeked: Option<u8>,
}

#[cfg(test)]
impl<R> Peeking<R> {
    pub fn new(inner: R) -> Self {
        Peeking {
            inner,
            peeked: None,
        }
    }
}

#[cfg(test)]
impl<R: AsyncRead + Unpin + Send + 'static> ReadHalf for Peeking<R> {
    async fn readable(&mut self) -> io::Result<()> {
        if self.peeked.is_some() {
            return Ok(());
        }
        let mut byte = [0u8; 1];
        let n = std::future::poll_fn(|cx| {
            let mut buf = ReadBuf::new(&mut byte);
            std::pin::Pin::new(&mut self.inner)
                .poll_read(cx, &mut buf)
                .map_ok(|()| buf.filled().len())
        })
        .await?;
        // End of stream is reported by the next read returning 0.
        self.peeked = (n == 1).then_some(byte[0]);
        Ok(())
    }

    fn try_read_buf(&mut self, buf: &mut BytesMut) -> io::Result<usize> {
        match self.peeked.take() {
            Some(byte) => {
                buf.extend_from_slice(&[byte]);
                Ok(1)
            }
            None => Ok(0),
        }
    }
}

/// How a failed read or write ends the connection: a reset or broken pipe is the peer
/// closing, anything else an I/O error.
pub(crate) fn io_exit(what: &str, e: &io::Error) -> Exit {
    match e.kind() {
        io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof => (
            DisconnectReason::ClosedByPeer,
            format!("connection closed by peer ({what}: {e})"),
        ),
        _ => (DisconnectReason::IoError, format!("{what} failed: {e}")),
    }
}

/// The wall clock in Unix seconds, for the last send and receive times.
fn unix_now() -> u64 {
    crate::node::unix_seconds(SystemTime::now())
}

/// Reads what is there after `readable` said so: the bytes read (counted on the
/// link), `None` when nothing was there after all, or why the connection ended.
pub(crate) fn read_ready<R: ReadHalf>(
    reader: &mut R,
    link: &Link,
    buf: &mut BytesMut,
) -> Result<Option<usize>, Exit> {
    match reader.try_read_buf(buf) {
        Ok(0) => Err((
            DisconnectReason::ClosedByPeer,
            "connection closed by peer".into(),
        )),
        Ok(n) => {
            link.received(n);
            Ok(Some(n))
        }
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
        Err(e) => Err(io_exit("read", &e)),
    }
}

/// Writes bytes and counts them on the link.
pub(crate) async fn write_counted<W: AsyncWrite + Unpin>(
    writer: &mut W,
    bytes: &[u8],
    link: &Link,
) -> io::Result<()> {
    writer.write_all(bytes).await?;
    link.sent(bytes.len());
    Ok(())
}
