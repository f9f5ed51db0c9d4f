//! The core's policies, driven through its inputs with a fake clock and a seeded RNG;
//! each test asserts the exact outputs.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::connections::Refusal;
use super::*;
use crate::addrman::AddrMan;
use crate::banman::BanList;
use crate::config::{Config, Network};
use crate::relay::{ItemIds, ItemKind, Verdict};
use crate::wire::{
    Command, Frame, Hash256, InvKind, Inventory, Message, NetAddress, TimestampedAddress,
    VersionMessage,
};

pub(super) const T0_UNIX: u64 = 1_700_000_000;

pub(super) struct Harness {
    pub node: Node,
    pub now: Now,
}

pub(super) fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

pub(super) fn config() -> Config {
    let mut c = Config::new(Network::Regtest);
    c.max_outbound = 0;
    c.block_relay_connections = 0;
    c.tx_trickle_inbound = Duration::ZERO;
    c.tx_trickle_outbound = Duration::ZERO;
    c
}

pub(super) fn version_from(peer_addr: SocketAddr, nonce: u64, height: i32) -> Message {
    Message::Version(VersionMessage {
        version: 70016,
        services: 9,
        timestamp: T0_UNIX as i64,
        receiver: NetAddress::from_socket_addr(0, addr("127.0.0.1:18444")),
        sender: NetAddress::from_socket_addr(0, peer_addr),
        nonce,
        user_agent: "/peer/".into(),
        start_height: height,
        relay: true,
    })
}

impl Harness {
    pub(super) fn new(config: Config) -> Self {
        Self::with_book(config, AddrMan::with_key([7; 32], true))
    }

    pub(super) fn with_book(config: Config, book: AddrMan) -> Self {
        let now = Now {
            mono: Instant::now(),
            unix: T0_UNIX,
        };
        let bans = BanList::new(config.max_bans);
        let mut node = Node::new(config, bans, book, Vec::new(), 42, now);
        // The first tick runs connection management once; start from a quiet core.
        node.tick(now);
        node.take_outputs();
        Harness { node, now }
    }

    pub(super) fn advance(&mut self, d: Duration) {
        self.now = self.now.plus(d);
    }

    pub(super) fn tick(&mut self) -> Vec<Output> {
        self.node.tick(self.now);
        self.node.take_outputs()
    }

    pub(super) fn outputs(&mut self) -> Vec<Output> {
        self.node.take_outputs()
    }

    /// An inbound peer from `from` that completed the handshake.
    pub(super) fn inbound(&mut self, from: &str) -> PeerId {
        let id = self
            .node
            .accept_inbound(addr(from), addr("127.0.0.1:18444"), self.now)
            .expect("admitted");
        self.handshake(id, from);
        id
    }

    /// An inbound peer that announces NODE_NETWORK only (no witness data).
    pub(super) fn node_without_witness(&mut self, from: &str) -> PeerId {
        self.inbound_with(from, 1, Vec::new())
    }

    /// An inbound peer that negotiated BIP339 (wtxidrelay before its verack).
    pub(super) fn inbound_wtxid_relay(&mut self, from: &str) -> PeerId {
        self.inbound_with(from, 9, vec![Message::WtxidRelay])
    }

    /// An inbound peer that offered `commands` in its handshake.
    pub(super) fn inbound_offering(&mut self, from: &str, commands: &[&str]) -> PeerId {
        let offered = commands.iter().map(|c| Command::new(c).unwrap()).collect();
        self.inbound_with(from, 9, vec![Message::SendCustom(offered)])
    }

    /// An inbound peer announcing `services` that sends `before_verack` between its
    /// version and its verack.
    pub(super) fn inbound_with(
        &mut self,
        from: &str,
        services: u64,
        before_verack: Vec<Message>,
    ) -> PeerId {
        let id = self
            .node
            .accept_inbound(addr(from), addr("127.0.0.1:18444"), self.now)
            .expect("admitted");
        let mut version = version_from(addr(from), 1000 + id, 100);
        if let Message::Version(v) = &mut version {
            v.services = services;
        }
        self.message(id, version);
        for message in before_verack {
            self.message(id, message);
        }
        self.message(id, Message::Verack);
        self.tick();
        self.outputs();
        id
    }

    /// An outbound peer (dialled as `origin`) that completed the handshake.
    pub(super) fn outbound(&mut self, to: &str, origin: Origin) -> PeerId {
        let id = self.node.next_id();
        assert!(self.node.connection_opened(
            id,
            addr(to),
            addr("127.0.0.1:50000"),
            origin,
            self.now
        ));
        self.handshake(id, to);
        id
    }

    pub(super) fn handshake(&mut self, id: PeerId, from: &str) {
        let nonce = 1000 + id;
        self.message(id, version_from(addr(from), nonce, 100));
        self.message(id, Message::Verack);
        // The first ping goes out at the next tick; nothing else is due for two minutes.
        self.tick();
        self.outputs();
    }

    pub(super) fn message(&mut self, id: PeerId, msg: Message) {
        self.node
            .on_message(id, msg, MessageIds::default(), self.now);
    }

    pub(super) fn item(&mut self, id: PeerId, kind: ItemKind, hash: Hash256, data: &[u8]) {
        let msg = match kind {
            ItemKind::Block => Message::Block(Bytes::copy_from_slice(data)),
            ItemKind::Tx => Message::Tx(Bytes::copy_from_slice(data)),
        };
        let ids = MessageIds {
            item: Some(ItemIds::single(hash)),
            ..MessageIds::default()
        };
        self.node.on_message(id, msg, ids, self.now);
    }

    pub(super) fn score(&self, id: PeerId) -> u32 {
        self.node.peers[&id].score.total()
    }
}

pub(super) fn sent_to(outputs: &[Output], peer: PeerId) -> Vec<&Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                peer: p,
                message: Outgoing::Message(m),
            } if *p == peer => Some(m),
            _ => None,
        })
        .collect()
}

pub(super) fn frames_sent(outputs: &[Output], peer: PeerId) -> Vec<&Frame> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send {
                peer: p,
                message: Outgoing::Frame(f),
            } if *p == peer => Some(f),
            _ => None,
        })
        .collect()
}

fn frames_to(outputs: &[Output], peer: PeerId) -> usize {
    frames_sent(outputs, peer).len()
}

pub(super) fn closes(outputs: &[Output]) -> Vec<(PeerId, DisconnectReason)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Close { peer, reason, .. } => Some((*peer, *reason)),
            _ => None,
        })
        .collect()
}

pub(super) fn events(outputs: &[Output]) -> Vec<&NodeEvent> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Notify(e) => Some(e),
            _ => None,
        })
        .collect()
}

pub(super) fn inv(kind: InvKind, hash: Hash256) -> Inventory {
    Inventory { kind, hash }
}

fn timestamped(a: &str, time: u64) -> TimestampedAddress {
    TimestampedAddress {
        time: time as u32,
        addr: NetAddress::from_socket_addr(1, addr(a)),
    }
}

