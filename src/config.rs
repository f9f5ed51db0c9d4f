//! Engine settings with network presets (mainnet, testnet, regtest) and validation.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::wire;

/// A named set of defaults matching a Bitcoin network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Network {
    Mainnet,
    Testnet,
    Regtest,
}

impl Network {
    /// Network magic as a little-endian `u32` (the wire bytes are its LE encoding).
    pub fn magic(self) -> u32 {
        match self {
            Network::Mainnet => 0xD9B4_BEF9,
            // Wire bytes 0B 11 09 07 (testnet3).
            Network::Testnet => 0x0709_110B,
            // Wire bytes FA BF B5 DA.
            Network::Regtest => 0xDAB5_BFFA,
        }
    }

    /// Default P2P port.
    pub fn default_port(self) -> u16 {
        match self {
            Network::Mainnet => 8333,
            Network::Testnet => 18333,
            Network::Regtest => 18444,
        }
    }
}

/// Which transports the engine speaks: plaintext v1, or BIP324's encrypted v2.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportMode {
    /// v1 only; NODE_P2P_V2 is not announced.
    V1Only,
    /// Bitcoin Core's default: NODE_P2P_V2 is announced; inbound peers may use either;
    /// outbound connections start as v2 unless the peer is known not to offer it, and a
    /// v2 attempt the peer closes before sending anything is retried once as v1.
    PreferV2,
    /// v2 only: inbound v1 connections are refused and outbound ones never fall back.
    V2Only,
}

/// A command the node defines for its own protocol. Peers whose node defined it too are
/// told in the handshake (`sendcustom`); only they receive it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomMessage {
    /// At most 12 printable ASCII characters, not a Bitcoin command.
    pub command: String,
    /// Largest payload accepted; a larger one costs the sender 20 points.
    pub max_size: u32,
    /// Messages per second a peer may send (bursts of one second's worth); each one
    /// beyond costs the sender 1 point and is dropped.
    pub max_per_second: u32,
}

