//! Discovery: DNS seeds, added nodes (kept connected) and the address book.

use std::ffi::c_char;

use super::args::str_arg;
use super::engine::{engine_ref, p2pnet_engine};
use super::out::out_arg;
use super::peers::dial;
use super::result::{boundary, p2pnet_result};
use crate::engine::Engine;

/// Adds a DNS seed `host` whose A and AAAA records name peers listening on `port`. Seeds
/// are queried at start when the address book holds too few addresses, again when it
/// cannot fill the outbound slots, and on demand with `p2pnet_engine_query_dns_seeds`. A
/// seed that fails is logged and retried later; lookups never block start or stop.
///
/// Ownership: `host` is borrowed and copied. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_add_dns_seed(
    engine: *mut p2pnet_engine,
    host: *const c_char,
    port: u16,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `host` is NULL or a NUL-terminated string, per the C contract.
        let host = unsafe { str_arg(host, "host") }?;
        Ok(engine.add_dns_seed(host, port)?)
    })
}

/// Queries every DNS seed now, in the background; the addresses found go to the address
/// book and feed the outbound connections. `P2PNET_ERR_INVALID_STATE` when no seed is
/// configured or the engine is not running.
///
/// Ownership: `engine` is borrowed for the call. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_query_dns_seeds(
    engine: *mut p2pnet_engine,
) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.query_dns_seeds()?))
}

/// Keeps a connection to `host:port` (an IP address or a name), like Bitcoin Core's
/// -addnode: dialled at once and redialled with back-off (1 s doubling to 60 s) whenever
/// it drops, until `p2pnet_engine_remove_node`. Each attempt reports through the peer
/// connected/disconnected callbacks. If `out_peer_id` is not NULL it receives the id of
/// the first attempt. Adding the same host and port twice is
/// `P2PNET_ERR_INVALID_ARGUMENT`.
///
/// Ownership: `host` is borrowed and copied; `out_peer_id` is caller-provided. May be
/// called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_add_node(
    engine: *mut p2pnet_engine,
    host: *const c_char,
    port: u16,
    out_peer_id: *mut u64,
) -> p2pnet_result {
    // SAFETY: forwarded C contract for `host` and `out_peer_id`.
    unsafe { dial(engine, host, port, out_peer_id, Engine::add_node) }
}

/// Stops keeping `host:port` connected (see `p2pnet_engine_add_node`); an open connection
/// stays until it drops. `P2PNET_ERR_NOT_FOUND` when it was not added.
///
/// Ownership: `host` is borrowed and copied. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_remove_node(
    engine: *mut p2pnet_engine,
    host: *const c_char,
    port: u16,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `host` is NULL or a NUL-terminated string, per the C contract.
        let host = unsafe { str_arg(host, "host") }?;
        Ok(engine.remove_node(host, port)?)
    })
}

/// Writes the number of addresses in the address book into `*out_count`.
///
/// Ownership: `out_count` is caller-provided and written only on success. May be called
/// from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_address_count(
    engine: *const p2pnet_engine,
    out_count: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_count` is NULL or writable, per the C contract.
        let out = unsafe { out_arg(out_count, "out_count") }?;
        *out = engine_ref(engine)?.address_count()?;
        Ok(())
    })
}