#[test]
fn handshake_times_out_without_version() {
    let mut config = config();
    config.handshake_timeout = Duration::from_secs(5);
    let mut h = Harness::new(config);
    let id = h
        .node
        .accept_inbound(addr("127.0.0.2:1000"), addr("127.0.0.1:18444"), h.now)
        .unwrap();
    assert!(h.node.next_deadline() <= Some(h.now.mono + Duration::from_secs(5)));
    h.advance(Duration::from_secs(4));
    assert!(closes(&h.tick()).is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(
        closes(&h.tick()),
        vec![(id, DisconnectReason::HandshakeTimeout)]
    );
}

#[test]
fn handshake_reports_the_peer_and_outbound_asks_for_addresses() {
    let mut h = Harness::new(config());
    let id = h.node.next_id();
    h.node.connection_opened(
        id,
        addr("127.0.0.3:18444"),
        addr("127.0.0.1:50000"),
        Origin::Manual,
        h.now,
    );
    let out = h.outputs();
    assert!(matches!(sent_to(&out, id)[..], [Message::Version(_)]));
    h.message(id, version_from(addr("127.0.0.3:18444"), 5, 77));
    assert!(matches!(
        sent_to(&h.outputs(), id)[..],
        [Message::WtxidRelay, Message::SendAddrV2, Message::Verack]
    ));
    h.message(id, Message::Verack);
    let out = h.outputs();
    assert!(
        matches!(events(&out)[..], [NodeEvent::PeerConnected(info)] if info.id == id && info.start_height == 77)
    );
    // BIP130 at 70016, then getaddr; not listening, so no self-advertisement.
    assert!(matches!(
        sent_to(&out, id)[..],
        [Message::SendHeaders, Message::GetAddr]
    ));
}

#[test]
fn addr_token_bucket_limits_what_a_peer_adds_and_refills_over_time() {
    let mut h = Harness::new(config());
    let id = h.inbound("127.0.0.2:1000");
    let flood: Vec<TimestampedAddress> = (0..1000)
        .map(|i| timestamped(&format!("10.{}.{}.1:8333", i / 250, i % 250), T0_UNIX))
        .collect();
    h.message(id, Message::Addr(flood.clone()));
    // An inbound peer starts with one token.
    assert_eq!(h.node.address_count(), 1);
    // 0.1 tokens per second: 100 s buy 10 more.
    h.advance(Duration::from_secs(100));
    h.message(id, Message::Addr(flood[1..].to_vec()));
    assert_eq!(h.node.address_count(), 11);
}

#[test]
fn fresh_small_addr_announcements_go_to_two_other_peers() {
    let mut h = Harness::new(config());
    let from = h.inbound("127.0.0.2:1000");
    let others: Vec<PeerId> = (3..7)
        .map(|i| h.inbound(&format!("127.0.0.{i}:1000")))
        .collect();
    h.message(
        from,
        Message::Addr(vec![timestamped("10.1.2.3:8333", T0_UNIX)]),
    );
    let out = h.outputs();
    let receivers: Vec<PeerId> = others
        .iter()
        .copied()
        .filter(|p| matches!(sent_to(&out, *p)[..], [Message::Addr(a)] if a.len() == 1))
        .collect();
    assert_eq!(receivers.len(), 2);
    assert!(sent_to(&out, from).is_empty());
    // A stale address is stored but not relayed.
    h.advance(Duration::from_secs(20));
    h.message(
        from,
        Message::Addr(vec![timestamped("10.9.9.9:8333", T0_UNIX - 3600)]),
    );
    assert!(h.outputs().is_empty());
}

#[test]
fn addrv2_ip_addresses_join_the_book_and_other_networks_are_dropped() {
    use crate::wire::addrv2::{AddrV2Entry, NetworkAddr};
    let mut h = Harness::new(config());
    // An outbound peer we asked for addresses may send many at once.
    let from = h.outbound("127.0.0.2:1000", Origin::Manual);
    let before = h.node.address_count();
    let ip = |s: &str| AddrV2Entry::from_socket_addr(T0_UNIX as u32, 9, addr(s));
    let onion = AddrV2Entry {
        time: T0_UNIX as u32,
        services: 9,
        addr: NetworkAddr::TorV3([7; 32]),
        port: 8333,
    };
    h.message(
        from,
        Message::AddrV2(vec![ip("10.1.2.3:8333"), onion, ip("[2a01:4f8::1]:8333")]),
    );
    assert_eq!(h.node.address_count(), before + 2);
}

#[test]
fn an_address_is_not_relayed_to_a_peer_that_knows_it() {
    let mut h = Harness::new(config());
    let a = h.inbound("127.0.0.2:1000");
    let b = h.inbound("127.0.0.3:1000");
    let fresh = vec![timestamped("10.1.2.3:8333", T0_UNIX)];
    h.message(a, Message::Addr(fresh.clone()));
    let out = h.outputs();
    assert!(matches!(sent_to(&out, b)[..], [Message::Addr(x)] if x == &fresh));
    // b echoes it back (a loop through other nodes looks the same): neither a,
    // which sent it, nor b, which was sent it, gets it again.
    h.advance(Duration::from_secs(20));
    h.message(b, Message::Addr(fresh.clone()));
    let out = h.outputs();
    assert!(sent_to(&out, a).is_empty());
    assert!(sent_to(&out, b).is_empty());
}

#[test]
fn fee_filters_are_sent_after_the_handshake_and_honoured_for_rated_transactions() {
    let mut h = Harness::new(config());
    h.node.set_fee_filter(1_000, h.now);
    assert!(h.outputs().is_empty(), "no peers yet");
    // Our floor goes to a peer right after its handshake (the harness speaks 70016).
    let id = h
        .node
        .accept_inbound(addr("127.0.0.2:1000"), addr("127.0.0.1:18444"), h.now)
        .unwrap();
    h.message(id, version_from(addr("127.0.0.2:1000"), 1, 0));
    h.outputs();
    h.message(id, Message::Verack);
    assert!(sent_to(&h.outputs(), id).contains(&&Message::FeeFilter(1_000)));
    h.node.set_fee_filter(2_000, h.now);
    assert_eq!(sent_to(&h.outputs(), id), vec![&Message::FeeFilter(2_000)]);
    h.tick(); // the first ping

    // The peer's filter keeps cheaper rated transactions from it, not unrated ones.
    h.message(id, Message::FeeFilter(5_000));
    let frame = Frame::test_from(Bytes::from_static(b"frame"));
    let cases = [
        (1, Some(4_999), false),
        (2, Some(5_000), true),
        (3, None, true),
    ];
    for (i, rate, announced) in cases {
        h.node.broadcast(
            ItemKind::Tx,
            ItemIds::single(tx_id(i)),
            frame.clone(),
            rate,
            h.now,
        );
        let out = h.tick();
        assert_eq!(
            !sent_to(&out, id).is_empty(),
            announced,
            "tx {i} at {rate:?}"
        );
    }
    // Out of the money range: ignored, the filter stays.
    h.message(id, Message::FeeFilter(-1));
    h.message(id, Message::FeeFilter(i64::MAX));
    h.node.broadcast(
        ItemKind::Tx,
        ItemIds::single(tx_id(4)),
        frame,
        Some(4_000),
        h.now,
    );
    assert!(sent_to(&h.tick(), id).is_empty());
}

/// A block whose 80-byte header names `parent`; its id is `id`.
fn block_on(parent: Hash256, id: Hash256) -> (Hash256, Bytes) {
    let mut data = vec![0u8; 100];
    data[4..36].copy_from_slice(&parent);
    (id, Bytes::from(data))
}

#[test]
fn blocks_are_announced_by_headers_to_peers_that_asked_and_when_they_connect() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let legacy = h.node_without_witness("127.0.0.3:1000");
    h.message(b, Message::SendHeaders);
    let magic = h.node.config.magic;
    let relay = |h: &mut Harness, (id, data): (Hash256, Bytes)| {
        let frame = Message::Block(data).frame(magic);
        h.node
            .broadcast(ItemKind::Block, ItemIds::single(id), frame, None, h.now);
        h.outputs()
    };
    // The first block's parent is unknown to b: inv, like everyone else.
    let out = relay(&mut h, block_on([0; 32], tx_id(1)));
    assert!(matches!(sent_to(&out, b)[..], [Message::Inv(_)]));
    // The next builds on a block b has: a header.
    let (id2, data2) = block_on(tx_id(1), tx_id(2));
    let out = relay(&mut h, (id2, data2.clone()));
    assert!(
        matches!(sent_to(&out, b)[..], [Message::Headers(hs)] if hs.len() == 1 && hs[0][..] == data2[..80])
    );
    assert!(matches!(sent_to(&out, legacy)[..], [Message::Inv(_)]));
    // b fetches it by getdata as usual.
    h.message(b, Message::GetData(vec![inv(InvKind::WITNESS_BLOCK, id2)]));
    assert_eq!(frames_to(&h.outputs(), b), 1);
}

