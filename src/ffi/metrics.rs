//! Metrics: engine-wide traffic totals and traffic by command, the count of dropped
//! log records, and the ping-measured callback.

use std::ffi::{c_char, c_void};
use std::sync::Arc;
use std::time::Duration;

use super::callbacks::{p2pnet_release_fn, set_on};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::{copy_c_text, out_arg, CallerArray};
use super::result::{boundary, p2pnet_result};
use crate::engine::Engine;
use crate::events::{CommandTraffic, NetTotals};

/// Engine-wide traffic since the engine was created (Bitcoin Core's `getnettotals`),
/// closed connections included. Filled by `p2pnet_engine_get_net_totals`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct p2pnet_net_totals {
    /// Bytes written to peer sockets.
    pub bytes_sent: u64,
    /// Bytes read from peer sockets.
    pub bytes_received: u64,
    /// Messages sent.
    pub messages_sent: u64,
    /// Messages received.
    pub messages_received: u64,
}

/// Messages and their bytes (24-byte header included) for one command, engine-wide.
/// Commands without a name of their own are summed under "*other*".
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct p2pnet_command_traffic {
    /// The command, NUL-terminated.
    pub command: [c_char; 13],
    /// Messages of this command sent.
    pub messages_sent: u64,
    /// Their bytes, 24-byte header included.
    pub bytes_sent: u64,
    /// Messages of this command received.
    pub messages_received: u64,
    /// Their bytes, 24-byte header included.
    pub bytes_received: u64,
}

/// A ping round trip to `peer_id` was measured, in microseconds.
pub type p2pnet_ping_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, peer_id: u64, rtt_us: u64)>;

impl From<NetTotals> for p2pnet_net_totals {
    fn from(t: NetTotals) -> Self {
        p2pnet_net_totals {
            bytes_sent: t.bytes_sent,
            bytes_received: t.bytes_received,
            messages_sent: t.messages_sent,
            messages_received: t.messages_received,
        }
    }
}

impl From<&CommandTraffic> for p2pnet_command_traffic {
    fn from(c: &CommandTraffic) -> Self {
        let mut row = p2pnet_command_traffic {
            command: [0; 13],
            messages_sent: c.messages_sent,
            bytes_sent: c.bytes_sent,
            messages_received: c.messages_received,
            bytes_received: c.bytes_received,
        };
        copy_c_text(&mut row.command, &c.command);
        row
    }
}

/// Writes the engine's traffic totals into `*out_totals`. Valid in every state, also
/// after stop (the final figures).
///
/// Ownership: `out_totals` is caller-provided and written only on success. May be called
/// from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_net_totals(
    engine: *const p2pnet_engine,
    out_totals: *mut p2pnet_net_totals,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_totals` is NULL or writable, per the C contract.
        let out = unsafe { out_arg(out_totals, "out_totals") }?;
        *out = engine_ref(engine)?.net_totals().into();
        Ok(())
    })
}

/// Copies the traffic of every command seen either way (in name order, "*other*" last)
/// into `out_command_traffic` and writes their number to `*out_count`. When `capacity` is too small
/// nothing is copied, `*out_count` receives the number needed and the result is
/// `P2PNET_ERR_BUFFER_TOO_SMALL`. At most 23 rows exist. Valid in every state.
///
/// Ownership: `out_command_traffic` (room for `capacity` records) and `out_count` are
/// caller-provided and only written during the call. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_list_command_traffic(
    engine: *const p2pnet_engine,
    out_command_traffic: *mut p2pnet_command_traffic,
    capacity: usize,
    out_count: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_command_traffic` is NULL or has room for `capacity` records and `out_count`
        // is NULL or writable, per the C contract.
        let out = unsafe {
            CallerArray::new(
                out_command_traffic,
                capacity,
                out_count,
                "out_command_traffic",
            )
        }?;
        let rows = engine_ref(engine)?.command_traffic();
        out.fill(&rows, |row| p2pnet_command_traffic::from(row))
    })
}

/// Writes the number of log records dropped because the node's event queue was full
/// (logging never blocks the engine) into `*out_count`.
///
/// Ownership: `out_count` is caller-provided and written only on success. May be called
/// from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_dropped_log_records(
    engine: *const p2pnet_engine,
    out_count: *mut u64,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_count` is NULL or writable, per the C contract.
        let out = unsafe { out_arg(out_count, "out_count") }?;
        *out = engine_ref(engine)?.dropped_log_records();
        Ok(())
    })
}

/// Registers the callback told of each measured ping round trip (every ping interval per
/// peer, 2 minutes by default).
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_ping(
    engine: *mut p2pnet_engine,
    cb: p2pnet_ping_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |peer, rtt: Duration| {
                let micros = u64::try_from(rtt.as_micros()).unwrap_or(u64::MAX);
                // SAFETY: `f` is the node's callback; it gets plain values only.
                unsafe { f(data.ptr(), peer, micros) };
            }) as crate::PingCallback
        },
        Engine::set_on_ping,
    )
}
