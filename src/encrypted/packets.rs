//! The established session: encrypting messages into BIP324 packets and
//! decrypting them back.
//!
//! ```text
//! length (3, encrypted) | header (1) | contents (length) | tag (16)
//!                         \_________ AEAD-encrypted ____/
//! contents = message type (1 or 13) | payload
//! ```
//!
//! The header's bit 7 is the ignore bit: such decoy packets are authenticated and
//! then dropped. Rekeying every 224 packets happens inside the `bip324` ciphers.

use bip324::{CipherSession, InboundCipher, OutboundCipher, PacketType, NUM_LENGTH_BYTES};
use bytes::{Buf, Bytes, BytesMut};

use crate::wire::frame::COMMAND_LEN;
use crate::wire::{Command, HEADER_LEN};

use super::message_type::{decode_type, encode_type, DecodedType, LONG_TYPE_LEN};
use super::V2Error;

/// Largest packet contents the 3-byte length field can express.
pub const MAX_CONTENTS_LEN: usize = (1 << 24) - 1;
/// The largest payload any message can have on a v2 connection: the contents minus a
/// 12-byte long message type and its marker byte.
pub const MAX_V2_PAYLOAD: usize = MAX_CONTENTS_LEN - LONG_TYPE_LEN;

/// The v2 packet header (flags) byte.
pub(super) const HEADER_LEN_V2: usize = 1;
/// The Poly1305 tag.
pub(super) const TAG_LEN: usize = 16;
/// Bit 7 of the header byte marks a decoy packet (BIP324 "ignore bit"); the other
/// bits are reserved and must be ignored by receivers.
const IGNORE_BIT: u8 = 0x80;
/// The encoder keeps its scratch buffer between messages unless a large message
/// grew it past this, so one block does not pin megabytes per peer.
const SCRATCH_KEEP: usize = 64 * 1024;

/// A finished handshake: the session id and the two packet ciphers.
pub struct V2Session {
    session_id: [u8; 32],
    decoder: PacketDecoder,
    encoder: PacketEncoder,
}

impl V2Session {
    pub(super) fn new(cipher: CipherSession) -> Self {
        let session_id = *cipher.id();
        let (inbound, outbound) = cipher.into_split();
        V2Session {
            session_id,
            decoder: PacketDecoder {
                cipher: inbound,
                pending: None,
                dropped_unknown: 0,
            },
            encoder: PacketEncoder {
                cipher: outbound,
                scratch: Vec::new(),
            },
        }
    }

    /// The BIP324 session id, identical on both ends of the connection; comparing
    /// it out of band detects a man in the middle.
    pub fn session_id(&self) -> [u8; 32] {
        self.session_id
    }

    /// The read half.
    pub fn decoder(&mut self) -> &mut PacketDecoder {
        &mut self.decoder
    }

    /// The write half.
    pub fn encoder(&mut self) -> &mut PacketEncoder {
        &mut self.encoder
    }

    /// A copy of the read half, so a test can try several inputs from one state.
    #[cfg(test)]
    pub(super) fn decoder_clone_for_tests(&self) -> PacketDecoder {
        PacketDecoder {
            cipher: self.decoder.cipher.clone(),
            pending: self.decoder.pending,
            dropped_unknown: self.decoder.dropped_unknown,
        }
    }

    /// Splits into the read and write halves, for separate reader and writer tasks.
    pub fn into_split(self) -> (PacketDecoder, PacketEncoder) {
        (self.decoder, self.encoder)
    }
}

impl std::fmt::Debug for V2Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("V2Session").finish_non_exhaustive()
    }
}

/// The write half: turns messages into encrypted packets.
pub struct PacketEncoder {
    cipher: OutboundCipher,
    /// Packet contents being assembled (the crate encrypts from one slice).
    scratch: Vec<u8>,
}

impl std::fmt::Debug for PacketEncoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketEncoder").finish_non_exhaustive()
    }
}

