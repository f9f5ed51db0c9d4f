//! Message framing: the 24-byte header in front of every payload.
//!
//! ```text
//! magic (4, u32 LE) | command (12, NUL-padded ASCII) | length (4, u32 LE) | checksum (4)
//! ```
//!
//! The checksum is the first four bytes of SHA-256d(payload). [`FrameDecoder`]
//! splits a byte stream into frames, hashing large payloads as their bytes arrive;
//! [`encode_frame`] builds one.

use std::fmt;

use bytes::{Bytes, BytesMut};
use sha2::{Digest, Sha256};

use super::{sha256d, DEFAULT_MAX_MESSAGE_SIZE, HEADER_LEN};

/// Size of the command field of the frame header.
pub const COMMAND_LEN: usize = 12;

/// A frame's command name: up to 12 printable ASCII bytes, NUL-padded.
///
/// Only valid names can be represented, so [`Command::as_str`] is always
/// lossless and a `Command` can always be written back out.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Command([u8; COMMAND_LEN]);

/// Every command of the Bitcoin P2P protocol (Bitcoin Core's `protocol.h`, BIP37,
/// BIP152, BIP157, BIP330 and the retired `alert`), plus p2pnet's `sendcustom`.
const RESERVED_COMMANDS: [&str; 41] = [
    "addr",
    "addrv2",
    "alert",
    "block",
    "blocktxn",
    "cfcheckpt",
    "cfheaders",
    "cfilter",
    "cmpctblock",
    "feefilter",
    "filteradd",
    "filterclear",
    "filterload",
    "getaddr",
    "getblocks",
    "getblocktxn",
    "getcfcheckpt",
    "getcfheaders",
    "getcfilters",
    "getdata",
    "getheaders",
    "headers",
    "inv",
    "mempool",
    "merkleblock",
    "notfound",
    "ping",
    "pong",
    "reject",
    "sendaddrv2",
    "sendcmpct",
    "sendcustom",
    "sendheaders",
    "sendtxrcncl",
    "tx",
    "verack",
    "version",
    "wtxidrelay",
    "reqrecon",
    "sketch",
    "reconcildiff",
];

impl Command {
    pub const VERSION: Command = Command::literal("version");
    pub const VERACK: Command = Command::literal("verack");
    pub const PING: Command = Command::literal("ping");
    pub const PONG: Command = Command::literal("pong");
    pub const ADDR: Command = Command::literal("addr");
    pub const GETADDR: Command = Command::literal("getaddr");
    pub const INV: Command = Command::literal("inv");
    pub const GETDATA: Command = Command::literal("getdata");
    pub const NOTFOUND: Command = Command::literal("notfound");
    pub const REJECT: Command = Command::literal("reject");
    pub const GETHEADERS: Command = Command::literal("getheaders");
    pub const GETBLOCKS: Command = Command::literal("getblocks");
    pub const HEADERS: Command = Command::literal("headers");
    pub const SENDHEADERS: Command = Command::literal("sendheaders");
    pub const SENDADDRV2: Command = Command::literal("sendaddrv2");
    pub const WTXIDRELAY: Command = Command::literal("wtxidrelay");
    pub const SENDCUSTOM: Command = Command::literal("sendcustom");
    pub const FEEFILTER: Command = Command::literal("feefilter");
    pub const ADDRV2: Command = Command::literal("addrv2");
    pub const BLOCK: Command = Command::literal("block");
    pub const TX: Command = Command::literal("tx");

    /// Whether the name belongs to the Bitcoin protocol (any BIP's message, implemented
    /// here or not) or to p2pnet's own negotiation: a node may not define it.
    pub fn is_reserved(name: &str) -> bool {
        RESERVED_COMMANDS.contains(&name)
    }

