//! Plain C types shared by the API: enumerations, the peer record and argument helpers.

use std::ffi::{c_char, CStr};
use std::time::UNIX_EPOCH;

use super::error::FfiError;
use crate::config::Network;
use crate::events::{DisconnectReason, LogLevel, PeerInfo};

/// Network presets for `p2pnet_config_new`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_network {
    /// Bitcoin mainnet: magic 0xD9B4BEF9 (wire bytes F9 BE B4 D9), port 8333.
    P2PNET_NETWORK_MAINNET = 0,
    /// Bitcoin testnet3: wire bytes 0B 11 09 07 (0x0709110B as a little-endian value), port 18333.
    P2PNET_NETWORK_TESTNET = 1,
    /// Local/regtest: wire bytes FA BF B5 DA, port 18444.
    P2PNET_NETWORK_REGTEST = 2,
}

/// Why a connection ended, as passed to the peer-disconnected callback.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_disconnect_reason {
    /// `p2pnet_disconnect_peer` was called.
    P2PNET_DISCONNECT_REQUESTED = 0,
    /// The remote side closed the connection.
    P2PNET_DISCONNECT_CLOSED_BY_PEER = 1,
    /// A socket error.
    P2PNET_DISCONNECT_IO_ERROR = 2,
    /// version/verack did not complete within the handshake timeout.
    P2PNET_DISCONNECT_HANDSHAKE_TIMEOUT = 3,
    /// No traffic, or an unanswered ping, for the inactivity timeout.
    P2PNET_DISCONNECT_INACTIVITY_TIMEOUT = 4,
    /// The engine connected to itself (detected by the version nonce).
    P2PNET_DISCONNECT_SELF_CONNECTION = 5,
    /// Wrong magic, oversized or undecodable frame header.
    P2PNET_DISCONNECT_PROTOCOL_VIOLATION = 6,
    /// The peer's protocol version is below the configured minimum.
    P2PNET_DISCONNECT_OBSOLETE_VERSION = 7,
    /// The peer's misbehaviour score reached the threshold.
    P2PNET_DISCONNECT_MISBEHAVIOUR = 8,
    /// The peer stopped reading and its send queue overflowed.
    P2PNET_DISCONNECT_SEND_BUFFER_FULL = 9,
    /// Connection caps refused or evicted the peer.
    P2PNET_DISCONNECT_CONNECTION_LIMIT = 10,
    /// An outbound connection attempt failed (resolve, refuse or timeout).
    P2PNET_DISCONNECT_CONNECT_FAILED = 11,
    /// The peer's address was banned (by `p2pnet_ban` or for misbehaviour).
    P2PNET_DISCONNECT_BANNED = 12,
    /// The connection's task failed unexpectedly (a bug, or a panic in a hash function
    /// the node installed); the engine and its other peers carry on.
    P2PNET_DISCONNECT_INTERNAL_ERROR = 13,
}

/// Log severities; a log callback receives records at or above its registered level.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_log_level {
    /// No records.
    P2PNET_LOG_OFF = 0,
    P2PNET_LOG_ERROR = 1,
    P2PNET_LOG_WARN = 2,
    P2PNET_LOG_INFO = 3,
    P2PNET_LOG_DEBUG = 4,
    P2PNET_LOG_TRACE = 5,
}

/// A snapshot of one connected peer. Plain data: strings are fixed-size, NUL-terminated
/// arrays, so the record can be copied freely.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct p2pnet_peer_info {
    /// Engine-unique peer id; never reused by the same engine.
    pub id: u64,
    /// The peer's IP address as text ("127.0.0.1", "::1"), without the port.
    pub address: [c_char; 64],
    /// The peer's TCP port.
    pub port: u16,
    /// True when the peer connected to us.
    pub inbound: bool,
    /// Protocol version from the peer's version message.
    pub version: i32,
    /// Service bits from the peer's version message.
    pub services: u64,
    /// The peer's user agent (at most 256 bytes).
    pub user_agent: [c_char; 257],
    /// Best height the peer announced in its version message.
    pub start_height: i32,
    /// Last measured ping round trip in microseconds, or -1 before the first pong.
    pub ping_time_us: i64,
    /// Bytes written to the peer's socket.
    pub bytes_sent: u64,
    /// Bytes read from the peer's socket.
    pub bytes_received: u64,
    /// When the TCP connection was established, in Unix seconds.
    pub connected_since: i64,
    /// Accumulated misbehaviour points; the peer is disconnected at 100.
    pub misbehaviour_score: u32,
}

pub(crate) fn copy_c_text<const N: usize>(dst: &mut [c_char; N], text: &str) {
    let bytes = text.as_bytes();
    let len = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(N - 1);
    for (d, &s) in dst.iter_mut().zip(&bytes[..len]) {
        *d = s as c_char;
    }
    dst[len] = 0;
}

