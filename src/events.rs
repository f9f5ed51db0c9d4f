//! What the engine tells the node about: peers, their state, and why they left.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

/// Engine-unique peer identifier; never reused within one engine.
pub type PeerId = u64;

/// Why a connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DisconnectReason {
    /// The node asked for it.
    Requested,
    /// The remote side closed the connection.
    ClosedByPeer,
    /// A socket error.
    IoError,
    /// The version/verack exchange did not finish in time.
    HandshakeTimeout,
    /// Nothing was sent or received, or a ping went unanswered, for too long.
    InactivityTimeout,
    /// The version nonce showed we connected to ourselves.
    SelfConnection,
    /// Wrong magic, oversized or undecodable frame, or a broken handshake.
    ProtocolViolation,
    /// The peer's protocol version is below the configured minimum.
    ObsoleteVersion,
    /// The misbehaviour score reached the ban threshold.
    Misbehaviour,
    /// The peer stopped reading and its send queue overflowed.
    SendBufferFull,
    /// Connection caps refused or evicted the peer.
    ConnectionLimit,
    /// An outbound connection attempt failed before any handshake.
    ConnectFailed,
    /// The peer's address was banned.
    Banned,
    /// The connection's task panicked; only that connection ended.
    InternalError,
    /// Connection management closed it: a feeler once its handshake proved the
    /// address, or an extra outbound peer rotated out (stale-tip recovery).
    Rotated,
}

impl DisconnectReason {
    /// Stable, human-readable name.
    pub fn name(self) -> &'static str {
        match self {
            DisconnectReason::Requested => "requested",
            DisconnectReason::ClosedByPeer => "closed by peer",
            DisconnectReason::IoError => "I/O error",
            DisconnectReason::HandshakeTimeout => "handshake timeout",
            DisconnectReason::InactivityTimeout => "inactivity timeout",
            DisconnectReason::SelfConnection => "self connection",
            DisconnectReason::ProtocolViolation => "protocol violation",
            DisconnectReason::ObsoleteVersion => "obsolete version",
            DisconnectReason::Misbehaviour => "misbehaviour",
            DisconnectReason::SendBufferFull => "send buffer full",
            DisconnectReason::ConnectionLimit => "connection limit",
            DisconnectReason::ConnectFailed => "connect failed",
            DisconnectReason::Banned => "banned",
            DisconnectReason::InternalError => "internal error",
            DisconnectReason::Rotated => "rotated",
        }
    }
}

/// A snapshot of one connected peer, as reported by the peer-list API.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerInfo {
    pub id: PeerId,
    pub address: SocketAddr,
    pub inbound: bool,
    pub version: i32,
    pub services: u64,
    pub user_agent: String,
    pub start_height: i32,
    pub ping_time: Option<Duration>,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub connected_since: SystemTime,
    /// Accumulated misbehaviour points; the peer is disconnected at 100.
    pub misbehaviour_score: u32,
    /// Blocks and transactions waiting to be announced to the peer (relay back-pressure:
    /// it grows while the node broadcasts faster than the peer fetches).
    pub announcements_queued: usize,
    /// How the connection came about.
    pub kind: ConnectionKind,
    /// When bytes last went to / came from the peer's socket.
    pub last_send: SystemTime,
    pub last_receive: SystemTime,
    /// Blocks requested from the peer and not delivered yet.
    pub blocks_in_flight: usize,
    /// The highest block height the peer is known to have: its version's start height,
    /// raised by the headers, announcements and blocks it sent whose height the engine
    /// can tell from the node's tip (`set_best_block`).
    pub best_known_height: i32,
    /// 1: plaintext v1; 2: BIP324 encrypted v2.
    pub transport_version: u8,
    /// BIP324's session id (v2 only), the same on both ends: comparing it out of band
    /// shows that no one is in the middle.
    pub session_id: Option<[u8; 32]>,
}

