//! Inbound eviction, after Bitcoin Core's `SelectNodeToEvict`. When every inbound slot is
//! taken, a new inbound connection may replace an existing one, chosen so that an
//! attacker who opens many connections cannot displace the node's most useful peers.
//!
//! The rule, in order:
//! 1. Protect the 4 peers whose network groups sort first under a per-engine secret key
//!    (an attacker cannot predict which groups win).
//! 2. Protect the 8 peers with the lowest measured ping.
//! 3. Protect the 4 peers that most recently relayed a new transaction to us.
//! 4. Protect the 4 peers that most recently relayed a new block to us.
//!
//! Steps 2 to 4 protect only peers with a measured ping or a relay to their name, where
//! Core fills the quota with whoever sorts first; otherwise a small inbound cap held by
//! silent connections would protect all of them.
//! 5. Protect the longest-connected half of the rest.
//! 6. Of the peers left, take the network group with the most connections (ties: the
//!    group whose newest member connected last) and evict its newest member.
//!
//! If no peer is left after the protections, nobody is evicted and the newcomer is
//! refused.
//!
//! Connections still in the handshake are candidates too, as in Core: they have no ping
//! and have relayed nothing, so idle connections that never speak lose their slots to
//! newcomers instead of holding them until the handshake timeout. Before any of this, a
//! newcomer is refused outright when its IP already holds `max_inbound_per_ip` inbound
//! connections.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::events::PeerId;

/// What eviction looks at for one inbound peer.
#[derive(Clone, Debug)]
pub struct EvictionCandidate {
    pub id: PeerId,
    /// The peer's network group (see `addrman::netgroup`).
    pub netgroup: Vec<u8>,
    /// The netgroup hashed with the engine's secret key.
    pub keyed_netgroup: u64,
    pub connected: Instant,
    pub ping: Option<Duration>,
    pub last_tx: Option<Instant>,
    pub last_block: Option<Instant>,
}

/// Removes up to `count` candidates, best first according to `better`.
fn protect(
    candidates: &mut Vec<EvictionCandidate>,
    count: usize,
    mut better: impl FnMut(&EvictionCandidate, &EvictionCandidate) -> std::cmp::Ordering,
) {
    candidates.sort_by(|a, b| better(a, b));
    let keep = count.min(candidates.len());
    candidates.drain(..keep);
}

/// Removes up to `count` candidates that have a value for `key`, smallest first; a
/// candidate without one (no measured ping, never relayed) is not protected by it.
fn protect_known<K: Ord>(
    candidates: &mut Vec<EvictionCandidate>,
    count: usize,
    key: impl Fn(&EvictionCandidate) -> Option<K>,
) {
    let known = candidates.iter().filter(|c| key(c).is_some()).count();
    protect(candidates, count.min(known), |a, b| {
        let (a, b) = (key(a), key(b));
        a.is_none().cmp(&b.is_none()).then(a.cmp(&b))
    });
}

/// Picks the inbound peer to evict, or `None` when all are protected.
pub fn select_eviction(mut candidates: Vec<EvictionCandidate>) -> Option<PeerId> {
    protect(&mut candidates, 4, |a, b| {
        a.keyed_netgroup.cmp(&b.keyed_netgroup)
    });
    protect_known(&mut candidates, 8, |c| c.ping);
    // Most recent first.
    protect_known(&mut candidates, 4, |c| c.last_tx.map(Reverse));
    protect_known(&mut candidates, 4, |c| c.last_block.map(Reverse));
    let half = candidates.len() / 2;
    protect(&mut candidates, half, |a, b| a.connected.cmp(&b.connected));
    if candidates.is_empty() {
        return None;
    }
    let mut groups: HashMap<&[u8], Vec<&EvictionCandidate>> = HashMap::new();
    for c in &candidates {
        groups.entry(c.netgroup.as_slice()).or_default().push(c);
    }
    let newest = |members: &Vec<&EvictionCandidate>| {
        members
            .iter()
            .max_by_key(|c| c.connected)
            .map(|c| (c.connected, c.id))
    };
    groups
        .values()
        .max_by(|a, b| {
            a.len()
                .cmp(&b.len())
                .then_with(|| newest(a).cmp(&newest(b)))
        })
        .and_then(newest)
        .map(|(_, id)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(id: PeerId, group: u8, age_s: u64, now: Instant) -> EvictionCandidate {
        EvictionCandidate {
            id,
            netgroup: vec![group],
            keyed_netgroup: u64::from(group).wrapping_mul(0x9E37_79B9_7F4A_7C15),
            connected: now - Duration::from_secs(age_s),
            ping: None,
            last_tx: None,
            last_block: None,
        }
    }

    #[test]
    fn too_few_candidates_means_no_eviction() {
        let now = Instant::now();
        let peers: Vec<_> = (0..4).map(|i| candidate(i, i as u8, 100, now)).collect();
        assert_eq!(select_eviction(peers), None);
    }

    #[test]
    fn evicts_newest_of_the_most_represented_group() {
        let now = Instant::now();
        let mut peers = Vec::new();
        // 20 honest peers in distinct groups, connected long ago.
        for i in 0..20 {
            peers.push(candidate(i, i as u8 + 100, 10_000, now));
        }
        // An attacker's 30 connections from one group, newer.
        for i in 0..30 {
            peers.push(candidate(100 + i, 7, 30 - i, now));
        }
        let evicted = select_eviction(peers).unwrap();
        assert!((100..130).contains(&evicted), "evicted {evicted}");
        assert_eq!(evicted, 129, "the newest attacker connection");
    }

    #[test]
    fn silent_peers_are_not_protected_for_speed_or_relay() {
        let now = Instant::now();
        // Ten silent connections from four groups fill a small cap.
        let peers: Vec<_> = (0..10)
            .map(|i| candidate(i, (i % 4) as u8, 10 - i, now))
            .collect();
        assert!(select_eviction(peers).is_some());
    }

    #[test]
    fn fast_and_useful_peers_are_protected() {
        let now = Instant::now();
        let mut peers = Vec::new();
        for i in 0..30 {
            let mut c = candidate(i, 1, 5, now);
            if i == 29 {
                c.ping = Some(Duration::from_micros(10));
            }
            if i == 28 {
                c.last_block = Some(now);
            }
            if i == 27 {
                c.last_tx = Some(now);
            }
            peers.push(c);
        }
        for _ in 0..50 {
            let evicted = select_eviction(peers.clone()).unwrap();
            assert!(![27, 28, 29].contains(&evicted));
        }
    }
}