    /// Builds a command from its name. Returns `None` unless the name is at
    /// most 12 bytes of printable ASCII (`0x20..=0x7E`), the same rule Bitcoin
    /// Core applies to received headers, so anything built here is accepted by
    /// peers and by our own [`FrameDecoder`].
    // Indexing is bounded by the loop conditions; `const fn` rules out the
    // iterator-based equivalents on our MSRV.
    #[allow(clippy::indexing_slicing)]
    pub const fn new(name: &str) -> Option<Command> {
        let src = name.as_bytes();
        if src.len() > COMMAND_LEN {
            return None;
        }
        let mut out = [0u8; COMMAND_LEN];
        let mut i = 0;
        while i < src.len() {
            let b = src[i];
            if !is_command_char(b) {
                return None;
            }
            out[i] = b;
            i += 1;
        }
        Some(Command(out))
    }

    /// Validates raw header bytes: printable ASCII, then only NUL padding.
    /// A non-NUL byte after the first NUL would make two different byte
    /// strings share one name, so it is rejected rather than truncated.
    pub fn from_bytes(bytes: [u8; COMMAND_LEN]) -> Option<Command> {
        let name_len = bytes.iter().position(|&b| b == 0).unwrap_or(COMMAND_LEN);
        let (name, padding) = bytes.split_at_checked(name_len)?;
        let valid = name.iter().all(|&b| is_command_char(b)) && padding.iter().all(|&b| b == 0);
        valid.then_some(Command(bytes))
    }

    /// Name for the known commands; they are compile-time literals that
    /// `new` accepts (checked by a unit test), so no runtime validation is
    /// needed and no `unwrap` appears in a constant.
    #[allow(clippy::indexing_slicing)]
    const fn literal(name: &str) -> Command {
        let src = name.as_bytes();
        let mut out = [0u8; COMMAND_LEN];
        let mut i = 0;
        while i < src.len() && i < COMMAND_LEN {
            out[i] = src[i];
            i += 1;
        }
        Command(out)
    }

    /// The name, up to the first NUL.
    pub fn as_str(&self) -> &str {
        let name_len = self.0.iter().position(|&b| b == 0).unwrap_or(COMMAND_LEN);
        let name = self.0.get(..name_len).unwrap_or_default();
        // Construction guarantees ASCII, so this never falls back.
        std::str::from_utf8(name).unwrap_or_default()
    }

    /// The raw 12 header bytes, NUL-padded.
    pub fn bytes(&self) -> &[u8; COMMAND_LEN] {
        &self.0
    }
}

const fn is_command_char(b: u8) -> bool {
    matches!(b, 0x20..=0x7E)
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Command({:?})", self.as_str())
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A frame whose checksum matched: the command, the still-undecoded payload (a
/// zero-copy slice of the receive buffer), and the header as received, so the frame
/// can be sent on to other peers of the same network unchanged, without hashing the
/// payload again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawFrame {
    pub command: Command,
    pub payload: Bytes,
    pub header: [u8; HEADER_LEN],
}

impl RawFrame {
    /// The frame as received, ready to be sent on.
    pub fn to_frame(&self) -> Frame {
        Frame {
            header: self.header,
            payload: self.payload.clone(),
        }
    }
}

/// A v1 message as it goes on the wire: its header and its payload, kept apart so
/// that a payload handed over by the node or received from a peer is sent without
/// being copied behind a header (the two are written with one vectored write).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    header: [u8; HEADER_LEN],
    payload: Bytes,
}

impl Frame {
    /// Frames `payload`, hashing it for the checksum.
    pub fn new(magic: u32, command: Command, payload: Bytes) -> Frame {
        Frame {
            header: frame_header(magic, command, &payload),
            payload,
        }
    }

    pub fn header(&self) -> &[u8; HEADER_LEN] {
        &self.header
    }

    pub fn payload(&self) -> &Bytes {
        &self.payload
    }

    /// The command in the header; `None` only for a header built from garbage.
    pub fn command(&self) -> Option<Command> {
        let bytes = self.header.get(4..4 + COMMAND_LEN)?;
        Command::from_bytes(<[u8; COMMAND_LEN]>::try_from(bytes).ok()?)
    }

    /// Header and payload together.
    pub fn len(&self) -> usize {
        HEADER_LEN + self.payload.len()
    }

