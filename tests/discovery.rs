//! Discovery over real sockets: a DNS server on a loopback UDP port answers seed
//! queries, engines listen on distinct 127.x addresses, and the address book lives in
//! real files.

use std::net::{Ipv4Addr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, MessageType};
use hickory_proto::rr::rdata::A;
use hickory_proto::rr::{RData, Record, RecordType};
use hickory_proto::serialize::binary::{BinDecodable, BinEncodable};
use p2pnet::{Config, ConnectionKind, Engine, Network, PeerInfo};

const WAIT: Duration = Duration::from_secs(20);

/// A minimal authoritative DNS server: every A query gets `answers`.
struct DnsServer {
    addr: SocketAddr,
    stop: Arc<AtomicBool>,
}

impl DnsServer {
    fn start(answers: Vec<Ipv4Addr>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        socket
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let addr = socket.local_addr().unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stopping.load(Ordering::Relaxed) {
                let Ok((n, from)) = socket.recv_from(&mut buf) else {
                    continue;
                };
                let Ok(query) = Message::from_bytes(&buf[..n]) else {
                    continue;
                };
                let mut response = Message::new();
                response
                    .set_id(query.id())
                    .set_message_type(MessageType::Response)
                    .set_op_code(query.op_code())
                    .set_recursion_desired(query.recursion_desired())
                    .set_recursion_available(true)
                    .set_authoritative(true);
                for q in query.queries() {
                    response.add_query(q.clone());
                    if q.query_type() == RecordType::A {
                        for ip in &answers {
                            response.add_answer(Record::from_rdata(
                                q.name().clone(),
                                60,
                                RData::A(A::from(*ip)),
                            ));
                        }
                    }
                }
                if let Ok(bytes) = response.to_bytes() {
                    let _ = socket.send_to(&bytes, from);
                }
            }
        });
        DnsServer { addr, stop }
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

fn config(listen: &str) -> Config {
    let mut c = Config::new(Network::Regtest);
    c.set_listen_address(listen).unwrap();
    c.worker_threads = 1;
    c
}

fn connected_events(engine: &Engine) -> mpsc::Receiver<PeerInfo> {
    let (tx, rx) = mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    engine
        .set_on_peer_connected(Some(Arc::new(move |p: &PeerInfo| {
            let _ = tx.lock().send(p.clone());
        })))
        .unwrap();
    rx
}

fn port(engine: &Engine) -> u16 {
    engine.local_addr().unwrap().unwrap().port()
}

/// Starts engines listening on 127.0.0.<first>.. all on one port (seeds carry no port).
fn listeners_on_one_port(first: u8, count: u8) -> (Vec<Engine>, u16) {
    let head = Engine::new(config(&format!("127.0.0.{first}:0"))).unwrap();
    head.start().unwrap();
    let shared_port = port(&head);
    let mut engines = vec![head];
    for i in 1..count {
        let e = Engine::new(config(&format!("127.0.0.{}:{shared_port}", first + i))).unwrap();
        e.start().unwrap();
        engines.push(e);
    }
    (engines, shared_port)
}

/// Collects distinct outbound peer IPs from connected events until `want` or timeout.
fn outbound_ips(events: &mpsc::Receiver<PeerInfo>, want: usize) -> Vec<String> {
    let deadline = Instant::now() + WAIT;
    let mut ips = Vec::new();
    while ips.len() < want {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok(p) = events.recv_timeout(left) else {
            break;
        };
        let ip = p.address.ip().to_string();
        if !p.inbound && !ips.contains(&ip) {
            ips.push(ip);
        }
    }
    ips.sort();
    ips
}

