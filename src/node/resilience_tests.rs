//! The partition and eclipse defences, driven with a fake clock: block-relay-only
//! connections, anchors, feelers, stale-tip recovery, extra block-relay-only peers and
//! the health flags.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;

use super::tests::{addr, closes, config, events, inv, sent_to, version_from, Harness, T0_UNIX};
use super::*;
use crate::addrman::AddrMan;
use crate::config::Network;
use crate::events::{Health, PartitionSignal};
use crate::relay::{ItemIds, ItemKind};
use crate::wire::{Frame, InvKind, Message, NetAddress, TimestampedAddress, HEADER_LEN};

/// A book holding one address in each of `groups` /16 groups (routable, so that the
/// one-per-group rule applies as on the real network).
fn book_with_groups(groups: u8) -> AddrMan {
    let mut book = AddrMan::with_key([5; 32], false);
    let entries: Vec<(SocketAddr, u64, u32)> = (1..=groups)
        .map(|g| (addr(&format!("31.{g}.0.1:8333")), 1, T0_UNIX as u32))
        .collect();
    book.add(&entries, "8.8.8.8".parse().unwrap(), T0_UNIX);
    book
}

fn mainnet(max_outbound: usize, block_relay: usize) -> Config {
    let mut c = Config::new(Network::Mainnet);
    c.listen_address = None;
    c.max_outbound = max_outbound;
    c.block_relay_connections = block_relay;
    c.feeler_interval = Duration::ZERO;
    c.extra_block_relay_interval = Duration::ZERO;
    c.tx_trickle_inbound = Duration::ZERO;
    c.tx_trickle_outbound = Duration::ZERO;
    // Peers that never answer pings stay, and the tip stays fresh, unless a test says
    // otherwise: waiting for a timer must not end connections.
    c.inactivity_timeout = Duration::from_secs(24 * 3600);
    c.block_interval = Duration::from_secs(24 * 3600);
    c
}

/// Ticks every half second until the core dials; returns the first dial.
fn next_dial(h: &mut Harness) -> (PeerId, SocketAddr, Origin) {
    for _ in 0..(30 * 60 * 2) {
        h.advance(Duration::from_millis(500));
        if let Some(d) = dials(&h.tick()).first() {
            return *d;
        }
    }
    panic!("no dial within 30 minutes");
}

/// A harness whose book is loaded after the first quiet tick, then woken.
fn harness_with_book(config: Config, book: AddrMan) -> Harness {
    let mut h = Harness::with_book(config, AddrMan::with_key([5; 32], false));
    h.node.addrman = book;
    h.node.connections.wake(h.now);
    h
}

fn dials(outputs: &[Output]) -> Vec<(PeerId, SocketAddr, Origin)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Dial {
                peer,
                target: DialTarget::Addr(a),
                origin,
                ..
            } => Some((*peer, *a, *origin)),
            _ => None,
        })
        .collect()
}

/// Opens a dialled connection and completes its handshake; returns what the core sent.
fn establish(h: &mut Harness, id: PeerId, to: SocketAddr, origin: Origin) -> Vec<Output> {
    assert!(h
        .node
        .connection_opened(id, to, addr("192.0.2.1:50000"), origin, h.now));
    let mut out = h.outputs();
    h.node.on_message(
        id,
        version_from(to, 5000 + id, 100),
        MessageIds::default(),
        h.now,
    );
    h.node
        .on_message(id, Message::Verack, MessageIds::default(), h.now);
    out.extend(h.outputs());
    out
}

fn health_events(outputs: &[Output]) -> Vec<Health> {
    events(outputs)
        .into_iter()
        .filter_map(|e| match e {
            NodeEvent::HealthChanged(h) => Some(*h),
            _ => None,
        })
        .collect()
}

