//! Sync: asking peers for headers, fetching blocks, download progress, and answering
//! peers' getheaders/getblocks through `p2pnet_reply`.

use std::ffi::c_void;
use std::sync::Arc;

use bytes::Bytes;

use super::args::{hash_arg, hashes_arg};
use super::callbacks::{p2pnet_release_fn, set_on, UserData};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::{opt_out_arg, out_arg};
use super::reply::p2pnet_reply;
use super::result::{boundary, p2pnet_result};
use crate::engine::Engine;
use crate::wire::BlockLocator;

/// Block download progress, filled by `p2pnet_engine_get_sync_status` into the caller's
/// struct.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct p2pnet_sync_status {
    /// The node's own height as it last reported it (`p2pnet_engine_set_best_block`), or
    /// the configured start height.
    pub current_height: i32,
    /// The highest block height a connected peer is known to have (0 with no peers): the
    /// start heights of their version messages, raised by the headers, announcements and
    /// blocks they sent since, where the engine can tell the height (see
    /// `p2pnet_engine_set_best_block`). The target of a sync.
    pub best_peer_height: i32,
    /// Peers that completed the handshake.
    pub peer_count: u32,
    /// Blocks requested from peers and not yet received.
    pub blocks_in_flight: u32,
    /// Blocks passed to `p2pnet_engine_fetch_blocks` waiting for a free peer slot.
    pub blocks_queued: u32,
}

/// A peer sent getheaders (or getblocks). `locator` holds `count` 32-byte hashes, `stop`
/// 32 bytes (all zero: no stop). The node adds headers (getheaders, at most 2,000) with
/// `p2pnet_reply_add_header` or block ids (getblocks, at most 500) with
/// `p2pnet_reply_add_hash`. All pointers are borrowed for the call.
pub type p2pnet_locator_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        locator: *const u8,
        count: usize,
        stop: *const u8,
        reply: *mut p2pnet_reply,
    ),
>;

/// A peer sent headers: `count` 80-byte headers back to back in `headers`, borrowed for
/// the call.
pub type p2pnet_headers_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, peer_id: u64, headers: *const u8, count: usize),
>;

/// Calls the node's locator callback and returns its filled reply.
fn ask_locator(
    f: unsafe extern "C" fn(*mut c_void, u64, *const u8, usize, *const u8, *mut p2pnet_reply),
    data: &UserData,
    peer: u64,
    locator: &BlockLocator,
    max_hashes: usize,
) -> p2pnet_reply {
    let flat: Vec<u8> = locator.hashes.iter().flatten().copied().collect();
    let mut reply = p2pnet_reply::with_max_hashes(max_hashes);
    // SAFETY: `f` is the node's callback; every pointer outlives the call.
    unsafe {
        f(
            data.ptr(),
            peer,
            flat.as_ptr(),
            locator.hashes.len(),
            locator.stop.as_ptr(),
            &mut reply,
        )
    };
    reply
}

/// Registers the getheaders responder: it adds up to 2,000 headers following the locator
/// with `p2pnet_reply_add_header`; the engine sends them (an empty headers message when
/// it adds none).
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_get_headers(
    engine: *mut p2pnet_engine,
    cb: p2pnet_locator_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |peer, locator: &BlockLocator| {
                ask_locator(f, &data, peer, locator, 0).headers
            }) as crate::GetHeadersCallback
        },
        Engine::set_on_get_headers,
    )
}

/// Registers the getblocks responder: it adds up to 500 block ids following the locator
/// with `p2pnet_reply_add_hash`; the engine announces them with an inv.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_get_blocks(
    engine: *mut p2pnet_engine,
    cb: p2pnet_locator_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |peer, locator: &BlockLocator| {
                ask_locator(f, &data, peer, locator, crate::node::MAX_GETBLOCKS_RESULTS).hashes
            }) as crate::GetBlocksCallback
        },
        Engine::set_on_get_blocks,
    )
}

/// Registers the headers callback, which receives the headers peers send (in answer to
/// `p2pnet_engine_send_get_headers` or as announcements).
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_headers(
    engine: *mut p2pnet_engine,
    cb: p2pnet_headers_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |peer, headers: &[Bytes]| {
                let flat: Vec<u8> = headers.iter().flat_map(|h| h.iter().copied()).collect();
                // SAFETY: `f` is the node's callback; `flat` outlives the call.
                unsafe { f(data.ptr(), peer, flat.as_ptr(), headers.len()) };
            }) as crate::HeadersCallback
        },
        Engine::set_on_headers,
    )
}

/// Sends getheaders to a peer: `locator` holds `count` (at most 101) 32-byte hashes,
/// newest first; `stop` is 32 bytes or NULL for none. The answer arrives through the
/// headers callback.
///
/// Ownership: `locator` (`count` * 32 bytes) and `stop` (32 bytes) are borrowed and
/// copied. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_send_get_headers(
    engine: *mut p2pnet_engine,
    peer_id: u64,
    locator: *const u8,
    count: usize,
    stop: *const u8,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `locator` is NULL or `count * 32` readable bytes, per the C contract.
        let hashes = unsafe { hashes_arg(locator, count, "locator") }?;
        let stop = if stop.is_null() {
            [0u8; 32]
        } else {
            // SAFETY: non-null `stop` is 32 readable bytes, per the C contract.
            unsafe { hash_arg(stop, "stop") }?
        };
        Ok(engine.send_get_headers(peer_id, hashes, stop)?)
    })
}

/// Downloads blocks by id (`count` 32-byte hashes back to back) from connected peers, at
/// most 16 in flight per peer; a stalled request moves to another peer. Each block
/// arrives through the block callback. If `out_queued` is not NULL it receives the number
/// newly queued (ids already received or queued are skipped).
///
/// Ownership: `hashes` (`count` * 32 bytes) is borrowed and copied; `out_queued` is
/// caller-provided. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_fetch_blocks(
    engine: *mut p2pnet_engine,
    hashes: *const u8,
    count: usize,
    out_queued: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `hashes` is NULL or `count * 32` readable bytes, per the C contract.
        let hashes = unsafe { hashes_arg(hashes, count, "hashes") }?;
        let queued = engine.fetch_blocks(&hashes)?;
        // SAFETY: `out_queued` is NULL or writable, per the C contract.
        if let Some(out) = unsafe { opt_out_arg(out_queued) } {
            *out = queued;
        }
        Ok(())
    })
}

/// Fills `*out_status` with block download progress.
///
/// Ownership: `out_status` is caller-provided and written only on success. May be called
/// from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_sync_status(
    engine: *const p2pnet_engine,
    out_status: *mut p2pnet_sync_status,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_status` is NULL or writable, per the C contract.
        let out = unsafe { out_arg(out_status, "out_status") }?;
        let status = engine_ref(engine)?.sync_status()?;
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        *out = p2pnet_sync_status {
            current_height: status.current_height,
            best_peer_height: status.best_peer_height,
            peer_count: clamp(status.peer_count),
            blocks_in_flight: clamp(status.blocks_in_flight),
            blocks_queued: clamp(status.blocks_queued),
        };
        Ok(())
    })
}
