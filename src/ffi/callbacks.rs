//! Callback registration. A C function pointer and its user data become a Rust closure;
//! the user data's release function runs when the closure is dropped, which the engine
//! arranges to happen exactly once, after the last call.

use std::ffi::{c_char, c_void};
use std::sync::Arc;

use super::engine::{engine_ref, p2pnet_engine};
use super::error::{boundary, c_string, p2pnet_result};
use super::types::{log_level_arg, p2pnet_disconnect_reason, p2pnet_log_level, p2pnet_peer_info};

/// Releases user data once the engine no longer needs it. Runs exactly once per
/// successful registration, on any thread, after the last call of the callback.
pub type p2pnet_release_fn = Option<unsafe extern "C" fn(user_data: *mut c_void)>;

/// A peer completed the handshake. `peer` is borrowed for the duration of the call.
pub type p2pnet_peer_connected_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, peer: *const p2pnet_peer_info)>;

/// A connection ended. `detail` is a NUL-terminated description, borrowed for the
/// duration of the call. Also reported for connections that never completed the
/// handshake (then no connected callback preceded it).
pub type p2pnet_peer_disconnected_fn = Option<
    unsafe extern "C" fn(
        user_data: *mut c_void,
        peer_id: u64,
        reason: p2pnet_disconnect_reason,
        detail: *const c_char,
    ),
>;

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
    /// Accessed through a method so closures capture the whole `UserData` (and with it
    /// the release-on-drop), not just the pointer field.
    pub(super) fn new(ptr: *mut c_void, release: p2pnet_release_fn) -> Self {
        UserData { ptr, release }
    }

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

/// Registers the peer-connected callback. `cb` NULL unregisters (then `user_data` and
/// `release` are ignored and release is not called for them).
///
/// Ownership: on success the engine holds `user_data` until `release` runs (on
/// re-registration, stop or free, after the last call). On an error result the caller
/// keeps ownership and `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_peer_connected(
    engine: *mut p2pnet_engine,
    cb: p2pnet_peer_connected_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |peer: &crate::PeerInfo| {
                    let info = p2pnet_peer_info::from(peer);
                    // SAFETY: `f` is the node's callback; `info` outlives the call.
                    unsafe { f(data.ptr(), &info) };
                }) as crate::PeerConnectedCallback
            })
        };
        register(engine, callback, |cb| engine.set_on_peer_connected(cb))
    })
}

/// Registers the peer-disconnected callback; same rules as `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_on_peer_disconnected(
    engine: *mut p2pnet_engine,
    cb: p2pnet_peer_disconnected_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |id, reason: crate::DisconnectReason, detail: &str| {
                    let detail = c_string(detail);
                    // SAFETY: `f` is the node's callback; `detail` outlives the call.
                    unsafe { f(data.ptr(), id, reason.into(), detail.as_ptr()) };
                }) as crate::PeerDisconnectedCallback
            })
        };
        register(engine, callback, |cb| engine.set_on_peer_disconnected(cb))
    })
}

/// Registers the log callback, receiving records at `max_level` (a `p2pnet_log_level`)
/// and more severe. `cb` NULL or `P2PNET_LOG_OFF` with NULL turns logging off. Same
/// ownership rules as `p2pnet_set_on_peer_connected`.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_set_log_callback(
    engine: *mut p2pnet_engine,
    max_level: u32,
    cb: p2pnet_log_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    boundary(|| {
        let engine = engine_ref(engine)?;
        let level = log_level_arg(max_level)?;
        let callback = || {
            cb.map(|f| {
                let data = UserData::new(user_data, release);
                Arc::new(move |level: crate::LogLevel, target: &str, message: &str| {
                    let target = c_string(target);
                    let message = c_string(message);
                    // SAFETY: `f` is the node's callback; both strings outlive the call.
                    unsafe { f(data.ptr(), level.into(), target.as_ptr(), message.as_ptr()) };
                }) as crate::LogCallback
            })
        };
        register(engine, callback, |cb| engine.set_log_callback(level, cb))
    })
}

/// Installs a callback built by `wrap`. The engine's state is checked before the user
/// data is wrapped, so a refusal never runs its release function; if the engine still
/// refuses (a concurrent stop), ownership of the user data goes back to the caller.
pub(super) fn register<T: ?Sized>(
    engine: &crate::Engine,
    wrap: impl FnOnce() -> Option<Arc<T>>,
    install: impl FnOnce(Option<Arc<T>>) -> crate::Result<()>,
) -> Result<(), super::error::FfiError> {
    engine.not_stopped()?;
    let callback = wrap();
    // Keep a second reference so a refused registration can be disarmed.
    let keep = callback.clone();
    match install(callback) {
        Ok(()) => Ok(()),
        Err(e) => {
            if let Some(arc) = keep {
                // Only reachable when a concurrent stop wins the race after the
                // registration function's own state check. The engine dropped its copy;
                // ours is the last one. Leak it so the release function does not run
                // for data the caller still owns.
                std::mem::forget(arc);
            }
            Err(e.into())
        }
    }
}
