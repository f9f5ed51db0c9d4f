//! Automatic outbound connections by kind, as Bitcoin Core keeps them against partition
//! and eclipse attacks: full-relay peers up to `max_outbound`; block-relay-only peers,
//! the last run's anchors first; one extra full-relay peer while the tip is stale; now
//! and then an extra block-relay-only peer that stays only if it brings a new block;
//! and feelers that test addresses from the book's new table. Peers beyond a target are
//! rotated out by Core's rules.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::connections::DialTarget;
use super::peer::{Origin, Peer};
use super::{Node, Now, Output};
use crate::addrman::netgroup;
use crate::anchors::MAX_ANCHORS;
use crate::events::{DisconnectReason, PeerId};

/// An extra peer is rotated out only after this long, so that it had a chance to
/// announce what it has (Bitcoin Core's `MINIMUM_CONNECT_TIME`).
const MINIMUM_CONNECT_TIME: Duration = Duration::from_secs(30);

pub(super) struct OutboundPolicy {
    /// The last run's block-relay-only peers, dialled first and once.
    anchors: Vec<SocketAddr>,
    next_feeler: Option<Instant>,
    next_extra_block_relay: Option<Instant>,
    /// Dials to addresses from the tried table; their outcome feeds the partition rule.
    known_dials: HashSet<PeerId>,
}

/// Where the next automatic connection's address comes from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    Anchor,
    Book,
    NewTable,
}

/// Automatic outbound connections open or being dialled, by kind.
#[derive(Default)]
struct Counts {
    full_relay: usize,
    block_relay: usize,
    feeler: usize,
}

impl OutboundPolicy {
    pub fn new(anchors: Vec<SocketAddr>, now: Now, config: &crate::config::Config) -> Self {
        let at = |interval: Duration| (!interval.is_zero()).then_some(now.mono + interval);
        OutboundPolicy {
            anchors,
            next_feeler: at(config.feeler_interval),
            next_extra_block_relay: at(config.extra_block_relay_interval),
            known_dials: HashSet::new(),
        }
    }
}

/// When a timer with mean `interval` fires next: exponentially distributed, as Core's
/// `GetExponentialRand`, so that the times reveal nothing about the node.
fn exponential_after(now: Instant, interval: Duration, rng: &mut impl Rng) -> Instant {
    let unit: f64 = rng.random_range(f64::MIN_POSITIVE..1.0);
    now + interval.mul_f64((-unit.ln()).min(10.0))
}

impl Node {
    fn outbound_counts(&self) -> Counts {
        let mut counts = Counts::default();
        let peers = self.peers.values().filter(|p| !p.closing).map(|p| p.origin);
        let dialing = self.connections.dialing.values().map(|(_, origin)| *origin);
        for origin in peers.chain(dialing) {
            match origin {
                Origin::Automatic => counts.full_relay += 1,
                Origin::BlockRelay => counts.block_relay += 1,
                Origin::Feeler => counts.feeler += 1,
                Origin::Inbound | Origin::Manual => {}
            }
        }
        counts
    }

    /// No connected peer is known to have a better chain: the node is not catching up.
    fn caught_up(&self) -> bool {
        self.peers
            .values()
            .all(|p| p.best_known_height <= self.best_height)
    }

