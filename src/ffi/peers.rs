//! Peers: the peer record and disconnect reasons, dialling a peer once, closing a
//! connection, blaming a peer, listing peers and the peer connected/disconnected
//! callbacks.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::args::{opt_str_arg, str_arg};
use super::callbacks::{p2pnet_release_fn, set_on};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::{copy_c_text, opt_out_arg, CallerArray};
use super::result::{boundary, c_string, p2pnet_result};
use crate::engine::Engine;
use crate::events::{ConnectionKind, DisconnectReason, PeerInfo};

/// Why a connection ended, as passed to the peer-disconnected callback.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_disconnect_reason {
    /// `p2pnet_engine_disconnect_peer` was called.
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
    /// The peer's address was banned (by `p2pnet_engine_ban` or for misbehaviour).
    P2PNET_DISCONNECT_BANNED = 12,
    /// The connection's task failed unexpectedly (a bug, or a panic in a hash function
    /// the node installed); the engine and its other peers carry on.
    P2PNET_DISCONNECT_INTERNAL_ERROR = 13,
    /// Connection management closed it: a feeler connection once its handshake proved
    /// the address, or an extra outbound peer rotated out (stale-tip recovery).
    P2PNET_DISCONNECT_ROTATED = 14,
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
    /// Blocks and transactions waiting to be announced to the peer: relay back-pressure.
    /// It grows while the node broadcasts faster than the peer fetches.
    pub announcements_queued: u64,
    /// How the connection came about.
    pub kind: p2pnet_connection_kind,
    /// When bytes last went to the peer's socket, in Unix seconds.
    pub last_send: i64,
    /// When bytes last came from the peer's socket, in Unix seconds.
    pub last_receive: i64,
    /// Blocks requested from the peer and not delivered yet.
    pub blocks_in_flight: u32,
    /// The highest block height the peer is known to have: `start_height`, raised by the
    /// headers, announcements and blocks it sent whose height the engine can tell.
    pub best_known_height: i32,
    /// 1: plaintext v1; 2: BIP324 encrypted v2.
    pub transport_version: u8,
    /// The BIP324 session id (all zero on v1), the same on both ends: comparing it out
    /// of band shows that no one is in the middle.
    pub session_id: [u8; 32],
}

/// How a connection came about (Bitcoin Core's getpeerinfo `connection_type`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_connection_kind {
    /// The peer connected to us.
    P2PNET_CONNECTION_INBOUND = 0,
    /// Chosen from the address book to fill the outbound target; relays everything.
    P2PNET_CONNECTION_OUTBOUND_FULL_RELAY = 1,
    /// Asked for by the node (`p2pnet_engine_add_peer`, `p2pnet_engine_add_node`).
    P2PNET_CONNECTION_MANUAL = 2,
    /// Outbound for blocks only: neither transactions nor addresses are relayed, so the
    /// connection is hard to detect and map (Bitcoin Core's block-relay-only).
    P2PNET_CONNECTION_BLOCK_RELAY = 3,
    /// A short outbound connection testing an address from the book; it closes after
    /// the handshake.
    P2PNET_CONNECTION_FEELER = 4,
}

impl From<ConnectionKind> for p2pnet_connection_kind {
    fn from(k: ConnectionKind) -> Self {
        use p2pnet_connection_kind::*;
        match k {
            ConnectionKind::Inbound => P2PNET_CONNECTION_INBOUND,
            ConnectionKind::OutboundFullRelay => P2PNET_CONNECTION_OUTBOUND_FULL_RELAY,
            ConnectionKind::Manual => P2PNET_CONNECTION_MANUAL,
            ConnectionKind::BlockRelay => P2PNET_CONNECTION_BLOCK_RELAY,
            ConnectionKind::Feeler => P2PNET_CONNECTION_FEELER,
        }
    }
}

/// Unix seconds of a time, 0 before 1970.
fn unix_secs(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
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
            connected_since: unix_secs(p.connected_since),
            misbehaviour_score: p.misbehaviour_score,
            announcements_queued: p.announcements_queued as u64,
            kind: p.kind.into(),
            last_send: unix_secs(p.last_send),
            last_receive: unix_secs(p.last_receive),
            blocks_in_flight: u32::try_from(p.blocks_in_flight).unwrap_or(u32::MAX),
            best_known_height: p.best_known_height,
            transport_version: p.transport_version,
            session_id: p.session_id.unwrap_or([0; 32]),
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
            DisconnectReason::Rotated => P2PNET_DISCONNECT_ROTATED,
        }
    }
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
        14 => b"rotated\0",
        _ => b"unknown\0",
    };
    name.as_ptr().cast()
}

/// A peer completed the handshake. `peer` is borrowed for the duration of the call.
pub type p2pnet_peer_connected_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, peer: *const p2pnet_peer_info)>;

/// A connection ended. `detail` is a NUL-terminated description, borrowed for the
/// duration of the call. Also reported for connections that never completed the
/// handshake (then no connected callback preceded it).
pub type p2pnet_peer_disconnected_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        reason: p2pnet_disconnect_reason,
        detail: *const c_char,
    ),
