//! Sans-IO BIP324 ("v2") encrypted transport, built on the `bip324` crate.
//!
//! Like [`crate::wire`], nothing here touches sockets, clocks or threads: a
//! connection task reads bytes into a [`bytes::BytesMut`], hands them to the types
//! below, and writes the `Vec<u8>` they return. All cryptography (ElligatorSwift
//! ECDH, the HKDF key schedule, ChaCha20-Poly1305 with rekeying every 224 packets)
//! is the `bip324` crate's; this module adds the stream handling around it and the
//! BIP324 application layer (short message ids, the 12-byte long form).
//!
//! A connection goes through three stages:
//!
//! 1. Inbound only: [`classify_inbound`] tells a v1 peer (whose first 16 bytes are
//!    the network magic and `version\0\0\0\0\0`) from a v2 one. A responder must not
//!    send anything before it returns `Some`, as Bitcoin Core does.
//! 2. [`V2Handshake::new`] gives the bytes to send first (our key and random
//!    garbage); [`V2Handshake::receive`] is fed whatever arrives and answers with
//!    [`Progress`]: bytes to send, a request for more input, or the finished
//!    [`V2Session`].
//! 3. [`V2Session::into_split`] gives a [`PacketDecoder`] for the read side and a
//!    [`PacketEncoder`] for the write side, which can live in different tasks.
//!
//! Layout: `error` holds [`V2Error`], `classify` the v1/v2 detection, `handshake`
//! the handshake driver, `message_type` the BIP324 message-type encoding and
//! `packets` the session and its two halves.

// Peer input must never be able to crash the node: the same rules as `wire`.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic
    )
)]
// The connection runtime does not use this module yet; the tests do.
#![cfg_attr(not(test), allow(dead_code, unused_imports))]

mod classify;
mod error;
mod handshake;
mod message_type;
mod packets;

#[cfg(test)]
mod tests;

pub use classify::{classify_inbound, TransportVersion};
pub use error::V2Error;
pub use handshake::{Progress, V2Handshake, MAX_GARBAGE_LEN, MAX_HANDSHAKE_CONTENTS};
pub use packets::{PacketDecoder, PacketEncoder, V2Session, MAX_CONTENTS_LEN, MAX_V2_PAYLOAD};

/// Which side of the connection we are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// We opened the connection (outbound).
    Initiator,
    /// The peer opened the connection (inbound).
    Responder,
}

impl Role {
    fn to_bip324(self) -> bip324::Role {
        match self {
            Role::Initiator => bip324::Role::Initiator,
            Role::Responder => bip324::Role::Responder,
        }
    }
}

/// The network magic as it appears on the wire (little-endian), the form the
/// `bip324` crate and the v1 frame header use.
fn magic_bytes(magic: u32) -> [u8; 4] {
    magic.to_le_bytes()
}