#[test]
fn a_short_headers_message_is_fetched_like_an_announcement() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let header = Bytes::from(vec![0u8; 80]);
    h.node.on_message(
        b,
        Message::Headers(vec![header.clone()]),
        MessageIds {
            headers: vec![tx_id(9)],
            ..MessageIds::default()
        },
        h.now,
    );
    let out = h.outputs();
    assert!(
        matches!(sent_to(&out, b)[..], [Message::GetData(items)] if items == &vec![inv(InvKind::WITNESS_BLOCK, tx_id(9))])
    );
    assert!(matches!(events(&out)[..], [NodeEvent::Headers { .. }]));
    // A long one (a sync answer) is only handed to the node.
    let many: Vec<Bytes> = (0..9).map(|_| header.clone()).collect();
    let ids = MessageIds {
        headers: (10..19).map(tx_id).collect(),
        ..MessageIds::default()
    };
    h.node.on_message(b, Message::Headers(many), ids, h.now);
    let out = h.outputs();
    assert!(sent_to(&out, b).is_empty());
}

#[test]
fn addresses_go_as_addrv2_to_peers_that_sent_sendaddrv2() {
    let mut h = Harness::new(config());
    let from = h.inbound("127.0.0.2:1000");
    let v2 = h
        .node
        .accept_inbound(addr("127.0.0.3:1000"), addr("127.0.0.1:18444"), h.now)
        .unwrap();
    h.message(v2, version_from(addr("127.0.0.3:1000"), 3, 0));
    h.message(v2, Message::SendAddrV2);
    h.message(v2, Message::Verack);
    h.tick();
    h.outputs();
    h.message(
        from,
        Message::Addr(vec![timestamped("10.1.2.3:8333", T0_UNIX)]),
    );
    let out = h.outputs();
    assert!(
        matches!(sent_to(&out, v2)[..], [Message::AddrV2(e)] if e.len() == 1 && e[0].socket_addr() == Some(addr("10.1.2.3:8333")))
    );
}

#[test]
fn getaddr_is_answered_once_and_only_to_inbound_peers() {
    let mut h = Harness::new(config());
    let seed = h.inbound("127.0.0.9:1000");
    h.advance(Duration::from_secs(100));
    h.message(
        seed,
        Message::Addr(
            (1..=5)
                .map(|i| timestamped(&format!("10.0.{i}.1:8333"), T0_UNIX))
                .collect(),
        ),
    );
    h.outputs();
    let inbound = h.inbound("127.0.0.2:1000");
    let outbound = h.outbound("127.0.0.3:18444", Origin::Manual);
    h.message(inbound, Message::GetAddr);
    let out = h.outputs();
    assert!(matches!(sent_to(&out, inbound)[..], [Message::Addr(a)] if !a.is_empty()));
    h.message(inbound, Message::GetAddr);
    assert!(sent_to(&h.outputs(), inbound).is_empty());
    h.message(outbound, Message::GetAddr);
    assert!(sent_to(&h.outputs(), outbound).is_empty());
}

#[test]
fn misbehaviour_reaching_100_closes_bans_and_persists() {
    let mut config = config();
    config.data_dir = Some(std::env::temp_dir().join("p2pnet-node-test-unused"));
    let mut h = Harness::new(config);
    let id = h.inbound("127.0.0.5:1000");
    for _ in 0..4 {
        h.node
            .bad_payload(id, crate::misbehaviour::Offence::OversizedList, "", h.now);
    }
    assert_eq!(h.score(id), 80);
    assert!(closes(&h.outputs()).is_empty());
    h.node
        .bad_payload(id, crate::misbehaviour::Offence::OversizedList, "", h.now);
    assert_eq!(
        closes(&h.outputs()),
        vec![(id, DisconnectReason::Misbehaviour)]
    );
    assert!(h.node.is_banned("127.0.0.5".parse().unwrap(), h.now));
    let bans = h.node.bans(h.now);
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].1.until, T0_UNIX + 24 * 3600);
    let out = h.tick();
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Persist {
            file: StoredFile::Bans,
            ..
        }
    )));
    // The banned address is refused at accept.
    assert_eq!(
        h.node
            .accept_inbound(addr("127.0.0.5:2000"), addr("127.0.0.1:18444"), h.now),
        Err(Refusal::Banned)
    );
}

#[test]
fn an_unsolicited_item_costs_20_points_and_reaches_no_one() {
    let mut h = Harness::new(config());
    let id = h.inbound("127.0.0.2:1000");
    h.item(id, ItemKind::Tx, [9; 32], b"tx");
    let out = h.outputs();
    assert!(events(&out).is_empty());
    assert_eq!(h.score(id), 20);
}

/// Announces `hash` from `from`, checks the getdata, delivers it, and returns the outputs.
fn deliver_tx(h: &mut Harness, from: PeerId, hash: Hash256) -> Vec<Output> {
    h.message(from, Message::Inv(vec![inv(InvKind::TX, hash)]));
    let out = h.outputs();
    assert!(matches!(sent_to(&out, from)[..], [Message::GetData(items)] if items[0].hash == hash));
    h.item(from, ItemKind::Tx, hash, b"tx bytes");
    h.outputs()
}

#[test]
fn an_item_goes_to_the_node_with_its_frame_as_received_for_relay_unchanged() {
    let mut h = Harness::new(config());
    let a = h.inbound("127.0.0.2:1000");
    let hash = [6; 32];
    h.message(a, Message::Inv(vec![inv(InvKind::TX, hash)]));
    h.outputs();
    let received = Frame::test_from(Bytes::from_static(b"24-byte header, then the tx bytes"));
    let ids = MessageIds {
        item: Some(ItemIds::single(hash)),
        frame: Some(received.clone()),
        ..MessageIds::default()
    };
    let data = received.payload().clone();
    h.node.on_message(a, Message::Tx(data.clone()), ids, h.now);
    let out = h.outputs();
    assert!(
        matches!(&events(&out)[..], [NodeEvent::Item { data: d, frame: Some(f), .. }] if *d == data && *f == received),
        "the node hears of the item with the frame it came in"
    );
}

#[test]
fn accepted_items_are_relayed_to_peers_that_lack_them() {
    let mut h = Harness::new(config());
    let a = h.inbound("127.0.0.2:1000");
    let b = h.inbound("127.0.0.3:1000");
    let hash = [1; 32];
    let out = deliver_tx(&mut h, a, hash);
    assert!(
        matches!(events(&out)[..], [NodeEvent::Item { peer, hash: hh, .. }] if *peer == a && *hh == hash)
    );
    h.node.callback_verdict(
        hash,
        Verdict::Accepted,
        Some(Frame::test_from(Bytes::from_static(b"frame"))),
        h.now,
    );
    assert!(h.outputs().is_empty());
    // Trickle 0: announced at the next tick, to b only (a sent it).
    let out = h.tick();
    assert!(
        matches!(sent_to(&out, b)[..], [Message::Inv(items)] if items == &vec![inv(InvKind::TX, hash)])
    );
    assert!(sent_to(&out, a).is_empty());
    // b asks for it and is served from the relay cache.
    h.message(b, Message::GetData(vec![inv(InvKind::TX, hash)]));
    assert_eq!(frames_to(&h.outputs(), b), 1);
}

