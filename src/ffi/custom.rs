//! Node-defined messages: sending them to one peer or to every peer that offered the
//! command, and the callback that receives them. The commands themselves are defined on
//! the config (`p2pnet_config_add_message`).

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::args::{bytes_arg, str_arg};
use super::callbacks::{p2pnet_release_fn, set_on};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::opt_out_arg;
use super::result::{boundary, c_string, p2pnet_result};
use crate::engine::Engine;

/// A node-defined message arrived from `peer_id`, which offered `command`
/// (NUL-terminated). `command` and `data` are borrowed for the call.
pub type p2pnet_message_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        command: *const c_char,
        data: *const u8,
        len: usize,
    ),
>;

/// Sends a node-defined message to one peer. `P2PNET_ERR_NOT_FOUND` when the peer is not
/// connected; `P2PNET_ERR_INVALID_ARGUMENT` when the command was not defined on the
/// config, the peer did not offer it, or `data` exceeds its size limit.
///
/// Ownership: `command` and `data` (`len` bytes) are borrowed and copied. May be called
/// from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_send_message(
    engine: *mut p2pnet_engine,
    peer_id: u64,
    command: *const c_char,
    data: *const u8,
    len: usize,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `command` is NULL or a NUL-terminated string, per the C contract.
        let command = unsafe { str_arg(command, "command") }?;
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        Ok(engine.send_custom_message(peer_id, command, data)?)
    })
}

/// Sends a node-defined message to every connected peer that offered the command; if
/// `out_count` is not NULL it receives how many. Errors as `p2pnet_engine_send_message`.
///
/// Ownership: `command` and `data` (`len` bytes) are borrowed and copied; `out_count` is
/// caller-provided. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_broadcast_message(
    engine: *mut p2pnet_engine,
    command: *const c_char,
    data: *const u8,
    len: usize,
    out_count: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `command` is NULL or a NUL-terminated string, per the C contract.
        let command = unsafe { str_arg(command, "command") }?;
        // SAFETY: `data` is NULL or `len` readable bytes, per the C contract.
        let data = unsafe { bytes_arg(data, len, "data") }?;
        let count = engine.broadcast_custom_message(command, data)?;
        // SAFETY: `out_count` is NULL or writable, per the C contract.
        if let Some(out) = unsafe { opt_out_arg(out_count) } {
            *out = count;
        }
        Ok(())
    })
}

/// Registers the callback that receives node-defined messages.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_message(
    engine: *mut p2pnet_engine,
    cb: p2pnet_message_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |peer, command: &str, payload: &[u8]| {
                let command = c_string(command);
                // SAFETY: `f` is the node's callback; `command` and `payload` outlive
                // the call.
                unsafe {
                    f(
                        data.ptr(),
                        peer,
                        command.as_ptr(),
                        payload.as_ptr(),
                        payload.len(),
                    )
                };
            }) as crate::CustomMessageCallback
        },
        Engine::set_on_custom_message,
    )
}