/// Everything an engine needs to know before it starts. Copied into the engine at creation.
#[derive(Clone, Debug)]
pub struct Config {
    pub network: Network,
    pub magic: u32,
    pub default_port: u16,
    /// `None` means the engine accepts no inbound connections.
    pub listen_address: Option<SocketAddr>,
    pub protocol_version: i32,
    pub min_protocol_version: i32,
    pub user_agent: String,
    pub services: u64,
    pub start_height: i32,
    pub connect_timeout: Duration,
    pub handshake_timeout: Duration,
    pub ping_interval: Duration,
    pub inactivity_timeout: Duration,
    /// Automatic outbound connections that relay everything (Bitcoin Core: 8). Zero
    /// turns off automatic connections of every kind (block-relay-only, feelers, extra
    /// peers), as Bitcoin Core's `-connect` does: only the node's own connections remain.
    pub max_outbound: usize,
    /// Automatic outbound connections for blocks only, kept besides `max_outbound`
    /// (Bitcoin Core: 2). They relay no transactions and no addresses, so an attacker
    /// watching gossip cannot find them; they are saved as anchors at stop and dialled
    /// first at the next start.
    pub block_relay_connections: usize,
    pub max_inbound: usize,
    pub max_connections: usize,
    /// Inbound connections accepted from one IP address, so that a single host cannot
    /// take every inbound slot. The regtest preset, where every node shares a loopback
    /// address, leaves it at the inbound cap.
    pub max_inbound_per_ip: usize,
    pub max_message_size: u32,
    pub worker_threads: usize,
    /// Bytes queued for a peer that does not read before it is disconnected.
    pub max_send_buffer: usize,
    /// Capacity of the queue of events waiting for the dispatcher thread.
    pub event_queue_capacity: usize,
    /// Mean interval of the Poisson timer that batches transaction announcements to
    /// inbound peers; zero announces at once.
    pub tx_trickle_inbound: Duration,
    /// The same for outbound peers.
    pub tx_trickle_outbound: Duration,
    /// How long a peer may take to deliver a requested transaction.
    pub tx_request_timeout: Duration,
    /// How long a peer may take to deliver a requested block before it is asked of
    /// another peer.
    pub block_request_timeout: Duration,
    /// Bytes of relayed items kept to answer GETDATA without asking the node. Items
    /// announced to peers that have not fetched them yet may take four times as much.
    pub relay_cache_bytes: usize,
    /// Bytes all peers together may hold in unfinished messages larger than 64 KiB;
    /// a peer waits (is not read) until its message fits.
    pub receive_budget: usize,
    /// A peer holding an unfinished message larger than 64 KiB that sends nothing for
    /// this long is disconnected.
    pub partial_message_timeout: Duration,
    /// Where the ban list and address book are kept; `None` keeps them in memory only.
    pub data_dir: Option<PathBuf>,
    /// How long a misbehaving peer's address stays banned.
    pub ban_time: Duration,
    /// The most bans kept; beyond it the ban expiring soonest gives way.
    pub max_bans: usize,
    /// DNS seeds (name, port) queried for addresses when the address book is short.
    pub dns_seeds: Vec<(String, u16)>,
    /// The DNS server for seed lookups; `None` uses the system's resolver configuration.
    pub dns_server: Option<SocketAddr>,
    /// Accept loopback and private addresses in the address book (local test networks).
    pub allow_local_addresses: bool,
    /// At most one automatic outbound connection per network group (/16), as Bitcoin
    /// Core, so that one operator cannot surround the node.
    pub one_outbound_per_netgroup: bool,
    /// Commands the node defines for its own protocol.
    pub custom_messages: Vec<CustomMessage>,
    /// Plaintext v1, BIP324 v2, or both.
    pub transport: TransportMode,
    /// The chain's expected time between blocks (10 minutes on the presets). The tip
    /// counts as stale after three of them without advancing.
    pub block_interval: Duration,
    /// Mean time between feeler connections, which test an address from the book's
    /// new table and close after the handshake (Bitcoin Core: 2 minutes). Zero: none.
    pub feeler_interval: Duration,
    /// Mean time between extra block-relay-only connections that look for blocks the
    /// node has not heard of; the extra peer stays only if it brings one (Bitcoin Core:
    /// 5 minutes). Zero: none.
    pub extra_block_relay_interval: Duration,
}

/// Inbound connections from one IP on the public presets.
pub const DEFAULT_MAX_INBOUND_PER_IP: usize = 8;
/// The protocol version Bitcoin Core announces (since 0.21): peers at it negotiate
/// wtxid relay and addrv2, and Core, btcd and bcoin download from it.
pub const DEFAULT_PROTOCOL_VERSION: i32 = 70016;
/// Service bit: serves the full block chain.
pub const NODE_NETWORK: u64 = 1;
/// Service bit: serves witness data (BIP144). Full nodes download blocks only from
/// peers announcing it.
pub const NODE_WITNESS: u64 = 1 << 3;
/// Service bit: serves the last 288 blocks (a pruned node; BIP159).
pub const NODE_NETWORK_LIMITED: u64 = 1 << 10;
/// Service bit: speaks the BIP324 encrypted transport.
pub const NODE_P2P_V2: u64 = 1 << 11;
/// `sendheaders` and BIP31 ping/pong need at least this much.
pub const DEFAULT_MIN_PROTOCOL_VERSION: i32 = 60001;

