//! `p2pnet_config`: defaults for a network preset, adjusted with setters, copied into an
//! engine by `p2pnet_engine_new`.

use std::ffi::c_char;
use std::time::Duration;

use super::args::{mut_arg, str_arg};
use super::out::{free_object, new_object};
use super::result::{boundary, boundary_value, p2pnet_result, FfiError};
use crate::config::{Config, CustomMessage, Network, TransportMode};

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

fn network_arg(value: u32) -> Result<Network, FfiError> {
    match value {
        0 => Ok(Network::Mainnet),
        1 => Ok(Network::Testnet),
        2 => Ok(Network::Regtest),
        _ => Err(FfiError::invalid(format!(
            "{value} is not a p2pnet_network"
        ))),
    }
}

/// Engine settings. Opaque; create with `p2pnet_config_new`, free with
/// `p2pnet_config_free`.
pub struct p2pnet_config {
    pub(crate) inner: Config,
}

/// Creates a config with the defaults of `network` (a `p2pnet_network` value): Bitcoin
/// Core's magic, port, protocol version 70016, 8 full-relay + 2 block-relay-only
/// outbound / 114 inbound / 125 total connections, 32 MiB messages, 60 s handshake
/// timeout, 2 min pings, 20 min inactivity timeout, 10 min block interval, listening on
/// 0.0.0.0 at the network's port. `P2PNET_ERR_INVALID_ARGUMENT`
/// when `network` is out of range.
///
/// Ownership: on success `*out_config` receives a new config that the caller frees with
/// `p2pnet_config_free`; on error it is set to NULL. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_new(
    network: u32,
    out_config: *mut *mut p2pnet_config,
) -> p2pnet_result {
    boundary(|| {
        let make = || {
            Ok(p2pnet_config {
                inner: Config::new(network_arg(network)?),
            })
        };
        // SAFETY: `out_config` is NULL or points to writable storage for a pointer.
        unsafe { new_object(out_config, "out_config", make) }
    })
}

/// Frees a config. NULL is ignored.
///
/// Ownership: takes `config` back; it must not be used afterwards. Engines created from
/// it are unaffected (they hold a copy). May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_free(config: *mut p2pnet_config) {
    boundary_value((), || {
        // SAFETY: non-null pointers passed here come from `p2pnet_config_new` and are
        // freed once, per the documented contract.
        unsafe { free_object(config) }
    })
}

/// Applies `change` to the config behind `config`.
fn update(
    config: *mut p2pnet_config,
    change: impl FnOnce(&mut Config) -> Result<(), FfiError>,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `config` is NULL or a live config from `p2pnet_config_new` that the
        // caller does not use concurrently (documented on every setter).
        let config = unsafe { mut_arg(config, "config") }?;
        change(&mut config.inner)
    })
}

fn millis(ms: u32, what: &str) -> Result<Duration, FfiError> {
    if ms == 0 {
        return Err(FfiError::invalid(format!("{what} must be positive")));
    }
    Ok(Duration::from_millis(u64::from(ms)))
}

fn to_usize(value: u32) -> usize {
    value as usize
}

/// Sets the listen address, "IP:PORT" (IPv4 or "[IPv6]:PORT"); port 0 picks a free port
/// (read it with `p2pnet_engine_get_listen_port`). An empty string disables listening.
///
/// Ownership: `address` is borrowed and copied; `config` is borrowed for the call and
/// must not be used by another thread meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_listen_address(
    config: *mut p2pnet_config,
    address: *const c_char,
) -> p2pnet_result {
    update(config, |c| {
        // SAFETY: `address` is NULL or a NUL-terminated string, per the C contract.
        let address = unsafe { str_arg(address, "address") }?;
        c.set_listen_address(address).map_err(Into::into)
    })
}

/// Sets the network magic (the four message-start bytes, as a little-endian value).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_magic(
    config: *mut p2pnet_config,
    magic: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.magic = magic;
        Ok(())
    })
}

/// Sets the port assumed for DNS-seed results and peers given without a port.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_default_port(
    config: *mut p2pnet_config,
    port: u16,
) -> p2pnet_result {
    update(config, |c| {
        if port == 0 {
            return Err(FfiError::invalid("default port must not be 0".into()));
        }
        c.default_port = port;
        Ok(())
    })
}

/// Sets the protocol version announced in our version message (default 70016).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_protocol_version(
    config: *mut p2pnet_config,
    version: i32,
) -> p2pnet_result {
    update(config, |c| {
        c.protocol_version = version;
        Ok(())
    })
}

