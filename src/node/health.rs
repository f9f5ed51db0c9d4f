//! The node's standing in the network ([`Health`]): how old its tip is, when a block
//! last came from the network, how outbound attempts to known addresses fare, and the
//! stale-tip and partition flags derived from them. The node hears of every change of
//! a flag.

use std::collections::VecDeque;
use std::time::Instant;

use super::peer::Origin;
use super::{Node, NodeEvent, Now};
use crate::events::{Health, PartitionSignal};
use crate::wire::Hash256;

/// The tip counts as stale after this many block intervals without advancing (Bitcoin
/// Core's `TipMayBeStale`).
const STALE_TIP_INTERVALS: u32 = 3;
/// Outcomes of outbound attempts to tried addresses remembered for the partition rule.
const KNOWN_DIALS_KEPT: usize = 8;
/// The rule judges only with at least this many outcomes.
const KNOWN_DIALS_JUDGED: usize = 4;

pub(super) struct HealthWatch {
    tip: Option<Hash256>,
    tip_advanced: Instant,
    last_network_block: Option<Instant>,
    /// When each recent attempt to a tried address ended and whether it completed the
    /// handshake, newest last.
    known_dials: VecDeque<(Instant, bool)>,
    /// Since when no outbound connection has been up; `None` while one is.
    outbound_missing_since: Option<Instant>,
    /// The flags the node last heard of.
    reported: (bool, PartitionSignal),
}

impl HealthWatch {
    pub fn new(now: Now) -> Self {
        HealthWatch {
            tip: None,
            tip_advanced: now.mono,
            last_network_block: None,
            known_dials: VecDeque::with_capacity(KNOWN_DIALS_KEPT),
            outbound_missing_since: Some(now.mono),
            reported: (false, PartitionSignal::None),
        }
    }

    /// The node reported its tip; a different block than before (or a greater height,
    /// when only the height is reported) means the tip advanced.
    pub fn tip_reported(&mut self, id: Option<Hash256>, advanced: bool, now: Now) {
        if advanced || (id.is_some() && id != self.tip) {
            self.tip_advanced = now.mono;
        }
        if id.is_some() {
            self.tip = id;
        }
    }

    /// A block new to the engine arrived from a peer.
    pub fn network_block(&mut self, now: Now) {
        self.last_network_block = Some(now.mono);
    }

    /// An outbound attempt to an address from the tried table ended: `handshaken` when
    /// it completed the handshake.
    pub fn known_dial(&mut self, handshaken: bool, now: Now) {
        if self.known_dials.len() == KNOWN_DIALS_KEPT {
            self.known_dials.pop_front();
        }
        self.known_dials.push_back((now.mono, handshaken));
    }

    /// Forgets outcomes older than `window`: once the network is whole again and the
    /// node has no reason to dial, old failures must not keep the signal up.
    fn forget_known_dials_before(&mut self, window: std::time::Duration, now: Now) {
        while self
            .known_dials
            .front()
            .is_some_and(|(at, _)| now.mono.saturating_duration_since(*at) > window)
        {
            self.known_dials.pop_front();
        }
    }

    fn known_peers_unreachable(&self) -> bool {
        let failed = self.known_dials.iter().filter(|(_, ok)| !*ok).count();
        self.known_dials.len() >= KNOWN_DIALS_JUDGED && 2 * failed >= self.known_dials.len()
    }
}

/// Some outbound connection (feelers aside) has completed its handshake.
fn outbound_up(h: &Health) -> bool {
    h.outbound_full_relay + h.block_relay + h.manual > 0
}

impl Node {
    /// The tip has not advanced for three block intervals and no block is being
    /// downloaded: Bitcoin Core's `TipMayBeStale`.
    pub(super) fn tip_may_be_stale(&self, now: Now) -> bool {
        let age = now.mono.saturating_duration_since(self.health.tip_advanced);
        age > self.config.block_interval * STALE_TIP_INTERVALS
            && self.relay.tracker.total_blocks_in_flight() == 0
    }

    /// Automatic outbound slots: full-relay and block-relay-only; none at all when
    /// `max_outbound` is zero.
    fn outbound_target(&self) -> usize {
        match self.config.max_outbound {
            0 => 0,
            full => full + self.config.block_relay_connections,
        }
    }

