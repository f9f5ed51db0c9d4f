//! The C ABI. A thin layer: it checks and converts arguments, catches panics, records the
//! last error per thread and calls the safe [`crate::Engine`] API. All `unsafe` code of
//! the crate lives here.
//!
//! One module per C object, then the helpers they share: copy-in of arguments, copy-out
//! into caller memory and the one registration path of every callback.
//!
//! Conventions for every function:
//! - Pointers passed in are borrowed for the duration of the call unless stated otherwise.
//! - Strings in are NUL-terminated UTF-8 and are copied.
//! - A NULL required pointer returns `P2PNET_ERR_NULL_ARGUMENT`; no function crashes on
//!   NULL. Passing a freed or foreign pointer is undefined behaviour, as in any C API.
//! - Enumerations passed in are plain integers and are range-checked.
//!
//! # Safety
//! The contract above is the safety contract of every `unsafe extern "C"` function here;
//! each function's own comment adds what it borrows or takes ownership of.
#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

// The C objects, in the order the header lists their functions (cbindgen follows the
// module order, so keep each declaration in its own paragraph: rustfmt sorts paragraphs).

// `p2pnet_result`: result codes, the last error, static strings; the panic boundary.
mod result;

// `p2pnet_config` and `p2pnet_network`.
mod config;

// `p2pnet_engine`: lifecycle and engine-wide settings.
mod engine;

// `p2pnet_log_level`: the log callback.
mod log;

// `p2pnet_peer_info`, `p2pnet_disconnect_reason`: dialling, listing, blaming peers.
mod peers;

// `p2pnet_net_totals`, `p2pnet_command_traffic`: traffic counters; the ping callback.
mod metrics;

// `p2pnet_health`, `p2pnet_partition_signal`: network health and its callback.
mod health;

// `p2pnet_ban_entry`: the ban list.
mod bans;

// DNS seeds, added nodes, the address book.
mod discovery;

// `p2pnet_item_kind`, `p2pnet_verdict`: broadcast, item callbacks, getdata, item ids.
mod relay;

// `p2pnet_sync_status`: getheaders, getblocks, headers, block fetching.
mod sync;

// Node-defined messages: sending them and the callback that receives them.
mod custom;

// `p2pnet_reply`: a callback's answer to a peer's request.
mod reply;

// Shared by the modules above: copy-in, copy-out, callback registration.
mod args;
mod callbacks;
mod out;

pub use bans::*;
pub use callbacks::p2pnet_release_fn;
pub use config::*;
pub use custom::*;
pub use discovery::*;
pub use engine::*;
pub use health::*;
pub use log::*;
pub use metrics::*;
pub use peers::*;
pub use relay::*;
pub use reply::*;
pub use result::*;
pub use sync::*;