/// Sets the lowest protocol version a peer may announce; lower ones are disconnected
/// with `P2PNET_DISCONNECT_OBSOLETE_VERSION` (default 60001). `p2pnet_engine_new`
/// rejects a config whose minimum exceeds its own protocol version.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_min_protocol_version(
    config: *mut p2pnet_config,
    version: i32,
) -> p2pnet_result {
    update(config, |c| {
        c.min_protocol_version = version;
        Ok(())
    })
}

/// Sets the user agent (at most 256 bytes of UTF-8), e.g. "/MyNode:1.0/".
///
/// Ownership: `user_agent` is borrowed and copied; `config` is borrowed for the call and
/// must not be used by another thread meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_user_agent(
    config: *mut p2pnet_config,
    user_agent: *const c_char,
) -> p2pnet_result {
    update(config, |c| {
        // SAFETY: `user_agent` is NULL or a NUL-terminated string, per the C contract.
        let user_agent = unsafe { str_arg(user_agent, "user_agent") }?;
        c.set_user_agent(user_agent).map_err(Into::into)
    })
}

/// Sets the service bits announced in our version message (default 9: NODE_NETWORK 1 |
/// NODE_WITNESS 8, what Bitcoin Core announces for a full node; a pruned node announces
/// NODE_NETWORK_LIMITED 1024 | NODE_WITNESS 8 instead).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_services(
    config: *mut p2pnet_config,
    services: u64,
) -> p2pnet_result {
    update(config, |c| {
        c.services = services;
        Ok(())
    })
}

/// Sets the best height announced at start; change it later with
/// `p2pnet_engine_set_best_height`.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_start_height(
    config: *mut p2pnet_config,
    height: i32,
) -> p2pnet_result {
    update(config, |c| {
        c.start_height = height;
        Ok(())
    })
}

/// Sets how long an outbound TCP connect may take (default 5000 ms; must be > 0).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_connect_timeout_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.connect_timeout = millis(ms, "connect timeout")?;
        Ok(())
    })
}

/// Sets how long version/verack may take before the connection is dropped
/// (default 60000 ms; must be > 0).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_handshake_timeout_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.handshake_timeout = millis(ms, "handshake timeout")?;
        Ok(())
    })
}

/// Sets the interval between pings to each peer (default 120000 ms; must be > 0).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_ping_interval_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.ping_interval = millis(ms, "ping interval")?;
        Ok(())
    })
}

/// Sets how long a peer may stay silent, or leave a ping unanswered, before it is
/// disconnected (default 1200000 ms, 20 min; must be > 0).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_inactivity_timeout_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.inactivity_timeout = millis(ms, "inactivity timeout")?;
        Ok(())
    })
}

/// Sets the target number of automatic full-relay outbound connections (default 8). 0
/// turns off automatic connections of every kind (block-relay-only, feelers, extra
/// peers): only `p2pnet_engine_add_peer`/`p2pnet_engine_add_node` connections remain.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_max_outbound(
    config: *mut p2pnet_config,
    count: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.max_outbound = to_usize(count);
        Ok(())
    })
}

/// Sets the number of outbound block-relay-only connections kept besides the
/// full-relay ones (default 2, as Bitcoin Core; 0 disables them and their anchors).
/// They relay neither transactions nor addresses, so gossip cannot reveal them, and
/// they are saved as anchors at stop (with a data directory) and dialled first at the
/// next start.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_block_relay_connections(
    config: *mut p2pnet_config,
    count: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.block_relay_connections = to_usize(count);
        Ok(())
    })
}

/// Sets the chain's expected time between blocks (default 600000 ms, 10 minutes; must
/// be > 0). The tip counts as stale after three intervals without advancing; then the
/// engine opens one extra outbound connection (Bitcoin Core's stale-tip recovery).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_block_interval_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.block_interval = millis(ms, "block interval")?;
        Ok(())
    })
}

/// Sets the mean time between feeler connections, which test an address nobody has
/// connected to yet and close after the handshake (default 120000 ms, 2 minutes; 0
/// disables them).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_feeler_interval_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.feeler_interval = Duration::from_millis(u64::from(ms));
        Ok(())
    })
}

/// Sets the mean time between extra block-relay-only connections, which look for
/// blocks the node has not heard of and stay only if they bring one (default 300000
/// ms, 5 minutes; 0 disables them).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_extra_block_relay_interval_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.extra_block_relay_interval = Duration::from_millis(u64::from(ms));
        Ok(())
    })
}

/// Sets the cap on inbound connections (default 114).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_max_inbound(
    config: *mut p2pnet_config,
    count: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.max_inbound = to_usize(count);
        Ok(())
    })
}

