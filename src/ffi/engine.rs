//! `p2pnet_engine`: lifecycle, peers and queries.

use std::ffi::c_char;

use super::config::p2pnet_config;
use super::error::{boundary, boundary_value, p2pnet_result, FfiError};
use super::types::{mut_arg, p2pnet_peer_info, ref_arg, str_arg};
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
/// Ownership: `config` is borrowed (the caller still frees it). On success `*out_engine`
/// receives a new engine that the caller frees with `p2pnet_engine_free`; on error it is
/// set to NULL. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_new(
    config: *const p2pnet_config,
    out_engine: *mut *mut p2pnet_engine,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_engine` is NULL or points to writable storage for a pointer.
        let out = unsafe { mut_arg(out_engine, "out_engine") }?;
        *out = std::ptr::null_mut();
        // SAFETY: `config` is NULL or a live config from `p2pnet_config_new`.
        let config = unsafe { ref_arg(config, "config") }?;
        let engine = Engine::new(config.inner.clone())?;
        *out = Box::into_raw(Box::new(p2pnet_engine { inner: engine }));
        Ok(())
    })
}

/// Starts the engine: creates its runtime and dispatcher thread and binds the listener.
/// Returns `P2PNET_ERR_IO` if the listen address is in use, `P2PNET_ERR_INVALID_STATE` if
/// already started or stopped (an engine runs once).
///
/// Register callbacks before starting to see every event. Must not be called from a
/// callback of the same engine (it is already running then, so it would fail anyway).
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_start(engine: *mut p2pnet_engine) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.start()?))
}

/// Stops the engine: closes every connection, shuts down the runtime and waits for a
/// callback in flight. After it returns no callback runs and every registered user-data
/// release function has run (or runs as soon as the callback in flight returns, when
/// called from inside a callback). Stopping is final.
///
/// May be called from a callback, including one of this engine's own.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_stop(engine: *mut p2pnet_engine) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.stop()?))
}

/// Stops the engine if it is running and frees it. NULL is ignored.
///
/// Ownership: takes the handle back; it must not be used afterwards by any thread.
/// May be called from one of this engine's callbacks (the engine's memory is reclaimed
/// once that callback returns).
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_free(engine: *mut p2pnet_engine) {
    boundary_value((), || {
        if !engine.is_null() {
            // SAFETY: non-null handles passed here come from `p2pnet_engine_new` and are
            // freed once, with no other use after this call, per the contract.
            drop(unsafe { Box::from_raw(engine) });
        }
    })
}

/// Writes the port the listener is bound to into `*out_port` (useful with port 0).
/// `P2PNET_ERR_INVALID_STATE` when not running, `P2PNET_ERR_NOT_FOUND` when not listening.
/// May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_listen_port(
    engine: *const p2pnet_engine,
    out_port: *mut u16,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_port` is NULL or points to writable storage for a u16.
        let out = unsafe { mut_arg(out_port, "out_port") }?;
        match engine_ref(engine)?.local_addr()? {
            Some(addr) => {
                *out = addr.port();
                Ok(())
            }
            None => Err(Error::NotFound("the engine is not listening".into()).into()),
        }
    })
}

/// Connects once to `host:port` in the background (`host` is an IP address or a name to
/// resolve). The result arrives through the peer-connected callback, or through the
/// peer-disconnected callback with `P2PNET_DISCONNECT_CONNECT_FAILED`. If `out_peer_id`
/// is not NULL it receives the id the connection will have. Nothing redials it when it
/// drops; use `p2pnet_add_node` for a peer to keep.
///
/// Ownership: `host` is borrowed and copied. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_add_peer(
    engine: *mut p2pnet_engine,
    host: *const c_char,
    port: u16,
    out_peer_id: *mut u64,
) -> p2pnet_result {
    // SAFETY: forwarded C contract for `host` and `out_peer_id`.
    unsafe { dial(engine, host, port, out_peer_id, Engine::add_peer) }
}

/// The body of `p2pnet_add_peer` and `p2pnet_add_node`: converts the arguments, dials
/// through `connect` and reports the peer id.
///
/// # Safety
/// `host` is NULL or a NUL-terminated string; `out_peer_id` is NULL or writable.
pub(crate) unsafe fn dial(
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
        if let Some(out) = unsafe { out_peer_id.as_mut() } {
            *out = id;
        }
        Ok(())
    })
}

/// Closes the connection to a peer; the disconnect callback follows with
/// `P2PNET_DISCONNECT_REQUESTED`. `P2PNET_ERR_NOT_FOUND` for an unknown id.
/// May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_disconnect_peer(
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
/// Ownership: `out_peers` and `out_count` are caller-provided. May be called from a
/// callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_get_peers(
    engine: *const p2pnet_engine,
    out_peers: *mut p2pnet_peer_info,
    capacity: usize,
    out_count: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_count` is NULL or points to writable storage for a size_t.
        let out_count = unsafe { mut_arg(out_count, "out_count") }?;
        if out_peers.is_null() && capacity > 0 {
            return Err(FfiError::null("out_peers"));
        }
        let peers = engine_ref(engine)?.peers()?;
        *out_count = peers.len();
        if peers.len() > capacity {
            return Err(FfiError {
                code: p2pnet_result::P2PNET_ERR_BUFFER_TOO_SMALL,
                message: format!("{} peers, buffer holds {capacity}", peers.len()),
            });
        }
        if peers.is_empty() {
            return Ok(());
        }
        if out_peers.is_null() {
            return Err(FfiError::null("out_peers"));
        }
        // SAFETY: `out_peers` is non-null and, per the contract, points to `capacity`
        // writable records; `peers.len() <= capacity` was checked above.
        let out = unsafe { std::slice::from_raw_parts_mut(out_peers, peers.len()) };
        for (slot, peer) in out.iter_mut().zip(&peers) {
            *slot = p2pnet_peer_info::from(peer);
        }
        Ok(())
    })
}

/// Sets the best height announced in version messages of new connections.
/// May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_best_height(
    engine: *mut p2pnet_engine,
    height: i32,
) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.set_best_height(height)?))
}
