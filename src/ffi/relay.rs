//! Relay and sync through the C ABI: broadcast, item callbacks with verdicts, the data
//! provider, headers/getheaders/getblocks plumbing and block fetching.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use bytes::Bytes;

use super::callbacks::{p2pnet_release_fn, register, UserData};
use super::engine::{engine_ref, p2pnet_engine};
use super::error::{boundary, p2pnet_result, FfiError};
use super::types::{mut_arg, str_arg};
use crate::engine::Engine;
use crate::relay::{ItemKind, Verdict};
use crate::wire::{BlockLocator, Hash256, MAX_HEADERS};

/// The two relayed item kinds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_item_kind {
    P2PNET_ITEM_BLOCK = 0,
    P2PNET_ITEM_TX = 1,
}

/// The node's verdict on a received block or transaction, returned by the item
/// callbacks (as a uint32_t) and passed to `p2pnet_report_verdict`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_verdict {
    /// Valid and new: the engine relays it to peers that do not have it.
    P2PNET_VERDICT_ACCEPTED = 0,
    /// Not relayed; the sender is not blamed.
    P2PNET_VERDICT_IGNORED = 1,
    /// Invalid: not relayed, and the sender's misbehaviour score rises by 100.
    P2PNET_VERDICT_INVALID = 2,
    /// The node validates later and reports with `p2pnet_report_verdict`.
    P2PNET_VERDICT_PENDING = 3,
}

/// Block download progress, filled by `p2pnet_get_sync_status`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct p2pnet_sync_status {
    /// The highest start height announced by a connected peer (0 with no peers).
    pub best_peer_height: i32,
    /// Peers that completed the handshake.
    pub peer_count: u32,
    /// Blocks requested from peers and not yet received.
    pub blocks_in_flight: u32,
    /// Blocks passed to `p2pnet_fetch_blocks` waiting for a free peer slot.
    pub blocks_queued: u32,
}

/// Collects a callback's answer. Borrowed by the callback for the duration of the call;
/// fill it with `p2pnet_reply_set_data`, `p2pnet_reply_add_header` or
/// `p2pnet_reply_add_hash`.
#[derive(Default)]
pub struct p2pnet_reply {
    data: Option<Bytes>,
    headers: Vec<Bytes>,
    hashes: Vec<Hash256>,
    max_hashes: usize,
}

/// A block or transaction arrived from `peer_id`. `hash` (32 bytes) and `data` are
/// borrowed for the call. Returns a `p2pnet_verdict` value; anything else counts as
/// ignored.
pub type p2pnet_item_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        hash: *const u8,
        data: *const u8,
        len: usize,
    ) -> u32,
>;

/// A peer asked for an item the engine has not cached. If the node has it, it copies the
/// bytes into `reply` with `p2pnet_reply_set_data`; otherwise the peer gets NOTFOUND.
/// `hash` (32 bytes) and `reply` are borrowed for the call.
pub type p2pnet_data_provider_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: p2pnet_item_kind,
        hash: *const u8,
        reply: *mut p2pnet_reply,
    ),
>;

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

/// Computes an item id into `out_hash` (32 bytes). Must be pure and thread-safe: unlike
/// the other callbacks it runs on the engine's network threads.
pub type p2pnet_hash_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: p2pnet_item_kind,
        data: *const u8,
        len: usize,
        out_hash: *mut u8,
    ),
>;

fn kind_to_c(kind: ItemKind) -> p2pnet_item_kind {
    match kind {
        ItemKind::Block => p2pnet_item_kind::P2PNET_ITEM_BLOCK,
        ItemKind::Tx => p2pnet_item_kind::P2PNET_ITEM_TX,
    }
}

fn verdict_arg(value: u32) -> Option<Verdict> {
    match value {
        0 => Some(Verdict::Accepted),
        1 => Some(Verdict::Ignored),
        2 => Some(Verdict::Invalid),
        3 => Some(Verdict::Pending),
        _ => None,
    }
}

