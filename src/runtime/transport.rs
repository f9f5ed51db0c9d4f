//! The transport under a connection: plaintext v1 frames or BIP324 v2 encrypted
//! packets. Before a connection's read and write loops start, [`negotiate`] settles
//! which one it speaks (the dial plan for outbound connections, the peer's first bytes
//! for inbound ones) and runs the v2 handshake; the loops then read through a
//! [`Decoder`] and write through an [`Encoder`], and the core sees the same messages
//! either way.

use std::io;

use bytes::{Bytes, BytesMut};
use tokio::io::AsyncWrite;

use super::link::{io_exit, read_ready, write_counted, Exit, Link, ReadHalf};
use crate::config::{Config, TransportMode};
use crate::encrypted::{
    classify_inbound, PacketDecoder, PacketEncoder, Progress, Role, TransportVersion, V2Handshake,
};
use crate::events::DisconnectReason;
pub(crate) use crate::node::TransportPlan;
use crate::wire::{Command, DecodedFrame, Frame, FrameDecoder, HEADER_LEN};

/// Reads during negotiation, at most.
const HANDSHAKE_READ: usize = 16 * 1024;

/// The transport a connection settled on.
pub(crate) struct Transport {
    pub version: TransportVersion,
    /// BIP324's session id, which both ends can compare out of band.
    pub session_id: Option<[u8; 32]>,
    pub decoder: Decoder,
    pub encoder: Encoder,
    /// Bytes that arrived after the handshake, for the decoder.
    pub leftover: BytesMut,
}

impl Transport {
    pub fn v1(config: &Config, leftover: BytesMut) -> Transport {
        Transport {
            version: TransportVersion::V1,
            session_id: None,
            decoder: Decoder::V1(FrameDecoder::new(config.magic, config.max_message_size)),
            encoder: Encoder::V1,
            leftover,
        }
    }
}

/// The outcome of [`negotiate`].
pub(crate) enum Negotiation {
    Ready(Transport),
    /// The v2 attempt met a peer that closed before sending anything: dial again, v1.
    FallBackToV1,
    Failed(Exit),
}

/// One message read from the peer.
pub(crate) enum Decoded {
    Message {
        command: Command,
        payload: Bytes,
        /// A v1 frame as received; relayed unchanged.
        frame: Option<Frame>,
    },
    /// A v1 frame whose checksum did not match: dropped, the connection stays.
    BadChecksum { command: Command, length: u32 },
}

/// The read side of the transport.
pub(crate) enum Decoder {
    V1(FrameDecoder),
    /// Boxed: the cipher state would make every v1 connection's decoder as large.
    V2 {
        decoder: Box<PacketDecoder>,
        max_payload: usize,
    },
}

impl Decoder {
    /// The next message in `buf`; `None` until one is complete; an error ends the
    /// connection as a protocol violation.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Decoded>, String> {
        match self {
            Decoder::V1(decoder) => match decoder.decode(buf) {
                Ok(Some(DecodedFrame::Frame(frame))) => Ok(Some(Decoded::Message {
                    command: frame.command,
                    frame: Some(frame.to_frame()),
                    payload: frame.payload,
                })),
                Ok(Some(DecodedFrame::BadChecksum { command, length })) => {
                    Ok(Some(Decoded::BadChecksum { command, length }))
                }
                Ok(None) => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            Decoder::V2 {
                decoder,
                max_payload,
            } => loop {
                match decoder.decode(buf, *max_payload) {
                    Ok(Some((command, payload))) => {
                        return Ok(Some(Decoded::Message {
                            command,
                            payload,
                            frame: None,
                        }))
                    }
                    Ok(None) => return Ok(None),
                    // A packet without a usable message type is dropped, as Bitcoin
                    // Core does; the stream stays in sync.
                    Err(e) if !e.is_fatal() => tracing::debug!(error = %e, "v2 message dropped"),
                    Err(e) => return Err(format!("v2 transport: {e}")),
                }
            },
        }
    }

    /// Bytes of the unfinished message, once its length is known: what the receive
    /// budget is reserved for.
    pub fn pending_len(&self) -> Option<usize> {
        match self {
            Decoder::V1(decoder) => decoder.pending_frame_len(),
            Decoder::V2 { decoder, .. } => decoder.pending_packet_len(),
        }
    }

    /// The size of a message as counted in the traffic statistics (a v1 frame's).
    pub fn counted_len(payload: &Bytes) -> usize {
        HEADER_LEN + payload.len()
    }
}

/// The write side of the transport. The core queues v1 frames; a v2 connection turns
/// each into an encrypted packet as it is written.
pub(crate) enum Encoder {
    V1,
    V2(Box<PacketEncoder>),
}

/// What is written for one queued frame: a v1 frame's header and payload, or a v2
/// packet.
pub(crate) enum WireBytes {
    Frame(Frame),
    Packet(Bytes),
}

impl WireBytes {
    pub fn len(&self) -> usize {
        match self {
            WireBytes::Frame(frame) => frame.len(),
            WireBytes::Packet(packet) => packet.len(),
        }
    }

    /// The pieces to write, in order.
    pub fn parts(&self) -> [&[u8]; 2] {
        match self {
            WireBytes::Frame(frame) => [frame.header(), frame.payload()],
            WireBytes::Packet(packet) => [&[], packet],
        }
    }
}

impl Encoder {
    /// The bytes to write for one queued v1 frame.
    pub fn encode(&mut self, frame: Frame) -> io::Result<WireBytes> {
        match self {
            Encoder::V1 => Ok(WireBytes::Frame(frame)),
            Encoder::V2(encoder) => {
                let command = frame
                    .command()
                    .ok_or_else(|| io::Error::other("queued frame has no valid command"))?;
                // Contents lose the 24-byte header and gain the type, length and tag.
                let mut out = Vec::with_capacity(frame.len() + 32);
                encoder
                    .encode(command, frame.payload(), &mut out)
                    .map_err(|e| io::Error::other(e.to_string()))?;
                Ok(WireBytes::Packet(Bytes::from(out)))
            }
        }
    }
}

