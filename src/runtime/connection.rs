//! One connection: a reader that decodes frames, computes item ids and feeds the core,
//! and a writer that drains the connection's outbox, coalescing small frames. Both are
//! generic over the byte stream, so they run over TCP in the engine and over in-memory
//! streams in tests. The core reaches a connection only through its [`Link`].

use std::future::Future;
use std::io;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::budget::Reservation;
use super::link::{io_exit, read_ready, write_counted, Exit, Link, ReadHalf};
use super::transport::{Decoded, Decoder, Encoder, Transport, WireBytes};
use super::Driver;
use crate::events::{DisconnectReason, PeerId};
use crate::misbehaviour::Offence;
use crate::node::MessageIds;
use crate::relay::{ItemKind, MAX_BLOCKS_TO_ANNOUNCE};
use crate::wire::{Frame, Hash256, Message, PayloadError};

/// Messages handed to the core in one step at most.
const MAX_BATCH: usize = 256;

/// A message read from the peer, as the core receives it.
// Nearly every value is a message; boxing it would cost an allocation per message.
#[allow(clippy::large_enum_variant)]
enum Inbound {
    Message(Message, MessageIds),
    Undecodable(Offence, String),
}

/// Largest single read; frames larger than this arrive over several reads.
const READ_CHUNK: usize = 64 * 1024;
/// A connection gives its worker thread to other tasks after this much work (bytes
/// read, with each message handled counting [`MESSAGE_WORK`]). Tokio's cooperative
/// budget counts readiness polls, not the work done after each, so a peer that always
/// has data waiting would otherwise hold the thread long enough for every other peer
/// to wait.
const YIELD_AFTER: usize = 64 * 1024;
const MESSAGE_WORK: usize = 256;
/// Small frames queued together are written with one system call up to this size.
const WRITE_BATCH: usize = 64 * 1024;
/// Unfinished messages up to this size are read without drawing on the receive budget.
pub(crate) const UNBUDGETED_FRAME: usize = 64 * 1024;

