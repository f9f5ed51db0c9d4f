//! The one registration path behind every function that installs a C callback
//! (`set_on_*` and the hash function). A registration is a triple: the C function, the
//! node's user-data pointer and an optional release function for that pointer. Here the
//! triple becomes a Rust closure holding a [`UserData`], whose `Drop` runs the release
//! function; the engine drops its last clone of the closure after the last call (on
//! re-registration, stop or free), so release runs exactly once, after the last call.
//!
//! The order is the same for every callback: engine handle, then the engine's state, then
//! wrapping, then installing. A refusal before wrapping leaves the user data with the
//! caller and never runs its release function.

use std::ffi::c_void;
use std::sync::Arc;

use super::engine::{engine_ref, p2pnet_engine};
use super::result::{boundary, p2pnet_result, FfiError};
use crate::engine::Engine;

/// Releases user data once the engine no longer needs it. Every function that takes a
/// callback takes it as (function, user_data, release), with `release` optional (NULL):
/// on success the engine owns `user_data` and runs `release(user_data)` exactly once,
/// on any thread, after the last call of the callback (when it is replaced or
/// unregistered, or the engine stops or is freed); on an error result, or when the
/// function is NULL, the caller keeps `user_data` and `release` is not called.
pub type p2pnet_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// The node's user data pointer plus its release function.
pub(super) struct UserData {
    ptr: *mut c_void,
    release: p2pnet_release_fn,
}

// SAFETY: the C contract of every registration function states that callbacks and the
// release function are called from the engine's dispatcher thread (or the thread that
// replaces or drops the registration), so the node's user data must tolerate being used
// from another thread than the one that registered it. The pointer itself is never
// dereferenced by Rust.
unsafe impl Send for UserData {}
// SAFETY: as above; Rust only copies the pointer value.
unsafe impl Sync for UserData {}

impl UserData {
    /// A pointer whose `release` runs when this value is dropped.
    pub(super) fn new(ptr: *mut c_void, release: p2pnet_release_fn) -> UserData {
        UserData { ptr, release }
    }

    /// The pointer to pass to the C callback. Accessed through a method so closures
    /// capture the whole `UserData` (and with it the release-on-drop), not just the field.
    pub(super) fn ptr(&self) -> *mut c_void {
        self.ptr
    }
}

impl Drop for UserData {
    fn drop(&mut self) {
        if let Some(release) = self.release {
            // SAFETY: the node gave us this function for exactly this pointer; Drop runs
            // once, after the last call, because the owning closure lives in an Arc that
            // every in-flight call holds a clone of.
            unsafe { release(self.ptr) };
        }
    }
}

/// Installs the callback `cb` (NULL unregisters) with its user data on `engine`.
///
/// `wrap` turns the C function and its [`UserData`] into the engine's closure type;
/// `install` hands the closure (or `None`) to the matching [`Engine`] setter. The
/// engine's state is checked before the user data is wrapped, so a refusal never runs its
/// release function; if the engine still refuses (a concurrent stop), ownership of the
/// user data goes back to the caller.
pub(super) fn register<F, T: ?Sized>(
    engine: &Engine,
    cb: Option<F>,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
    wrap: impl FnOnce(F, UserData) -> Arc<T>,
    install: impl FnOnce(&Engine, Option<Arc<T>>) -> crate::Result<()>,
) -> Result<(), FfiError> {
    engine.not_stopped()?;
    let callback = cb.map(|f| {
        wrap(
            f,
            UserData {
                ptr: user_data,
                release,
            },
        )
    });
    // Keep a second reference so a refused registration can be disarmed.
    let keep = callback.clone();
    match install(engine, callback) {
        Ok(()) => Ok(()),
        Err(e) => {
            if let Some(arc) = keep {
                // Only reachable when a concurrent stop wins the race after the state
                // check above. The engine dropped its copy; ours is the last one. Leak it
                // so the release function does not run for data the caller still owns.
                std::mem::forget(arc);
            }
            Err(e.into())
        }
    }
}

/// The body of a `set_on_*` function: [`register`] on the engine behind the handle,
/// inside the panic boundary.
pub(super) fn set_on<F, T: ?Sized>(
    engine: *mut p2pnet_engine,
    cb: Option<F>,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
    wrap: impl FnOnce(F, UserData) -> Arc<T>,
    install: impl FnOnce(&Engine, Option<Arc<T>>) -> crate::Result<()>,
) -> p2pnet_result {
    boundary(|| register(engine_ref(engine)?, cb, user_data, release, wrap, install))
}