>;

/// Connects once to `host:port` in the background (`host` is an IP address or a name to
/// resolve). The result arrives through the peer-connected callback, or through the
/// peer-disconnected callback with `P2PNET_DISCONNECT_CONNECT_FAILED`. If `out_peer_id`
/// is not NULL it receives the id the connection will have. Nothing redials it when it
/// drops; use `p2pnet_engine_add_node` for a peer to keep.
///
/// Ownership: `host` is borrowed and copied; `out_peer_id` is caller-provided. May be
/// called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_add_peer(
    engine: *mut p2pnet_engine,
    host: *const c_char,
    port: u16,
    out_peer_id: *mut u64,
) -> p2pnet_result {
    // SAFETY: forwarded C contract for `host` and `out_peer_id`.
    unsafe { dial(engine, host, port, out_peer_id, Engine::add_peer) }
}

/// The body of `p2pnet_engine_add_peer` and `p2pnet_engine_add_node`: converts the
/// arguments, dials through `connect` and reports the peer id.
///
/// # Safety
/// `host` is NULL or a NUL-terminated string; `out_peer_id` is NULL or writable.
pub(super) unsafe fn dial(
    engine: *mut p2pnet_engine,
    host: *const c_char,
    port: u16,
    out_peer_id: *mut u64,
    connect: fn(&Engine, &str, u16) -> crate::Result<u64>,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `host` is NULL or a NUL-terminated string, per this function's contract.
        let host = unsafe { str_arg(host, "host") }?;
        let id = connect(engine, host, port)?;
        // SAFETY: `out_peer_id` is NULL (not wanted) or points to writable storage.
        if let Some(out) = unsafe { opt_out_arg(out_peer_id) } {
            *out = id;
        }
        Ok(())
    })
}

/// Closes the connection to a peer; the disconnect callback follows with
/// `P2PNET_DISCONNECT_REQUESTED`. `P2PNET_ERR_NOT_FOUND` for an unknown id.
///
///
/// Ownership: `engine` is borrowed for the call. May be called from a callback, including
/// the peer's own.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_disconnect_peer(
    engine: *mut p2pnet_engine,
    peer_id: u64,
) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.disconnect_peer(peer_id)?))
}

/// Copies a snapshot of every peer that completed the handshake into `out_peers`
/// (ordered by id) and writes their number to `*out_count`. When `capacity` is too small
/// nothing is copied, `*out_count` receives the number needed and the result is
/// `P2PNET_ERR_BUFFER_TOO_SMALL`. `out_peers` may be NULL when `capacity` is 0.
///
/// Ownership: `out_peers` (room for `capacity` records) and `out_count` are
/// caller-provided and only written during the call; the records are copies the caller
/// keeps. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_list_peers(
    engine: *const p2pnet_engine,
    out_peers: *mut p2pnet_peer_info,
    capacity: usize,
    out_count: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_peers` is NULL or has room for `capacity` records and `out_count`
        // is NULL or writable, per the C contract.
        let out = unsafe { CallerArray::new(out_peers, capacity, out_count, "out_peers") }?;
        let peers = engine_ref(engine)?.peers()?;
        out.fill(&peers, |peer| p2pnet_peer_info::from(peer))
    })
}

/// Adds misbehaviour points to a peer (for example for a bad block found later); at 100
/// the peer is disconnected. `reason` (UTF-8, may be NULL) is logged.
///
/// Ownership: `reason` is borrowed and copied. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_report_misbehaviour(
    engine: *mut p2pnet_engine,
    peer_id: u64,
    points: u32,
    reason: *const c_char,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `reason` is NULL or a NUL-terminated string, per the C contract.
        let reason = unsafe { opt_str_arg(reason, "reason") }?;
        Ok(engine.misbehaving(peer_id, points, reason)?)
    })
}

/// Registers the peer-connected callback, called once per peer that completes the
/// handshake, with a snapshot of the peer.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_peer_connected(
    engine: *mut p2pnet_engine,
    cb: p2pnet_peer_connected_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |peer: &PeerInfo| {
                let info = p2pnet_peer_info::from(peer);
                // SAFETY: `f` is the node's callback; `info` outlives the call.
                unsafe { f(data.ptr(), &info) };
            }) as crate::PeerConnectedCallback
        },
        Engine::set_on_peer_connected,
    )
}

/// Registers the peer-disconnected callback, called once per connection that ends
/// (including attempts that never completed the handshake), with the reason.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_peer_disconnected(
    engine: *mut p2pnet_engine,
    cb: p2pnet_peer_disconnected_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |id, reason: DisconnectReason, detail: &str| {
                let detail = c_string(detail);
                // SAFETY: `f` is the node's callback; `detail` outlives the call.
                unsafe { f(data.ptr(), id, reason.into(), detail.as_ptr()) };
            }) as crate::PeerDisconnectedCallback
        },
        Engine::set_on_peer_disconnected,
    )
}