    /// Never: a frame always has its header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// For tests: the first 24 bytes of `bytes` (zero-padded) as the header, the rest
    /// as the payload.
    #[cfg(test)]
    pub(crate) fn test_from(bytes: Bytes) -> Frame {
        let mut header = [0u8; HEADER_LEN];
        let split = bytes.len().min(HEADER_LEN);
        header[..split].copy_from_slice(&bytes[..split]);
        Frame {
            header,
            payload: bytes.slice(split..),
        }
    }

    /// The frame as one contiguous buffer (a copy).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(&self.header);
        out.extend_from_slice(&self.payload);
        Bytes::from(out)
    }
}

/// One unit of decoder output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodedFrame {
    /// A complete frame with a valid checksum.
    Frame(RawFrame),
    /// A complete frame whose checksum did not match. Its bytes were consumed
    /// and the message dropped; framing is intact, so the connection can go
    /// on (Bitcoin Core likewise drops such messages without disconnecting).
    BadChecksum { command: Command, length: u32 },
}

/// Framing errors. All are fatal: once the header cannot be trusted there is
/// no way to find the next frame boundary, so the caller must disconnect.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FrameError {
    #[error("wrong network magic: expected {expected:#010x}, got {got:#010x}")]
    WrongMagic { expected: u32, got: u32 },
    #[error(
        "malformed command name in frame header (not printable ASCII followed by NUL padding)"
    )]
    MalformedCommand,
    #[error("frame payload of {length} bytes exceeds the {max}-byte limit")]
    Oversized { length: u32, max: u32 },
}

/// The parsed, validated header of the frame being assembled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct PendingHeader {
    command: Command,
    length: u32,
    checksum: [u8; 4],
}

impl PendingHeader {
    fn frame_len(&self) -> usize {
        HEADER_LEN.saturating_add(usize::try_from(self.length).unwrap_or(usize::MAX))
    }
}

/// Payloads at least this long are hashed as their bytes arrive, so that the checksum
/// is known when the last byte is; shorter ones are hashed whole, once complete.
const STREAM_HASH_MIN: usize = 64 * 1024;

/// The first SHA-256 of SHA-256d over the payload bytes seen so far.
#[derive(Clone, Default)]
struct StreamingHash {
    sha: Sha256,
    hashed: usize,
}

impl fmt::Debug for StreamingHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StreamingHash")
            .field("hashed", &self.hashed)
            .finish()
    }
}

/// Incremental splitter of a received byte stream into frames.
///
/// The decoder never reserves or copies: it inspects the caller's buffer,
/// waits until a whole frame is present, then splits it off zero-copy. In
/// particular it does not reserve the length a header claims, because a peer
/// could announce 32 MiB and never send it; the caller grows its buffer as
/// bytes actually arrive (see [`FrameDecoder::pending_frame_len`]). A large
/// payload is hashed chunk by chunk on every call while it arrives, so the
/// checksum costs nothing after its last byte.
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    magic: u32,
    max_payload: u32,
    pending: Option<PendingHeader>,
    /// Boxed: only a connection receiving a large payload holds the hash state, so an
    /// idle connection's decoder stays small.
    streaming: Option<Box<StreamingHash>>,
}

impl FrameDecoder {
    /// A decoder for the network identified by `magic` that refuses payloads
    /// longer than `max_payload` bytes.
    pub fn new(magic: u32, max_payload: u32) -> Self {
        FrameDecoder {
            magic,
            max_payload,
            pending: None,
            streaming: None,
        }
    }

    /// A decoder with the [`DEFAULT_MAX_MESSAGE_SIZE`] payload limit.
    pub fn with_default_limit(magic: u32) -> Self {
        Self::new(
            magic,
            u32::try_from(DEFAULT_MAX_MESSAGE_SIZE).unwrap_or(u32::MAX),
        )
    }

    /// The network magic this decoder expects.
    pub fn magic(&self) -> u32 {
        self.magic
    }

    /// The payload-size limit.
    pub fn max_payload(&self) -> u32 {
        self.max_payload
    }

