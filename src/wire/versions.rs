//! The protocol versions that gate optional messages. A feature is used with a peer
//! when the version both sides speak (the lower of the two) reaches its gate.

/// `sendheaders` (BIP130).
pub const SENDHEADERS_VERSION: i32 = 70012;
/// `feefilter` (BIP133).
pub const FEEFILTER_VERSION: i32 = 70013;
/// `wtxidrelay` (BIP339).
pub const WTXID_RELAY_VERSION: i32 = 70016;
/// `sendaddrv2` (BIP155 sets no version; Bitcoin Core offers it from 70016, as some
/// older implementations disconnect on unknown messages).
pub const ADDRV2_VERSION: i32 = 70016;