/// Sets the cap on all connections together (default 125).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_max_connections(
    config: *mut p2pnet_config,
    count: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.max_connections = to_usize(count);
        Ok(())
    })
}

/// Sets how many inbound connections one IP address may hold (default 8; the regtest
/// preset allows 114, since local nodes share a loopback address). Connections beyond it
/// are closed at accept, before any byte is read.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_max_inbound_per_ip(
    config: *mut p2pnet_config,
    count: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.max_inbound_per_ip = to_usize(count);
        Ok(())
    })
}

/// Sets the largest accepted payload in bytes (default 32 MiB); a frame claiming more
/// disconnects the peer.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_max_message_size(
    config: *mut p2pnet_config,
    bytes: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.max_message_size = bytes;
        Ok(())
    })
}

/// Sets the number of tokio worker threads the engine runs (default 2; must be > 0).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_worker_threads(
    config: *mut p2pnet_config,
    threads: u32,
) -> p2pnet_result {
    update(config, |c| {
        if threads == 0 {
            return Err(FfiError::invalid(
                "worker threads must be at least 1".into(),
            ));
        }
        c.worker_threads = to_usize(threads);
        Ok(())
    })
}

/// Sets the mean intervals of the Poisson timers that batch transaction announcements,
/// for inbound and outbound peers (defaults 5000 and 2000 ms, as Bitcoin Core). Zero
/// announces at once, which tests and benchmarks use.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_tx_trickle_ms(
    config: *mut p2pnet_config,
    inbound_ms: u32,
    outbound_ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.tx_trickle_inbound = Duration::from_millis(u64::from(inbound_ms));
        c.tx_trickle_outbound = Duration::from_millis(u64::from(outbound_ms));
        Ok(())
    })
}

/// Sets how long a peer may take to deliver a requested transaction (default 60000 ms)
/// and block (default 20000 ms) before the request moves to another peer. Both > 0.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_request_timeouts_ms(
    config: *mut p2pnet_config,
    tx_ms: u32,
    block_ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.tx_request_timeout = millis(tx_ms, "transaction request timeout")?;
        c.block_request_timeout = millis(block_ms, "block request timeout")?;
        Ok(())
    })
}

/// Sets the directory where the ban list (and address book) are kept; it is created if
/// missing. Without one, they live in memory only.
///
/// Ownership: `path` is borrowed and copied; `config` is borrowed for the call and must
/// not be used by another thread meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_data_dir(
    config: *mut p2pnet_config,
    path: *const c_char,
) -> p2pnet_result {
    update(config, |c| {
        // SAFETY: `path` is NULL or a NUL-terminated string, per the C contract.
        let path = unsafe { str_arg(path, "path") }?;
        c.data_dir = if path.is_empty() {
            None
        } else {
            Some(path.into())
        };
        Ok(())
    })
}

/// Sets how long a misbehaving peer's address stays banned (default 86400 s; > 0).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_ban_time_s(
    config: *mut p2pnet_config,
    seconds: u32,
) -> p2pnet_result {
    update(config, |c| {
        if seconds == 0 {
            return Err(FfiError::invalid("ban time must be positive".into()));
        }
        c.ban_time = Duration::from_secs(u64::from(seconds));
        Ok(())
    })
}

/// Sets the most bans kept (default 10000, at most 100000); when full, the ban expiring
/// soonest gives way, and a new ban shorter than all stored ones is refused.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_max_bans(
    config: *mut p2pnet_config,
    count: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.max_bans = to_usize(count);
        Ok(())
    })
}

/// Sets how many bytes all peers together may hold in unfinished messages larger than
/// 64 KiB (default 268435456, 256 MiB; from 24 bytes to 4 GiB - 1). A peer whose
/// message does not fit waits, unread, until it does, so memory for unfinished
/// messages is bounded by this, not by peers × the message limit.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_receive_budget(
    config: *mut p2pnet_config,
    bytes: u64,
) -> p2pnet_result {
    update(config, |c| {
        c.receive_budget = usize::try_from(bytes).unwrap_or(usize::MAX);
        Ok(())
    })
}

/// Sets how long a peer holding an unfinished message larger than 64 KiB may send
/// nothing before it is disconnected (reason INACTIVITY_TIMEOUT; default 30000 ms,
/// must be positive).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_partial_message_timeout_ms(
    config: *mut p2pnet_config,
    ms: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.partial_message_timeout = millis(ms, "partial message timeout")?;
        Ok(())
    })
}

