//! p2pnet: a Bitcoin-wire peer-to-peer networking engine for blockchain nodes, with a C
//! ABI (see `include/p2pnet.h`) and a safe Rust API ([`Engine`]).
//!
//! Layout: `wire` is the sans-IO codec; `node` is the sans-IO core that owns all node
//! policy state; `runtime` is the only tokio code (sockets, timers, the dispatcher
//! thread, storage); `engine` is the safe API over them and `ffi` the C ABI over that.
//! `docs/architecture.md` draws the data flow.
#![deny(unsafe_code)]

pub(crate) mod addrman;
mod anchors;
pub(crate) mod banman;
pub mod config;
pub(crate) mod encrypted;
pub mod engine;
pub mod error;
pub mod events;
#[allow(unsafe_code)]
pub mod ffi;
pub(crate) mod misbehaviour;
pub(crate) mod node;
pub(crate) mod persist;
pub mod relay;
pub(crate) mod runtime;
pub(crate) mod subnet;
pub mod wire;

pub use banman::BanEntry;
pub use config::{Config, CustomMessage, Network, TransportMode};
pub use engine::{Engine, SyncStatus};
pub use error::{Error, Result};
pub use events::{
    CommandTraffic, ConnectionKind, DisconnectReason, Health, LogLevel, NetTotals, PartitionSignal,
    PeerId, PeerInfo,
};
pub use relay::{HaveFunction, ItemForm, ItemHasher, ItemKind, Verdict};
pub use runtime::dispatcher::{
    CustomMessageCallback, DataProvider, GetBlocksCallback, GetHeadersCallback, HeadersCallback,
    HealthCallback, ItemCallback, LogCallback, PeerConnectedCallback, PeerDisconnectedCallback,
    PingCallback,
};
pub use subnet::Subnet;