#[test]
fn block_relay_only_peers_come_after_full_relay_and_ask_for_no_transactions() {
    let mut h = harness_with_book(mainnet(1, 2), book_with_groups(5));
    let out = h.tick();
    let kinds: Vec<Origin> = dials(&out).iter().map(|d| d.2).collect();
    assert_eq!(
        kinds,
        vec![Origin::Automatic, Origin::BlockRelay, Origin::BlockRelay]
    );
    let (id, to, _) = dials(&out)[1];
    let sent = establish(&mut h, id, to, Origin::BlockRelay);
    let version = sent_to(&sent, id)
        .into_iter()
        .find_map(|m| match m {
            Message::Version(v) => Some(v.relay),
            _ => None,
        })
        .expect("a version message");
    assert!(!version, "the relay flag asks for no transactions");
    let after: Vec<&Message> = sent_to(&sent, id);
    assert!(
        !after
            .iter()
            .any(|m| matches!(m, Message::GetAddr | Message::Addr(_) | Message::AddrV2(_))),
        "no address gossip: {after:?}"
    );
    assert!(!after.iter().any(|m| matches!(m, Message::FeeFilter(_))));
    assert_eq!(h.node.health(h.now).block_relay, 1);
}

#[test]
fn block_relay_only_peers_relay_blocks_but_no_transactions_or_addresses() {
    let mut h = harness_with_book(mainnet(1, 1), book_with_groups(2));
    let (id, to, origin) = dials(&h.tick())[1];
    assert_eq!(origin, Origin::BlockRelay);
    establish(&mut h, id, to, origin);
    let full = h.outbound("31.9.0.1:8333", Origin::Manual);

    let tx = Frame::test_from(Bytes::from(vec![0u8; HEADER_LEN + 60]));
    h.node
        .broadcast(ItemKind::Tx, ItemIds::single([1; 32]), tx, None, h.now);
    let out = h.tick();
    assert!(sent_to(&out, id).is_empty(), "no tx announcement");
    assert!(
        !sent_to(&out, full).is_empty(),
        "the manual peer hears of it"
    );
    let block = Frame::test_from(Bytes::from(vec![0u8; HEADER_LEN + 80]));
    h.node.broadcast(
        ItemKind::Block,
        ItemIds::single([2; 32]),
        block,
        None,
        h.now,
    );
    assert!(!sent_to(&h.tick(), id).is_empty(), "blocks are announced");

    let before = h.node.address_count();
    let gossip = TimestampedAddress {
        time: T0_UNIX as u32,
        addr: NetAddress::from_socket_addr(1, addr("41.1.0.1:8333")),
    };
    h.message(id, Message::Addr(vec![gossip]));
    assert_eq!(h.node.address_count(), before, "its addresses are ignored");

    h.message(id, Message::Inv(vec![inv(InvKind::WTX, [3; 32])]));
    assert_eq!(
        closes(&h.outputs()),
        vec![(id, DisconnectReason::ProtocolViolation)],
        "a transaction announced against our relay flag"
    );
}

#[test]
fn anchors_are_dialled_first_and_saved_at_stop() {
    let anchors = vec![addr("51.1.0.1:8333"), addr("51.2.0.1:8333")];
    let mut config = mainnet(1, 2);
    config.data_dir = Some(std::env::temp_dir());
    let now = Now {
        mono: std::time::Instant::now(),
        unix: T0_UNIX,
    };
    let mut node = Node::new(
        config,
        crate::banman::BanList::new(10),
        book_with_groups(3),
        anchors.clone(),
        1,
        now,
    );
    node.tick(now);
    let out = node.take_outputs();
    let first: Vec<(SocketAddr, Origin)> = dials(&out).iter().map(|d| (d.1, d.2)).collect();
    assert_eq!(
        first[..2],
        [
            (anchors[0], Origin::BlockRelay),
            (anchors[1], Origin::BlockRelay)
        ]
    );
    assert_eq!(first[2].1, Origin::Automatic, "then the full-relay target");
    assert_eq!(first.len(), 3, "the anchors filled the block-relay slots");

    let mut h = Harness { node, now };
    for (id, to, origin) in dials(&out) {
        establish(&mut h, id, to, origin);
    }
    h.node.keep_anchors();
    // Connections closing during shutdown do not change what was kept.
    let block_relay: Vec<PeerId> = dials(&out)[..2].iter().map(|d| d.0).collect();
    for id in block_relay {
        h.node
            .connection_closed(id, DisconnectReason::Requested, String::new(), h.now);
    }
    let saved = h
        .node
        .final_snapshots(h.now)
        .into_iter()
        .find_map(|o| match o {
            Output::Persist {
                file: StoredFile::Anchors,
                bytes,
            } => Some(bytes),
            _ => None,
        })
        .expect("anchors are written with a data directory");
    assert_eq!(crate::anchors::from_snapshot(&saved).unwrap(), anchors);
}