    /// The kind of the next automatic connection, with where its address comes from, in
    /// Bitcoin Core's order of priority.
    fn next_outbound(&mut self, counts: &Counts, now: Now) -> Option<(Origin, Source)> {
        if self.config.max_outbound == 0 {
            // No automatic connections of any kind (Bitcoin Core with -connect).
            return None;
        }
        let block_target = self.config.block_relay_connections;
        let full_target = self.config.max_outbound + usize::from(self.tip_may_be_stale(now));
        if counts.block_relay < block_target && !self.outbound.anchors.is_empty() {
            return Some((Origin::BlockRelay, Source::Anchor));
        }
        if counts.full_relay < full_target {
            return Some((Origin::Automatic, Source::Book));
        }
        if counts.block_relay < block_target {
            return Some((Origin::BlockRelay, Source::Book));
        }
        let due = |at: Option<Instant>| at.is_some_and(|at| now.mono >= at);
        if block_target > 0
            && counts.block_relay == block_target
            && due(self.outbound.next_extra_block_relay)
            && self.caught_up()
        {
            let interval = self.config.extra_block_relay_interval;
            self.outbound.next_extra_block_relay =
                Some(exponential_after(now.mono, interval, &mut self.rng));
            return Some((Origin::BlockRelay, Source::Book));
        }
        if counts.feeler == 0 && due(self.outbound.next_feeler) {
            let interval = self.config.feeler_interval;
            self.outbound.next_feeler = Some(exponential_after(now.mono, interval, &mut self.rng));
            return Some((Origin::Feeler, Source::NewTable));
        }
        None
    }

    /// Dials until every automatic kind meets its target, at most one address per
    /// network group when so configured; returns the automatic full-relay and
    /// block-relay-only connections (established or being dialled).
    pub(super) fn fill_outbound(&mut self, now: Now) -> usize {
        let allow_local = self.config.allow_local_addresses;
        let mut groups: HashSet<Vec<u8>> = self
            .peers
            .values()
            .filter(|p| {
                matches!(
                    p.origin,
                    Origin::Automatic | Origin::BlockRelay | Origin::Feeler
                )
            })
            .map(|p| netgroup(p.addr.ip(), allow_local))
            .collect();
        for (dialing, _) in self.connections.dialing.values() {
            groups.insert(netgroup(dialing.ip(), allow_local));
        }
        // As Bitcoin Core, an address counts as connected when any peer shares its IP.
        let connected: HashSet<IpAddr> = self
            .peers
            .values()
            .map(|p| p.addr.ip().to_canonical())
            .collect();
        let own = self.listen_addr;
        let per_group = self.config.one_outbound_per_netgroup;
        let mut counts = self.outbound_counts();
        while let Some((origin, source)) = self.next_outbound(&counts, now) {
            // Extra peers and feelers are short-lived and may go beyond the caps.
            let extra = match origin {
                Origin::Automatic => counts.full_relay >= self.config.max_outbound,
                Origin::BlockRelay => counts.block_relay >= self.config.block_relay_connections,
                _ => true,
            };
            let within_caps = self.connection_count() < self.config.max_connections;
            if !within_caps && !extra {
                break;
            }
            let dialing: HashSet<SocketAddr> =
                self.connections.dialing.values().map(|(a, _)| *a).collect();
            let bans = &self.bans;
            let excluded = |a: &SocketAddr| {
                connected.contains(&a.ip().to_canonical())
                    || dialing.contains(a)
                    || own.is_some_and(|o| o == *a)
                    || bans.is_banned(&a.ip(), now.unix)
                    || (per_group && groups.contains(&netgroup(a.ip(), allow_local)))
            };
            let choice = match source {
                Source::Anchor => {
                    let anchor = self.outbound.anchors.remove(0);
                    (!excluded(&anchor)).then_some(anchor)
                }
                Source::Book => self.addrman.select(now.unix, &mut self.rng, excluded),
                Source::NewTable => self.addrman.select_new(now.unix, &mut self.rng, excluded),
            };
            let Some(addr) = choice else {
                // Another anchor may still do; the book has nothing eligible.
                if source == Source::Anchor {
                    continue;
                }
                break;
            };
            match origin {
                Origin::Automatic => counts.full_relay += 1,
                Origin::BlockRelay => counts.block_relay += 1,
                _ => counts.feeler += 1,
            }
            self.addrman.mark_attempt(addr, now.unix);
            self.addresses_changed = true;
            groups.insert(netgroup(addr.ip(), allow_local));
            let id = self.next_id();
            if self.addrman.is_tried(addr) {
                self.outbound.known_dials.insert(id);
            }
            self.connections.dialing.insert(id, (addr, origin));
            let target = DialTarget::Addr(addr);
            let transport = self.dial_transport(&target);
            self.out.push(Output::Dial {
                peer: id,
                target,
                transport,
                origin,
            });
        }
        counts.full_relay + counts.block_relay
    }