/// Borrows `len` bytes, allowing NULL only when `len` is 0.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes for the returned lifetime.
unsafe fn bytes_arg<'a>(ptr: *const u8, len: usize, name: &str) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-null and valid for `len` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Reads `count` 32-byte hashes laid out back to back.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `count * 32` bytes.
unsafe fn hashes_arg(ptr: *const u8, count: usize, name: &str) -> Result<Vec<Hash256>, FfiError> {
    let len = count
        .checked_mul(32)
        .ok_or_else(|| FfiError::invalid(format!("{name} count overflows")))?;
    // SAFETY: forwarded contract.
    let flat = unsafe { bytes_arg(ptr, len, name) }?;
    Ok(flat
        .chunks_exact(32)
        .map(|c| {
            let mut h = [0u8; 32];
            h.copy_from_slice(c);
            h
        })
        .collect())
}

/// Reads a 32-byte hash.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of 32 bytes.
unsafe fn hash_arg(ptr: *const u8, name: &str) -> Result<Hash256, FfiError> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr, 32, name) }?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(bytes);
    Ok(hash)
}

fn item_callback(
    f: p2pnet_item_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> Option<crate::ItemCallback> {
    f.map(|f| {
        let data = UserData::new(user_data, release);
        Arc::new(move |peer, hash: &Hash256, item: &[u8]| {
            // SAFETY: `f` is the node's callback; all pointers outlive the call.
            let verdict = unsafe { f(data.ptr(), peer, hash.as_ptr(), item.as_ptr(), item.len()) };
            verdict_arg(verdict).unwrap_or(Verdict::Ignored)
        }) as crate::ItemCallback
    })
}

/// Registers the block callback: every block received from a peer reaches it once per
/// engine, with the sending peer's id; its verdict decides relay and blame. Without a
/// block callback received blocks are not relayed. Ownership rules as
/// `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_block(
    engine: *mut p2pnet_engine,
    cb: p2pnet_item_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        register(
            engine,
            || item_callback(cb, user_data, release),
            |cb| engine.set_on_block(cb),
        )
    })
}

/// Registers the transaction callback; as `p2pnet_set_on_block`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_transaction(
    engine: *mut p2pnet_engine,
    cb: p2pnet_item_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        register(
            engine,
            || item_callback(cb, user_data, release),
            |cb| engine.set_on_transaction(cb),
        )
    })
}

/// Registers the data provider asked for items a peer requests that are not in the
/// engine's relay cache. Without one, such requests get NOTFOUND. Ownership rules as
/// `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_data_provider(
    engine: *mut p2pnet_engine,
    cb: p2pnet_data_provider_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |kind: ItemKind, hash: &Hash256| {
                    let mut reply = p2pnet_reply::default();
                    // SAFETY: `f` is the node's callback; `hash` and `reply` outlive the call.
                    unsafe { f(data.ptr(), kind_to_c(kind), hash.as_ptr(), &mut reply) };
                    reply.data
                }) as crate::DataProvider
            })
        };
        register(engine, callback, |cb| engine.set_data_provider(cb))
    })
}

/// Calls the node's locator callback and returns its filled reply.
fn ask_locator(
    f: unsafe extern "C" fn(*mut c_void, u64, *const u8, usize, *const u8, *mut p2pnet_reply),
    data: &UserData,
    peer: u64,
    locator: &BlockLocator,
    max_hashes: usize,
) -> p2pnet_reply {
    let flat: Vec<u8> = locator.hashes.iter().flatten().copied().collect();
    let mut reply = p2pnet_reply {
        max_hashes,
        ..Default::default()
    };
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
/// it adds none). Ownership rules as `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_get_headers(
    engine: *mut p2pnet_engine,
    cb: p2pnet_locator_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |peer, locator: &BlockLocator| {
                    ask_locator(f, &data, peer, locator, 0).headers
                }) as crate::GetHeadersCallback
            })
        };
        register(engine, callback, |cb| engine.set_on_get_headers(cb))
    })
}

/// Registers the getblocks responder: it adds up to 500 block ids following the locator
/// with `p2pnet_reply_add_hash`; the engine announces them with an inv. Ownership rules
/// as `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_get_blocks(
    engine: *mut p2pnet_engine,
    cb: p2pnet_locator_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |peer, locator: &BlockLocator| {
                    ask_locator(f, &data, peer, locator, crate::node::MAX_GETBLOCKS_RESULTS).hashes
                }) as crate::GetBlocksCallback
            })
        };
        register(engine, callback, |cb| engine.set_on_get_blocks(cb))
    })
}

