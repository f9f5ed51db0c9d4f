//! Relay: broadcasting blocks and transactions, the item callbacks with their verdicts,
//! serving items the engine has not cached (getdata), and item ids (the hash function).

use std::ffi::c_void;
use std::sync::Arc;

use super::args::{bytes_arg, hash_arg};
use super::callbacks::{p2pnet_release_fn, set_on, UserData};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::{hash_out, opt_out_arg, out_arg};
use super::reply::p2pnet_reply;
use super::result::{boundary, p2pnet_result, FfiError};
use crate::engine::Engine;
use crate::relay::{ItemForm, ItemKind, Verdict};
use crate::wire::Hash256;

/// The two relayed item kinds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_item_kind {
    P2PNET_ITEM_BLOCK = 0,
    P2PNET_ITEM_TX = 1,
}

/// How a peer asked for an item (BIP144, BIP339), as the data provider is told.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_item_form {
    /// By id (txid or block hash), without witnesses (MSG_TX, MSG_BLOCK). The node may
    /// still answer with the witness form: the engine strips it.
    P2PNET_FORM_LEGACY = 0,
    /// By id, with witnesses (MSG_WITNESS_TX, MSG_WITNESS_BLOCK).
    P2PNET_FORM_WITNESS = 1,
    /// A transaction by its wtxid, with witnesses (MSG_WTX): `hash` is a wtxid.
    P2PNET_FORM_WITNESS_BY_WTXID = 2,
}

/// The node's verdict on a received block or transaction, returned by the item
/// callbacks (as a uint32_t) and passed to `p2pnet_engine_report_verdict`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_verdict {
    /// Valid and new: the engine relays it to peers that do not have it.
    P2PNET_VERDICT_ACCEPTED = 0,
    /// Not relayed; the sender is not blamed.
    P2PNET_VERDICT_IGNORED = 1,
    /// Invalid: not relayed, and the sender's misbehaviour score rises by 100.
    P2PNET_VERDICT_INVALID = 2,
    /// The node validates later and reports with `p2pnet_engine_report_verdict`.
    P2PNET_VERDICT_PENDING = 3,
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
/// `form` says how the peer asked: by id or, for a transaction, by wtxid (then `hash` is
/// the wtxid), and whether it wants witnesses. The witness serialization is a correct
/// answer to every form; the engine strips it for legacy requests. `hash` (32 bytes) and
/// `reply` are borrowed for the call.
pub type p2pnet_get_data_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: p2pnet_item_kind,
        form: p2pnet_item_form,
        hash: *const u8,
        reply: *mut p2pnet_reply,
    ),
>;

/// Computes an item id into `out_hash` (32 bytes). Must be pure and thread-safe and must
/// not call engine functions: unlike the other callbacks it runs on the engine's network
/// threads. `data` and `out_hash` are borrowed for the call.
pub type p2pnet_hash_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        kind: p2pnet_item_kind,
        data: *const u8,
        len: usize,
        out_hash: *mut u8,
    ),
>;

/// Says whether the node already has an item (so the engine does not fetch it when a
/// peer announces it by `inv` or by a short `headers` message). For a transaction `hash`
/// is its txid, or its wtxid when a BIP339 peer announced it. Must be thread-safe, quick
/// and must not call engine functions: it runs on the engine's network threads, once per
/// announced id. `hash` (32 bytes) is borrowed for the call.
pub type p2pnet_have_fn = Option<
    unsafe extern "C" fn(user_data: *mut c_void, kind: p2pnet_item_kind, hash: *const u8) -> bool,
>;

fn kind_to_c(kind: ItemKind) -> p2pnet_item_kind {
    match kind {
        ItemKind::Block => p2pnet_item_kind::P2PNET_ITEM_BLOCK,
        ItemKind::Tx => p2pnet_item_kind::P2PNET_ITEM_TX,
    }
}