/// Settles the transport of a new connection. Outbound v2 and inbound connections
/// exchange handshake bytes here, before the core's first message goes out (it waits
/// in the outbox). A close the runtime asks for meanwhile (the core's handshake
/// timeout, a ban) ends it.
pub(crate) async fn negotiate<R: ReadHalf, W: AsyncWrite + Unpin>(
    reader: &mut R,
    writer: &mut W,
    link: &Link,
    config: &Config,
    plan: TransportPlan,
) -> Negotiation {
    match plan {
        TransportPlan::V1 => Negotiation::Ready(Transport::v1(config, BytesMut::new())),
        TransportPlan::V2 { fallback } => {
            let (handshake, first) = V2Handshake::new(config.magic, Role::Initiator);
            let mut buf = BytesMut::new();
            v2_handshake(
                reader, writer, link, config, handshake, first, &mut buf, fallback,
            )
            .await
        }
        TransportPlan::Detect => detect(reader, writer, link, config).await,
    }
}

/// Inbound: reads until the first bytes tell v1 from v2 (Bitcoin Core's rule), then
/// either hands them to a v1 decoder or answers the v2 handshake.
async fn detect<R: ReadHalf, W: AsyncWrite + Unpin>(
    reader: &mut R,
    writer: &mut W,
    link: &Link,
    config: &Config,
) -> Negotiation {
    let mut buf = BytesMut::new();
    if config.transport == TransportMode::V1Only {
        return Negotiation::Ready(Transport::v1(config, buf));
    }
    let version = loop {
        if let Some(version) = classify_inbound(&buf, config.magic) {
            break version;
        }
        if let Err(exit) = read_some(reader, link, &mut buf).await {
            return Negotiation::Failed(exit);
        }
    };
    match version {
        TransportVersion::V1 if config.transport == TransportMode::V2Only => Negotiation::Failed((
            DisconnectReason::ProtocolViolation,
            "v1 connection refused: this node accepts v2 (BIP324) connections only".into(),
        )),
        TransportVersion::V1 => Negotiation::Ready(Transport::v1(config, buf)),
        TransportVersion::V2 => {
            let (handshake, first) = V2Handshake::new(config.magic, Role::Responder);
            v2_handshake(
                reader, writer, link, config, handshake, first, &mut buf, false,
            )
            .await
        }
    }
}

/// Sends our key and garbage, then feeds the peer's bytes to the handshake until it
/// completes, sending what it asks to.
#[allow(clippy::too_many_arguments)]
async fn v2_handshake<R: ReadHalf, W: AsyncWrite + Unpin>(
    reader: &mut R,
    writer: &mut W,
    link: &Link,
    config: &Config,
    mut handshake: V2Handshake,
    first: Vec<u8>,
    buf: &mut BytesMut,
    fallback: bool,
) -> Negotiation {
    if let Err(exit) = write_handshake(writer, link, &first).await {
        return Negotiation::Failed(exit);
    }
    let mut received_any = !buf.is_empty();
    loop {
        if !buf.is_empty() {
            match handshake.receive(buf) {
                Ok(Progress::NeedMore) => {}
                Ok(Progress::Send(bytes)) => {
                    if let Err(exit) = write_handshake(writer, link, &bytes).await {
                        return Negotiation::Failed(exit);
                    }
                }
                Ok(Progress::Done { send, session }) => {
                    if let Err(exit) = write_handshake(writer, link, &send).await {
                        return Negotiation::Failed(exit);
                    }
                    let session_id = session.session_id();
                    let (decoder, encoder) = session.into_split();
                    return Negotiation::Ready(Transport {
                        version: TransportVersion::V2,
                        session_id: Some(session_id),
                        decoder: Decoder::V2 {
                            decoder: Box::new(decoder),
                            max_payload: config.max_message_size as usize,
                        },
                        encoder: Encoder::V2(Box::new(encoder)),
                        leftover: std::mem::take(buf),
                    });
                }
                Err(e) => {
                    return Negotiation::Failed((
                        DisconnectReason::ProtocolViolation,
                        format!("v2 handshake: {e}"),
                    ))
                }
            }
        }
        match read_some(reader, link, buf).await {
            Ok(()) => received_any = true,
            Err((DisconnectReason::ClosedByPeer, _)) if fallback && !received_any => {
                return Negotiation::FallBackToV1
            }
            Err(exit) => return Negotiation::Failed(exit),
        }
    }
}

/// Reads what the peer sent (at least one byte), or why the connection ended.
async fn read_some<R: ReadHalf>(
    reader: &mut R,
    link: &Link,
    buf: &mut BytesMut,
) -> Result<(), Exit> {
    loop {
        tokio::select! {
            biased;
            _ = link.closed() => {
                if let Some(exit) = link.close_requested() {
                    return Err(exit);
                }
            }
            ready = reader.readable() => {
                ready.map_err(|e| io_exit("read", &e))?;
                buf.reserve(HANDSHAKE_READ);
                if read_ready(reader, link, buf)?.is_some() {
                    return Ok(());
                }
            }
        }
    }
}

async fn write_handshake<W: AsyncWrite + Unpin>(
    writer: &mut W,
    link: &Link,
    bytes: &[u8],
) -> Result<(), Exit> {
    if bytes.is_empty() {
        return Ok(());
    }
    write_counted(writer, bytes, link)
        .await
        .map_err(|e| io_exit("write", &e))
}