#[test]
fn invalid_verdict_penalises_the_sender() {
    let mut h = Harness::new(config());
    let a = h.inbound("127.0.0.2:1000");
    let hash = [2; 32];
    deliver_tx(&mut h, a, hash);
    h.node.callback_verdict(hash, Verdict::Invalid, None, h.now);
    assert_eq!(
        closes(&h.outputs()),
        vec![(a, DisconnectReason::Misbehaviour)]
    );
    assert_eq!(h.score(a), 100);
}

#[test]
fn pending_verdict_reported_later_is_applied_once() {
    let mut h = Harness::new(config());
    let a = h.inbound("127.0.0.2:1000");
    let b = h.inbound("127.0.0.3:1000");
    let hash = [3; 32];
    deliver_tx(&mut h, a, hash);
    h.node.callback_verdict(hash, Verdict::Pending, None, h.now);
    assert!(h.tick().is_empty());
    let item = h.node.take_unjudged(&hash).expect("pending");
    assert_eq!(item.peer, a);
    h.node.reported_verdict(
        hash,
        item,
        Verdict::Accepted,
        Some(Frame::test_from(Bytes::from_static(b"f"))),
        h.now,
    );
    let out = h.tick();
    assert!(matches!(sent_to(&out, b)[..], [Message::Inv(_)]));
    assert!(h.node.take_unjudged(&hash).is_none());
}

#[test]
fn a_verdict_reported_while_the_callback_runs_wins() {
    let mut h = Harness::new(config());
    let a = h.inbound("127.0.0.2:1000");
    let hash = [4; 32];
    deliver_tx(&mut h, a, hash);
    // The node reports "invalid" from another thread before its callback returns.
    let item = h.node.take_unjudged(&hash).expect("awaiting the callback");
    h.node
        .reported_verdict(hash, item, Verdict::Invalid, None, h.now);
    h.outputs();
    // The callback's own answer is then dropped.
    h.node.callback_verdict(
        hash,
        Verdict::Accepted,
        Some(Frame::test_from(Bytes::from_static(b"f"))),
        h.now,
    );
    assert!(h.tick().iter().all(|o| !matches!(o, Output::Send { .. })));
    assert_eq!(h.score(a), 100);
}

#[test]
fn a_timed_out_request_goes_to_another_announcer() {
    let mut config = config();
    config.tx_request_timeout = Duration::from_secs(10);
    let mut h = Harness::new(config);
    let a = h.inbound("127.0.0.2:1000");
    let b = h.inbound("127.0.0.3:1000");
    let hash = [5; 32];
    h.message(a, Message::Inv(vec![inv(InvKind::TX, hash)]));
    assert!(matches!(
        sent_to(&h.outputs(), a)[..],
        [Message::GetData(_)]
    ));
    h.message(b, Message::Inv(vec![inv(InvKind::TX, hash)]));
    assert!(sent_to(&h.outputs(), b).is_empty(), "one request at a time");
    h.advance(Duration::from_secs(9));
    assert!(sent_to(&h.tick(), b).is_empty());
    h.advance(Duration::from_secs(1));
    let out = h.tick();
    assert!(matches!(sent_to(&out, b)[..], [Message::GetData(items)] if items[0].hash == hash));
    // a's late delivery is not a reward: it is no longer expected from a.
    h.item(b, ItemKind::Tx, hash, b"tx");
    assert_eq!(events(&h.outputs()).len(), 1);
}

#[test]
fn outbound_filling_takes_one_address_per_netgroup() {
    let mut config = Config::new(Network::Mainnet);
    config.listen_address = None;
    config.max_outbound = 8;
    let mut book = AddrMan::with_key([3; 32], false);
    let mut entries = Vec::new();
    for group in 1..=3u8 {
        for host in 1..=5u8 {
            entries.push((
                addr(&format!("{}.{group}.0.{host}:8333", 20 + group)),
                1u64,
                T0_UNIX as u32,
            ));
        }
    }
    book.add(&entries, "8.8.8.8".parse().unwrap(), T0_UNIX);
    let mut h = Harness::with_book(config, AddrMan::with_key([3; 32], false));
    // Load the book after construction so the first tick above stayed quiet.
    h.node.addrman = book;
    h.node.connections.wake(h.now);
    let out = h.tick();
    let dials: Vec<SocketAddr> = out
        .iter()
        .filter_map(|o| match o {
            Output::Dial {
                target: DialTarget::Addr(a),
                ..
            } => Some(*a),
            _ => None,
        })
        .collect();
    assert_eq!(dials.len(), 3, "three /16 groups, one dial each: {dials:?}");
    let mut groups: Vec<[u8; 2]> = dials
        .iter()
        .map(|a| match a.ip() {
            std::net::IpAddr::V4(v4) => [v4.octets()[0], v4.octets()[1]],
            _ => unreachable!(),
        })
        .collect();
    groups.sort();
    groups.dedup();
    assert_eq!(groups.len(), 3);
    // Nothing more while those are being dialled.
    h.advance(Duration::from_secs(1));
    assert!(!h.tick().iter().any(|o| matches!(o, Output::Dial { .. })));
}

#[test]
fn added_peers_are_redialled_with_doubling_backoff() {
    let mut h = Harness::new(config());
    let first = h.node.add_node("127.0.0.7", 18444, h.now).unwrap();
    let out = h.outputs();
    assert!(
        matches!(&out[..], [Output::Dial { peer, target: DialTarget::Host(host, 18444), transport: TransportPlan::V2 { fallback: true }, origin: Origin::Manual }] if *peer == first && host == "127.0.0.7")
    );
    assert_eq!(h.node.add_node("127.0.0.7", 18444, h.now), None);
    // Fails: next attempt after 2 s, then 4 s.
    let mut attempt = first;
    for wait in [2u64, 4] {
        h.node.dial_failed(attempt, "refused".into(), h.now);
        h.outputs();
        h.advance(Duration::from_secs(wait) - Duration::from_millis(1));
        assert!(!h.tick().iter().any(|o| matches!(o, Output::Dial { .. })));
        h.advance(Duration::from_millis(1));
        let out = h.tick();
        let dialled: Vec<PeerId> = out
            .iter()
            .filter_map(|o| match o {
                Output::Dial { peer, .. } => Some(*peer),
                _ => None,
            })
            .collect();
        assert_eq!(dialled.len(), 1, "after {wait} s");
        attempt = dialled[0];
    }
    // Removed: no more attempts.
    assert!(h.node.remove_node("127.0.0.7", 18444));
    h.node.dial_failed(attempt, "refused".into(), h.now);
    h.advance(Duration::from_secs(120));
    assert!(!h.tick().iter().any(|o| matches!(o, Output::Dial { .. })));
}