#[test]
fn seed_name_alone_fills_outbound_slots_and_the_book_persists() {
    let (_listeners, shared_port) = listeners_on_one_port(21, 3);
    let dns = DnsServer::start(vec![
        Ipv4Addr::new(127, 0, 0, 21),
        Ipv4Addr::new(127, 0, 0, 22),
        Ipv4Addr::new(127, 0, 0, 23),
    ]);
    let dir = std::env::temp_dir().join(format!("p2pnet-seed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = config("127.0.0.20:0");
    c.dns_server = Some(dns.addr);
    c.dns_seeds = vec![("seed.p2pnet.test.".into(), shared_port)];
    c.max_outbound = 3;
    c.data_dir = Some(dir.clone());
    let node = Engine::new(c.clone()).unwrap();
    let events = connected_events(&node);
    node.start().unwrap();
    let ips = outbound_ips(&events, 3);
    assert_eq!(ips, vec!["127.0.0.21", "127.0.0.22", "127.0.0.23"]);
    assert_eq!(
        node.peers().unwrap().iter().filter(|p| !p.inbound).count(),
        3
    );
    node.stop().unwrap();
    drop(node);

    // The book survives a restart without the seed.
    let mut no_seed = c.clone();
    no_seed.dns_seeds.clear();
    let again = Engine::new(no_seed.clone()).unwrap();
    assert_eq!(again.address_count().unwrap(), 3);
    drop(again);

    // A truncated or corrupted book does not stop startup; it starts empty.
    let book = dir.join("peers.dat");
    let bytes = std::fs::read(&book).unwrap();
    std::fs::write(&book, &bytes[..bytes.len() / 2]).unwrap();
    let truncated = Engine::new(no_seed.clone()).unwrap();
    assert_eq!(truncated.address_count().unwrap(), 0);
    truncated.start().unwrap();
    truncated.stop().unwrap();
    drop(truncated);
    let mut flipped = bytes.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 0xFF;
    std::fs::write(&book, &flipped).unwrap();
    let corrupted = Engine::new(no_seed).unwrap();
    assert_eq!(corrupted.address_count().unwrap(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Address gossip: a newcomer that knows only the hub ends up with outbound
/// connections to the hub's other peers. The hub's book is too small for its getaddr
/// answer to name anyone (Bitcoin Core's 23 %), so the path is relay: the hub passes
/// the newcomer's self-advertisement to its peers, which dial the newcomer and
/// advertise themselves to it, and the newcomer dials them. The hub makes no
/// connections of its own, so each of its peers is one connection and the relay
/// fan-out of two reaches both.
#[test]
fn a_node_knowing_one_peer_learns_the_others_through_address_relay() {
    let mut hub_config = config("127.0.0.31:0");
    hub_config.max_outbound = 0;
    let hub = Engine::new(hub_config).unwrap();
    let hub_events = connected_events(&hub);
    hub.start().unwrap();
    let others: Vec<Engine> = (32..34)
        .map(|i| {
            let e = Engine::new(config(&format!("127.0.0.{i}:0"))).unwrap();
            e.start().unwrap();
            e.add_peer("127.0.0.31", port(&hub)).unwrap();
            e
        })
        .collect();
    for _ in 0..2 {
        hub_events.recv_timeout(WAIT).expect("others reach the hub");
    }
    // The hub learns the others' listen addresses from their self-advertisements.
    let deadline = Instant::now() + WAIT;
    while hub.address_count().unwrap() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(hub.address_count().unwrap() >= 2);

    let newcomer = Engine::new(config("127.0.0.35:0")).unwrap();
    let events = connected_events(&newcomer);
    newcomer.start().unwrap();
    newcomer.add_peer("127.0.0.31", port(&hub)).unwrap();
    let ips = outbound_ips(&events, 3);
    assert_eq!(ips, vec!["127.0.0.31", "127.0.0.32", "127.0.0.33"]);
    drop(others);
}

/// Waits for the first outbound connection of `kind`; returns its IP.
fn first_outbound_of(events: &mpsc::Receiver<PeerInfo>, kind: ConnectionKind) -> Option<String> {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let p = events.recv_timeout(left).ok()?;
        if p.kind == kind {
            return Some(p.address.ip().to_string());
        }
    }
}

/// Anchors: the block-relay-only peer of one run is saved at stop and is the first
/// connection of the next, even when the address book was lost in between.
#[test]
fn the_block_relay_only_peer_is_the_anchor_of_the_next_start() {
    let (_listeners, shared_port) = listeners_on_one_port(41, 2);
    let dns = DnsServer::start(vec![
        Ipv4Addr::new(127, 0, 0, 41),
        Ipv4Addr::new(127, 0, 0, 42),
    ]);
    let dir = std::env::temp_dir().join(format!("p2pnet-anchors-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = config("127.0.0.45:0");
    c.dns_server = Some(dns.addr);
    c.dns_seeds = vec![("seed.p2pnet.test.".into(), shared_port)];
    c.max_outbound = 1;
    c.block_relay_connections = 1;
    c.data_dir = Some(dir.clone());
    let node = Engine::new(c.clone()).unwrap();
    let events = connected_events(&node);
    node.start().unwrap();
    let anchor =
        first_outbound_of(&events, ConnectionKind::BlockRelay).expect("a block-relay peer");
    let health = node.health().unwrap();
    assert_eq!((health.block_relay, health.outbound_target), (1, 2));
    node.stop().unwrap();
    drop(node);
    assert!(dir.join("anchors.dat").exists());

    // No seed and no book: only the anchor can bring a peer back.
    std::fs::remove_file(dir.join("peers.dat")).unwrap();
    c.dns_seeds.clear();
    let again = Engine::new(c).unwrap();
    assert_eq!(again.address_count().unwrap(), 0);
    assert!(!dir.join("anchors.dat").exists(), "read once, then removed");
    let events = connected_events(&again);
    again.start().unwrap();
    let redialled = first_outbound_of(&events, ConnectionKind::BlockRelay);
    assert_eq!(redialled, Some(anchor));
    again.stop().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}