/// Runs a connection the core opened as `id` from the first byte to its end, and
/// returns why it ended. The caller tells the core.
pub(crate) async fn run<R, W>(
    driver: Arc<Driver>,
    id: PeerId,
    link: Arc<Link>,
    reader: R,
    writer: W,
    outbox: mpsc::UnboundedReceiver<Frame>,
    transport: Transport,
) -> Exit
where
    R: ReadHalf,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let Transport {
        decoder,
        encoder,
        leftover,
        ..
    } = transport;
    let writer_task = {
        let link = link.clone();
        let driver = driver.clone();
        driver.clone().spawn_joinable(async move {
            write_loop(writer, outbox, encoder, &link, || async {
                if link.take_drained() {
                    driver
                        .run(|node, now| node.send_buffer_drained(id, now))
                        .await;
                }
            })
            .await
        })
    };
    // Aborted when this future ends, by returning or by unwinding from a panic.
    let _writer_task = AbortOnDrop(writer_task);
    read_loop(&driver, id, &link, reader, decoder, leftover).await
}

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn read_loop<R: ReadHalf>(
    driver: &Driver,
    id: PeerId,
    link: &Link,
    mut reader: R,
    mut decoder: Decoder,
    mut buf: BytesMut,
) -> Exit {
    let config = &driver.config;
    // The share of the receive budget held for the unfinished message, and when a peer
    // that sends no more of it is cut off.
    let mut reservation: Option<(usize, Reservation)> = None;
    // While a large message is read, `buf` is a pool buffer of this allocated size.
    let mut pooled: Option<usize> = None;
    let mut stall_deadline: Option<Instant> = None;
    let mut work_since_yield = 0usize;
    loop {
        // Every complete message in the buffer goes to the core, a batch per step.
        loop {
            if let Some(exit) = link.close_requested() {
                return exit;
            }
            let mut batch = Vec::new();
            let mut violation = None;
            while batch.len() < MAX_BATCH {
                let decoded = decoder.decode(&mut buf);
                // A pool buffer starts with the large message's header, so the first
                // message out of it is that one: the buffer goes back (reusable once the
                // message is dropped everywhere), and what was read past the message
                // moves to a buffer of its own; the message's budget share is returned.
                if let (Some(allocated), Ok(Some(_))) = (pooled, &decoded) {
                    buf = driver.receive_pool.give_back(buf, allocated);
                    pooled = None;
                    reservation = None;
                    stall_deadline = None;
                }
                let (command, payload, frame) = match decoded {
                    Ok(Some(Decoded::Message {
                        command,
                        payload,
                        frame,
                    })) => (command, payload, frame),
                    Ok(Some(Decoded::BadChecksum { command, length })) => {
                        tracing::debug!(peer = id, %command, length, "bad checksum, message dropped");
                        continue;
                    }
                    Ok(None) => break,
                    Err(e) => {
                        violation = Some(e);
                        break;
                    }
                };
                link.traffic
                    .message_received(command, Decoder::counted_len(&payload));
                batch.push(match Message::decode(command, payload) {
                    Ok(msg) => {
                        // Ids are computed here, on the connection's thread, not in the
                        // core.
                        let mut ids = message_ids(driver, &msg);
                        if ids.item.is_some() {
                            ids.frame = frame;
                        }
                        Inbound::Message(msg, ids)
                    }
                    Err(e) => {
                        tracing::debug!(peer = id, %command, error = %e, "undecodable payload");
                        Inbound::Undecodable(offence_for(&e), e.to_string())
                    }
                });
            }
            let more = batch.len() == MAX_BATCH;
            work_since_yield += batch.len() * MESSAGE_WORK;
            if !batch.is_empty() {
                driver
                    .run(|node, now| {
                        for inbound in batch {
                            match inbound {
                                Inbound::Message(msg, ids) => node.on_message(id, msg, ids, now),
                                Inbound::Undecodable(offence, detail) => {
                                    node.bad_payload(id, offence, &detail, now)
                                }
                            }
                        }
                    })
                    .await;
            }
            if let Some(detail) = violation {
                return (DisconnectReason::ProtocolViolation, detail);
            }
            if work_since_yield >= YIELD_AFTER {
                work_since_yield = 0;
                tokio::task::yield_now().await;
            }
            if !more {
                break;
            }
        }
        // An idle connection holds no receive buffer; one is allocated when bytes
        // arrive, sized by what arrived rather than by any claimed length.
        if buf.is_empty() && buf.capacity() > 0 && pooled.is_none() {
            buf = BytesMut::new();
        }
        // A large unfinished message is read only with a share of the engine's receive
        // budget, so memory for unfinished messages is bounded across all peers.
        match decoder.pending_len() {
            Some(len) if len > UNBUDGETED_FRAME => {
                if reservation.as_ref().map(|(l, _)| *l) != Some(len) {
                    reservation = None;
                    let share = len.min(config.receive_budget);
                    let budget = driver.receive_budget.clone();
                    tokio::select! {
                        biased;
                        _ = link.closed() => {
                            if let Some(exit) = link.close_requested() {
                                return exit;
                            }
                            continue;
                        }
                        share = budget.reserve(share) => {
                            reservation = Some((len, share));
                            stall_deadline = Some(Instant::now() + config.partial_message_timeout);
                            // The message is read into a buffer of its full size (the
                            // budget counts it), from the pool when one is free.
                            let (mut large, allocated) = driver.receive_pool.take(len);
                            large.extend_from_slice(&buf);
                            buf = large;
                            pooled = Some(allocated);
                        }
                    }
                }
            }
            _ => {
                reservation = None;
                stall_deadline = None;
            }
        }
        tokio::select! {
            biased;
            _ = link.closed() => {
                if let Some(exit) = link.close_requested() {
                    return exit;
                }
            }
            _ = super::sleep_until(stall_deadline) => {
                let len = reservation.as_ref().map_or(0, |(l, _)| *l);
                return (
                    DisconnectReason::InactivityTimeout,
                    format!(
                        "sent {} of a {len}-byte message, then nothing for {} ms",
                        buf.len(),
                        config.partial_message_timeout.as_millis()
                    ),
                );
            }
            ready = reader.readable() => {
                if let Err(e) = ready {
                    return io_exit("read", &e);
                }
                // A budgeted message already has its whole buffer; anything else grows
                // by what arrives.
                let wanted = decoder
                    .pending_len()
                    .map_or(READ_CHUNK, |len| len.saturating_sub(buf.len()))
                    .clamp(4096, READ_CHUNK);
                buf.reserve(wanted);
                match read_ready(&mut reader, link, &mut buf) {
                    Ok(Some(n)) => {
                        work_since_yield += n;
                        if reservation.is_some() {
                            stall_deadline = Some(Instant::now() + config.partial_message_timeout);
                        }
                    }
                    Ok(None) => {}
                    Err(exit) => return exit,
                }
            }
        }
    }
}