#[test]
fn eviction_gives_a_newcomer_the_slot_of_the_crowded_group() {
    let mut config = config();
    config.max_inbound = 30;
    config.max_connections = 30;
    let mut h = Harness::new(config);
    // 20 peers from distinct groups connected long ago, then 10 from one group.
    let mut honest = Vec::new();
    for i in 0..20 {
        honest.push(h.inbound(&format!("10.{i}.0.1:1000")));
    }
    h.advance(Duration::from_secs(1000));
    let mut crowd = Vec::new();
    for i in 0..10 {
        crowd.push(h.inbound(&format!("10.99.0.{}:1000", i + 1)));
        h.advance(Duration::from_secs(1));
    }
    let candidates = h.node.eviction_candidates();
    assert_eq!(candidates.len(), 30);
    let newcomer = h
        .node
        .accept_inbound(addr("10.200.0.1:1000"), addr("127.0.0.1:18444"), h.now);
    assert!(newcomer.is_ok());
    let evicted = closes(&h.outputs());
    assert_eq!(
        evicted,
        vec![(*crowd.last().unwrap(), DisconnectReason::ConnectionLimit)]
    );
}

/// A core with one DNS seed and eight outbound slots over `book`, not yet ticked.
fn seeded_node(book: AddrMan) -> (Node, Now) {
    let mut config = config();
    config.max_outbound = 8;
    config.dns_seeds = vec![("seed.example".into(), 18444)];
    let now = Now {
        mono: Instant::now(),
        unix: T0_UNIX,
    };
    (
        Node::new(config, BanList::new(10), book, Vec::new(), 1, now),
        now,
    )
}

#[test]
fn seeds_are_asked_at_once_when_the_book_is_empty_and_again_after_a_minute() {
    let (mut node, now) = seeded_node(AddrMan::with_key([1; 32], true));
    node.tick(now);
    let out = node.take_outputs();
    assert!(matches!(&out[..], [Output::ResolveSeeds(s)] if s.len() == 1));
    // The seed answered nothing: asked again after 60 s, not before.
    node.seed_resolved("seed.example", 18444, Ok(Vec::new()), now);
    node.tick(now.plus(Duration::from_secs(59)));
    assert!(!node
        .take_outputs()
        .iter()
        .any(|o| matches!(o, Output::ResolveSeeds(_))));
    node.tick(now.plus(Duration::from_secs(60)));
    assert!(node
        .take_outputs()
        .iter()
        .any(|o| matches!(o, Output::ResolveSeeds(_))));
    // An answer fills the book, and the book is dialled from.
    node.seed_resolved(
        "seed.example",
        18444,
        Ok(vec!["127.0.0.8".parse().unwrap()]),
        now.plus(Duration::from_secs(61)),
    );
    node.tick(now.plus(Duration::from_secs(61)));
    let out = node.take_outputs();
    assert!(out.iter().any(|o| matches!(o, Output::Dial { target: DialTarget::Addr(a), .. } if *a == addr("127.0.0.8:18444"))));
}

#[test]
fn seeds_wait_when_the_book_has_addresses_and_outbound_fills() {
    let mut book = AddrMan::with_key([1; 32], true);
    book.add(
        &[(addr("127.0.0.8:18444"), 1, T0_UNIX as u32)],
        "127.0.0.1".parse().unwrap(),
        T0_UNIX,
    );
    let (mut node, now) = seeded_node(book);
    node.tick(now);
    let out = node.take_outputs();
    assert!(!out.iter().any(|o| matches!(o, Output::ResolveSeeds(_))));
    assert!(out.iter().any(|o| matches!(o, Output::Dial { .. })));
    // Fewer than two outbound connections after 11 s: the seeds are asked.
    node.tick(now.plus(Duration::from_secs(11)));
    assert!(node
        .take_outputs()
        .iter()
        .any(|o| matches!(o, Output::ResolveSeeds(_))));
}

fn invs_to(outputs: &[Output], peer: PeerId) -> Vec<usize> {
    sent_to(outputs, peer)
        .into_iter()
        .filter_map(|m| match m {
            Message::Inv(items) => Some(items.len()),
            _ => None,
        })
        .collect()
}

fn tx_id(i: usize) -> Hash256 {
    let mut h = [0xAB; 32];
    h[..8].copy_from_slice(&(i as u64).to_le_bytes());
    h
}

#[test]
fn a_burst_is_announced_a_window_at_a_time_and_nothing_is_dropped() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    for i in 0..12_000 {
        h.node.broadcast(
            ItemKind::Tx,
            ItemIds::single(tx_id(i)),
            Frame::test_from(Bytes::from_static(b"frame")),
            None,
            h.now,
        );
    }
    assert!(h.outputs().is_empty(), "transactions wait for the trickle");
    assert_eq!(invs_to(&h.tick(), b), vec![5000]);
    assert!(invs_to(&h.tick(), b).is_empty(), "the window is full");
    // b requests the first 1,000: the backlog fills the room at once.
    let asked: Vec<Inventory> = (0..1000).map(|i| inv(InvKind::TX, tx_id(i))).collect();
    h.message(b, Message::GetData(asked));
    let out = h.outputs();
    assert_eq!(frames_to(&out, b), 1000);
    assert_eq!(invs_to(&out, b), vec![1000]);
    // b requests nothing more: after the lapse the next window goes out.
    h.advance(super::announce::ANNOUNCEMENT_LAPSE);
    assert_eq!(invs_to(&h.tick(), b), vec![5000]);
    h.advance(super::announce::ANNOUNCEMENT_LAPSE);
    assert_eq!(invs_to(&h.tick(), b), vec![1000]);
    h.advance(super::announce::ANNOUNCEMENT_LAPSE);
    assert!(invs_to(&h.tick(), b).is_empty(), "all 12,000 announced");
}

/// A harness with one inbound peer that asked for `count` cached 600 KiB blocks (two
/// fill the 1 MiB burst).
fn asked_for_cached_blocks(count: usize) -> (Harness, PeerId) {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let big = Frame::test_from(Bytes::from(vec![0u8; 600 * 1024]));
    for i in 0..count {
        h.node.broadcast(
            ItemKind::Block,
            ItemIds::single(tx_id(i)),
            big.clone(),
            None,
            h.now,
        );
    }
    h.outputs();
    let asked: Vec<Inventory> = (0..count).map(|i| inv(InvKind::BLOCK, tx_id(i))).collect();
    h.message(b, Message::GetData(asked));
    (h, b)
}

#[test]
fn getdata_is_served_a_burst_at_a_time_as_the_send_buffer_drains() {
    let (mut h, b) = asked_for_cached_blocks(3);
    let out = h.outputs();
    assert_eq!(frames_to(&out, b), 2, "1.2 MB reach the 1 MiB burst");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::WatchDrain { peer } if *peer == b)));
    h.node.send_buffer_drained(b, h.now);
    assert_eq!(frames_to(&h.outputs(), b), 1);
}

#[test]
fn a_peer_that_keeps_asking_while_its_send_buffer_does_not_drain_is_cut_off() {
    use super::serving::{MAX_OVERFLOW_WHILE_STALLED, MAX_QUEUED_REQUESTS};
    // Two blocks fill the burst: the rest waits for the drain.
    let (mut h, b) = asked_for_cached_blocks(2);
    h.outputs();
    let same = |n: usize| Message::GetData(vec![inv(InvKind::BLOCK, tx_id(0)); n]);
    h.message(b, same(MAX_QUEUED_REQUESTS));
    assert!(
        closes(&h.outputs()).is_empty(),
        "the waiting room is full, no more"
    );
    // Overflow is answered NOTFOUND until it passes the allowance since the last drain.
    h.message(b, same(MAX_OVERFLOW_WHILE_STALLED));
    let out = h.outputs();
    assert!(closes(&out).is_empty());
    assert!(sent_to(&out, b)
        .iter()
        .any(|m| matches!(m, Message::NotFound(_))));
    // A drain forgives what came before it.
    h.node.send_buffer_drained(b, h.now);
    h.outputs();
    h.message(b, same(MAX_OVERFLOW_WHILE_STALLED));
    assert!(
        closes(&h.outputs()).is_empty(),
        "the count restarted at the drain"
    );
    h.message(b, same(10));
    let closed = closes(&h.outputs());
    assert!(
        matches!(&closed[..], [(p, DisconnectReason::SendBufferFull)] if *p == b),
        "{closed:?}"
    );
}

