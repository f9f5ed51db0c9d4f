//! What the core tells the node through the dispatcher thread. A leaf module: the core
//! produces these, the runtime's dispatcher consumes them, and neither depends on the
//! other through it.

use std::time::Duration;

use bytes::Bytes;

use crate::events::{DisconnectReason, Health, LogLevel, PeerId, PeerInfo};
use crate::relay::ItemKind;
use crate::wire::{BlockLocator, Command, Frame, Hash256, Inventory};

/// Something the node should hear about, in the order each peer produced it.
#[derive(Debug)]
pub(crate) enum NodeEvent {
    PeerConnected(PeerInfo),
    /// A ping round trip was measured.
    PingMeasured {
        peer: PeerId,
        rtt: Duration,
    },
    PeerDisconnected {
        id: PeerId,
        reason: DisconnectReason,
        detail: String,
    },
    Log {
        level: LogLevel,
        target: String,
        message: String,
    },
    /// A block or transaction new to this engine; the node answers with a verdict.
    Item {
        kind: ItemKind,
        peer: PeerId,
        hash: Hash256,
        data: Bytes,
        /// Its v1 frame as received (`data` is a slice of it), relayed unchanged.
        frame: Option<Frame>,
    },
    Headers {
        peer: PeerId,
        headers: Vec<Bytes>,
    },
    /// A node-defined message from a peer that offered the command.
    CustomMessage {
        peer: PeerId,
        command: Command,
        payload: Bytes,
    },
    /// The node answers with headers, which the core sends.
    GetHeaders {
        peer: PeerId,
        locator: BlockLocator,
    },
    /// The node answers with block ids, which the core announces.
    GetBlocks {
        peer: PeerId,
        locator: BlockLocator,
    },
    /// GETDATA entries the relay cache could not serve; the node's data provider may.
    GetData {
        peer: PeerId,
        items: Vec<Inventory>,
    },
    /// The stale-tip flag or the partition signal changed.
    HealthChanged(Health),
    /// Makes the dispatcher re-check whether the engine stopped.
    Wake,
}

/// What an event costs in the dispatcher's queue besides its slot.
const EVENT_OVERHEAD: usize = 256;

impl NodeEvent {
    /// Bytes the event holds, for the byte budget of the queue to the dispatcher.
    pub fn weight(&self) -> usize {
        EVENT_OVERHEAD
            + match self {
                NodeEvent::Item { data, .. } => data.len(),
                NodeEvent::CustomMessage { payload, .. } => payload.len(),
                NodeEvent::Headers { headers, .. } => headers.iter().map(Bytes::len).sum(),
                NodeEvent::GetData { items, .. } => items.len() * 36,
                NodeEvent::GetHeaders { locator, .. } | NodeEvent::GetBlocks { locator, .. } => {
                    locator.hashes.len() * 32
                }
                NodeEvent::Log { message, .. } => message.len(),
                _ => 0,
            }
    }
}