fn form_to_c(form: ItemForm) -> p2pnet_item_form {
    match form {
        ItemForm::Legacy => p2pnet_item_form::P2PNET_FORM_LEGACY,
        ItemForm::Witness => p2pnet_item_form::P2PNET_FORM_WITNESS,
        ItemForm::WitnessByWtxid => p2pnet_item_form::P2PNET_FORM_WITNESS_BY_WTXID,
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

fn item_kind_arg(value: u32) -> Result<ItemKind, FfiError> {
    match value {
        0 => Ok(ItemKind::Block),
        1 => Ok(ItemKind::Tx),
        other => Err(FfiError::invalid(format!(
            "{other} is not a p2pnet_item_kind"
        ))),
    }
}

/// Wraps a block or transaction callback: the C verdict becomes the engine's, with
/// anything out of range counting as ignored.
fn wrap_item_callback(
    f: unsafe extern "C" fn(*mut c_void, u64, *const u8, *const u8, usize) -> u32,
    data: UserData,
) -> crate::ItemCallback {
    Arc::new(move |peer, hash: &Hash256, item: &[u8]| {
        // SAFETY: `f` is the node's callback; all pointers outlive the call.
        let verdict = unsafe { f(data.ptr(), peer, hash.as_ptr(), item.as_ptr(), item.len()) };
        verdict_arg(verdict).unwrap_or(Verdict::Ignored)
    })
}

/// Registers the block callback: every block received from a peer reaches it once per
/// engine, with the sending peer's id; its verdict decides relay and blame. Without a
/// block callback received blocks are not relayed.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_block(
    engine: *mut p2pnet_engine,
    cb: p2pnet_item_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        wrap_item_callback,
        Engine::set_on_block,
    )
}

/// Registers the transaction callback: as `p2pnet_engine_set_on_block`, for
/// transactions.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_transaction(
    engine: *mut p2pnet_engine,
    cb: p2pnet_item_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        wrap_item_callback,
        Engine::set_on_transaction,
    )
}

/// Registers the data provider asked for items a peer requests that are not in the
/// engine's relay cache (a peer's getdata). Without one, such requests get NOTFOUND.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_get_data(
    engine: *mut p2pnet_engine,
    cb: p2pnet_get_data_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |kind: ItemKind, hash: &Hash256, form: ItemForm| {
                let mut reply = p2pnet_reply::default();
                let form = form_to_c(form);
                // SAFETY: `f` is the node's callback; `hash` and `reply` outlive the call.
                unsafe { f(data.ptr(), kind_to_c(kind), form, hash.as_ptr(), &mut reply) };
                reply.data
            }) as crate::DataProvider
        },
        Engine::set_data_provider,
    )
}

/// Installs the function that tells the engine which announced items the node already
/// has; the engine does not fetch those. NULL removes it (then every announced item the
/// engine has not seen is fetched). It runs on network threads, so it must be
/// thread-safe and quick and must not call engine functions.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback, but not from the function
/// itself.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_have_function(
    engine: *mut p2pnet_engine,
    cb: p2pnet_have_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |kind: ItemKind, hash: &Hash256| {
                // SAFETY: `f` is the node's thread-safe query; `hash` outlives the call.
                unsafe { f(data.ptr(), kind_to_c(kind), hash.as_ptr()) }
            }) as crate::HaveFunction
        },
        Engine::set_have_function,
    )
}

/// Installs the function that computes block and transaction ids; NULL restores
/// Bitcoin's (see `p2pnet_bitcoin_item_id`). It runs on
/// network threads, so it must be pure and thread-safe and must not call engine
/// functions.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback, but not from the hash function
/// itself.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_hash_function(
    engine: *mut p2pnet_engine,
    cb: p2pnet_hash_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
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
        },
        Engine::set_item_hasher,
    )
}

