//! The payload decoding error, shared by the encoding primitives and the typed
//! messages. A leaf: it depends on nothing else in the wire codec but its limits.

use super::{MAX_COMPACT_SIZE, MAX_USER_AGENT_LEN};

/// Why a payload could not be decoded. The frame itself was fine, so the
/// caller decides what to do (Bitcoin Core treats most as misbehaviour).
#[derive(Debug, thiserror::Error, PartialEq, Eq, Clone)]
pub enum PayloadError {
    #[error("{command} payload is truncated")]
    Truncated { command: &'static str },
    #[error("{command} has {count} entries, limit {max}")]
    TooManyEntries {
        command: &'static str,
        count: u64,
        max: usize,
    },
    #[error("user agent is {length} bytes, limit {limit}", limit = MAX_USER_AGENT_LEN)]
    UserAgentTooLong { length: u64 },
    #[error("CompactSize integer is not minimally encoded")]
    NonCanonicalCompactSize,
    #[error(
        "CompactSize value {value} exceeds the limit of {limit}",
        limit = MAX_COMPACT_SIZE
    )]
    CompactSizeTooLarge { value: u64 },
    #[error("{command} contains a string that is not valid UTF-8")]
    InvalidUtf8 { command: &'static str },
    #[error("{command} lists a name that is not a valid command")]
    InvalidCommandName { command: &'static str },
}
