//! `p2pnet_reply`: the answer a callback gives to a peer's request (getdata, getheaders,
//! getblocks). The engine creates it, lends it to the callback and reads it afterwards;
//! the node only fills it.

use bytes::Bytes;

use super::args::{bytes_arg, hash_arg, mut_arg};
use super::result::{boundary, p2pnet_result, FfiError};
use crate::wire::{Hash256, MAX_HEADERS};

/// Collects a callback's answer. Opaque and owned by the engine, which lends it to the
/// callback for the duration of the call; fill it with `p2pnet_reply_set_data`,
/// `p2pnet_reply_add_header` or `p2pnet_reply_add_hash`, and never keep the pointer.
#[derive(Default)]
pub struct p2pnet_reply {
    pub(super) data: Option<Bytes>,
    pub(super) headers: Vec<Bytes>,
    pub(super) hashes: Vec<Hash256>,
    pub(super) max_hashes: usize,
}

impl p2pnet_reply {
    /// A reply accepting at most `max_hashes` block ids.
    pub(super) fn with_max_hashes(max_hashes: usize) -> Self {
        p2pnet_reply {
            max_hashes,
            ..Default::default()
        }
    }
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
///
/// Ownership: `reply` is lent by the engine for the duration of the data-provider call
/// only; `data` (`len` bytes) is borrowed and copied. Call it only from inside that
/// callback.
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
///
/// Ownership: `reply` is lent by the engine for the duration of the getheaders call only;
/// `header` (80 bytes) is borrowed and copied. Call it only from inside that callback.
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
///
/// Ownership: `reply` is lent by the engine for the duration of the getblocks call only;
/// `hash` (32 bytes) is borrowed and copied. Call it only from inside that callback.
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