impl From<&PeerInfo> for p2pnet_peer_info {
    fn from(p: &PeerInfo) -> Self {
        let mut info = p2pnet_peer_info {
            id: p.id,
            address: [0; 64],
            port: p.address.port(),
            inbound: p.inbound,
            version: p.version,
            services: p.services,
            user_agent: [0; 257],
            start_height: p.start_height,
            ping_time_us: p
                .ping_time
                .map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            connected_since: p
                .connected_since
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_secs() as i64),
            misbehaviour_score: p.misbehaviour_score,
        };
        copy_c_text(
            &mut info.address,
            &p.address.ip().to_canonical().to_string(),
        );
        copy_c_text(&mut info.user_agent, &p.user_agent);
        info
    }
}

impl From<DisconnectReason> for p2pnet_disconnect_reason {
    fn from(r: DisconnectReason) -> Self {
        use p2pnet_disconnect_reason::*;
        match r {
            DisconnectReason::Requested => P2PNET_DISCONNECT_REQUESTED,
            DisconnectReason::ClosedByPeer => P2PNET_DISCONNECT_CLOSED_BY_PEER,
            DisconnectReason::IoError => P2PNET_DISCONNECT_IO_ERROR,
            DisconnectReason::HandshakeTimeout => P2PNET_DISCONNECT_HANDSHAKE_TIMEOUT,
            DisconnectReason::InactivityTimeout => P2PNET_DISCONNECT_INACTIVITY_TIMEOUT,
            DisconnectReason::SelfConnection => P2PNET_DISCONNECT_SELF_CONNECTION,
            DisconnectReason::ProtocolViolation => P2PNET_DISCONNECT_PROTOCOL_VIOLATION,
            DisconnectReason::ObsoleteVersion => P2PNET_DISCONNECT_OBSOLETE_VERSION,
            DisconnectReason::Misbehaviour => P2PNET_DISCONNECT_MISBEHAVIOUR,
            DisconnectReason::SendBufferFull => P2PNET_DISCONNECT_SEND_BUFFER_FULL,
            DisconnectReason::ConnectionLimit => P2PNET_DISCONNECT_CONNECTION_LIMIT,
            DisconnectReason::ConnectFailed => P2PNET_DISCONNECT_CONNECT_FAILED,
            DisconnectReason::Banned => P2PNET_DISCONNECT_BANNED,
            DisconnectReason::InternalError => P2PNET_DISCONNECT_INTERNAL_ERROR,
        }
    }
}

impl From<LogLevel> for p2pnet_log_level {
    fn from(l: LogLevel) -> Self {
        use p2pnet_log_level::*;
        match l {
            LogLevel::Error => P2PNET_LOG_ERROR,
            LogLevel::Warn => P2PNET_LOG_WARN,
            LogLevel::Info => P2PNET_LOG_INFO,
            LogLevel::Debug => P2PNET_LOG_DEBUG,
            LogLevel::Trace => P2PNET_LOG_TRACE,
        }
    }
}

pub(crate) fn network_arg(value: u32) -> Result<Network, FfiError> {
    match value {
        0 => Ok(Network::Mainnet),
        1 => Ok(Network::Testnet),
        2 => Ok(Network::Regtest),
        _ => Err(FfiError::invalid(format!(
            "{value} is not a p2pnet_network"
        ))),
    }
}

/// `None` means off.
pub(crate) fn log_level_arg(value: u32) -> Result<Option<LogLevel>, FfiError> {
    Ok(Some(match value {
        0 => return Ok(None),
        1 => LogLevel::Error,
        2 => LogLevel::Warn,
        3 => LogLevel::Info,
        4 => LogLevel::Debug,
        5 => LogLevel::Trace,
        _ => {
            return Err(FfiError::invalid(format!(
                "{value} is not a p2pnet_log_level"
            )))
        }
    }))
}

/// Borrows a C string argument as UTF-8.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that outlives the returned
/// reference.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str()
        .map_err(|e| FfiError::invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// Borrows a required object argument.
///
/// # Safety
/// `ptr` must be NULL or a valid pointer obtained from this library and not yet freed.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, FfiError> {
    // SAFETY: validity (when non-null) is the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null(name))
}

/// Mutable variant of [`ref_arg`].
///
/// # Safety
/// As for [`ref_arg`], and no other reference to the object may be live.
pub(crate) unsafe fn mut_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: validity and exclusivity (when non-null) are the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| FfiError::null(name))
}

/// A static, human-readable name for a `p2pnet_disconnect_reason` value ("handshake
/// timeout", ...), or "unknown".
///
/// Ownership: static storage; never free it. May be called from a callback.
#[no_mangle]
pub extern "C" fn p2pnet_disconnect_reason_name(reason: u32) -> *const c_char {
    let name: &'static [u8] = match reason {
        0 => b"requested\0",
        1 => b"closed by peer\0",
        2 => b"I/O error\0",
        3 => b"handshake timeout\0",
        4 => b"inactivity timeout\0",
        5 => b"self connection\0",
        6 => b"protocol violation\0",
        7 => b"obsolete version\0",
        8 => b"misbehaviour\0",
        9 => b"send buffer full\0",
        10 => b"connection limit\0",
        11 => b"connect failed\0",
        12 => b"banned\0",
        13 => b"internal error\0",
        _ => b"unknown\0",
    };
    name.as_ptr().cast()
}
