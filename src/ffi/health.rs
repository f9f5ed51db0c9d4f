//! Network health: connections by kind against their targets, the tip's age, the
//! stale-tip and partition flags, and the callback told when a flag changes.

use std::ffi::c_void;
use std::sync::Arc;
use std::time::Duration;

use super::callbacks::{p2pnet_release_fn, set_on};
use super::engine::{engine_ref, p2pnet_engine};
use super::out::out_arg;
use super::result::{boundary, p2pnet_result};
use crate::engine::Engine;
use crate::events::{Health, PartitionSignal};

/// Why a partition is suspected: the first of these rules that holds.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum p2pnet_partition_signal {
    /// No rule holds.
    P2PNET_PARTITION_NONE = 0,
    /// Outbound connections are wanted, but none has been up for a whole block interval.
    P2PNET_PARTITION_ISOLATED = 1,
    /// At least half of the last 8 (and at least 4) outbound attempts to addresses that
    /// once worked failed: known peers have become unreachable.
    P2PNET_PARTITION_KNOWN_PEERS_UNREACHABLE = 2,
    /// The tip is stale and no connected peer has announced a block above it.
    P2PNET_PARTITION_STALE_WITH_NO_BETTER_PEER = 3,
}

/// The node's standing in the network, filled by `p2pnet_engine_get_health` and passed
/// to the health callback. Plain data.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct p2pnet_health {
    /// Connections that completed the handshake, by kind.
    pub inbound: u32,
    pub outbound_full_relay: u32,
    pub block_relay: u32,
    pub manual: u32,
    pub feeler: u32,
    /// Automatic outbound slots: full-relay (`p2pnet_config_set_max_outbound`) plus
    /// block-relay-only (`p2pnet_config_set_block_relay_connections`).
    pub outbound_target: u32,
    /// How many of those slots are filled.
    pub outbound_filled: u32,
    /// The node's tip height as it last reported it (`p2pnet_engine_set_best_block`).
    pub tip_height: i32,
    /// The best height a connected peer has announced (kept current from its headers,
    /// announcements and blocks), at least `tip_height`.
    pub best_peer_height: i32,
    /// Milliseconds since the tip last advanced (since start while it never has).
    pub tip_age_ms: u64,
    /// Milliseconds since a block new to the engine last arrived from a peer; -1
    /// before the first.
    pub network_block_age_ms: i64,
    /// The tip has not advanced for three block intervals and no block is being
    /// downloaded (Bitcoin Core's rule); while set, one extra outbound peer is kept.
    pub stale_tip: bool,
    /// A partition is suspected (`partition_signal` says why).
    pub partition_suspected: bool,
    /// A `p2pnet_partition_signal` value.
    pub partition_signal: u32,
}

/// The stale-tip flag or the partition signal changed; `health` is the new state,
/// borrowed for the call.
pub type p2pnet_health_fn =
    Option<unsafe extern "C" fn(user_data: *mut c_void, health: *const p2pnet_health)>;

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

impl From<&Health> for p2pnet_health {
    fn from(h: &Health) -> Self {
        use p2pnet_partition_signal::*;
        let signal = match h.partition {
            PartitionSignal::None => P2PNET_PARTITION_NONE,
            PartitionSignal::Isolated => P2PNET_PARTITION_ISOLATED,
            PartitionSignal::KnownPeersUnreachable => P2PNET_PARTITION_KNOWN_PEERS_UNREACHABLE,
            PartitionSignal::StaleWithNoBetterPeer => P2PNET_PARTITION_STALE_WITH_NO_BETTER_PEER,
        };
        p2pnet_health {
            inbound: count(h.inbound),
            outbound_full_relay: count(h.outbound_full_relay),
            block_relay: count(h.block_relay),
            manual: count(h.manual),
            feeler: count(h.feeler),
            outbound_target: count(h.outbound_target),
            outbound_filled: count(h.outbound_filled),
            tip_height: h.tip_height,
            best_peer_height: h.best_peer_height,
            tip_age_ms: millis(h.tip_age),
            network_block_age_ms: h
                .network_block_age
                .map_or(-1, |age| i64::try_from(millis(age)).unwrap_or(i64::MAX)),
            stale_tip: h.stale_tip,
            partition_suspected: h.partition_suspected(),
            partition_signal: signal as u32,
        }
    }
}

/// Writes the node's network health into `*out_health`.
///
/// Ownership: `out_health` is caller-provided and written only on success. May be
/// called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_get_health(
    engine: *const p2pnet_engine,
    out_health: *mut p2pnet_health,
) -> p2pnet_result {
    boundary(|| {
        // SAFETY: `out_health` is NULL or writable, per the C contract.
        let out = unsafe { out_arg(out_health, "out_health") }?;
        *out = p2pnet_health::from(&engine_ref(engine)?.health()?);
        Ok(())
    })
}

/// Registers the callback told when the stale-tip flag or the partition signal
/// changes, with the new health.
///
/// Ownership: `cb` NULL unregisters; then `user_data` and `release` are ignored. On
/// success the engine holds `user_data` until `release` runs (once, after the last call:
/// on re-registration, stop or free); on an error result the caller keeps it and
/// `release` is not called. May be called from a callback.
#[no_mangle]
pub unsafe extern "C" fn p2pnet_engine_set_on_health_change(
    engine: *mut p2pnet_engine,
    cb: p2pnet_health_fn,
    user_data: *mut c_void,
    release: p2pnet_release_fn,
) -> p2pnet_result {
    set_on(
        engine,
        cb,
        user_data,
        release,
        |f, data| {
            Arc::new(move |health: &Health| {
                let raw = p2pnet_health::from(health);
                // SAFETY: `f` is the node's callback; `raw` lives for the call.
                unsafe { f(data.ptr(), &raw) };
            }) as crate::HealthCallback
        },
        Engine::set_on_health_change,
    )
}