/// How a connection came about (Bitcoin Core's connection types, as far as the engine
/// makes them).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectionKind {
    /// The peer connected to us.
    Inbound,
    /// Chosen from the address book to fill the outbound target; relays everything.
    OutboundFullRelay,
    /// Asked for by the node (`add_peer`, `add_node`).
    Manual,
    /// Outbound for blocks only: neither transactions nor addresses are relayed.
    BlockRelay,
    /// A short outbound connection testing an address; it closes after the handshake.
    Feeler,
}

impl ConnectionKind {
    /// Stable name, as Core's getpeerinfo `connection_type`.
    pub fn name(self) -> &'static str {
        match self {
            ConnectionKind::Inbound => "inbound",
            ConnectionKind::OutboundFullRelay => "outbound-full-relay",
            ConnectionKind::Manual => "manual",
            ConnectionKind::BlockRelay => "block-relay-only",
            ConnectionKind::Feeler => "feeler",
        }
    }
}

/// Why the engine suspects the node is cut off from the network, by the first rule that
/// holds (checked in this order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PartitionSignal {
    /// No rule holds.
    None,
    /// Outbound connections are wanted, but none has been up for a whole block interval.
    Isolated,
    /// At least half of the last 8 (at least 4) outbound attempts to addresses that once
    /// worked (the book's tried table) failed: known peers have become unreachable.
    KnownPeersUnreachable,
    /// The tip is stale and no connected peer has announced a block above it: the
    /// peers are as stuck as we are.
    StaleWithNoBetterPeer,
}

impl PartitionSignal {
    /// Stable name for logs and displays.
    pub fn name(self) -> &'static str {
        match self {
            PartitionSignal::None => "none",
            PartitionSignal::Isolated => "isolated",
            PartitionSignal::KnownPeersUnreachable => "known peers unreachable",
            PartitionSignal::StaleWithNoBetterPeer => "stale tip, no better peer",
        }
    }
}

/// The node's standing in the network: its connections against their targets, how
/// fresh its tip is, and the two warnings derived from them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Health {
    /// Connections that completed the handshake, by kind.
    pub inbound: usize,
    pub outbound_full_relay: usize,
    pub block_relay: usize,
    pub manual: usize,
    pub feeler: usize,
    /// Automatic outbound slots: `max_outbound` full-relay plus the block-relay-only
    /// ones.
    pub outbound_target: usize,
    /// Of those, how many are filled (extra peers beyond a target not counted).
    pub outbound_filled: usize,
    /// The node's tip height, as it last reported it.
    pub tip_height: i32,
    /// The best height a connected peer has announced (its version's start height,
    /// raised by its headers, announcements and blocks).
    pub best_peer_height: i32,
    /// Since the tip last advanced (since start while it never has).
    pub tip_age: Duration,
    /// Since a block new to the engine last arrived from a peer; `None` before the first.
    pub network_block_age: Option<Duration>,
    /// The tip has not advanced for three block intervals (Bitcoin Core's
    /// `TipMayBeStale`, with no block download in flight). While it holds, the engine
    /// keeps one extra full-relay outbound connection.
    pub stale_tip: bool,
    /// Why a partition is suspected, `PartitionSignal::None` when it is not.
    pub partition: PartitionSignal,
}

impl Health {
    pub fn partition_suspected(&self) -> bool {
        self.partition != PartitionSignal::None
    }
}

/// Engine-wide traffic since start (Core's `getnettotals`): bytes on the sockets and
/// messages counted by the wire protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetTotals {
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub messages_sent: u64,
    pub messages_received: u64,
}

/// Messages and their bytes (header included) for one command, engine-wide; commands
/// the engine has no name for are summed under `*other*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommandTraffic {
    pub command: String,
    pub messages_sent: u64,
    pub bytes_sent: u64,
    pub messages_received: u64,
    pub bytes_received: u64,
}

/// Log severity, ordered from most to least severe.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
    Trace = 5,
}