    /// Consumes at most one frame from the front of `buf`. `Ok(None)` means
    /// more bytes are needed and nothing was consumed. Pass the same
    /// connection buffer every time: the parsed header of a partial frame is
    /// remembered between calls.
    ///
    /// A wrong magic is reported as soon as four bytes are present, and a bad
    /// command or oversized length as soon as the header is complete, so a
    /// misbehaving peer is cut off before it sends a payload. After an `Err`
    /// the stream is unusable and the decoder must be discarded.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<DecodedFrame>, FrameError> {
        let header = match self.pending {
            Some(header) => header,
            None => match self.parse_header(buf)? {
                Some(header) => {
                    self.pending = Some(header);
                    header
                }
                None => return Ok(None),
            },
        };
        let frame_len = header.frame_len();
        if frame_len - HEADER_LEN >= STREAM_HASH_MIN {
            let stream = self.streaming.get_or_insert_with(Box::default);
            let from = HEADER_LEN + stream.hashed;
            let to = buf.len().min(frame_len);
            if let Some(arrived) = buf.get(from..to) {
                stream.sha.update(arrived);
                stream.hashed += arrived.len();
            }
        }
        if buf.len() < frame_len {
            return Ok(None);
        }
        self.pending = None;
        let head = buf.split_to(HEADER_LEN);
        let mut received = [0u8; HEADER_LEN];
        received.copy_from_slice(&head);
        let payload = buf.split_to(frame_len - HEADER_LEN).freeze();
        let digest: [u8; 32] = match self.streaming.take() {
            Some(stream) => Sha256::digest(stream.sha.finalize()).into(),
            None => sha256d(&payload),
        };
        if digest.starts_with(&header.checksum) {
            Ok(Some(DecodedFrame::Frame(RawFrame {
                command: header.command,
                payload,
                header: received,
            })))
        } else {
            Ok(Some(DecodedFrame::BadChecksum {
                command: header.command,
                length: header.length,
            }))
        }
    }

    /// Total bytes (header + payload) the frame being assembled needs, known
    /// once its header has been seen; lets the caller size reads. `None`
    /// before a complete header has been decoded.
    pub fn pending_frame_len(&self) -> Option<usize> {
        self.pending.map(|header| header.frame_len())
    }

    fn parse_header(&self, buf: &[u8]) -> Result<Option<PendingHeader>, FrameError> {
        let Some((magic, rest)) = buf.split_first_chunk::<4>() else {
            return Ok(None);
        };
        let got = u32::from_le_bytes(*magic);
        if got != self.magic {
            return Err(FrameError::WrongMagic {
                expected: self.magic,
                got,
            });
        }
        let Some((command, rest)) = rest.split_first_chunk::<COMMAND_LEN>() else {
            return Ok(None);
        };
        let Some((length, rest)) = rest.split_first_chunk::<4>() else {
            return Ok(None);
        };
        let Some((checksum, _)) = rest.split_first_chunk::<4>() else {
            return Ok(None);
        };
        let command = Command::from_bytes(*command).ok_or(FrameError::MalformedCommand)?;
        let length = u32::from_le_bytes(*length);
        if length > self.max_payload {
            return Err(FrameError::Oversized {
                length,
                max: self.max_payload,
            });
        }
        Ok(Some(PendingHeader {
            command,
            length,
            checksum: *checksum,
        }))
    }
}

/// The 24 header bytes for `payload`. A payload longer than `u32::MAX` cannot
/// be framed; its length saturates, which every peer rejects as oversized.
pub fn frame_header(magic: u32, command: Command, payload: &[u8]) -> [u8; HEADER_LEN] {
    let length = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    let checksum = sha256d(payload);
    let fields = magic
        .to_le_bytes()
        .into_iter()
        .chain(command.0)
        .chain(length.to_le_bytes())
        .chain(checksum.into_iter().take(4));
    let mut header = [0u8; HEADER_LEN];
    for (slot, byte) in header.iter_mut().zip(fields) {
        *slot = byte;
    }
    header
}