/// Registers the headers callback, which receives the headers peers send (in answer to
/// `p2pnet_send_getheaders` or as announcements). Ownership rules as
/// `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_headers(
    engine: *mut p2pnet_engine,
    cb: p2pnet_headers_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |peer, headers: &[Bytes]| {
                    let flat: Vec<u8> = headers.iter().flat_map(|h| h.iter().copied()).collect();
                    // SAFETY: `f` is the node's callback; `flat` outlives the call.
                    unsafe { f(data.ptr(), peer, flat.as_ptr(), headers.len()) };
                }) as crate::HeadersCallback
            })
        };
        register(engine, callback, |cb| engine.set_on_headers(cb))
    })
}

/// Installs the function that computes block and transaction ids; NULL restores
/// Bitcoin's (SHA-256d of the tx; SHA-256d of the block's first 80 bytes). It runs on
/// network threads, so it must be pure and thread-safe. Ownership rules as
/// `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_hash_function(
    engine: *mut p2pnet_engine,
    cb: p2pnet_hash_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let hasher = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |kind: ItemKind, item: &[u8]| {
                    let mut out = [0u8; 32];
                    // SAFETY: `f` is the node's pure hash function; `item` and `out` outlive
                    // the call and `out` has room for 32 bytes.
                    unsafe {
                        f(
                            data.ptr(),
                            kind_to_c(kind),
                            item.as_ptr(),
                            item.len(),
                            out.as_mut_ptr(),
                        )
                    };
                    out
                }) as crate::ItemHasher
            })
        };
        register(engine, hasher, |h| engine.set_item_hasher(h))
    })
}

fn broadcast(
    engine: *mut p2pnet_engine,
    kind: ItemKind,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| {
        let engine: &Engine = engine_ref(engine)?;
        // SAFETY: `data` is NULL or valid for `len` bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        let hash = engine.broadcast(kind, bytes)?;
        if !out_hash.is_null() {
            // SAFETY: non-null `out_hash` has room for 32 bytes, per the C contract.
            unsafe { std::ptr::copy_nonoverlapping(hash.as_ptr(), out_hash, 32) };
        }
        Ok(())
    })
}

/// Relays a block the node produced or accepted: it is cached and announced at once to
/// every peer that does not have it. If `out_hash` is not NULL it receives the block id
/// (32 bytes).
///
/// Ownership: `data` (`len` bytes) is borrowed and copied.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_broadcast_block(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    broadcast(engine, ItemKind::Block, data, len, out_hash)
}

/// Relays a transaction: cached and announced to each peer at its next trickle tick.
/// As `p2pnet_broadcast_block` otherwise.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_broadcast_transaction(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    broadcast(engine, ItemKind::Tx, data, len, out_hash)
}

/// Reports the verdict (a `p2pnet_verdict` other than PENDING) for an item whose
/// callback returned `P2PNET_VERDICT_PENDING`. It may also be called from another thread
/// while that callback is still running; the reported verdict then wins over the one the
/// callback returns. `P2PNET_ERR_NOT_FOUND` when no item with that id awaits a verdict.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_report_verdict(
    engine: *mut p2pnet_engine,
    hash: *const u8,
    verdict: u32,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `hash` is NULL or 32 readable bytes, per the C contract.
        let hash = unsafe { hash_arg(hash, "hash") }?;
        let verdict = verdict_arg(verdict)
            .ok_or_else(|| FfiError::invalid(format!("{verdict} is not a p2pnet_verdict")))?;
        Ok(engine.report_verdict(&hash, verdict)?)
    })
}

/// Adds misbehaviour points to a peer (for example for a bad block found later); at 100
/// the peer is disconnected. `reason` (UTF-8, may be NULL) is logged.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_misbehaving(
    engine: *mut p2pnet_engine,
    peer_id: u64,
    points: u32,
    reason: *const c_char,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let reason = if reason.is_null() {
            ""
        } else {
            // SAFETY: non-null `reason` is a NUL-terminated string, per the C contract.
            unsafe { str_arg(reason, "reason") }?
        };
        Ok(engine.misbehaving(peer_id, points, reason)?)
    })
}

/// Sends getheaders to a peer: `locator` holds `count` (at most 101) 32-byte hashes,
/// newest first; `stop` is 32 bytes or NULL for none. The answer arrives through the
/// headers callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_send_getheaders(
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
#[no_mangle]
pub unsafe extern "C" fn p2pnet_fetch_blocks(
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
        if let Some(out) = unsafe { out_queued.as_mut() } {
            *out = queued;
        }
        Ok(())
    })
}