/// Sets the DNS server used for seed lookups, "IP:PORT" (private networks, tests). An
/// empty string restores the system's resolver configuration (the default).
///
/// Ownership: `address` is borrowed and copied; `config` is borrowed for the call and
/// must not be used by another thread meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_dns_server(
    config: *mut p2pnet_config,
    address: *const c_char,
) -> p2pnet_result {
    update(config, |c| {
        // SAFETY: `address` is NULL or a NUL-terminated string, per the C contract.
        let address = unsafe { str_arg(address, "address") }?;
        c.dns_server = if address.is_empty() {
            None
        } else {
            Some(address.parse().map_err(|e| {
                FfiError::invalid(format!("DNS server {address:?} is not IP:PORT: {e}"))
            })?)
        };
        Ok(())
    })
}

/// Adds a DNS seed to the config (see `p2pnet_engine_add_dns_seed`).
///
/// Ownership: `host` is borrowed and copied; `config` is borrowed for the call and must
/// not be used by another thread meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_add_dns_seed(
    config: *mut p2pnet_config,
    host: *const c_char,
    port: u16,
) -> p2pnet_result {
    update(config, |c| {
        // SAFETY: `host` is NULL or a NUL-terminated string, per the C contract.
        let host = unsafe { str_arg(host, "host") }?;
        if host.is_empty() || port == 0 {
            return Err(FfiError::invalid("a seed needs a name and a port".into()));
        }
        c.dns_seeds.push((host.to_owned(), port));
        Ok(())
    })
}

/// Whether loopback and private addresses are accepted into the address book (default:
/// true for regtest, false otherwise).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_allow_local_addresses(
    config: *mut p2pnet_config,
    allow: bool,
) -> p2pnet_result {
    update(config, |c| {
        c.allow_local_addresses = allow;
        Ok(())
    })
}

/// Whether automatic outbound connections are limited to one per network group (/16 for
/// IPv4, /32 for IPv6) (default: true, false for regtest).
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_one_outbound_per_netgroup(
    config: *mut p2pnet_config,
    enabled: bool,
) -> p2pnet_result {
    update(config, |c| {
        c.one_outbound_per_netgroup = enabled;
        Ok(())
    })
}

/// Which transports the engine speaks (BIP324).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_transport_mode {
    /// Plaintext v1 only; NODE_P2P_V2 is not announced.
    P2PNET_TRANSPORT_V1_ONLY = 0,
    /// The default, as Bitcoin Core: NODE_P2P_V2 (bit 11) is announced; inbound peers use
    /// either, detected from their first bytes; outbound connections start as v2 to
    /// addresses known to offer it and to peers the node names, and a v2 attempt the
    /// peer closes before sending anything is retried once as v1.
    P2PNET_TRANSPORT_PREFER_V2 = 1,
    /// Encrypted v2 only: inbound v1 connections are refused, outbound ones never fall
    /// back.
    P2PNET_TRANSPORT_V2_ONLY = 2,
}

/// Sets which transports the engine speaks (default `P2PNET_TRANSPORT_PREFER_V2`).
/// `P2PNET_ERR_INVALID_ARGUMENT` for a value outside the enumeration.
///
/// Ownership: `config` is borrowed for the call and must not be used by another thread
/// meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_set_transport(
    config: *mut p2pnet_config,
    mode: u32,
) -> p2pnet_result {
    update(config, |c| {
        c.transport = match mode {
            0 => TransportMode::V1Only,
            1 => TransportMode::PreferV2,
            2 => TransportMode::V2Only,
            other => return Err(FfiError::invalid(format!("unknown transport mode {other}"))),
        };
        Ok(())
    })
}

/// Defines a command of the node's own protocol (1 to 12 printable ASCII characters, not
/// a Bitcoin command; at most 64). Peers whose node defined it too are told in the
/// handshake, and only they receive it. A received one larger than `max_size` bytes
/// costs the sender 20 points; each one beyond `max_per_second` (bursts of one second's
/// worth) costs 1 point and is dropped. `P2PNET_ERR_INVALID_ARGUMENT` for a bad or
/// taken name, `max_size` 0 or over the message limit, or `max_per_second` 0.
///
/// Ownership: `command` is borrowed and copied; `config` is borrowed for the call and
/// must not be used by another thread meanwhile. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_config_add_message(
    config: *mut p2pnet_config,
    command: *const c_char,
    max_size: u32,
    max_per_second: u32,
) -> p2pnet_result {
    update(config, |c| {
        // SAFETY: `command` is NULL or a NUL-terminated string, per the C contract.
        let command = unsafe { str_arg(command, "command") }?;
        c.add_custom_message(CustomMessage {
            command: command.to_owned(),
            max_size,
            max_per_second,
        })
        .map_err(Into::into)
    })
}
