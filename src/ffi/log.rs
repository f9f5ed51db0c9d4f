//! Logging: `p2pnet_log_level` and the log callback.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::callbacks::{p2pnet_release_fn, register};
use super::engine::{engine_ref, p2pnet_engine};
use super::result::{boundary, c_string, p2pnet_result, FfiError};
use crate::events::LogLevel;

/// Log severities; a log callback receives records at or above its registered level.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_log_level {
    /// No records.
    P2PNET_LOG_OFF = 0,
    P2PNET_LOG_ERROR = 1,
    P2PNET_LOG_WARN = 2,
    P2PNET_LOG_INFO = 3,
    P2PNET_LOG_DEBUG = 4,
    P2PNET_LOG_TRACE = 5,
}

impl From<LogLevel> for p2pnet_log_level {
    fn from(l: LogLevel) -> Self {
        use p2pnet_log_level::*;
        match l {
            LogLevel::Error => P2PNET_LOG_ERROR,
            LogLevel::Warn => P2PNET_LOG_WARN,
            LogLevel::Info => P2PNET_LOG_INFO,
            LogLevel::Debug => P2PNET_LOG_DEBUG,
            LogLevel::Trace => P2PNET_LOG_TRACE,
        }
    }
}

/// `None` means off.
fn log_level_arg(value: u32) -> Result<Option<LogLevel>, FfiError> {
    Ok(Some(match value {
        0 => return Ok(None),
        1 => LogLevel::Error,
        2 => LogLevel::Warn,
        3 => LogLevel::Info,
        4 => LogLevel::Debug,
        5 => LogLevel::Trace,
        _ => {
            return Err(FfiError::invalid(format!(
                "{value} is not a p2pnet_log_level"
            )))
        }
    }))
}

/// A log record. `target` (the emitting module) and `message` are NUL-terminated and
/// borrowed for the duration of the call.
pub type p2pnet_log_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        level: p2pnet_log_level,
        target: *const c_char,
        message: *const c_char,
    ),
>;

/// Registers the log callback, receiving records at `max_level` (a `p2pnet_log_level`)
/// and more severe. `cb` NULL or `P2PNET_LOG_OFF` with NULL turns logging off.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_log(
    engine: *mut p2pnet_engine,
    max_level: u32,
    cb: p2pnet_log_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let level = log_level_arg(max_level)?;
        register(
            engine,
            cb,
            user_data,
            release,
            |f, data| {
                Arc::new(move |level: LogLevel, target: &str, message: &str| {
                    let target = c_string(target);
                    let message = c_string(message);
                    // SAFETY: `f` is the node's callback; both strings outlive the call.
                    unsafe { f(data.ptr(), level.into(), target.as_ptr(), message.as_ptr()) };
                }) as crate::LogCallback
            },
            |engine, cb| engine.set_log_callback(level, cb),
        )
    })
}