    /// An outbound attempt ended, `handshaken` or not; attempts to known addresses
    /// count towards the partition rule.
    pub(super) fn outbound_attempt_ended(&mut self, peer: PeerId, handshaken: bool, now: Now) {
        if self.outbound.known_dials.remove(&peer) {
            self.health.known_dial(handshaken, now);
        }
    }

    /// The handshake with an automatic outbound peer completed. A feeler has proved its
    /// address (now in the tried table) and closes; returns whether it did.
    pub(super) fn outbound_established(&mut self, peer: PeerId, now: Now) -> bool {
        self.outbound_attempt_ended(peer, true, now);
        let feeler = self
            .peers
            .get(&peer)
            .is_some_and(|p| p.origin == Origin::Feeler);
        if feeler {
            self.close(
                peer,
                DisconnectReason::Rotated,
                "feeler: the address answered".into(),
            );
        }
        feeler
    }

    /// Closes peers beyond a target once they had their chance (Bitcoin Core's
    /// `EvictExtraOutboundPeers`): of two extra block-relay-only candidates, the
    /// youngest goes unless it brought a block more recently than the next youngest;
    /// of the full-relay peers, the one that announced a new block least recently
    /// (ties: the youngest).
    pub(super) fn rotate_extra_outbound(&mut self, now: Now) {
        let mut block_relay: Vec<&Peer> = self.established_of(Origin::BlockRelay);
        if block_relay.len() > self.config.block_relay_connections && block_relay.len() >= 2 {
            block_relay.sort_by_key(|p| p.id);
            let youngest = block_relay[block_relay.len() - 1];
            let next = block_relay[block_relay.len() - 2];
            let victim = if youngest.last_block > next.last_block {
                next.id
            } else {
                youngest.id
            };
            self.rotate_out(victim, "extra block-relay-only peer", now);
        }
        let full_relay = self.established_of(Origin::Automatic);
        if full_relay.len() > self.config.max_outbound {
            let victim = full_relay
                .iter()
                .min_by_key(|p| (p.last_block_announcement, std::cmp::Reverse(p.id)))
                .map(|p| p.id);
            if let Some(victim) = victim {
                self.rotate_out(victim, "extra full-relay peer", now);
            }
        }
    }

    fn established_of(&self, origin: Origin) -> Vec<&Peer> {
        self.peers
            .values()
            .filter(|p| p.origin == origin && p.is_established() && !p.closing)
            .map(|p| &**p)
            .collect()
    }

    /// Closes `peer` if it has been connected long enough and no block is being
    /// downloaded from it; otherwise a later check tries again.
    fn rotate_out(&mut self, peer: PeerId, what: &str, now: Now) {
        let Some(p) = self.peers.get(&peer) else {
            return;
        };
        let settled = now.mono.saturating_duration_since(p.connected_at) >= MINIMUM_CONNECT_TIME;
        if settled && self.relay.tracker.blocks_in_flight(peer) == 0 {
            tracing::info!(peer, addr = %p.addr, "rotating out an {what}");
            self.close(
                peer,
                DisconnectReason::Rotated,
                format!("{what} rotated out"),
            );
        }
    }

    /// The block-relay-only peers to dial first at the next start, oldest first.
    pub fn anchors(&self) -> Vec<SocketAddr> {
        let mut peers = self.established_of(Origin::BlockRelay);
        peers.sort_by_key(|p| p.id);
        peers.iter().take(MAX_ANCHORS).map(|p| p.addr).collect()
    }
}
