//! Telling an inbound v1 peer from a v2 one by its first bytes.

use crate::wire::Command;

use super::magic_bytes;

/// Length of the prefix that identifies a v1 peer: the magic and the `version`
/// command of its first frame header.
const V1_PREFIX_LEN: usize = 16;

/// The transport a peer speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportVersion {
    /// The unencrypted v1 protocol ([`crate::wire`]).
    V1,
    /// The BIP324 encrypted protocol.
    V2,
}

/// Decides from the first bytes an inbound peer sent which transport it speaks,
/// by Bitcoin Core's rule (BIP324 "Responder"): a v1 peer's connection starts with
/// the 4 magic bytes followed by the 12-byte command `version\0\0\0\0\0`.
///
/// Returns `Some(V2)` as soon as a received byte differs from that 16-byte prefix,
/// `Some(V1)` once all 16 match, and `None` while fewer than 16 bytes arrived and
/// all of them match (keep reading; send nothing yet). Only the first 16 bytes are
/// looked at; the caller keeps all of them for the decoder it then picks.
pub fn classify_inbound(first_bytes: &[u8], magic: u32) -> Option<TransportVersion> {
    let prefix = magic_bytes(magic)
        .into_iter()
        .chain(*Command::VERSION.bytes());
    let mismatch = first_bytes
        .iter()
        .zip(prefix)
        .any(|(got, want)| *got != want);
    if mismatch {
        Some(TransportVersion::V2)
    } else if first_bytes.len() >= V1_PREFIX_LEN {
        Some(TransportVersion::V1)
    } else {
        None
    }
}