impl Config {
    /// Defaults for `network`, following Bitcoin Core where it has a value.
    pub fn new(network: Network) -> Self {
        Config {
            network,
            magic: network.magic(),
            default_port: network.default_port(),
            listen_address: Some(SocketAddr::from(([0, 0, 0, 0], network.default_port()))),
            protocol_version: DEFAULT_PROTOCOL_VERSION,
            min_protocol_version: DEFAULT_MIN_PROTOCOL_VERSION,
            user_agent: format!("/p2pnet:{}/", env!("CARGO_PKG_VERSION")),
            services: NODE_NETWORK | NODE_WITNESS,
            start_height: 0,
            connect_timeout: Duration::from_secs(5),
            handshake_timeout: Duration::from_secs(60),
            ping_interval: Duration::from_secs(120),
            inactivity_timeout: Duration::from_secs(20 * 60),
            max_outbound: 8,
            block_relay_connections: 2,
            // Bitcoin Core's 125 less its 8 full-relay, 2 block-relay and 1 feeler
            // slots: inbound peers can never take the room outbound connections need.
            max_inbound: 114,
            max_connections: 125,
            max_inbound_per_ip: if network == Network::Regtest {
                114
            } else {
                DEFAULT_MAX_INBOUND_PER_IP
            },
            max_message_size: wire::DEFAULT_MAX_MESSAGE_SIZE as u32,
            worker_threads: 2,
            max_send_buffer: 64 * 1024 * 1024,
            event_queue_capacity: 1024,
            tx_trickle_inbound: Duration::from_secs(5),
            tx_trickle_outbound: Duration::from_secs(2),
            tx_request_timeout: Duration::from_secs(60),
            block_request_timeout: Duration::from_secs(20),
            relay_cache_bytes: 64 * 1024 * 1024,
            receive_budget: 256 * 1024 * 1024,
            partial_message_timeout: Duration::from_secs(30),
            data_dir: None,
            ban_time: Duration::from_secs(24 * 60 * 60),
            max_bans: crate::banman::DEFAULT_MAX_ENTRIES,
            dns_seeds: Vec::new(),
            dns_server: None,
            allow_local_addresses: network == Network::Regtest,
            one_outbound_per_netgroup: network != Network::Regtest,
            custom_messages: Vec::new(),
            transport: TransportMode::PreferV2,
            block_interval: Duration::from_secs(10 * 60),
            feeler_interval: Duration::from_secs(2 * 60),
            extra_block_relay_interval: Duration::from_secs(5 * 60),
        }
    }

    /// The service bits we announce: the configured ones, with NODE_P2P_V2 when v2 is
    /// enabled and never without.
    pub fn advertised_services(&self) -> u64 {
        match self.transport {
            TransportMode::V1Only => self.services & !NODE_P2P_V2,
            TransportMode::PreferV2 | TransportMode::V2Only => self.services | NODE_P2P_V2,
        }
    }

    /// Sets the user agent, enforcing the wire limit so peers never reject our version.
    pub fn set_user_agent(&mut self, user_agent: &str) -> Result<()> {
        if user_agent.len() > wire::MAX_USER_AGENT_LEN {
            return Err(Error::InvalidArgument(format!(
                "user agent is {} bytes, limit {}",
                user_agent.len(),
                wire::MAX_USER_AGENT_LEN
            )));
        }
        self.user_agent = user_agent.to_owned();
        Ok(())
    }

    /// Parses "IP:PORT"; an empty string disables listening.
    pub fn set_listen_address(&mut self, address: &str) -> Result<()> {
        if address.is_empty() {
            self.listen_address = None;
            return Ok(());
        }
        let parsed = address.parse::<SocketAddr>().map_err(|e| {
            Error::InvalidArgument(format!("listen address {address:?} is not IP:PORT: {e}"))
        })?;
        self.listen_address = Some(parsed);
        Ok(())
    }

