//! `p2pnet_result` and the library's strings: result codes, the per-thread last-error
//! message, static names and the version. Also the panic boundary every exported function
//! runs inside: [`boundary`] for functions returning a result code, [`boundary_value`] for
//! the few returning a value.

use std::cell::RefCell;
use std::ffi::{c_char, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::error::Error;

/// The outcome of every fallible call. `P2PNET_OK` is zero; on any other value
/// `p2pnet_last_error_message()` describes what went wrong.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_result {
    /// Success.
    P2PNET_OK = 0,
    /// A required pointer argument was NULL.
    P2PNET_ERR_NULL_ARGUMENT = 1,
    /// An argument was malformed: not UTF-8, not an address, out of range.
    P2PNET_ERR_INVALID_ARGUMENT = 2,
    /// The engine is in the wrong state: started twice, not started, or stopped.
    P2PNET_ERR_INVALID_STATE = 3,
    /// An operating-system error, such as a listen address already in use.
    P2PNET_ERR_IO = 4,
    /// The peer (or other item) does not exist.
    P2PNET_ERR_NOT_FOUND = 5,
    /// The caller's buffer is too small; the required size was reported.
    P2PNET_ERR_BUFFER_TOO_SMALL = 6,
    /// An internal error was caught at the API boundary; the engine may be unusable.
    P2PNET_ERR_PANIC = 7,
}

pub use p2pnet_result::*;

/// An error on its way out through the C ABI.
pub(crate) struct FfiError {
    pub code: p2pnet_result,
    pub message: String,
}

impl FfiError {
    pub fn null(argument: &str) -> Self {
        FfiError {
            code: P2PNET_ERR_NULL_ARGUMENT,
            message: format!("{argument} is NULL"),
        }
    }

    pub fn invalid(message: String) -> Self {
        FfiError {
            code: P2PNET_ERR_INVALID_ARGUMENT,
            message,
        }
    }
}

impl From<Error> for FfiError {
    fn from(e: Error) -> Self {
        let code = match e {
            Error::InvalidArgument(_) => P2PNET_ERR_INVALID_ARGUMENT,
            Error::InvalidState(_) => P2PNET_ERR_INVALID_STATE,
            Error::Io(_) => P2PNET_ERR_IO,
            Error::NotFound(_) => P2PNET_ERR_NOT_FOUND,
        };
        FfiError {
            code,
            message: e.to_string(),
        }
    }
}

thread_local! {
    static LAST_ERROR: RefCell<CString> = RefCell::new(CString::default());
}

/// Makes a C string from arbitrary text, replacing interior NULs.
pub(crate) fn c_string(text: &str) -> CString {
    CString::new(text.replace('\0', "\u{FFFD}")).unwrap_or_default()
}

fn set_last_error(message: &str) {
    LAST_ERROR.with(|slot| *slot.borrow_mut() = c_string(message));
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "unknown panic".to_owned()
    }
}

/// Runs the body of an exported function: converts errors to codes, records the message
/// and stops panics at the boundary.
pub(crate) fn boundary(body: impl FnOnce() -> Result<(), FfiError>) -> p2pnet_result {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => P2PNET_OK,
        Ok(Err(e)) => {
            set_last_error(&e.message);
            e.code
        }
        Err(payload) => {
            set_last_error(&format!("internal panic: {}", panic_message(&*payload)));
            P2PNET_ERR_PANIC
        }
    }
}

/// The boundary for functions that return a value instead of a result code; `fallback`
/// is returned after a panic.
pub(crate) fn boundary_value<T>(fallback: T, body: impl FnOnce() -> T) -> T {
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(value) => value,
        Err(payload) => {
            set_last_error(&format!("internal panic: {}", panic_message(&*payload)));
            fallback
        }
    }
}

/// A description of the last error on the calling thread, or "" if none occurred.
///
/// Ownership: the string belongs to the library and stays valid until the next failing
/// call on this thread; do not free it. May be called from a callback.
#[no_mangle]
pub extern "C" fn p2pnet_last_error_message() -> *const c_char {
    boundary_value(std::ptr::null(), || {
        LAST_ERROR.with(|slot| slot.borrow().as_ptr())
    })
}

/// A static, human-readable name for a result code ("P2PNET_OK", ...), or "unknown".
///
/// Ownership: static storage; never free it. May be called from a callback.
#[no_mangle]
pub extern "C" fn p2pnet_result_name(result: u32) -> *const c_char {
    let name: &'static [u8] = match result {
        0 => b"P2PNET_OK\0",
        1 => b"P2PNET_ERR_NULL_ARGUMENT\0",
        2 => b"P2PNET_ERR_INVALID_ARGUMENT\0",
        3 => b"P2PNET_ERR_INVALID_STATE\0",
        4 => b"P2PNET_ERR_IO\0",
        5 => b"P2PNET_ERR_NOT_FOUND\0",
        6 => b"P2PNET_ERR_BUFFER_TOO_SMALL\0",
        7 => b"P2PNET_ERR_PANIC\0",
        _ => b"unknown\0",
    };
    name.as_ptr().cast()
}

/// The library version, e.g. "0.1.0".
///
/// Ownership: static storage; never free it. May be called from a callback.
#[no_mangle]
pub extern "C" fn p2pnet_version_string() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}