#[test]
fn feelers_test_a_new_address_and_close_after_the_handshake() {
    let mut config = mainnet(1, 0);
    config.feeler_interval = Duration::from_secs(120);
    let mut h = harness_with_book(config, book_with_groups(2));
    // Feelers run once the outbound target is met; the full-relay peer takes one
    // address, the other stays in the new table.
    let (full, to, origin) = dials(&h.tick())[0];
    establish(&mut h, full, to, origin);
    let target = [addr("31.1.0.1:8333"), addr("31.2.0.1:8333")]
        .into_iter()
        .find(|a| *a != to)
        .unwrap();
    assert!(!h.node.addrman.is_tried(target));
    // Exponential timing: at most ten means away.
    let (id, to, origin) = next_dial(&mut h);
    assert_eq!((to, origin), (target, Origin::Feeler));
    let out = establish(&mut h, id, to, origin);
    assert_eq!(closes(&out), vec![(id, DisconnectReason::Rotated)]);
    assert!(h.node.addrman.is_tried(target), "moved to the tried table");
    assert!(
        !events(&out)
            .iter()
            .any(|e| matches!(e, NodeEvent::PeerConnected(_))),
        "the node is not told of a feeler"
    );
}

#[test]
fn a_stale_tip_adds_one_outbound_peer_and_later_rotates_out_the_quietest() {
    let mut config = mainnet(2, 0);
    config.block_interval = Duration::from_secs(60);
    let mut h = harness_with_book(config, book_with_groups(6));
    h.node.set_best_block(100, [9; 32], h.now);
    let out = h.tick();
    let first = dials(&out);
    assert_eq!(first.len(), 2);
    for (id, to, origin) in &first {
        establish(&mut h, *id, *to, *origin);
    }
    let (talker, quiet) = (first[0].0, first[1].0);
    h.advance(Duration::from_secs(180));
    assert!(
        dials(&h.tick()).is_empty(),
        "three intervals exactly: not yet"
    );
    h.advance(Duration::from_secs(1));
    let out = h.tick();
    let extra = dials(&out);
    assert_eq!(extra.len(), 1, "one extra full-relay peer");
    assert_eq!(extra[0].2, Origin::Automatic);
    let changed = health_events(&out);
    assert!(changed.len() == 1 && changed[0].stale_tip);
    assert_eq!(changed[0].partition, PartitionSignal::StaleWithNoBetterPeer);

    let newcomer = extra[0].0;
    establish(&mut h, newcomer, extra[0].1, Origin::Automatic);
    h.message(talker, Message::Inv(vec![inv(InvKind::BLOCK, [7; 32])]));
    h.message(newcomer, Message::Inv(vec![inv(InvKind::BLOCK, [8; 32])]));
    h.outputs();
    h.advance(Duration::from_secs(1));
    assert_eq!(
        closes(&h.tick()),
        vec![(quiet, DisconnectReason::Rotated)],
        "the peer that announced nothing new the longest goes"
    );

    // The tip advances: the flags clear.
    h.node.set_best_block(101, [10; 32], h.now);
    let health = h.node.health(h.now);
    assert!(!health.stale_tip);
    assert_eq!(health.partition, PartitionSignal::None);
}

