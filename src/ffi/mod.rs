//! The C ABI. A thin layer: it checks and converts arguments, catches panics, records the
//! last error per thread and calls the safe [`crate::Engine`] API. All `unsafe` code of
//! the crate lives here.
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

mod bans;
mod callbacks;
mod config;
mod discovery;
mod engine;
mod error;
mod relay;
mod types;

pub use bans::*;
pub use callbacks::*;
pub use config::*;
pub use discovery::*;
pub use engine::*;
pub use error::*;
pub use relay::*;
pub use types::*;
