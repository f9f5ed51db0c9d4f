//! Per-peer deadlines (handshake timeout, ping, inactivity, trickle) in one ordered set,
//! so finding the next one costs O(log n) with thousands of peers. Each peer has at most
//! one entry: its earliest deadline, rescheduled after every step that touched the peer.

use std::collections::{BTreeSet, HashMap};
use std::time::Instant;

use crate::events::PeerId;

#[derive(Default)]
pub(super) struct PeerTimers {
    order: BTreeSet<(Instant, PeerId)>,
    scheduled: HashMap<PeerId, Instant>,
}

impl PeerTimers {
    /// Sets (or clears) a peer's next deadline.
    pub fn schedule(&mut self, peer: PeerId, at: Option<Instant>) {
        if self.scheduled.get(&peer).copied() == at {
            return;
        }
        if let Some(old) = self.scheduled.remove(&peer) {
            self.order.remove(&(old, peer));
        }
        if let Some(at) = at {
            self.scheduled.insert(peer, at);
            self.order.insert((at, peer));
        }
    }

    pub fn remove(&mut self, peer: PeerId) {
        self.schedule(peer, None);
    }

    pub fn next(&self) -> Option<Instant> {
        self.order.first().map(|(at, _)| *at)
    }

    /// Takes the peers whose deadline has passed; the caller reschedules each.
    pub fn due(&mut self, now: Instant) -> Vec<PeerId> {
        let mut due = Vec::new();
        while let Some(&(at, peer)) = self.order.first() {
            if at > now {
                break;
            }
            self.order.pop_first();
            self.scheduled.remove(&peer);
            due.push(peer);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn one_entry_per_peer_in_deadline_order() {
        let t0 = Instant::now();
        let mut timers = PeerTimers::default();
        timers.schedule(1, Some(t0 + Duration::from_secs(5)));
        timers.schedule(2, Some(t0 + Duration::from_secs(3)));
        timers.schedule(1, Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.next(), Some(t0 + Duration::from_secs(1)));
        assert_eq!(timers.due(t0 + Duration::from_secs(4)), vec![1, 2]);
        assert_eq!(timers.next(), None);
        timers.schedule(3, Some(t0));
        timers.remove(3);
        assert!(timers.due(t0 + Duration::from_secs(100)).is_empty());
    }
}
