//! Copy-out: the only code that writes into memory the caller provides (out-parameters,
//! arrays with a capacity, fixed-size text fields) or hands heap objects to the caller and
//! takes them back. Every exported function that fills a caller buffer goes through here,
//! so the rules are the same everywhere:
//!
//! - a required out-parameter that is NULL is `P2PNET_ERR_NULL_ARGUMENT`; an optional one
//!   that is NULL is skipped;
//! - an array comes with its capacity and a count out-parameter; the count always receives
//!   the number of records available, and when they do not fit nothing is copied and the
//!   result is `P2PNET_ERR_BUFFER_TOO_SMALL`;
//! - a constructor sets its handle out-parameter to NULL before anything can fail.

use std::ffi::c_char;

use super::result::{p2pnet_result, FfiError};
use crate::wire::Hash256;

/// Borrows a required out-parameter.
///
/// # Safety
/// `ptr` must be NULL or valid for writes of a `T` for the returned lifetime, and hold an
/// initialised `T` (out-parameters of this library only hold plain data).
pub(crate) unsafe fn out_arg<'a, T>(ptr: *mut T, name: &str) -> Result<&'a mut T, FfiError> {
    // SAFETY: validity (when non-null) is the caller's contract.
    unsafe { ptr.as_mut() }.ok_or_else(|| FfiError::null(name))
}

/// Borrows an optional out-parameter; `None` when the caller passed NULL.
///
/// # Safety
/// As for [`out_arg`].
pub(crate) unsafe fn opt_out_arg<'a, T>(ptr: *mut T) -> Option<&'a mut T> {
    // SAFETY: validity (when non-null) is the caller's contract.
    unsafe { ptr.as_mut() }
}

/// Views a caller's `uint8_t[32]` hash buffer as a [`Hash256`] (same size, alignment 1).
pub(crate) fn hash_out(ptr: *mut u8) -> *mut Hash256 {
    ptr.cast()
}

/// Copies `text` into a fixed-size C text field, truncated at the field's size (or at an
/// interior NUL) and always NUL-terminated.
pub(crate) fn copy_c_text<const N: usize>(dst: &mut [c_char; N], text: &str) {
    let bytes = text.as_bytes();
    let len = bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(bytes.len())
        .min(N - 1);
    for (d, &s) in dst.iter_mut().zip(&bytes[..len]) {
        *d = s as c_char;
    }
    dst[len] = 0;
}

/// A caller-provided array of `capacity` records plus the count out-parameter, checked
/// before the engine is asked for anything.
pub(crate) struct CallerArray<'a, T> {
    buf: *mut T,
    capacity: usize,
    count: &'a mut usize,
    name: &'static str,
}

impl<'a, T> CallerArray<'a, T> {
    /// Checks the buffer arguments: `count` is required, `buf` may be NULL only when
    /// `capacity` is 0. `name` is the buffer parameter's name (`out_peers`, ...).
    ///
    /// # Safety
    /// `buf` must be NULL or valid for writes of `capacity` records, and `count` NULL or
    /// valid for writes of a `size_t`, both until the returned value is dropped.
    pub(crate) unsafe fn new(
        buf: *mut T,
        capacity: usize,
        count: *mut usize,
        name: &'static str,
    ) -> Result<Self, FfiError> {
        // SAFETY: forwarded contract for `count`.
        let count = unsafe { out_arg(count, "out_count") }?;
        if buf.is_null() && capacity > 0 {
            return Err(FfiError::null(name));
        }
        Ok(CallerArray {
            buf,
            capacity,
            count,
            name,
        })
    }

    /// Reports `items.len()` through the count and, if they fit, writes `convert(item)`
    /// for each into the array in order.
    pub(crate) fn fill<S>(
        self,
        items: &[S],
        mut convert: impl FnMut(&S) -> T,
    ) -> Result<(), FfiError> {
        *self.count = items.len();
        if items.len() > self.capacity {
            let what = self.name.strip_prefix("out_").unwrap_or(self.name);
            return Err(FfiError {
                code: p2pnet_result::P2PNET_ERR_BUFFER_TOO_SMALL,
                message: format!("{} {what}, buffer holds {}", items.len(), self.capacity),
            });
        }
        for (i, item) in items.iter().enumerate() {
            // SAFETY: `i < items.len() <= capacity`, and a non-empty capacity means `buf`
            // is non-null (checked in `new`) and valid for `capacity` writes (its contract).
            // `write` does not read or drop the possibly uninitialised slot.
            unsafe { self.buf.add(i).write(convert(item)) };
        }
        Ok(())
    }
}

/// Creates a caller-owned object: sets `*out` to NULL, builds the value and, on success,
/// stores a pointer to it that the caller later passes to the object's `_free` function
/// (which calls [`free_object`]).
///
/// # Safety
/// `out` must be NULL or valid for writes of a pointer.
pub(crate) unsafe fn new_object<T>(
    out: *mut *mut T,
    name: &str,
    make: impl FnOnce() -> Result<T, FfiError>,
) -> Result<(), FfiError> {
    // SAFETY: forwarded contract.
    let out = unsafe { out_arg(out, name) }?;
    *out = std::ptr::null_mut();
    *out = Box::into_raw(Box::new(make()?));
    Ok(())
}

/// Takes back and drops an object made by [`new_object`]. NULL is ignored.
///
/// # Safety
/// `ptr` must be NULL or a pointer stored by [`new_object`] for the same `T`, not freed
/// before and not used by anyone afterwards.
pub(crate) unsafe fn free_object<T>(ptr: *mut T) {
    if !ptr.is_null() {
        // SAFETY: per the contract, `ptr` came from `Box::into_raw` and is freed once.
        drop(unsafe { Box::from_raw(ptr) });
    }
}
