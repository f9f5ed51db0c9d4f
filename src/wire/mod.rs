//! Sans-IO codec for the Bitcoin P2P wire protocol (the plaintext "v1" transport).
//!
//! Nothing here touches sockets, clocks or threads: the engine feeds received
//! bytes to a [`FrameDecoder`], turns each [`RawFrame`] into a [`Message`] with
//! [`Message::decode`], and writes the [`Frame`] from [`Message::frame`] (header and
//! payload apart; [`Message::to_frame`] gives them as one buffer).
//! Keeping I/O out makes every byte-level rule testable on its own and lets the
//! same code serve any runtime.
//!
//! Everything that parses peer data is total: malformed input yields an error
//! value, never a panic, and nothing is allocated from a length field before the
//! bytes backing it have actually arrived (a peer must not be able to make us
//! reserve memory it never sends).
//!
//! Layout, in dependency order: `error` holds [`PayloadError`], [`encoding`] the
//! consensus-encoding primitives (integers, CompactSize, var-strings), [`frame`]
//! the 24-byte header framing, and [`message`] the typed payloads (it builds on
//! the other three; none of them refers back to it).

// Peer input must never be able to crash the node: forbid `unsafe` outright and
// make the panicking shortcuts a compile error in non-test code.
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

pub(crate) mod addrv2;
pub mod encoding;
mod error;
pub mod frame;
pub mod message;
pub(crate) mod transaction;
pub mod versions;

#[cfg(test)]
mod tests;

use sha2::{Digest, Sha256};

pub use encoding::Reader;
pub use error::PayloadError;
pub use frame::{encode_frame, Command, DecodedFrame, Frame, FrameDecoder, FrameError, RawFrame};
pub use message::{
    BlockLocator, InvKind, Inventory, Message, NetAddress, RejectMessage, TimestampedAddress,
    VersionMessage,
};

/// A double-SHA-256 digest in wire (internal) byte order. Block and transaction
/// ids are conventionally *displayed* byte-reversed; this type never is.
pub type Hash256 = [u8; 32];

/// SHA-256 applied twice, the hash Bitcoin uses for frame checksums, block
/// hashes and txids.
pub fn sha256d(data: &[u8]) -> Hash256 {
    Sha256::digest(Sha256::digest(data)).into()
}

/// Largest CompactSize value accepted, Bitcoin Core's `MAX_SIZE`. No count or
/// length inside a message can legitimately exceed it, and rejecting bigger
/// values up front keeps absurd numbers out of size arithmetic.
pub const MAX_COMPACT_SIZE: u64 = 0x0200_0000;
/// Most entries accepted in an `inv`, `getdata` or `notfound` message
/// (Bitcoin Core's `MAX_INV_SZ`).
pub const MAX_INV_ENTRIES: usize = 50_000;
/// Most entries accepted in an `addr` message (Bitcoin Core's `MAX_ADDR_TO_SEND`).
pub const MAX_ADDR_ENTRIES: usize = 1_000;
/// Most headers accepted in a `headers` message (Bitcoin Core's
/// `MAX_HEADERS_RESULTS`).
pub const MAX_HEADERS: usize = 2_000;
/// Most hashes accepted in a `getheaders`/`getblocks` block locator (Bitcoin
/// Core's `MAX_LOCATOR_SZ`).
pub const MAX_LOCATOR_HASHES: usize = 101;
/// Longest `version` user agent accepted, in bytes (Bitcoin Core's
/// `MAX_SUBVERSION_LENGTH`).
pub const MAX_USER_AGENT_LEN: usize = 256;
/// Node-defined commands an engine accepts, and a `sendcustom` may list, at most.
pub const MAX_CUSTOM_COMMANDS: usize = 64;
/// Size of the frame header: magic, command, payload length, checksum.
pub const HEADER_LEN: usize = 24;
/// Default payload-size ceiling for [`FrameDecoder`]; equal to Bitcoin Core's
/// `MAX_SIZE`, so no frame Core could send is refused. Pass it to
/// [`FrameDecoder::new`] as `DEFAULT_MAX_MESSAGE_SIZE as u32` (it fits), or use
/// [`FrameDecoder::with_default_limit`].
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 32 * 1024 * 1024;

// The default limit is handed to an API that takes `u32`.
const _: () = assert!(DEFAULT_MAX_MESSAGE_SIZE <= u32::MAX as usize);

/// Network magic of mainnet (wire bytes `F9 BE B4 D9`).
pub const MAINNET_MAGIC: u32 = 0xD9B4_BEF9;
/// Network magic of testnet3 (wire bytes `0B 11 09 07`).
pub const TESTNET3_MAGIC: u32 = 0x0709_110B;
/// Network magic of testnet4 (wire bytes `1C 16 3F 28`).
pub const TESTNET4_MAGIC: u32 = 0x283F_161C;
/// Network magic of the default signet (wire bytes `0A 03 CF 40`).
pub const SIGNET_MAGIC: u32 = 0x40CF_030A;
/// Network magic of regtest (wire bytes `FA BF B5 DA`).
pub const REGTEST_MAGIC: u32 = 0xDAB5_BFFA;
