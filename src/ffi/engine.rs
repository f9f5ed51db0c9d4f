//! `p2pnet_engine`: the handle, its lifecycle (new, start, stop, free) and engine-wide
//! settings.

use std::ffi::c_char;

use super::args::{hash_arg, ref_arg};
use super::config::p2pnet_config;
use super::out::{copy_c_text, free_object, new_object, out_arg};
use super::result::{boundary, boundary_value, p2pnet_result, FfiError};
use crate::engine::Engine;
use crate::error::Error;

/// A P2P engine. Opaque; create with `p2pnet_engine_new`, free with `p2pnet_engine_free`.
/// Every function taking an engine may be called from any thread concurrently.
pub struct p2pnet_engine {
    pub(crate) inner: Engine,
}

/// Borrows the engine behind a handle.
pub(crate) fn engine_ref<'a>(engine: *const p2pnet_engine) -> Result<&'a Engine, FfiError> {
    // SAFETY: `engine` is NULL or a live handle from `p2pnet_engine_new`; the engine is
    // internally synchronised, so shared references from many threads are fine.
    unsafe { ref_arg(engine, "engine") }.map(|e| &e.inner)
}

/// Creates an engine from a copy of `config`. Nothing runs until `p2pnet_engine_start`.
///
/// Ownership: `config` is borrowed for the call (the caller still frees it). On success
/// `*out_engine` receives a new engine that the caller frees with `p2pnet_engine_free`;
/// on error it is set to NULL. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_new(
    config: *const p2pnet_config,
    out_engine: *mut *mut p2pnet_engine,
) -> p2pnet_result {
    boundary(|| {
        let make = || {
            // SAFETY: `config` is NULL or a live config from `p2pnet_config_new`.
            let config = unsafe { ref_arg(config, "config") }?;
            Ok(p2pnet_engine {
                inner: Engine::new(config.inner.clone())?,
            })
        };
        // SAFETY: `out_engine` is NULL or points to writable storage for a pointer.
        unsafe { new_object(out_engine, "out_engine", make) }
    })
}

/// Starts the engine: creates its runtime and dispatcher thread and binds the listener.
/// Returns `P2PNET_ERR_IO` if the listen address is in use, `P2PNET_ERR_INVALID_STATE` if
/// already started or stopped (an engine runs once).
///
/// Register callbacks before starting to see every event. Must not be called from a
/// callback of the same engine (it is already running then, so it would fail anyway).
///
/// Ownership: `engine` is borrowed for the call. Must not be called from a callback of
/// the same engine (it is already running then, so it would fail anyway).
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_start(engine: *mut p2pnet_engine) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.start()?))
}

/// Stops the engine: closes every connection, shuts down the runtime and waits for a
/// callback in flight. After it returns no callback runs and every registered user-data
/// release function has run (or runs as soon as the callback in flight returns, when
/// called from inside a callback). Stopping is final; stopping a stopped engine again
/// does nothing and returns `P2PNET_OK`.
///
/// May be called from a callback, including one of this engine's own.
///
/// Ownership: `engine` is borrowed for the call; the caller still frees it. May be called
/// from a callback, including one of this engine's own.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_stop(engine: *mut p2pnet_engine) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.stop()?))
}

/// Stops the engine if it is running and frees it. NULL is ignored.
///
/// Ownership: takes the handle back; it must not be used afterwards by any thread. May be
/// called from one of this engine's callbacks (the engine's memory is reclaimed once that
/// callback returns).
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_free(engine: *mut p2pnet_engine) {
    boundary_value((), || {
        // SAFETY: non-null handles passed here come from `p2pnet_engine_new` and are
        // freed once, with no other use after this call, per the contract.
        unsafe { free_object(engine) }
    })
}

/// An IP address as text ("127.0.0.1", "::1") and a port.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct p2pnet_socket_address {
    /// The IP address as text, NUL-terminated.
    pub ip: [c_char; 64],
    /// The TCP port.
    pub port: u16,
}

/// Writes the address the listener is bound to, with its real port (useful with port 0),
/// into `*out_address`. `P2PNET_ERR_INVALID_STATE` when not running,
/// `P2PNET_ERR_NOT_FOUND` when not listening.
///
/// Ownership: `engine` is borrowed; `out_address` is caller-provided and written only on
/// success. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_listen_address(
    engine: *const p2pnet_engine,
    out_address: *mut p2pnet_socket_address,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_address` is NULL or writable, per the C contract.
        let out = unsafe { out_arg(out_address, "out_address") }?;
        match engine_ref(engine)?.local_addr()? {
            Some(addr) => {
                let mut address = p2pnet_socket_address {
                    ip: [0; 64],
                    port: addr.port(),
                };
                copy_c_text(&mut address.ip, &addr.ip().to_string());
                *out = address;
                Ok(())
            }
            None => Err(Error::NotFound("the engine is not listening".into()).into()),
        }
    })
}

/// Writes the port the listener is bound to into `*out_port` (useful with port 0).
/// `P2PNET_ERR_INVALID_STATE` when not running, `P2PNET_ERR_NOT_FOUND` when not listening.
///
/// Ownership: `engine` is borrowed; `out_port` is caller-provided and written only on
/// success. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_listen_port(
    engine: *const p2pnet_engine,
    out_port: *mut u16,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_port` is NULL or points to writable storage for a u16.
        let out = unsafe { out_arg(out_port, "out_port") }?;
        match engine_ref(engine)?.local_addr()? {
            Some(addr) => {
                *out = addr.port();
                Ok(())
            }
            None => Err(Error::NotFound("the engine is not listening".into()).into()),
        }
    })
}

/// Sets the node's fee floor in satoshis per 1,000 virtual bytes. It is sent to every
/// peer at protocol 70013 or later as `feefilter` (BIP133), now and after each later
/// handshake, so peers need not announce cheaper transactions. 0 says "send me all".
///
/// Ownership: `engine` is borrowed for the call. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_fee_filter(
    engine: *mut p2pnet_engine,
    fee_rate: u64,
) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.set_fee_filter(fee_rate)?))
}

/// Sets the best height announced in version messages of new connections. Prefer
/// `p2pnet_engine_set_best_block`, which also lets the engine tell peers' heights.
///
/// Ownership: `engine` is borrowed for the call. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_best_height(
    engine: *mut p2pnet_engine,
    height: i32,
) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.set_best_height(height)?))
}

/// Reports the node's tip: `height` is announced in version messages of new
/// connections, and headers, announcements and blocks from peers that build on `hash`
/// (32 bytes, the block id) or on blocks above it tell the engine how far each peer is
/// (`best_known_height` in `p2pnet_peer_info`, `best_peer_height` in
/// `p2pnet_sync_status`). Call it whenever the tip changes.
///
/// Ownership: `hash` is borrowed for the call. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_best_block(
    engine: *mut p2pnet_engine,
    height: i32,
    hash: *const u8,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `hash` is NULL or 32 readable bytes, per the C contract.
        let hash = unsafe { hash_arg(hash, "hash") }?;
        Ok(engine.set_best_block(height, &hash)?)
    })
}