#[test]
fn getdata_messages_of_one_item_each_also_wait_for_the_drain() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let big = Frame::test_from(Bytes::from(vec![0u8; 4 * 1024 * 1024]));
    for i in 0..4 {
        h.node.broadcast(
            ItemKind::Block,
            ItemIds::single(tx_id(i)),
            big.clone(),
            None,
            h.now,
        );
    }
    h.outputs();
    for i in 0..4 {
        h.message(b, Message::GetData(vec![inv(InvKind::BLOCK, tx_id(i))]));
    }
    let out = h.outputs();
    assert_eq!(frames_to(&out, b), 1, "the first block fills the burst");
    assert!(out
        .iter()
        .any(|o| matches!(o, Output::WatchDrain { peer } if *peer == b)));
    for _ in 0..3 {
        h.node.send_buffer_drained(b, h.now);
        assert_eq!(frames_to(&h.outputs(), b), 1);
    }
    h.node.send_buffer_drained(b, h.now);
    assert_eq!(frames_to(&h.outputs(), b), 0);
}

#[test]
fn requested_items_stay_cached_until_served() {
    let mut c = config();
    c.relay_cache_bytes = 2 * 1024 * 1024;
    let mut h = Harness::new(c);
    let b = h.inbound("127.0.0.2:1000");
    let block = Frame::test_from(Bytes::from(vec![0u8; 1024 * 1024]));
    for i in 0..4 {
        h.node.broadcast(
            ItemKind::Block,
            ItemIds::single(tx_id(i)),
            block.clone(),
            None,
            h.now,
        );
    }
    h.outputs();
    // Requesting all four settles their announcements; one is sent, three wait.
    let asked: Vec<Inventory> = (0..4).map(|i| inv(InvKind::BLOCK, tx_id(i))).collect();
    h.message(b, Message::GetData(asked));
    assert_eq!(frames_to(&h.outputs(), b), 1);
    // Newer items that b has (it announced them) push the cache past its budget.
    let newer: Vec<Inventory> = (10..20).map(|i| inv(InvKind::BLOCK, tx_id(i))).collect();
    h.message(b, Message::Inv(newer));
    for i in 10..20 {
        h.node.broadcast(
            ItemKind::Block,
            ItemIds::single(tx_id(i)),
            block.clone(),
            None,
            h.now,
        );
    }
    h.outputs();
    for _ in 0..3 {
        h.node.send_buffer_drained(b, h.now);
        let out = h.outputs();
        assert_eq!(frames_to(&out, b), 1, "a waiting request was evicted");
        assert!(!sent_to(&out, b)
            .iter()
            .any(|m| matches!(m, Message::NotFound(_))));
    }
}

#[test]
fn a_segwit_tx_is_served_stripped_to_peers_asking_by_msg_tx() {
    use crate::wire::transaction::{stripped, tests::hex, tests::BIP143_P2WPKH};
    let mut h = Harness::new(config());
    let witness = h.inbound("127.0.0.2:1000");
    let legacy = h.node_without_witness("127.0.0.3:1000");
    let full = Bytes::from(hex(BIP143_P2WPKH));
    let id = crate::relay::bitcoin_item_id(ItemKind::Tx, &full);
    let frame = Message::Tx(full.clone()).frame(h.node.config.magic);
    h.node
        .broadcast(ItemKind::Tx, ItemIds::single(id), frame, None, h.now);
    h.outputs();
    let served = |h: &mut Harness, peer, kind| {
        h.message(peer, Message::GetData(vec![inv(kind, id)]));
        let out = h.outputs();
        let frames: Vec<Bytes> = out
            .iter()
            .filter_map(|o| match o {
                Output::Send {
                    peer: p,
                    message: Outgoing::Frame(f),
                } if *p == peer => Some(f.payload().clone()),
                _ => None,
            })
            .collect();
        frames
    };
    assert_eq!(
        served(&mut h, witness, InvKind::WITNESS_TX),
        vec![full.clone()]
    );
    assert_eq!(
        served(&mut h, legacy, InvKind::TX),
        vec![Bytes::from(stripped(&full).unwrap())]
    );
}

#[test]
fn unknown_requests_cost_only_past_the_allowance() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let unknown = |round: usize| -> Vec<Inventory> {
        (0..50_000)
            .map(|i| inv(InvKind::TX, tx_id(round * 100_000 + i)))
            .collect()
    };
    h.message(b, Message::GetData(unknown(1)));
    assert!(
        matches!(sent_to(&h.outputs(), b)[..], [Message::NotFound(items)] if items.len() == 50_000)
    );
    assert_eq!(h.score(b), 0);
    h.message(b, Message::GetData(unknown(2)));
    assert_eq!(h.score(b), 20);
    // The allowance refills at 1,000 a second: 100 s pay back the overdraft and refill.
    h.advance(Duration::from_secs(100));
    h.message(b, Message::GetData(unknown(3)));
    assert_eq!(h.score(b), 20);
}

#[test]
fn the_data_provider_is_asked_a_batch_at_a_time_per_peer() {
    let mut h = Harness::new(config());
    h.node.set_has_data_provider(true);
    let b = h.inbound("127.0.0.2:1000");
    let asked: Vec<Inventory> = (0..40).map(|i| inv(InvKind::TX, tx_id(i))).collect();
    h.message(b, Message::GetData(asked));
    let out = h.outputs();
    assert!(matches!(events(&out)[..], [NodeEvent::GetData { items, .. }] if items.len() == 16));
    let answers = (0..16)
        .map(|i| (inv(InvKind::TX, tx_id(i)), Some(Bytes::from_static(b"tx"))))
        .collect();
    h.node.data_answer(b, answers, h.now);
    let out = h.outputs();
    assert_eq!(sent_to(&out, b).len(), 16);
    assert!(
        matches!(events(&out)[..], [NodeEvent::GetData { items, .. }] if items[0].hash == tx_id(16))
    );
}

#[test]
fn items_the_node_has_are_not_fetched() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let (have, want) = (tx_id(1), tx_id(2));
    h.node.on_message(
        b,
        Message::Inv(vec![inv(InvKind::TX, have), inv(InvKind::TX, want)]),
        MessageIds {
            node_has: vec![have],
            ..MessageIds::default()
        },
        h.now,
    );
    let out = h.outputs();
    assert!(
        matches!(sent_to(&out, b)[..], [Message::GetData(items)] if items == &vec![inv(InvKind::WITNESS_TX, want)])
    );
}

#[test]
fn items_are_requested_in_witness_form_only_from_witness_peers() {
    let mut h = Harness::new(config());
    // The harness's peers announce NODE_NETWORK | NODE_WITNESS.
    let witness = h.inbound("127.0.0.2:1000");
    let legacy = h.node_without_witness("127.0.0.3:1000");
    for (peer, i) in [(witness, 1), (legacy, 2)] {
        let items = vec![
            inv(InvKind::TX, tx_id(i)),
            inv(InvKind::BLOCK, tx_id(i + 10)),
        ];
        h.message(peer, Message::Inv(items));
    }
    let out = h.outputs();
    let requested = |peer| match sent_to(&out, peer)[..] {
        [Message::GetData(items)] => items.iter().map(|i| i.kind).collect::<Vec<_>>(),
        ref other => panic!("{other:?}"),
    };
    assert_eq!(
        requested(witness),
        vec![InvKind::WITNESS_TX, InvKind::WITNESS_BLOCK]
    );
    assert_eq!(requested(legacy), vec![InvKind::TX, InvKind::BLOCK]);
}