/// Fills `*out_status` with block download progress.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_get_sync_status(
    engine: *const p2pnet_engine,
    out_status: *mut p2pnet_sync_status,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_status` is NULL or writable, per the C contract.
        let out = unsafe { mut_arg(out_status, "out_status") }?;
        let status = engine_ref(engine)?.sync_status()?;
        let clamp = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        *out = p2pnet_sync_status {
            best_peer_height: status.best_peer_height,
            peer_count: clamp(status.peer_count),
            blocks_in_flight: clamp(status.blocks_in_flight),
            blocks_queued: clamp(status.blocks_queued),
        };
        Ok(())
    })
}

fn with_reply(
    reply: *mut p2pnet_reply,
    f: impl FnOnce(&mut p2pnet_reply) -> Result<(), FfiError>,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `reply` is NULL or the reply the engine passed to the running callback.
        let reply = unsafe { mut_arg(reply, "reply") }?;
        f(reply)
    })
}

/// Answers a data-provider call with the item's bytes (copied). Only valid inside the
/// data-provider callback, on the reply it was given.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_reply_set_data(
    reply: *mut p2pnet_reply,
    data: *const u8,
    len: usize,
) -> p2pnet_result {
    with_reply(reply, |r| {
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        if bytes.is_empty() {
            return Err(FfiError::invalid("empty item".into()));
        }
        r.data = Some(Bytes::copy_from_slice(bytes));
        Ok(())
    })
}

/// Adds one 80-byte header to a getheaders answer (copied). Only valid inside the
/// getheaders callback; at most 2,000 per answer.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_reply_add_header(
    reply: *mut p2pnet_reply,
    header: *const u8,
) -> p2pnet_result {
    with_reply(reply, |r| {
        // SAFETY: `header` is NULL or 80 readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(header, 80, "header") }?;
        if r.headers.len() >= MAX_HEADERS {
            return Err(FfiError::invalid(format!(
                "at most {MAX_HEADERS} headers per answer"
            )));
        }
        r.headers.push(Bytes::copy_from_slice(bytes));
        Ok(())
    })
}

/// Adds one 32-byte block id to a getblocks answer (copied). Only valid inside the
/// getblocks callback; at most 500 per answer.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_reply_add_hash(
    reply: *mut p2pnet_reply,
    hash: *const u8,
) -> p2pnet_result {
    with_reply(reply, |r| {
        // SAFETY: `hash` is NULL or 32 readable bytes, per the C contract.
        let hash = unsafe { hash_arg(hash, "hash") }?;
        if r.hashes.len() >= r.max_hashes {
            return Err(FfiError::invalid(format!(
                "at most {} ids per answer",
                r.max_hashes
            )));
        }
        r.hashes.push(hash);
        Ok(())
    })
}

/// Writes SHA-256d of `data` (`len` bytes) into `out_hash` (32 bytes): the hash behind
/// Bitcoin's ids and message checksums, for nodes and tools that need the same digest.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_sha256d(
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        if out_hash.is_null() {
            return Err(FfiError::null("out_hash"));
        }
        let digest = crate::wire::sha256d(bytes);
        // SAFETY: non-null `out_hash` has room for 32 bytes, per the C contract.
        unsafe { std::ptr::copy_nonoverlapping(digest.as_ptr(), out_hash, 32) };
        Ok(())
    })
}

/// Writes the id this engine gives an item (`kind` is a `p2pnet_item_kind` value) into
/// `out_hash` (32 bytes), using the installed hash function or Bitcoin's default.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_item_id(
    engine: *const p2pnet_engine,
    kind: u32,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let kind = match kind {
            0 => ItemKind::Block,
            1 => ItemKind::Tx,
            other => {
                return Err(FfiError::invalid(format!(
                    "{other} is not a p2pnet_item_kind"
                )))
            }
        };
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        if out_hash.is_null() {
            return Err(FfiError::null("out_hash"));
        }
        let id = engine.item_id(kind, bytes);
        // SAFETY: non-null `out_hash` has room for 32 bytes, per the C contract.
        unsafe { std::ptr::copy_nonoverlapping(id.as_ptr(), out_hash, 32) };
        Ok(())
    })
}