fn broadcast(
    engine: *mut p2pnet_engine,
    kind: ItemKind,
    data: *const u8,
    len: usize,
    fee_rate: Option<u64>,
    out_hash: *mut u8,
) -> Result<(), FfiError> {
    let engine = engine_ref(engine)?;
    // SAFETY: `data` is NULL or valid for `len` bytes, per the C contract.
    let bytes = unsafe { bytes_arg(data, len, "data") }?;
    let hash = engine.broadcast_with_fee_rate(kind, bytes, fee_rate)?;
    // SAFETY: `out_hash` is NULL (not wanted) or has room for 32 bytes.
    if let Some(out) = unsafe { opt_out_arg(hash_out(out_hash)) } {
        *out = hash;
    }
    Ok(())
}

/// Relays a block the node produced or accepted: it is cached and announced at once to
/// every peer that does not have it. If `out_hash` is not NULL it receives the block id
/// (32 bytes). Hand it the full serialization, witnesses included (BIP144): peers that
/// ask for the legacy form get it stripped, and the witness form cannot be rebuilt
/// from that.
///
/// Ownership: `data` (`len` bytes) is borrowed and copied; `out_hash` is caller-provided.
/// May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_broadcast_block(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| broadcast(engine, ItemKind::Block, data, len, None, out_hash))
}

/// Called with its context, exactly once, when the engine no longer reads a buffer the
/// node handed to it; from any engine thread, or from the call that took the buffer.
pub type p2pnet_buffer_release_fn = Option<unsafe extern "C" fn(release_context: *mut c_void)>;

/// A block buffer the node handed to the engine: read in place by every connection it is
/// sent on and by the relay cache, and released through the node's function when the
/// last of them drops it.
struct NodeBuffer {
    data: *const u8,
    len: usize,
    _owner: UserData,
}

// SAFETY: the contract of `p2pnet_engine_broadcast_block_owned` requires the buffer to
// stay valid and unchanged until its release function runs, and the release function to
// be callable from any thread; the engine only reads it.
unsafe impl Send for NodeBuffer {}
// SAFETY: as above: shared reads of immutable memory.
unsafe impl Sync for NodeBuffer {}

impl AsRef<[u8]> for NodeBuffer {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: `data` is non-null and valid for `len` bytes until `_owner` releases it,
        // which happens only when this value drops (checked in `broadcast_owned`).
        unsafe { std::slice::from_raw_parts(self.data, self.len) }
    }
}

fn broadcast_owned(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    release: p2pnet_buffer_release_fn,
    release_context: *mut c_void,
    out_hash: *mut u8,
) -> Result<(), FfiError> {
    if release.is_none() {
        return Err(FfiError::null("release"));
    }
    // From here on the buffer is released exactly once, whatever happens.
    let owner = UserData::new(release_context, release);
    let engine = engine_ref(engine)?;
    if data.is_null() {
        drop(owner);
        return Err(FfiError::null("data"));
    }
    let owned = bytes::Bytes::from_owner(NodeBuffer {
        data,
        len,
        _owner: owner,
    });
    let hash = engine.broadcast_bytes(ItemKind::Block, owned, None)?;
    // SAFETY: `out_hash` is NULL (not wanted) or has room for 32 bytes.
    if let Some(out) = unsafe { opt_out_arg(hash_out(out_hash)) } {
        *out = hash;
    }
    Ok(())
}

/// `p2pnet_engine_broadcast_block` without a copy: the engine reads `data` in place
/// while it sends the block and keeps it in its relay cache, so a large block is not
/// copied before it goes on the wire.
///
/// Ownership: the engine takes `data` (`len` bytes), which must stay valid and
/// unchanged until the engine calls `release(release_context)`. It calls it exactly
/// once, from this call or later from any engine thread, also when this call fails
/// (except when `release` is NULL: that fails with nothing taken). `out_hash` is
/// caller-provided. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_broadcast_block_owned(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    release: p2pnet_buffer_release_fn,
    release_context: *mut c_void,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| broadcast_owned(engine, data, len, release, release_context, out_hash))
}