/// BIP143's segwit transaction: its bytes, its ids and its `tx` frame.
fn segwit_tx() -> (Vec<u8>, ItemIds, Frame) {
    use crate::wire::transaction::tests::{hex, BIP143_P2WPKH};
    let bytes = hex(BIP143_P2WPKH);
    let ids = ItemIds::bitcoin(ItemKind::Tx, &bytes);
    assert!(ids.wtxid.is_some());
    let frame = Message::Tx(Bytes::from(bytes.clone())).frame(config().magic);
    (bytes, ids, frame)
}

#[test]
fn transactions_go_to_wtxid_relay_peers_by_wtxid_and_to_others_by_txid() {
    let mut h = Harness::new(config());
    let wtxid_peer = h.inbound_wtxid_relay("127.0.0.2:1000");
    let legacy_peer = h.inbound("127.0.0.3:1000");
    let (bytes, ids, frame) = segwit_tx();
    let wtxid = ids.wtxid.unwrap();
    h.node.broadcast(ItemKind::Tx, ids, frame, None, h.now);
    let out = h.tick();
    assert!(
        matches!(sent_to(&out, wtxid_peer)[..], [Message::Inv(items)] if items == &vec![inv(InvKind::WTX, wtxid)])
    );
    assert!(
        matches!(sent_to(&out, legacy_peer)[..], [Message::Inv(items)] if items == &vec![inv(InvKind::TX, ids.id)])
    );
    // Each asks by the id it was told; the wtxid peer gets the witness form, a peer
    // asking by MSG_TX the legacy form.
    h.message(wtxid_peer, Message::GetData(vec![inv(InvKind::WTX, wtxid)]));
    h.message(
        legacy_peer,
        Message::GetData(vec![inv(InvKind::TX, ids.id)]),
    );
    let out = h.outputs();
    let witness_form = frames_sent(&out, wtxid_peer);
    assert_eq!(witness_form.len(), 1);
    assert_eq!(&witness_form[0].payload()[..], &bytes[..]);
    let legacy_form = frames_sent(&out, legacy_peer);
    assert_eq!(legacy_form.len(), 1);
    let legacy = crate::wire::transaction::stripped(&bytes).unwrap();
    assert_eq!(&legacy_form[0].payload()[..], &legacy[..]);
    // Both settled their announcements: nothing lapses, nothing is announced again.
    assert_eq!(h.node.peers[&wtxid_peer].announce.queued(), 0);
    assert_eq!(h.node.peers[&legacy_peer].announce.queued(), 0);
}

#[test]
fn a_wtxid_relay_peer_is_asked_by_wtxid_and_its_txid_announcements_are_ignored() {
    let mut h = Harness::new(config());
    let wtxid_peer = h.inbound_wtxid_relay("127.0.0.2:1000");
    let legacy_peer = h.inbound("127.0.0.3:1000");
    let (bytes, ids, _) = segwit_tx();
    let wtxid = ids.wtxid.unwrap();
    // Each kind of peer announces in the other's manner too; that part is ignored.
    h.message(
        wtxid_peer,
        Message::Inv(vec![inv(InvKind::TX, tx_id(1)), inv(InvKind::WTX, wtxid)]),
    );
    h.message(
        legacy_peer,
        Message::Inv(vec![inv(InvKind::WTX, tx_id(2)), inv(InvKind::TX, ids.id)]),
    );
    let out = h.outputs();
    assert!(
        matches!(sent_to(&out, wtxid_peer)[..], [Message::GetData(items)] if items == &vec![inv(InvKind::WTX, wtxid)])
    );
    assert!(
        matches!(sent_to(&out, legacy_peer)[..], [Message::GetData(items)] if items == &vec![inv(InvKind::WITNESS_TX, ids.id)])
    );
    // The wtxid peer delivers first: the node hears of the tx once, by its txid.
    let message = MessageIds {
        item: Some(ids),
        ..MessageIds::default()
    };
    let tx = Message::Tx(Bytes::from(bytes));
    h.node
        .on_message(wtxid_peer, tx.clone(), message.clone(), h.now);
    let out = h.outputs();
    assert!(
        matches!(events(&out)[..], [NodeEvent::Item { hash, peer, .. }] if *hash == ids.id && *peer == wtxid_peer)
    );
    // The other request was settled by that delivery: its late answer is a duplicate,
    // no offence, and not handed to the node again.
    h.node.on_message(legacy_peer, tx, message, h.now);
    let out = h.outputs();
    assert!(events(&out).is_empty());
    assert_eq!(h.score(legacy_peer), 0);
    assert_eq!(h.score(wtxid_peer), 0);
    // Neither id is fetched again.
    h.message(legacy_peer, Message::Inv(vec![inv(InvKind::TX, ids.id)]));
    h.message(wtxid_peer, Message::Inv(vec![inv(InvKind::WTX, wtxid)]));
    assert!(sent_to(&h.outputs(), legacy_peer).is_empty());
}

#[test]
fn blocks_asked_for_by_msg_block_are_served_without_witnesses() {
    let mut h = Harness::new(config());
    let old = h.node_without_witness("127.0.0.2:1000");
    let (tx, _, _) = segwit_tx();
    let mut block = vec![0x11; 80];
    block.push(1);
    block.extend_from_slice(&tx);
    let id = ItemIds::bitcoin(ItemKind::Block, &block);
    let frame = Message::Block(Bytes::from(block.clone())).frame(config().magic);
    h.node.broadcast(ItemKind::Block, id, frame, None, h.now);
    h.outputs();
    h.message(old, Message::GetData(vec![inv(InvKind::BLOCK, id.id)]));
    let out = h.outputs();
    let served = frames_sent(&out, old);
    assert_eq!(served.len(), 1);
    let expected = crate::wire::transaction::stripped_block(&block).unwrap();
    assert_eq!(&served[0].payload()[..], &expected[..]);
}

#[test]
fn blocks_announced_by_headers_that_the_node_has_are_not_fetched() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    let header = Bytes::from(vec![0u8; 80]);
    let ids = MessageIds {
        headers: vec![tx_id(1), tx_id(2)],
        node_has: vec![tx_id(1)],
        ..MessageIds::default()
    };
    h.node.on_message(
        b,
        Message::Headers(vec![header.clone(), header]),
        ids,
        h.now,
    );
    let out = h.outputs();
    assert!(
        matches!(sent_to(&out, b)[..], [Message::GetData(items)] if items == &vec![inv(InvKind::WITNESS_BLOCK, tx_id(2))])
    );
}

fn custom_config() -> Config {
    let mut c = config();
    c.add_custom_message(crate::config::CustomMessage {
        command: "chainvote".into(),
        max_size: 100,
        max_per_second: 5,
    })
    .unwrap();
    c
}

