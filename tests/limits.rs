//! Connection caps, inbound eviction and the addr rate limit, over real loopback sockets.
//! Raw peers speak the wire protocol from chosen 127.x.y.z source addresses so that each
//! one has the IP (and network group) the test needs.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use bytes::BytesMut;
use p2pnet::wire::{
    DecodedFrame, FrameDecoder, Message, NetAddress, TimestampedAddress, VersionMessage,
};
use p2pnet::{Config, Engine, Network, TransportMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;

const WAIT: Duration = Duration::from_secs(20);

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn engine(listen: &str, adjust: impl FnOnce(&mut Config)) -> Engine {
    let mut c = Config::new(Network::Regtest);
    c.set_listen_address(listen).unwrap();
    c.max_outbound = 0;
    c.worker_threads = 1;
    adjust(&mut c);
    let e = Engine::new(c).unwrap();
    e.start().unwrap();
    e
}

fn listen_addr(engine: &Engine) -> SocketAddr {
    engine.local_addr().unwrap().unwrap()
}

fn unix_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as u32
}

/// One end of a connection driven by the test with the engine's own codec.
struct RawPeer {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
    magic: u32,
}

impl RawPeer {
    /// Connects from `source` (any 127.x.y.z works on Linux loopback).
    async fn connect_from(source: Ipv4Addr, to: SocketAddr) -> std::io::Result<RawPeer> {
        let socket = TcpSocket::new_v4()?;
        socket.bind(SocketAddr::from((source, 0)))?;
        Ok(RawPeer::new(socket.connect(to).await?))
    }

    fn new(stream: TcpStream) -> RawPeer {
        let magic = Network::Regtest.magic();
        RawPeer {
            stream,
            decoder: FrameDecoder::with_default_limit(magic),
            buf: BytesMut::new(),
            magic,
        }
    }

    async fn send(&mut self, msg: &Message) {
        let frame = msg.to_frame(self.magic);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// The next message, or `None` once the engine has closed the connection.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(DecodedFrame::Frame(frame)) = self.decoder.decode(&mut self.buf).unwrap() {
                return Some(frame.into_message().unwrap());
            }
            let read = timeout(WAIT, self.stream.read_buf(&mut self.buf))
                .await
                .expect("the engine neither spoke nor closed the connection");
            match read {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    }

    /// Messages up to the first one `pick` accepts, which is returned.
    async fn recv_until<T>(&mut self, mut pick: impl FnMut(Message) -> Option<T>) -> Option<T> {
        while let Some(msg) = self.recv().await {
            if let Some(found) = pick(msg) {
                return Some(found);
            }
        }
        None
    }

    /// Sends our version and waits for the engine's version and verack.
    async fn handshake(&mut self) -> bool {
        let local = self.stream.local_addr().unwrap();
        let remote = self.stream.peer_addr().unwrap();
        self.send(&Message::Version(VersionMessage {
            version: 70001,
            services: 1,
            timestamp: i64::from(unix_now()),
            receiver: NetAddress::from_socket_addr(1, remote),
            sender: NetAddress::from_socket_addr(1, local),
            nonce: rand::random(),
            user_agent: "/raw-test-peer/".into(),
            start_height: 0,
            relay: true,
        }))
        .await;
        let mut verack = false;
        let mut version = false;
        while !(verack && version) {
            match self.recv().await {
                Some(Message::Version(_)) => {
                    version = true;
                    self.send(&Message::Verack).await;
                }
                Some(Message::Verack) => verack = true,
                Some(_) => {}
                None => return false,
            }
        }
        true
    }

    /// Waits until the engine has processed everything sent before: it answers pings
    /// in order.
    async fn sync(&mut self) {
        let nonce = rand::random();
        self.send(&Message::Ping(nonce)).await;
        let answered = self
            .recv_until(|m| matches!(m, Message::Pong(n) if n == nonce).then_some(()))
            .await;
        assert!(answered.is_some(), "connection closed before the pong");
    }