/// Relays a transaction: cached and announced to each peer at its next trickle tick, by
/// wtxid to peers that negotiated BIP339. As `p2pnet_engine_broadcast_block` otherwise,
/// including the form: the full serialization, witnesses included.
///
/// Ownership: `data` (`len` bytes) is borrowed and copied; `out_hash` is caller-provided.
/// May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_broadcast_transaction(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| broadcast(engine, ItemKind::Tx, data, len, None, out_hash))
}

/// `p2pnet_engine_broadcast_transaction` with the transaction's fee rate in satoshis per
/// 1,000 virtual bytes: peers whose fee filter (BIP133 `feefilter`) is higher are not
/// told about it. Without a fee rate a transaction is announced to every peer.
///
/// Ownership: `data` (`len` bytes) is borrowed and copied; `out_hash` is caller-provided.
/// May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_broadcast_transaction_with_fee_rate(
    engine: *mut p2pnet_engine,
    data: *const u8,
    len: usize,
    fee_rate: u64,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| broadcast(engine, ItemKind::Tx, data, len, Some(fee_rate), out_hash))
}

/// Reports the verdict (a `p2pnet_verdict` other than PENDING) for an item whose
/// callback returned `P2PNET_VERDICT_PENDING`. It may also be called from another thread
/// while that callback is still running; the reported verdict then wins over the one the
/// callback returns. `P2PNET_ERR_NOT_FOUND` when no item with that id awaits a verdict.
///
/// Ownership: `hash` (32 bytes) is borrowed and copied. May be called from a callback,
/// including the item callback that returned PENDING.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_report_verdict(
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

/// Writes SHA-256d of `data` (`len` bytes) into `out_hash` (32 bytes): the hash behind
/// Bitcoin's ids and message checksums, for nodes and tools that need the same digest.
///
/// Ownership: `data` (`len` bytes) is borrowed; `out_hash` (32 bytes) is caller-provided.
/// Needs no engine; may be called from any thread and any callback, including a hash
/// function.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_sha256d(
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        // SAFETY: `out_hash` is NULL or has room for 32 bytes, per the C contract.
        let out = unsafe { out_arg(hash_out(out_hash), "out_hash") }?;
        *out = crate::wire::sha256d(bytes);
        Ok(())
    })
}

/// Writes Bitcoin's id of an item (`kind` is a `p2pnet_item_kind` value) into
/// `out_hash` (32 bytes): for a transaction its txid, SHA-256d of its serialization
/// without the segwit marker, flag and witnesses (so both forms of a segwit tx get the
/// same id; bytes that are not a transaction are hashed as given); for a block,
/// SHA-256d of its first 80 bytes. The engines' default.
///
/// Ownership: `data` (`len` bytes) is borrowed; `out_hash` (32 bytes) is caller-provided.
/// Needs no engine; may be called from any thread and any callback, including a hash
/// function.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_bitcoin_item_id(
    kind: u32,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| {
        let kind = item_kind_arg(kind)?;
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        // SAFETY: `out_hash` is NULL or has room for 32 bytes, per the C contract.
        let out = unsafe { out_arg(hash_out(out_hash), "out_hash") }?;
        *out = crate::relay::bitcoin_item_id(kind, bytes);
        Ok(())
    })
}

/// Writes the id this engine gives an item (`kind` is a `p2pnet_item_kind` value) into
/// `out_hash` (32 bytes), using the installed hash function or Bitcoin's default.
///
/// Ownership: `data` (`len` bytes) is borrowed; `out_hash` (32 bytes) is caller-provided.
/// May be called from a callback, but not from the hash function (it would call itself).
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_item_id(
    engine: *const p2pnet_engine,
    kind: u32,
    data: *const u8,
    len: usize,
    out_hash: *mut u8,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let kind = item_kind_arg(kind)?;
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let bytes = unsafe { bytes_arg(data, len, "data") }?;
        // SAFETY: `out_hash` is NULL or has room for 32 bytes, per the C contract.
        let out = unsafe { out_arg(hash_out(out_hash), "out_hash") }?;
        *out = engine.item_id(kind, bytes);
        Ok(())
    })
}
