//! Bans: banning and unbanning subnets, listing and clearing the ban list.

use std::ffi::c_char;
use std::time::Duration;

use super::args::{opt_str_arg, str_arg};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::{copy_c_text, CallerArray};
use super::result::{boundary, p2pnet_result, FfiError};

/// One ban in force, as listed by `p2pnet_engine_list_bans`. Plain data: the caller owns
/// the array it is copied into.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct p2pnet_ban_entry {
    /// The banned subnet in CIDR form ("127.0.0.0/24", "2001:db8::/32"), NUL-terminated.
    pub subnet: [c_char; 64],
    /// When the ban was made, in Unix seconds.
    pub created: i64,
    /// When it ends, in Unix seconds.
    pub until: i64,
    /// Why, NUL-terminated (at most 256 bytes).
    pub reason: [c_char; 257],
}

/// Bans `subnet` (an address or CIDR subnet, IPv4 or IPv6) for `duration_s` seconds.
/// Connections from it are refused before any byte is read, it is never dialled, and
/// current connections inside it are dropped with `P2PNET_DISCONNECT_BANNED`. Bans are
/// persisted in the data directory when one is set. `reason` may be NULL.
///
/// Ownership: `subnet` and `reason` are borrowed and copied. May be called from a
/// callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_ban(
    engine: *mut p2pnet_engine,
    subnet: *const c_char,
    duration_s: u64,
    reason: *const c_char,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `subnet` is NULL or a NUL-terminated string, per the C contract.
        let subnet = unsafe { str_arg(subnet, "subnet") }?;
        // SAFETY: as above for `reason`.
        let reason = unsafe { opt_str_arg(reason, "reason") }?;
        if duration_s == 0 {
            return Err(FfiError::invalid("ban duration must be positive".into()));
        }
        Ok(engine.ban_for(subnet, Duration::from_secs(duration_s), reason)?)
    })
}

/// Bans `subnet` until the Unix time `until` (seconds, in the future); otherwise as
/// `p2pnet_engine_ban`.
///
/// Ownership: `subnet` and `reason` are borrowed and copied. May be called from a
/// callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_ban_until(
    engine: *mut p2pnet_engine,
    subnet: *const c_char,
    until: i64,
    reason: *const c_char,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `subnet` is NULL or a NUL-terminated string, per the C contract.
        let subnet = unsafe { str_arg(subnet, "subnet") }?;
        // SAFETY: as above for `reason`.
        let reason = unsafe { opt_str_arg(reason, "reason") }?;
        let until =
            u64::try_from(until).map_err(|_| FfiError::invalid("ban end is in the past".into()))?;
        Ok(engine.ban_until(subnet, until, reason)?)
    })
}

/// Lifts the ban on exactly `subnet`; `P2PNET_ERR_NOT_FOUND` when there is none.
///
/// Ownership: `subnet` is borrowed and copied. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_unban(
    engine: *mut p2pnet_engine,
    subnet: *const c_char,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        // SAFETY: `subnet` is NULL or a NUL-terminated string, per the C contract.
        let subnet = unsafe { str_arg(subnet, "subnet") }?;
        Ok(engine.unban(subnet)?)
    })
}

/// Copies the bans in force into `out_bans` and their number into `*out_count`; with too
/// small a `capacity` nothing is copied, `*out_count` receives the number needed and the
/// result is `P2PNET_ERR_BUFFER_TOO_SMALL`. `out_bans` may be NULL when `capacity` is 0.
///
/// Ownership: `out_bans` (room for `capacity` records) and `out_count` are
/// caller-provided and only written during the call; the records are copies the caller
/// keeps. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_list_bans(
    engine: *const p2pnet_engine,
    out_bans: *mut p2pnet_ban_entry,
    capacity: usize,
    out_count: *mut usize,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_bans` is NULL or has room for `capacity` records and `out_count` is
        // NULL or writable, per the C contract.
        let out = unsafe { CallerArray::new(out_bans, capacity, out_count, "out_bans") }?;
        let bans = engine_ref(engine)?.bans()?;
        let secs = |t: u64| i64::try_from(t).unwrap_or(i64::MAX);
        out.fill(&bans, |(subnet, entry)| {
            let mut slot = p2pnet_ban_entry {
                subnet: [0; 64],
                created: secs(entry.created),
                until: secs(entry.until),
                reason: [0; 257],
            };
            copy_c_text(&mut slot.subnet, &subnet.to_string());
            copy_c_text(&mut slot.reason, &entry.reason);
            slot
        })
    })
}

/// Lifts every ban.
///
/// Ownership: `engine` is borrowed for the call. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_clear_bans(engine: *mut p2pnet_engine) -> p2pnet_result {
    boundary(|| Ok(engine_ref(engine)?.clear_bans()?))
}