    /// Whether the engine closed the connection without sending a byte.
    async fn closed_silently(&mut self) -> bool {
        let mut byte = [0u8; 1];
        matches!(
            timeout(WAIT, self.stream.read(&mut byte)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }
}

fn inbound_peers(engine: &Engine) -> Vec<SocketAddr> {
    engine
        .peers()
        .unwrap()
        .into_iter()
        .filter(|p| p.inbound)
        .map(|p| p.address)
        .collect()
}

#[test]
fn one_ip_cannot_take_more_than_its_share_of_inbound_slots() {
    let node = engine("127.0.0.1:0", |c| c.max_inbound_per_ip = 3);
    let to = listen_addr(&node);
    runtime().block_on(async {
        let mut admitted = Vec::new();
        for _ in 0..3 {
            let mut peer = RawPeer::connect_from(Ipv4Addr::new(127, 0, 3, 1), to)
                .await
                .unwrap();
            assert!(peer.handshake().await, "a connection within the limit");
            admitted.push(peer);
        }
        for _ in 0..2 {
            let mut refused = RawPeer::connect_from(Ipv4Addr::new(127, 0, 3, 1), to)
                .await
                .unwrap();
            assert!(
                refused.closed_silently().await,
                "a fourth connection is refused"
            );
        }
        let mut other = RawPeer::connect_from(Ipv4Addr::new(127, 0, 3, 2), to)
            .await
            .unwrap();
        assert!(other.handshake().await, "another address is still admitted");
        // A slot freed by a disconnect can be taken again.
        drop(admitted.pop());
        let mut again = loop {
            let mut peer = RawPeer::connect_from(Ipv4Addr::new(127, 0, 3, 1), to)
                .await
                .unwrap();
            if peer.handshake().await {
                break peer;
            }
        };
        again.sync().await;
        let from_first: usize = inbound_peers(&node)
            .iter()
            .filter(|a| a.ip() == Ipv4Addr::new(127, 0, 3, 1))
            .count();
        assert_eq!(from_first, 3);
    });
}

/// Twelve established peers from distinct addresses, then a flood of connections from
/// one address: the cap holds, the flood evicts its own members, and every earlier peer
/// keeps its slot.
#[test]
fn inbound_cap_holds_and_eviction_takes_from_the_flooding_group() {
    const CAP: usize = 20;
    let node = engine("127.0.0.1:0", |c| {
        c.max_inbound = CAP;
        c.max_connections = CAP;
    });
    let to = listen_addr(&node);
    runtime().block_on(async {
        let mut honest = Vec::new();
        for i in 0..12u8 {
            let mut peer = RawPeer::connect_from(Ipv4Addr::new(127, 0, 4, 10 + i), to)
                .await
                .unwrap();
            assert!(peer.handshake().await);
            honest.push(peer);
        }
        let mut flood = Vec::new();
        for _ in 0..30 {
            let mut peer = RawPeer::connect_from(Ipv4Addr::new(127, 0, 4, 200), to)
                .await
                .unwrap();
            // Each one completes its handshake unless it was refused or evicted before.
            peer.handshake().await;
            flood.push(peer);
        }
        // Every earlier peer is still served.
        for peer in &mut honest {
            peer.sync().await;
        }
        let inbound = inbound_peers(&node);
        assert!(
            inbound.len() <= CAP,
            "{} inbound over a cap of {CAP}",
            inbound.len()
        );
        let honest_ips: HashSet<SocketAddr> = honest
            .iter()
            .map(|p| p.stream.local_addr().unwrap())
            .collect();
        let kept = inbound.iter().filter(|a| honest_ips.contains(a)).count();
        assert_eq!(kept, 12, "every earlier peer keeps its slot");
        let flooders = inbound.len() - kept;
        assert!(
            (1..=CAP - 12).contains(&flooders),
            "{flooders} flooding connections hold slots"
        );
    });
}

/// Connections that open and never speak do not lock out a peer that arrives later:
/// they are candidates for eviction before their handshake ends.
#[test]
fn idle_connections_give_way_to_a_new_peer() {
    const CAP: usize = 10;
    let node = engine("127.0.0.1:0", |c| {
        c.max_inbound = CAP;
        c.max_connections = CAP;
    });
    let to = listen_addr(&node);
    runtime().block_on(async {
        let mut idle = Vec::new();
        for i in 0..40u8 {
            idle.push(
                RawPeer::connect_from(Ipv4Addr::new(127, 0, 5, i % 4 + 1), to)
                    .await
                    .unwrap(),
            );
        }
        let mut newcomer = RawPeer::connect_from(Ipv4Addr::new(127, 0, 5, 100), to)
            .await
            .unwrap();
        assert!(newcomer.handshake().await, "the newcomer gets a slot");
        newcomer.sync().await;
    });
}

/// The outbound target is filled from the address book and refilled after a
/// disconnect, never exceeded.
#[test]
fn outbound_target_is_kept_filled() {
    let listeners: Vec<Engine> = (0..6u8)
        .map(|i| engine(&format!("127.0.6.{}:0", 10 + i), |_| {}))
        .collect();
    // The raw peer it dials speaks v1 only and would not survive a v2 key.
    // Full-relay slots only: block-relay-only connections and feelers would take
    // listeners too, and are tested in the core.
    let node = engine("127.0.6.1:0", |c| {
        c.max_outbound = 3;
        c.block_relay_connections = 0;
        c.feeler_interval = Duration::ZERO;
        c.transport = TransportMode::V1Only;
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    node.set_on_peer_connected(Some(std::sync::Arc::new(move |p: &p2pnet::PeerInfo| {
        let _ = tx.lock().send(p.clone());
    })))
    .unwrap();
    // Listeners advertise themselves to the node through addr.
    runtime().block_on(async {
        let server = TcpListener::bind("127.0.6.2:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        node.add_peer(&server_addr.ip().to_string(), server_addr.port())
            .unwrap();
        let (stream, _) = server.accept().await.unwrap();
        let mut feeder = RawPeer::new(stream);
        assert!(feeder.handshake().await);
        let addrs = listeners
            .iter()
            .map(|l| TimestampedAddress {
                time: unix_now(),
                addr: NetAddress::from_socket_addr(1, listen_addr(l)),
            })
            .collect();
        feeder.send(&Message::Addr(addrs)).await;
        feeder.sync().await;
        // Manual connections do not count against the automatic target.
        let automatic = |node: &Engine| {
            node.peers()
                .unwrap()
                .iter()
                .filter(|p| !p.inbound && p.address != server_addr)
                .count()
        };
        let mut connected = 0;
        while connected < 3 {
            let p = rx.recv_timeout(WAIT).expect("outbound slots filled");
            if !p.inbound && p.address != server_addr {
                connected += 1;
            }
        }
        assert_eq!(automatic(&node), 3);
        let victim = node
            .peers()
            .unwrap()
            .into_iter()
            .find(|p| !p.inbound && p.address != server_addr)
            .unwrap();
        node.disconnect_peer(victim.id).unwrap();
        loop {
            let p = rx.recv_timeout(WAIT).expect("the slot is refilled");
            if !p.inbound && p.address != server_addr {
                break;
            }
        }
        assert_eq!(automatic(&node), 3);
        assert!(
            rx.try_recv().is_err(),
            "no connection beyond the target was made"
        );
    });
}

/// An inbound peer sending thousands of addresses gets only what the token bucket
/// allows; the addresses an outbound peer gave in answer to getaddr all stay.
#[test]
fn addr_flood_is_dropped_and_honest_addresses_stay() {
    // The raw peer it dials speaks v1 only and would not survive a v2 key.
    let node = engine("127.0.7.1:0", |c| c.transport = TransportMode::V1Only);
    let to = listen_addr(&node);
    runtime().block_on(async {
        // An outbound peer answers the node's getaddr with 20 addresses.
        let server = TcpListener::bind("127.0.7.2:0").await.unwrap();
        let server_addr = server.local_addr().unwrap();
        node.add_peer(&server_addr.ip().to_string(), server_addr.port())
            .unwrap();
        let (stream, _) = server.accept().await.unwrap();
        let mut honest = RawPeer::new(stream);
        assert!(honest.handshake().await);
        let honest_addrs: Vec<SocketAddr> = (0..20u8)
            .map(|i| SocketAddr::from(([127, 1, i, 1], 18444)))
            .collect();
        honest
            .send(&Message::Addr(
                honest_addrs
                    .iter()
                    .map(|a| TimestampedAddress {
                        time: unix_now(),
                        addr: NetAddress::from_socket_addr(1, *a),
                    })
                    .collect(),
            ))
            .await;
        honest.sync().await;
        // Two addresses may hash to the same bucket slot; the book keeps the first.
        let admitted: Vec<SocketAddr> = honest_addrs
            .iter()
            .copied()
            .filter(|a| node.knows_address(*a).unwrap())
            .collect();
        assert!(admitted.len() >= 18, "{} of 20 admitted", admitted.len());
        assert_eq!(node.address_count().unwrap(), admitted.len());

        // An inbound peer floods 10 messages of 1,000 fresh addresses each.
        let mut flooder = RawPeer::connect_from(Ipv4Addr::new(127, 0, 7, 3), to)
            .await
            .unwrap();
        assert!(flooder.handshake().await);
        for round in 0..10u8 {
            let addrs = (0..1000u16)
                .map(|i| TimestampedAddress {
                    time: unix_now(),
                    addr: NetAddress::from_socket_addr(
                        1,
                        SocketAddr::from(([127, 2 + round, (i >> 8) as u8, i as u8], 18444)),
                    ),
                })
                .collect();
            flooder.send(&Message::Addr(addrs)).await;
        }
        flooder.sync().await;
        let count = node.address_count().unwrap();
        // The bucket starts with one token and refills at 0.1/s.
        assert!(
            (admitted.len()..=admitted.len() + 2).contains(&count),
            "{count} addresses after the flood"
        );
        for addr in &admitted {
            assert!(node.knows_address(*addr).unwrap(), "{addr} was lost");
        }
    });
}