    /// A snapshot of the node's standing (see [`Health`]).
    pub fn health(&self, now: Now) -> Health {
        let mut h = Health {
            inbound: 0,
            outbound_full_relay: 0,
            block_relay: 0,
            manual: 0,
            feeler: 0,
            outbound_target: self.outbound_target(),
            outbound_filled: 0,
            tip_height: self.best_height,
            best_peer_height: self.best_height,
            tip_age: now.mono.saturating_duration_since(self.health.tip_advanced),
            network_block_age: self
                .health
                .last_network_block
                .map(|t| now.mono.saturating_duration_since(t)),
            stale_tip: self.tip_may_be_stale(now),
            partition: PartitionSignal::None,
        };
        for p in self
            .peers
            .values()
            .filter(|p| p.is_established() && !p.closing)
        {
            match p.origin {
                Origin::Inbound => h.inbound += 1,
                Origin::Automatic => h.outbound_full_relay += 1,
                Origin::BlockRelay => h.block_relay += 1,
                Origin::Manual => h.manual += 1,
                Origin::Feeler => h.feeler += 1,
            }
            h.best_peer_height = h.best_peer_height.max(p.best_known_height);
        }
        h.outbound_filled = h.outbound_full_relay.min(self.config.max_outbound)
            + h.block_relay
                .min(h.outbound_target - self.config.max_outbound);
        h.partition = self.partition_signal(&h, now);
        h
    }

    /// The documented rules of [`PartitionSignal`], in order.
    fn partition_signal(&self, h: &Health, now: Now) -> PartitionSignal {
        let isolated = h.outbound_target > 0
            && !outbound_up(h)
            && self
                .health
                .outbound_missing_since
                .is_some_and(|since| now.mono >= since + self.config.block_interval);
        if isolated {
            PartitionSignal::Isolated
        } else if self.health.known_peers_unreachable() {
            PartitionSignal::KnownPeersUnreachable
        } else if h.stale_tip && h.best_peer_height <= h.tip_height {
            PartitionSignal::StaleWithNoBetterPeer
        } else {
            PartitionSignal::None
        }
    }

    /// Re-evaluates the flags; the node hears when the stale-tip flag or the partition
    /// signal changed.
    pub(super) fn check_health(&mut self, now: Now) {
        let window = self.config.block_interval * STALE_TIP_INTERVALS;
        self.health.forget_known_dials_before(window, now);
        let health = self.health(now);
        // Isolation is judged from the time recorded before this check, so updating it
        // after the snapshot changes nothing the snapshot says.
        match (outbound_up(&health), self.health.outbound_missing_since) {
            (true, _) => self.health.outbound_missing_since = None,
            (false, None) => self.health.outbound_missing_since = Some(now.mono),
            (false, Some(_)) => {}
        }
        let flags = (health.stale_tip, health.partition);
        if flags == self.health.reported {
            return;
        }
        self.health.reported = flags;
        tracing::info!(
            stale_tip = health.stale_tip,
            partition = health.partition.name(),
            tip_age_s = health.tip_age.as_secs(),
            "network health changed"
        );
        self.notify(NodeEvent::HealthChanged(health));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn now() -> Now {
        Now {
            mono: Instant::now(),
            unix: 1_700_000_000,
        }
    }

    #[test]
    fn half_of_the_recent_known_dials_failing_is_a_signal_until_it_ages() {
        let t0 = now();
        let mut watch = HealthWatch::new(t0);
        for _ in 0..3 {
            watch.known_dial(false, t0);
        }
        assert!(
            !watch.known_peers_unreachable(),
            "three outcomes are too few"
        );
        watch.known_dial(true, t0);
        assert!(watch.known_peers_unreachable(), "2 of 4 failed");
        for _ in 0..8 {
            watch.known_dial(true, t0);
        }
        assert!(!watch.known_peers_unreachable(), "only the last 8 count");
        for _ in 0..3 {
            watch.known_dial(false, t0);
        }
        assert!(!watch.known_peers_unreachable(), "3 of 8 failed");
        watch.known_dial(false, t0);
        assert!(watch.known_peers_unreachable(), "4 of 8 failed");
        let window = Duration::from_secs(1800);
        watch.forget_known_dials_before(window, t0.plus(window));
        assert!(watch.known_peers_unreachable(), "still within the window");
        watch.forget_known_dials_before(window, t0.plus(window + Duration::from_secs(1)));
        assert!(
            !watch.known_peers_unreachable(),
            "old failures are forgotten"
        );
    }

    #[test]
    fn the_tip_advances_when_its_block_changes() {
        let t0 = now();
        let mut watch = HealthWatch::new(t0);
        let later = t0.plus(Duration::from_secs(60));
        watch.tip_reported(Some([1; 32]), false, later);
        assert_eq!(watch.tip_advanced, later.mono);
        watch.tip_reported(Some([1; 32]), false, later.plus(Duration::from_secs(60)));
        assert_eq!(watch.tip_advanced, later.mono, "same block: no advance");
        let height_only = later.plus(Duration::from_secs(120));
        watch.tip_reported(None, true, height_only);
        assert_eq!(watch.tip_advanced, height_only.mono);
    }
}