    /// Checks cross-field constraints before an engine is built from this config.
    pub fn validate(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::InvalidArgument(msg));
        if self.max_message_size < wire::HEADER_LEN as u32 {
            return fail(format!(
                "max message size {} is too small",
                self.max_message_size
            ));
        }
        if self.max_bans == 0 || self.max_bans > crate::banman::HARD_MAX_ENTRIES {
            return fail(format!(
                "max bans must be between 1 and {}",
                crate::banman::HARD_MAX_ENTRIES
            ));
        }
        if self.receive_budget < wire::HEADER_LEN || self.receive_budget > u32::MAX as usize {
            return fail(format!(
                "receive budget must be between {} and {} bytes",
                wire::HEADER_LEN,
                u32::MAX
            ));
        }
        if self.worker_threads == 0 {
            return fail("worker threads must be at least 1".into());
        }
        if self.min_protocol_version > self.protocol_version {
            return fail(format!(
                "minimum protocol version {} is above our own {}",
                self.min_protocol_version, self.protocol_version
            ));
        }
        for (name, d) in [
            ("connect timeout", self.connect_timeout),
            ("handshake timeout", self.handshake_timeout),
            ("ping interval", self.ping_interval),
            ("inactivity timeout", self.inactivity_timeout),
            ("transaction request timeout", self.tx_request_timeout),
            ("block request timeout", self.block_request_timeout),
            ("ban time", self.ban_time),
            ("partial message timeout", self.partial_message_timeout),
            ("block interval", self.block_interval),
        ] {
            if d.is_zero() {
                return fail(format!("{name} must be positive"));
            }
        }
        self.validate_custom_messages()
    }

    /// Adds a node-defined command (see [`CustomMessage`]).
    pub fn add_custom_message(&mut self, message: CustomMessage) -> Result<()> {
        self.custom_messages.push(message);
        if let Err(e) = self.validate_custom_messages() {
            self.custom_messages.pop();
            return Err(e);
        }
        Ok(())
    }

    fn validate_custom_messages(&self) -> Result<()> {
        let fail = |msg: String| Err(Error::InvalidArgument(msg));
        if self.custom_messages.len() > wire::MAX_CUSTOM_COMMANDS {
            return fail(format!(
                "at most {} node-defined commands",
                wire::MAX_CUSTOM_COMMANDS
            ));
        }
        for (i, m) in self.custom_messages.iter().enumerate() {
            let name = &m.command;
            if wire::Command::new(name).is_none() || name.is_empty() {
                return fail(format!(
                    "{name:?} is not a command name (1 to 12 printable ASCII characters)"
                ));
            }
            if wire::Command::is_reserved(name) {
                return fail(format!("{name:?} is a Bitcoin protocol command"));
            }
            if self.custom_messages[..i].iter().any(|o| &o.command == name) {
                return fail(format!("{name:?} is defined twice"));
            }
            if m.max_size == 0 || m.max_size > self.max_message_size {
                return fail(format!(
                    "{name}: max size must be between 1 and the message limit {}",
                    self.max_message_size
                ));
            }
            if m.max_per_second == 0 {
                return fail(format!("{name}: max per second must be at least 1"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_match_bitcoin_wire_bytes() {
        assert_eq!(
            Network::Mainnet.magic().to_le_bytes(),
            [0xF9, 0xBE, 0xB4, 0xD9]
        );
        assert_eq!(
            Network::Testnet.magic().to_le_bytes(),
            [0x0B, 0x11, 0x09, 0x07]
        );
        assert_eq!(
            Network::Regtest.magic().to_le_bytes(),
            [0xFA, 0xBF, 0xB5, 0xDA]
        );
        let c = Config::new(Network::Mainnet);
        assert_eq!(c.default_port, 8333);
        assert_eq!(
            (c.max_outbound, c.max_inbound, c.max_connections),
            (8, 114, 125)
        );
        assert_eq!(c.block_relay_connections, 2);
        assert_eq!(c.block_interval, Duration::from_secs(600));
        assert_eq!(c.inactivity_timeout, Duration::from_secs(1200));
        assert!(c.validate().is_ok());
    }

    #[test]
    fn rejects_bad_values() {
        let mut c = Config::new(Network::Regtest);
        assert!(c.set_user_agent(&"x".repeat(257)).is_err());
        assert!(c.set_user_agent(&"x".repeat(256)).is_ok());
        assert!(c.set_listen_address("nonsense").is_err());
        assert!(c.set_listen_address("").is_ok());
        assert!(c.listen_address.is_none());
        c.min_protocol_version = c.protocol_version + 1;
        assert!(c.validate().is_err());
    }
}
