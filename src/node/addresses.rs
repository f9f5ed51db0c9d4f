//! Address gossip, as Bitcoin Core: a token bucket per peer limits how many addresses it
//! can put into our book; small announcements of fresh addresses are relayed to a couple
//! of peers; getaddr is answered once per connection, and only to inbound peers.
//! Block-relay-only connections take no part in any of it.

use std::net::SocketAddr;

use rand::seq::SliceRandom;

use super::{Node, Now};
use crate::events::PeerId;
use crate::wire::addrv2::AddrV2Entry;
use crate::wire::{Message, NetAddress, TimestampedAddress, MAX_ADDR_ENTRIES};

/// Bitcoin Core's address rate limit: tokens per second and bucket size.
pub(super) const ADDR_TOKENS_PER_SEC: f64 = 0.1;
pub(super) const ADDR_TOKEN_BUCKET: f64 = MAX_ADDR_ENTRIES as f64;
/// Addresses at most this old (seconds) are relayed onwards.
const ADDR_RELAY_MAX_AGE: u64 = 10 * 60;
/// Peers each fresh address is relayed to (Bitcoin Core relays to 2 for reachable
/// networks).
pub(super) const ADDR_RELAY_FANOUT: usize = 2;
/// Announcements of at most this many addresses are relayed; larger ones answer getaddr.
const ADDR_RELAY_MAX_ENTRIES: usize = 10;

impl Node {
    /// A peer sent addresses: rate-limited, filtered, added to the book and, when fresh,
    /// relayed onwards.
    pub(super) fn on_addr(&mut self, peer: PeerId, addrs: &[TimestampedAddress], now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if !p.relays_addresses() {
            tracing::debug!(peer, "addresses on a block-relay-only connection ignored");
            return;
        }
        let bucket = &mut p.addr_relay;
        let elapsed = now.mono.saturating_duration_since(bucket.refilled);
        bucket.refilled = now.mono;
        bucket.tokens = (bucket.tokens + elapsed.as_secs_f64() * ADDR_TOKENS_PER_SEC)
            .min(ADDR_TOKEN_BUCKET.max(bucket.tokens));
        let affordable = (bucket.tokens.max(0.0).floor() as usize).min(addrs.len());
        bucket.tokens -= affordable as f64;
        let source = p.addr.ip();
        for a in addrs {
            bucket.mark_known(a.addr.socket_addr());
        }
        if affordable < addrs.len() {
            tracing::debug!(peer, dropped = addrs.len() - affordable, "addr rate limit");
        }
        let usable: Vec<TimestampedAddress> = addrs[..affordable]
            .iter()
            .filter(|a| {
                let sa = a.addr.socket_addr();
                sa.port() != 0 && !self.bans.is_banned(&sa.ip(), now.unix)
            })
            .copied()
            .collect();
        let entries: Vec<(SocketAddr, u64, u32)> = usable
            .iter()
            .map(|a| (a.addr.socket_addr(), a.addr.services, a.time))
            .collect();
        if self.addrman.add(&entries, source, now.unix) > 0 {
            self.addresses_changed = true;
            self.connections_wanted(now);
        }
        if addrs.len() > ADDR_RELAY_MAX_ENTRIES {
            return;
        }
        let fresh: Vec<TimestampedAddress> = usable
            .into_iter()
            .filter(|a| u64::from(a.time) + ADDR_RELAY_MAX_AGE >= now.unix)
            .filter(|a| self.addrman.contains(a.addr.socket_addr()))
            .collect();
        if fresh.is_empty() {
            return;
        }
        let mut targets: Vec<PeerId> = self
            .established_ids()
            .into_iter()
            .filter(|id| *id != peer && self.peers.get(id).is_some_and(|t| t.relays_addresses()))
            .collect();
        targets.shuffle(&mut self.rng);
        for target in targets.into_iter().take(ADDR_RELAY_FANOUT) {
            let Some(t) = self.peers.get_mut(&target) else {
                continue;
            };
            let unknown: Vec<TimestampedAddress> = fresh
                .iter()
                .filter(|a| t.addr_relay.mark_known(a.addr.socket_addr()))
                .copied()
                .collect();
            if !unknown.is_empty() {
                self.send_addresses(target, unknown, now);
            }
        }
    }

    /// Answers getaddr once per connection, from inbound peers only (Bitcoin Core's rule,
    /// which keeps outbound peers from fingerprinting the node).
    pub(super) fn on_get_addr(&mut self, peer: PeerId, now: Now) {
        let Some(p) = self.peers.get_mut(&peer) else {
            return;
        };
        if !p.inbound() || p.addr_relay.answered_getaddr {
            return;
        }
        p.addr_relay.answered_getaddr = true;
        let items: Vec<TimestampedAddress> = self
            .addrman
            .get_addresses(MAX_ADDR_ENTRIES, &mut self.rng, now.unix)
            .into_iter()
            .map(|(addr, services, time)| {
                p.addr_relay.mark_known(addr);
                TimestampedAddress {
                    time,
                    addr: NetAddress::from_socket_addr(services, addr),
                }
            })
            .collect();
        // An empty answer is never sent: btcd disconnects a peer for one, and Core
        // sends none.
        if !items.is_empty() {
            self.send_addresses(peer, items, now);
        }
    }

    /// BIP155 addresses: IPv4 and IPv6 entries are taken like `addr` ones; Tor, I2P and
    /// CJDNS addresses cannot be dialled over TCP/IP here and are dropped.
    pub(super) fn on_addrv2(&mut self, peer: PeerId, entries: &[AddrV2Entry], now: Now) {
        let addrs: Vec<TimestampedAddress> = entries
            .iter()
            .filter_map(|e| {
                Some(TimestampedAddress {
                    time: e.time,
                    addr: NetAddress::from_socket_addr(e.services, e.socket_addr()?),
                })
            })
            .collect();
        self.on_addr(peer, &addrs, now);
    }

    /// Sends addresses as `addrv2` to a peer that asked for it (BIP155), else as `addr`.
    pub(super) fn send_addresses(
        &mut self,
        peer: PeerId,
        addrs: Vec<TimestampedAddress>,
        now: Now,
    ) {
        let wants_addrv2 = self
            .peers
            .get(&peer)
            .and_then(|p| p.remote.as_ref())
            .is_some_and(|r| r.wants_addrv2);
        let message = if wants_addrv2 {
            Message::AddrV2(
                addrs
                    .iter()
                    .map(|a| {
                        AddrV2Entry::from_socket_addr(a.time, a.addr.services, a.addr.socket_addr())
                    })
                    .collect(),
            )
        } else {
            Message::Addr(addrs)
        };
        self.send(peer, message, now);
    }

    /// Addresses in the address book.
    pub fn address_count(&self) -> usize {
        self.addrman.len()
    }

    pub fn knows_address(&self, addr: SocketAddr) -> bool {
        self.addrman.contains(addr)
    }

    /// New addresses may let connection management dial: run it at the next tick.
    fn connections_wanted(&mut self, now: Now) {
        self.connections.wake(now);
    }
}