#[test]
fn an_extra_block_relay_peer_stays_only_if_it_brings_a_block() {
    let mut config = mainnet(1, 1);
    config.extra_block_relay_interval = Duration::from_secs(60);
    let mut h = harness_with_book(config, book_with_groups(8));
    // Extra peers are looked for only when no peer is ahead.
    h.node.set_best_block(100, [9; 32], h.now);
    let first = dials(&h.tick());
    for (id, to, origin) in &first {
        establish(&mut h, *id, *to, *origin);
    }
    let older = first[1].0;
    assert_eq!(first[1].2, Origin::BlockRelay);

    // An extra peer that brings nothing goes after the minimum connect time.
    let (quiet, to, origin) = next_dial(&mut h);
    assert_eq!(origin, Origin::BlockRelay);
    establish(&mut h, quiet, to, origin);
    h.advance(Duration::from_secs(29));
    assert!(closes(&h.tick()).is_empty(), "it gets its chance first");
    h.advance(Duration::from_secs(1));
    let out = h.tick();
    assert_eq!(closes(&out), vec![(quiet, DisconnectReason::Rotated)]);
    h.node
        .connection_closed(quiet, DisconnectReason::Rotated, String::new(), h.now);

    // One that brings a new block replaces the older peer that brought none. (The
    // slot the quiet one left may be taken in the same step, if the timer is due.)
    let (useful, to, origin) = match dials(&out).first() {
        Some(d) => *d,
        None => next_dial(&mut h),
    };
    establish(&mut h, useful, to, origin);
    h.message(useful, Message::Inv(vec![inv(InvKind::BLOCK, [4; 32])]));
    h.outputs();
    h.item(useful, ItemKind::Block, [4; 32], &[0u8; 80]);
    h.outputs();
    h.advance(Duration::from_secs(31));
    assert_eq!(closes(&h.tick()), vec![(older, DisconnectReason::Rotated)]);
}

#[test]
fn isolation_is_signalled_after_a_block_interval_without_outbound_peers() {
    let mut c = config();
    c.max_outbound = 1;
    c.block_interval = Duration::from_secs(60);
    let mut h = Harness::new(c);
    h.advance(Duration::from_secs(59));
    assert!(health_events(&h.tick()).is_empty());
    h.advance(Duration::from_secs(1));
    let changed = health_events(&h.tick());
    assert_eq!(changed.len(), 1);
    assert_eq!(changed[0].partition, PartitionSignal::Isolated);
    assert_eq!(
        (changed[0].outbound_target, changed[0].outbound_filled),
        (1, 0)
    );

    h.outbound("127.0.0.9:18444", Origin::Manual);
    let health = h.node.health(h.now);
    assert_eq!(health.partition, PartitionSignal::None);
    assert_eq!(health.manual, 1);
}

#[test]
fn failing_dials_to_known_addresses_signal_a_partition() {
    let mut h = harness_with_book(mainnet(1, 0), book_with_groups(8));
    // Every address once worked: it is in the tried table.
    for g in 1..=8 {
        h.node
            .addrman
            .mark_good(addr(&format!("31.{g}.0.1:8333")), T0_UNIX - 3600);
    }
    let (id, to, origin) = dials(&h.tick())[0];
    // The first attempt worked; the next ones fail.
    establish(&mut h, id, to, origin);
    let mut failed = 0;
    while failed < 4 {
        h.node.connection_closed(
            id,
            DisconnectReason::InactivityTimeout,
            String::new(),
            h.now,
        );
        h.advance(Duration::from_millis(500));
        let out = h.tick();
        let Some((next, _, _)) = dials(&out).first().copied() else {
            continue;
        };
        h.node.dial_failed(next, "timed out".into(), h.now);
        failed += 1;
        let signal = h.node.health(h.now).partition;
        // Judged from four outcomes on, one of them the success.
        let expected = if failed >= 3 {
            PartitionSignal::KnownPeersUnreachable
        } else {
            PartitionSignal::None
        };
        assert_eq!(signal, expected, "after {failed} failures");
    }
}

#[test]
fn announced_heights_above_ours_keep_a_stale_tip_from_looking_like_a_partition() {
    let mut c = config();
    c.block_interval = Duration::from_secs(60);
    let mut h = Harness::new(c);
    h.node.set_best_block(100, [1; 32], h.now);
    let peer = h.inbound("127.0.0.2:5000");
    h.advance(Duration::from_secs(181));
    let changed = health_events(&h.tick());
    assert!(changed[0].stale_tip);
    assert_eq!(changed[0].partition, PartitionSignal::StaleWithNoBetterPeer);
    // The peer announces a header on our tip: it is ahead of us.
    let mut header = vec![0u8; 80];
    header[4..36].copy_from_slice(&[1; 32]);
    let ids = MessageIds {
        headers: vec![[2; 32]],
        ..MessageIds::default()
    };
    h.node.on_message(
        peer,
        Message::Headers(vec![Bytes::from(header)]),
        ids,
        h.now,
    );
    h.outputs();
    let health = h.node.health(h.now);
    assert_eq!(health.best_peer_height, 101);
    assert_eq!(health.partition, PartitionSignal::None);
}
