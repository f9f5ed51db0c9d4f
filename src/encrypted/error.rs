//! The error type of the v2 transport.

/// What went wrong on a v2 connection. Unless [`V2Error::is_fatal`] says
/// otherwise, the byte stream can no longer be trusted and the connection must be
/// closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum V2Error {
    /// The peer's handshake key begins with our network magic: it speaks the
    /// unencrypted v1 protocol (or is on the wrong port of our network).
    #[error("peer speaks the unencrypted v1 protocol, not BIP324 (its handshake starts with the network magic)")]
    V1Peer,
    /// The peer sent more than 4,095 bytes after its key without the garbage
    /// terminator, which no BIP324 peer does.
    #[error("peer sent over 4095 bytes of handshake garbage without the BIP324 garbage terminator (not a v2 peer, or a different network)")]
    NoGarbageTerminator,
    /// A packet's authentication tag did not verify: the stream was corrupted or
    /// tampered with, or the peer derived different keys (e.g. another network).
    #[error("BIP324 packet failed authentication: the stream is corrupted, tampered with, or the peer is on another network")]
    Authentication,
    /// A packet announced more contents than we accept; detected from its 3-byte
    /// length before the rest was received.
    #[error("peer announced a BIP324 packet of {length} content bytes, over the {max}-byte limit")]
    PacketTooLarge { length: usize, max: usize },
    /// A message's payload exceeds the caller's `max_payload` (possible with a
    /// 1-byte message id, whose contents are 12 bytes shorter than the limit allows).
    #[error("peer sent a {length}-byte message payload, over the {max}-byte limit")]
    PayloadTooLarge { length: usize, max: usize },
    /// A genuine packet had no contents at all, so no message type.
    #[error("peer sent a BIP324 packet without a message type (empty contents)")]
    EmptyContents,
    /// The 12-byte long message type was truncated or not printable ASCII
    /// followed by NUL padding.
    #[error("peer sent a BIP324 packet with a malformed 12-byte message type")]
    MalformedMessageType,
    /// Outbound: the message does not fit in a BIP324 packet (contents are limited
    /// to 2^24 - 1 bytes). Nothing was written.
    #[error("cannot send a {length}-byte message over BIP324: packet contents are limited to 16777215 bytes")]
    MessageTooLarge { length: usize },
    /// Outbound: the bytes given to [`super::PacketEncoder::encode_v1_frame`] are
    /// not a complete v1 frame with a valid command. Nothing was written.
    #[error("cannot re-encode an invalid v1 frame as a BIP324 packet")]
    MalformedV1Frame,
    /// Local configuration: more than 4,095 bytes of garbage were asked for.
    #[error("BIP324 allows at most 4095 bytes of handshake garbage")]
    TooMuchGarbage,
    /// The secp256k1 key for the handshake could not be generated.
    #[error("could not generate the BIP324 handshake key")]
    KeyGeneration,
    /// [`super::V2Handshake::receive`] was called after the handshake had finished
    /// or failed.
    #[error("the BIP324 handshake has already finished or failed")]
    HandshakeOver,
    /// An error from the `bip324` crate that our own size checks should have ruled
    /// out; kept rather than turned into a panic.
    #[error("internal BIP324 error: {0}")]
    Internal(bip324::Error),
}

impl V2Error {
    /// Whether the connection must be closed. `false` for the errors that concern
    /// one well-framed, authenticated packet (empty contents, malformed long
    /// message type; the packet was consumed and the decoder stays in sync, so a
    /// caller may drop the message and go on decoding, as Bitcoin Core does) and for
    /// outbound errors, which write nothing and leave the encoder usable.
    pub fn is_fatal(&self) -> bool {
        !matches!(
            self,
            V2Error::EmptyContents
                | V2Error::MalformedMessageType
                | V2Error::MessageTooLarge { .. }
                | V2Error::MalformedV1Frame
                | V2Error::TooMuchGarbage
        )
    }
}

impl From<bip324::Error> for V2Error {
    fn from(e: bip324::Error) -> Self {
        match e {
            bip324::Error::V1Protocol => V2Error::V1Peer,
            bip324::Error::NoGarbageTerminator => V2Error::NoGarbageTerminator,
            bip324::Error::Decryption(_) => V2Error::Authentication,
            bip324::Error::TooMuchGarbage => V2Error::TooMuchGarbage,
            bip324::Error::SecretGeneration(_) => V2Error::KeyGeneration,
            other => V2Error::Internal(other),
        }
    }
}