/// Appends a complete frame (header then payload) to `out`.
pub fn encode_frame(magic: u32, command: Command, payload: &[u8], out: &mut Vec<u8>) {
    out.reserve(HEADER_LEN.saturating_add(payload.len()));
    out.extend_from_slice(&frame_header(magic, command, payload));
    out.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::super::MAINNET_MAGIC;
    use super::*;

    #[test]
    fn known_command_constants_are_valid_names() {
        let all = [
            (Command::VERSION, "version"),
            (Command::VERACK, "verack"),
            (Command::PING, "ping"),
            (Command::PONG, "pong"),
            (Command::ADDR, "addr"),
            (Command::GETADDR, "getaddr"),
            (Command::INV, "inv"),
            (Command::GETDATA, "getdata"),
            (Command::NOTFOUND, "notfound"),
            (Command::REJECT, "reject"),
            (Command::GETHEADERS, "getheaders"),
            (Command::GETBLOCKS, "getblocks"),
            (Command::HEADERS, "headers"),
            (Command::SENDHEADERS, "sendheaders"),
            (Command::SENDADDRV2, "sendaddrv2"),
            (Command::WTXIDRELAY, "wtxidrelay"),
            (Command::SENDCUSTOM, "sendcustom"),
            (Command::FEEFILTER, "feefilter"),
            (Command::ADDRV2, "addrv2"),
            (Command::BLOCK, "block"),
            (Command::TX, "tx"),
        ];
        for (constant, name) in all {
            assert_eq!(Command::new(name), Some(constant));
            assert_eq!(constant.as_str(), name);
            assert_eq!(Command::from_bytes(*constant.bytes()), Some(constant));
        }
    }

    #[test]
    fn command_new_validates() {
        assert_eq!(
            Command::new("twelve_chars")
                .map(|c| c.to_string())
                .as_deref(),
            Some("twelve_chars")
        );
        assert_eq!(Command::new("thirteen_char"), None);
        assert_eq!(Command::new("bad\0nul"), None);
        assert_eq!(Command::new("caf\u{e9}"), None);
        assert_eq!(Command::new("tab\t"), None);
        assert_eq!(Command::new("").map(|c| *c.bytes()), Some([0; 12]));
        let cmd = Command::new("sendcmpct").unwrap();
        assert_eq!(format!("{cmd:?}"), "Command(\"sendcmpct\")");
        assert_eq!(format!("{cmd}"), "sendcmpct");
        assert_eq!(&cmd.bytes()[..], b"sendcmpct\0\0\0");
    }

    #[test]
    fn command_from_bytes_rejects_garbage_after_nul() {
        assert_eq!(Command::from_bytes(*b"ping\0\0\0\0\0\0\0x"), None);
        assert_eq!(
            Command::from_bytes(*b"ping\0\0\0\0\0\0\0\0"),
            Some(Command::PING)
        );
        assert_eq!(Command::from_bytes(*b"pi\xffg\0\0\0\0\0\0\0\0"), None);
        assert_eq!(Command::from_bytes(*b"\x01ing\0\0\0\0\0\0\0\0"), None);
        assert!(Command::from_bytes(*b"abcdefghijkl").is_some());
    }

    #[test]
    fn header_layout() {
        let header = frame_header(MAINNET_MAGIC, Command::VERACK, &[]);
        let expected = [
            0xF9, 0xBE, 0xB4, 0xD9, b'v', b'e', b'r', b'a', b'c', b'k', 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0x5D, 0xF6, 0xE0, 0xE2,
        ];
        assert_eq!(header, expected);
    }

    #[test]
    fn wrong_magic_is_detected_from_four_bytes() {
        let mut decoder = FrameDecoder::new(MAINNET_MAGIC, 1000);
        let mut buf = BytesMut::from(&[0xF9, 0xBE, 0xB4][..]);
        assert_eq!(decoder.decode(&mut buf), Ok(None));
        buf.extend_from_slice(&[0xDA]);
        assert_eq!(
            decoder.decode(&mut buf),
            Err(FrameError::WrongMagic {
                expected: MAINNET_MAGIC,
                got: 0xDAB4_BEF9
            })
        );
    }
}