impl PacketEncoder {
    /// Appends one encrypted packet carrying `command` and `payload` to `out`.
    /// The message type is BIP324's 1-byte id when it has one, otherwise 0 and the
    /// 12-byte command. Fails, writing nothing, if the contents would exceed
    /// [`MAX_CONTENTS_LEN`].
    pub fn encode(
        &mut self,
        command: Command,
        payload: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<(), V2Error> {
        self.scratch.clear();
        encode_type(command, &mut self.scratch);
        let length = self.scratch.len().saturating_add(payload.len());
        if length > MAX_CONTENTS_LEN {
            return Err(V2Error::MessageTooLarge { length });
        }
        self.scratch.extend_from_slice(payload);
        self.seal(PacketType::Genuine, out)
    }

    /// Appends the packet for a complete v1 frame (24-byte header then payload, as
    /// built by [`crate::wire::encode_frame`]), taking the command and payload from
    /// it and dropping the magic, length and checksum; nothing is re-hashed.
    /// Fails, writing nothing, if the frame is shorter than its header says or its
    /// command is invalid.
    pub fn encode_v1_frame(&mut self, frame: &[u8], out: &mut Vec<u8>) -> Result<(), V2Error> {
        let (header, payload) = frame
            .split_first_chunk::<HEADER_LEN>()
            .ok_or(V2Error::MalformedV1Frame)?;
        let (_magic, rest) = header
            .split_first_chunk::<4>()
            .ok_or(V2Error::MalformedV1Frame)?;
        let (command, rest) = rest
            .split_first_chunk::<COMMAND_LEN>()
            .ok_or(V2Error::MalformedV1Frame)?;
        let (length, _checksum) = rest
            .split_first_chunk::<4>()
            .ok_or(V2Error::MalformedV1Frame)?;
        let command = Command::from_bytes(*command).ok_or(V2Error::MalformedV1Frame)?;
        if usize::try_from(u32::from_le_bytes(*length)).ok() != Some(payload.len()) {
            return Err(V2Error::MalformedV1Frame);
        }
        self.encode(command, payload, out)
    }

    /// Appends a decoy packet with `len` zero bytes of contents (encrypted, so
    /// indistinguishable from data); the peer authenticates and drops it. Fails,
    /// writing nothing, if `len` exceeds [`MAX_CONTENTS_LEN`].
    pub fn encode_decoy(&mut self, len: usize, out: &mut Vec<u8>) -> Result<(), V2Error> {
        if len > MAX_CONTENTS_LEN {
            return Err(V2Error::MessageTooLarge { length: len });
        }
        self.scratch.clear();
        self.scratch.resize(len, 0);
        self.seal(PacketType::Decoy, out)
    }

    /// Appends a packet with arbitrary contents, for tests that need malformed ones.
    #[cfg(test)]
    pub(super) fn encode_raw(
        &mut self,
        contents: &[u8],
        decoy: bool,
        out: &mut Vec<u8>,
    ) -> Result<(), V2Error> {
        self.scratch.clear();
        self.scratch.extend_from_slice(contents);
        let packet_type = if decoy {
            PacketType::Decoy
        } else {
            PacketType::Genuine
        };
        self.seal(packet_type, out)
    }

    /// Encrypts `self.scratch` as one packet appended to `out`.
    fn seal(&mut self, packet_type: PacketType, out: &mut Vec<u8>) -> Result<(), V2Error> {
        let packet_len = OutboundCipher::encryption_buffer_len(self.scratch.len());
        let start = out.len();
        out.resize(start.saturating_add(packet_len), 0);
        let result = match out.get_mut(start..) {
            Some(buffer) => self
                .cipher
                .encrypt(&self.scratch, buffer, packet_type, None)
                .map_err(V2Error::from),
            None => Err(V2Error::Internal(bip324::Error::BufferTooSmall {
                required_bytes: packet_len,
            })),
        };
        if result.is_err() {
            out.truncate(start);
        }
        if self.scratch.capacity() > SCRATCH_KEEP {
            self.scratch = Vec::new();
        }
        result
    }
}

/// The read half: splits the received byte stream into packets, authenticates and
/// decrypts them, drops decoys, and yields the messages.
pub struct PacketDecoder {
    cipher: InboundCipher,
    /// Header + contents + tag length of the packet being assembled, once its
    /// 3 length bytes have been decrypted and consumed.
    pending: Option<usize>,
    dropped_unknown: u64,
}

impl std::fmt::Debug for PacketDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PacketDecoder")
            .field("pending", &self.pending)
            .field("dropped_unknown", &self.dropped_unknown)
            .finish_non_exhaustive()
    }
}