/// The ids the core needs with a message (see [`MessageIds`]), computed here so that
/// hashing and the node's have function run on the connection's thread.
fn message_ids(driver: &Driver, msg: &Message) -> MessageIds {
    match msg {
        Message::Inv(items) => MessageIds {
            node_has: driver.node_has(
                items
                    .iter()
                    .filter_map(|i| Some((ItemKind::from_inv(i.kind)?, i.hash))),
            ),
            ..MessageIds::default()
        },
        Message::Block(data) => MessageIds {
            item: Some(driver.item_ids(ItemKind::Block, data)),
            ..MessageIds::default()
        },
        Message::Tx(data) => MessageIds {
            item: Some(driver.item_ids(ItemKind::Tx, data)),
            ..MessageIds::default()
        },
        Message::Headers(headers) => {
            let ids: Vec<Hash256> = headers
                .iter()
                .map(|h| driver.item_id(ItemKind::Block, h))
                .collect();
            // Only a short message announces blocks (BIP130); a long one answers sync.
            let node_has = if ids.len() <= MAX_BLOCKS_TO_ANNOUNCE {
                driver.node_has(ids.iter().map(|id| (ItemKind::Block, *id)))
            } else {
                Vec::new()
            };
            MessageIds {
                headers: ids,
                node_has,
                ..MessageIds::default()
            }
        }
        _ => MessageIds::default(),
    }
}

fn offence_for(error: &PayloadError) -> Offence {
    match error {
        PayloadError::TooManyEntries { .. } => Offence::OversizedList,
        _ => Offence::MalformedPayload,
    }
}

/// Writes queued frames in order. Frames that are already waiting are coalesced into
/// one write, so a burst of small messages (tx relay) does not cost a system call each;
/// a large frame is written as it is, header and payload in one vectored write, without
/// a copy.
async fn write_loop<W, F, Fut>(
    mut writer: W,
    mut outbox: mpsc::UnboundedReceiver<Frame>,
    mut encoder: Encoder,
    link: &Link,
    after_write: F,
) where
    W: AsyncWrite + Unpin,
    F: Fn() -> Fut,
    Fut: Future<Output = ()>,
{
    // Each queued frame, as the transport puts it on the wire; an error ends the
    // connection.
    let mut failed: Option<io::Error> = None;
    let mut take = |frame: Frame, failed: &mut Option<io::Error>| {
        link.dequeued(&frame);
        match encoder.encode(frame) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                *failed = Some(e);
                None
            }
        }
    };
    while let Some(first) = outbox.recv().await {
        let Some(first) = take(first, &mut failed) else {
            break;
        };
        let result = match outbox.try_recv() {
            // A lone frame: no batch, no copy.
            Err(_) => write_wire(&mut writer, &first, link).await,
            Ok(second) => {
                let rest =
                    std::iter::once(second).chain(std::iter::from_fn(|| outbox.try_recv().ok()));
                let burst =
                    std::iter::once(first).chain(rest.map_while(|frame| take(frame, &mut failed)));
                write_burst(&mut writer, burst, link).await
            }
        };
        if let Some(e) = failed.take() {
            link.close(
                DisconnectReason::InternalError,
                format!("encrypting a message: {e}"),
            );
            return;
        }
        if let Err(e) = result {
            let (reason, detail) = io_exit("write", &e);
            link.close(reason, detail);
            return;
        }
        after_write().await;
    }
}

/// Writes frames that were queued together, coalescing the small ones. The batch is
/// freed afterwards, so an idle peer keeps no write buffer.
async fn write_burst<W: AsyncWrite + Unpin>(
    writer: &mut W,
    frames: impl Iterator<Item = WireBytes>,
    link: &Link,
) -> io::Result<()> {
    let mut batch = BytesMut::new();
    for wire in frames {
        if wire.len() >= WRITE_BATCH {
            flush(writer, &mut batch, link).await?;
            write_wire(writer, &wire, link).await?;
        } else {
            for part in wire.parts() {
                batch.extend_from_slice(part);
            }
            if batch.len() >= WRITE_BATCH {
                flush(writer, &mut batch, link).await?;
            }
        }
    }
    flush(writer, &mut batch, link).await
}

/// Writes one frame's pieces with vectored writes, counting them on the link.
async fn write_wire<W: AsyncWrite + Unpin>(
    writer: &mut W,
    wire: &WireBytes,
    link: &Link,
) -> io::Result<()> {
    let [mut head, mut body] = wire.parts();
    while !head.is_empty() || !body.is_empty() {
        let written = if head.is_empty() {
            writer.write(body).await?
        } else {
            writer
                .write_vectored(&[io::IoSlice::new(head), io::IoSlice::new(body)])
                .await?
        };
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        link.sent(written);
        let from_head = written.min(head.len());
        head = &head[from_head..];
        body = &body[written - from_head..];
    }
    Ok(())
}

/// Writes the coalesced frames, if any, and empties the batch.
async fn flush<W: AsyncWrite + Unpin>(
    writer: &mut W,
    batch: &mut BytesMut,
    link: &Link,
) -> io::Result<()> {
    if batch.is_empty() {
        return Ok(());
    }
    let result = write_counted(writer, batch, link).await;
    batch.clear();
    result
}
