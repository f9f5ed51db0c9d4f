//! p2pnet: a Bitcoin-wire peer-to-peer networking engine for blockchain nodes, with a C
//! ABI (see `include/p2pnet.h`) and a safe Rust API ([`Engine`]).
//!
//! The engine owns a tokio runtime and a dispatcher thread; the node registers callbacks
//! and calls plain functions. The wire codec and the per-connection state machines are
//! sans-IO and tested without sockets.

pub mod addrman;
pub mod banman;
pub mod config;
pub mod connman;
mod dispatch;
mod dns;
pub mod engine;
pub mod error;
pub mod events;
pub mod ffi;
mod logging;
pub mod misbehaviour;
mod peer;
pub mod persist;
pub mod relay;
pub mod session;
pub mod subnet;
pub mod wire;

pub use config::{Config, Network};
pub use dispatch::{
    DataProvider, GetBlocksCallback, GetHeadersCallback, HeadersCallback, ItemCallback,
    LogCallback, PeerConnectedCallback, PeerDisconnectedCallback,
};
pub use engine::{Engine, SyncStatus};
pub use error::{Error, Result};
pub use events::{DisconnectReason, LogLevel, PeerId, PeerInfo};
pub use relay::{ItemHasher, ItemKind, Verdict};