#[test]
fn node_defined_commands_are_offered_before_verack_and_sent_only_to_peers_that_offered_them() {
    let mut h = Harness::new(custom_config());
    let vote = Command::new("chainvote").unwrap();
    // Our offer goes between version and verack.
    let id = h
        .node
        .accept_inbound(addr("127.0.0.5:1"), addr("127.0.0.1:18444"), h.now)
        .unwrap();
    h.message(id, version_from(addr("127.0.0.5:1"), 77, 1));
    assert!(matches!(
        sent_to(&h.outputs(), id)[..],
        [Message::Version(_), Message::WtxidRelay, Message::SendAddrV2, Message::SendCustom(c), Message::Verack]
            if c == &vec![vote]
    ));
    let knows = h.inbound_offering("127.0.0.2:1", &["chainvote", "other"]);
    let stranger = h.inbound("127.0.0.3:1");
    let payload = Bytes::from_static(b"ballot");
    assert_eq!(
        h.node
            .broadcast_custom(vote, payload.clone(), h.now)
            .unwrap(),
        1
    );
    let out = h.outputs();
    assert!(
        matches!(sent_to(&out, knows)[..], [Message::Unknown { command, payload: p }] if *command == vote && p == &payload)
    );
    assert!(sent_to(&out, stranger).is_empty());
    assert!(h
        .node
        .send_custom(stranger, vote, payload.clone(), h.now)
        .is_err());
    let other = Command::new("other").unwrap();
    assert!(
        h.node.send_custom(knows, other, payload, h.now).is_err(),
        "not ours"
    );
    let big = Bytes::from(vec![0u8; 101]);
    assert!(
        h.node.send_custom(knows, vote, big, h.now).is_err(),
        "over the limit"
    );
}

#[test]
fn node_defined_messages_reach_the_node_within_their_size_and_rate() {
    let mut h = Harness::new(custom_config());
    let vote = Command::new("chainvote").unwrap();
    let peer = h.inbound_offering("127.0.0.2:1", &["chainvote"]);
    let stranger = h.inbound("127.0.0.3:1");
    let message = |len: usize| Message::Unknown {
        command: vote,
        payload: Bytes::from(vec![7u8; len]),
    };
    // From a peer that did not offer it: ignored, no cost.
    h.message(stranger, message(10));
    assert!(events(&h.outputs()).is_empty());
    assert_eq!(h.score(stranger), 0);
    // Five a second: a burst of five arrives, the sixth is dropped and costs a point.
    for _ in 0..6 {
        h.message(peer, message(100));
    }
    let out = h.outputs();
    let delivered = events(&out)
        .iter()
        .filter(|e| matches!(e, NodeEvent::CustomMessage { command, payload, .. } if *command == vote && payload.len() == 100))
        .count();
    assert_eq!(delivered, 5);
    assert_eq!(h.score(peer), 1);
    // A second later the bucket is full again.
    h.advance(Duration::from_secs(1));
    h.message(peer, message(1));
    assert_eq!(events(&h.outputs()).len(), 1);
    // Over the size limit: dropped, 20 points.
    h.message(peer, message(101));
    assert!(events(&h.outputs()).is_empty());
    assert_eq!(h.score(peer), 21);
}

#[test]
fn outbound_connections_start_as_v2_only_where_the_peer_offers_it() {
    use crate::config::{TransportMode, NODE_P2P_V2};
    let dials = |mode: TransportMode| {
        let mut book = AddrMan::with_key([1; 32], true);
        let v2 = addr("127.0.0.8:18444");
        let v1 = addr("127.1.0.9:18444");
        book.add(
            &[
                (v2, 9 | NODE_P2P_V2, T0_UNIX as u32),
                (v1, 9, T0_UNIX as u32),
            ],
            "127.0.0.1".parse().unwrap(),
            T0_UNIX,
        );
        let mut c = config();
        c.max_outbound = 2;
        c.transport = mode;
        let now = Now {
            mono: Instant::now(),
            unix: T0_UNIX,
        };
        let mut node = Node::new(c, BanList::new(10), book, Vec::new(), 1, now);
        node.tick(now);
        node.add_peer("node.example".into(), 18444);
        let out = node.take_outputs();
        let plan = |wanted: &DialTarget| {
            out.iter().find_map(|o| match o {
                Output::Dial {
                    target, transport, ..
                } if target == wanted => Some(*transport),
                _ => None,
            })
        };
        [
            plan(&DialTarget::Addr(v2)),
            plan(&DialTarget::Addr(v1)),
            plan(&DialTarget::Host("node.example".into(), 18444)),
        ]
    };
    let fallback = Some(TransportPlan::V2 { fallback: true });
    assert_eq!(
        dials(TransportMode::PreferV2),
        [fallback, Some(TransportPlan::V1), fallback],
        "book addresses by their service bits, named peers v2 with a fallback"
    );
    assert_eq!(dials(TransportMode::V1Only), [Some(TransportPlan::V1); 3]);
    let strict = Some(TransportPlan::V2 { fallback: false });
    assert_eq!(dials(TransportMode::V2Only), [strict; 3]);
}

#[test]
fn items_larger_than_a_bip324_packet_do_not_go_to_v2_peers() {
    use crate::encrypted::{TransportVersion, MAX_V2_PAYLOAD};
    let mut h = Harness::new(config());
    let v1 = h.inbound("127.0.0.2:1000");
    let v2 = h.inbound("127.0.0.3:1000");
    h.node
        .transport_ready(v2, TransportVersion::V2, Some([9; 32]));
    let big = Message::Block(Bytes::from(vec![0u8; MAX_V2_PAYLOAD + 1])).frame(config().magic);
    let id = ItemIds::single(tx_id(1));
    h.node.broadcast(ItemKind::Block, id, big, None, h.now);
    let out = h.outputs();
    assert_eq!(invs_to(&out, v1), vec![1]);
    assert!(invs_to(&out, v2).is_empty(), "not announced over v2");
    // Asked for it anyway, the v2 peer is told it is not found.
    h.message(
        v2,
        Message::GetData(vec![inv(InvKind::WITNESS_BLOCK, tx_id(1))]),
    );
    let out = h.outputs();
    assert_eq!(frames_to(&out, v2), 0);
    assert!(matches!(sent_to(&out, v2)[..], [Message::NotFound(items)] if items.len() == 1));
}

#[test]
fn peers_best_known_heights_follow_their_headers_announcements_and_blocks() {
    let mut h = Harness::new(config());
    let b = h.inbound("127.0.0.2:1000");
    assert_eq!(
        h.node.sync_status().best_peer_height,
        100,
        "version start height"
    );
    let tip = tx_id(0);
    h.node.set_best_block(150, tip, h.now);
    // Headers on our tip: 151 and 152.
    let mut first = vec![0u8; 80];
    first[4..36].copy_from_slice(&tip);
    let mut second = vec![0u8; 80];
    second[4..36].copy_from_slice(&tx_id(1));
    let ids = MessageIds {
        headers: vec![tx_id(1), tx_id(2)],
        ..MessageIds::default()
    };
    let headers = vec![Bytes::from(first), Bytes::from(second)];
    h.node.on_message(b, Message::Headers(headers), ids, h.now);
    let status = h.node.sync_status();
    assert_eq!((status.current_height, status.best_peer_height), (150, 152));
    // A block building on 152 delivered by the peer: 153.
    let mut block = vec![0u8; 81];
    block[4..36].copy_from_slice(&tx_id(2));
    h.message(b, Message::Inv(vec![inv(InvKind::BLOCK, tx_id(3))]));
    h.item(b, ItemKind::Block, tx_id(3), &block);
    assert_eq!(h.node.peers[&b].best_known_height, 153);
    // Another peer announcing a block of known height by inv catches up at once.
    let c = h.inbound("127.0.0.3:1000");
    h.message(c, Message::Inv(vec![inv(InvKind::BLOCK, tx_id(3))]));
    assert_eq!(h.node.peers[&c].best_known_height, 153);
}