impl PacketDecoder {
    /// Consumes packets from the front of `input` until one carries a message,
    /// and returns its command and payload (a zero-copy slice of `input`'s
    /// allocation). `Ok(None)` means more bytes are needed; pass the same buffer,
    /// with more bytes appended, next time (a partial packet's decrypted length is
    /// remembered, its 3 bytes already consumed).
    ///
    /// A packet's length is decrypted and checked against `max_payload + 13` as
    /// soon as its first 3 bytes are present, before the rest is waited for, so a
    /// peer cannot make us buffer more than that. Decoy packets and messages with
    /// an undefined 1-byte id are dropped (the latter are counted, see
    /// [`PacketDecoder::dropped_unknown`]).
    ///
    /// After an error for which [`V2Error::is_fatal`] is true the decoder is out of
    /// sync and must be discarded with the connection.
    pub fn decode(
        &mut self,
        input: &mut BytesMut,
        max_payload: usize,
    ) -> Result<Option<(Command, Bytes)>, V2Error> {
        let max_contents = max_payload
            .saturating_add(LONG_TYPE_LEN)
            .min(MAX_CONTENTS_LEN);
        loop {
            let rest_len = match self.pending {
                Some(rest_len) => rest_len,
                None => {
                    let Some((length, _)) = input.split_first_chunk::<NUM_LENGTH_BYTES>() else {
                        return Ok(None);
                    };
                    let rest_len = self.cipher.decrypt_packet_len(*length);
                    input.advance(NUM_LENGTH_BYTES);
                    let contents_len = rest_len.saturating_sub(HEADER_LEN_V2 + TAG_LEN);
                    if contents_len > max_contents {
                        return Err(V2Error::PacketTooLarge {
                            length: contents_len,
                            max: max_contents,
                        });
                    }
                    self.pending = Some(rest_len);
                    rest_len
                }
            };
            if input.len() < rest_len {
                return Ok(None);
            }
            self.pending = None;
            let mut packet = input.split_to(rest_len);
            let (_, plaintext) = self
                .cipher
                .decrypt_in_place(&mut packet, None)
                .map_err(V2Error::from)?;
            // The crate classifies only a header of exactly 0x80 as a decoy; BIP324
            // says to look at the ignore bit alone.
            let header = plaintext.first().copied().unwrap_or(0);
            let plaintext_len = plaintext.len();
            if header & IGNORE_BIT != 0 {
                continue;
            }
            packet.truncate(plaintext_len);
            let contents = packet.split_off(HEADER_LEN_V2.min(packet.len()));
            let (command, type_len) = match decode_type(&contents)? {
                DecodedType::Known { command, type_len } => (command, type_len),
                DecodedType::UnknownShortId(_) => {
                    self.dropped_unknown = self.dropped_unknown.saturating_add(1);
                    continue;
                }
            };
            let mut payload = contents;
            payload.advance(type_len.min(payload.len()));
            if payload.len() > max_payload {
                return Err(V2Error::PayloadTooLarge {
                    length: payload.len(),
                    max: max_payload,
                });
            }
            return Ok(Some((command, payload.freeze())));
        }
    }

    /// Bytes still needed for the packet being assembled (header, contents and
    /// tag; its length bytes were already consumed), known once its length has
    /// been decrypted; lets the caller size reads and budgets. `None` between
    /// packets.
    pub fn pending_packet_len(&self) -> Option<usize> {
        self.pending
    }

    /// How many messages with a 1-byte message id BIP324 does not define were
    /// dropped so far.
    pub fn dropped_unknown(&self) -> u64 {
        self.dropped_unknown
    }
}
