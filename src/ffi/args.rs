//! Copy-in: turning the C arguments every module receives (strings, byte ranges, hashes,
//! object handles) into Rust values. NULL and malformed input become a [`FfiError`];
//! nothing here keeps a borrow beyond the call.

use std::ffi::{c_char, CStr};

use super::result::FfiError;
use crate::wire::Hash256;

/// Borrows a required C string argument as UTF-8.
///
/// # Safety
/// `ptr` must be NULL or point to a NUL-terminated string that outlives the returned
/// reference.
pub(crate) unsafe fn str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-null and NUL-terminated per this function's contract.
    let cstr = unsafe { CStr::from_ptr(ptr) };
    cstr.to_str()
        .map_err(|e| FfiError::invalid(format!("{name} is not valid UTF-8: {e}")))
}

/// Borrows an optional C string argument; NULL reads as "".
///
/// # Safety
/// As for [`str_arg`].
pub(crate) unsafe fn opt_str_arg<'a>(ptr: *const c_char, name: &str) -> Result<&'a str, FfiError> {
    if ptr.is_null() {
        return Ok("");
    }
    // SAFETY: forwarded contract.
    unsafe { str_arg(ptr, name) }
}

/// Borrows a required object argument.
///
/// # Safety
/// `ptr` must be NULL or a valid pointer obtained from this library and not yet freed.
pub(crate) unsafe fn ref_arg<'a, T>(ptr: *const T, name: &str) -> Result<&'a T, FfiError> {
    // SAFETY: validity (when non-null) is the caller's contract.
    unsafe { ptr.as_ref() }.ok_or_else(|| FfiError::null(name))
}

/// Mutable variant of [`ref_arg`], for objects the caller must not share during the call
/// (a config being adjusted, a reply being filled).
///
/// # Safety
/// As for [`ref_arg`], and no other reference to the object may be live.
pub(crate) unsafe fn mut_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: validity and exclusivity (when non-null) are the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| FfiError::null(name))
}

/// Borrows `len` bytes, allowing NULL only when `len` is 0.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `len` bytes for the returned lifetime.
pub(crate) unsafe fn bytes_arg<'a>(
    ptr: *const u8,
    len: usize,
    name: &str,
) -> Result<&'a [u8], FfiError> {
    if len == 0 {
        return Ok(&[]);
    }
    if ptr.is_null() {
        return Err(FfiError::null(name));
    }
    // SAFETY: non-null and valid for `len` bytes per this function's contract.
    Ok(unsafe { std::slice::from_raw_parts(ptr, len) })
}

/// Reads a 32-byte hash.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of 32 bytes.
pub(crate) unsafe fn hash_arg(ptr: *const u8, name: &str) -> Result<Hash256, FfiError> {
    // SAFETY: forwarded contract.
    let bytes = unsafe { bytes_arg(ptr, 32, name) }?;
    let mut hash = [0u8; 32];
    hash.copy_from_slice(bytes);
    Ok(hash)
}

/// Reads `count` 32-byte hashes laid out back to back.
///
/// # Safety
/// `ptr` must be NULL or valid for reads of `count * 32` bytes.
pub(crate) unsafe fn hashes_arg(
    ptr: *const u8,
    count: usize,
    name: &str,
) -> Result<Vec<Hash256>, FfiError> {
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
