//! Engine behaviour over real loopback TCP, through the safe Rust API.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use p2pnet::{Config, DisconnectReason, Engine, Network, PeerInfo};

const WAIT: Duration = Duration::from_secs(10);

fn config(user_agent: &str, height: i32) -> Config {
    let mut c = Config::new(Network::Regtest);
    c.set_listen_address("127.0.0.1:0").unwrap();
    c.set_user_agent(user_agent).unwrap();
    c.start_height = height;
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

fn disconnected_events(engine: &Engine) -> mpsc::Receiver<(u64, DisconnectReason)> {
    let (tx, rx) = mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    engine
        .set_on_peer_disconnected(Some(Arc::new(move |id, reason, _: &str| {
            let _ = tx.lock().send((id, reason));
        })))
        .unwrap();
    rx
}

fn port(engine: &Engine) -> u16 {
    engine.local_addr().unwrap().unwrap().port()
}

#[test]
fn two_engines_handshake_and_list_each_other() {
    let a = Engine::new(config("/a:1/", 10)).unwrap();
    let b = Engine::new(config("/b:2/", 20)).unwrap();
    let a_connected = connected_events(&a);
    let b_connected = connected_events(&b);
    a.start().unwrap();
    b.start().unwrap();
    a.add_peer("127.0.0.1", port(&b)).unwrap();
    let seen_by_a = a_connected.recv_timeout(WAIT).expect("a sees b");
    let seen_by_b = b_connected.recv_timeout(WAIT).expect("b sees a");
    assert!(!seen_by_a.inbound);
    assert!(seen_by_b.inbound);
    assert_eq!(seen_by_a.address.port(), port(&b));
    assert_eq!(seen_by_a.user_agent, "/b:2/");
    assert_eq!(seen_by_b.user_agent, "/a:1/");
    assert_eq!(seen_by_a.start_height, 20);
    assert_eq!(seen_by_b.start_height, 10);
    assert_eq!(seen_by_a.version, 70016);
    assert_eq!(
        seen_by_a.services,
        9 | 1 << 11,
        "NODE_NETWORK | NODE_WITNESS | NODE_P2P_V2"
    );
    assert_eq!(seen_by_a.transport_version, 2, "BIP324 by default");
    assert_eq!(seen_by_a.session_id, seen_by_b.session_id);
    assert!(seen_by_a.session_id.is_some());
    assert_eq!(a.peers().unwrap().len(), 1);
    assert_eq!(b.peers().unwrap().len(), 1);
    a.stop().unwrap();
    b.stop().unwrap();
}

#[test]
fn self_connection_is_detected() {
    let a = Engine::new(config("/a/", 0)).unwrap();
    let disconnected = disconnected_events(&a);
    a.start().unwrap();
    a.add_peer("127.0.0.1", port(&a)).unwrap();
    let mut reasons = Vec::new();
    while let Ok((_, reason)) = disconnected.recv_timeout(WAIT) {
        reasons.push(reason);
        if reasons.len() == 2 {
            break;
        }
    }
    assert!(
        reasons.contains(&DisconnectReason::SelfConnection),
        "{reasons:?}"
    );
    assert!(a.peers().unwrap().is_empty());
}

#[test]
fn lifecycle_misuse_is_reported() {
    let a = Engine::new(config("/a/", 0)).unwrap();
    assert!(a.stop().is_err());
    assert!(a.peers().is_err());
    a.start().unwrap();
    assert!(a.start().is_err());
    let mut taken = config("/b/", 0);
    taken
        .set_listen_address(&format!("127.0.0.1:{}", port(&a)))
        .unwrap();
    let b = Engine::new(taken).unwrap();
    assert!(matches!(b.start(), Err(p2pnet::Error::Io(_))));
    a.stop().unwrap();
    a.stop().unwrap();
    assert!(a.start().is_err());
    assert!(a.add_peer("127.0.0.1", 1).is_err());
}

fn relay_config(name: &str) -> Config {
    let mut c = config(name, 0);
    c.tx_trickle_inbound = Duration::ZERO;
    c.tx_trickle_outbound = Duration::ZERO;
    c
}

fn item_events(
    engine: &Engine,
    kind: p2pnet::ItemKind,
    verdict: p2pnet::Verdict,
) -> mpsc::Receiver<(u64, [u8; 32], Vec<u8>)> {
    let (tx, rx) = mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    let cb: p2pnet::ItemCallback = Arc::new(move |peer, hash: &[u8; 32], data: &[u8]| {
        let _ = tx.lock().send((peer, *hash, data.to_vec()));
        verdict
    });
    match kind {
        p2pnet::ItemKind::Block => engine.set_on_block(Some(cb)).unwrap(),
        p2pnet::ItemKind::Tx => engine.set_on_transaction(Some(cb)).unwrap(),
    }
    rx
}

#[test]
fn transaction_crosses_a_line_of_three_exactly_once() {
    use p2pnet::{ItemKind, Verdict};
    let engines: Vec<Engine> = ["/a/", "/b/", "/c/"]
        .iter()
        .map(|n| Engine::new(relay_config(n)).unwrap())
        .collect();
    let connected: Vec<_> = engines.iter().map(connected_events).collect();
    let txs: Vec<_> = engines
        .iter()
        .map(|e| item_events(e, ItemKind::Tx, Verdict::Accepted))
        .collect();
    for e in &engines {
        e.start().unwrap();
    }
    engines[0].add_peer("127.0.0.1", port(&engines[1])).unwrap();
    engines[1].add_peer("127.0.0.1", port(&engines[2])).unwrap();
    connected[0].recv_timeout(WAIT).unwrap();
    connected[2].recv_timeout(WAIT).unwrap();
    connected[1].recv_timeout(WAIT).unwrap();
    connected[1].recv_timeout(WAIT).unwrap();
    let hash = engines[0]
        .broadcast(ItemKind::Tx, b"a transaction")
        .unwrap();
    let (_, got_b, data) = txs[1].recv_timeout(WAIT).expect("b receives");
    assert_eq!(got_b, hash);
    assert_eq!(data, b"a transaction");
    let (_, got_c, _) = txs[2].recv_timeout(WAIT).expect("c receives");
    assert_eq!(got_c, hash);
    assert!(
        txs[0].recv_timeout(Duration::from_millis(300)).is_err(),
        "the origin does not get it back"
    );
    assert!(
        txs[1].try_recv().is_err() && txs[2].try_recv().is_err(),
        "exactly once"
    );
}

#[test]
fn bans_refuse_dial_and_persist_across_restart() {
    let dir = std::env::temp_dir().join(format!("p2pnet-bans-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut c = config("/a/", 0);
    c.data_dir = Some(dir.clone());
    let a = Engine::new(c.clone()).unwrap();
    a.ban_for("127.0.0.0/24", Duration::from_secs(3600), "test")
        .unwrap();
    assert!(a
        .ban_for("not a subnet", Duration::from_secs(1), "")
        .is_err());
    let disconnected = disconnected_events(&a);
    a.start().unwrap();
    a.add_peer("127.0.0.2", 1).unwrap();
    let (_, reason) = disconnected.recv_timeout(WAIT).unwrap();
    assert_eq!(reason, DisconnectReason::ConnectFailed);
    a.stop().unwrap();
    drop(a);
    let b = Engine::new(c).unwrap();
    let bans = b.bans().unwrap();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].0.to_string(), "127.0.0.0/24");
    b.unban("127.0.0.0/24").unwrap();
    assert!(b.unban("127.0.0.0/24").is_err());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_verdict_reported_while_the_callback_runs_is_applied() {
    use p2pnet::{ItemKind, Verdict};
    let sender = Engine::new(relay_config("/sender/")).unwrap();
    let receiver = Arc::new(Engine::new(relay_config("/receiver/")).unwrap());
    let (tx, rx) = mpsc::channel();
    let tx = parking_lot::Mutex::new(tx);
    // The callback holds a weak handle so the engine is not kept alive by itself.
    let weak = Arc::downgrade(&receiver);
    receiver
        .set_on_transaction(Some(Arc::new(move |_, hash: &[u8; 32], _: &[u8]| {
            let engine = weak.upgrade().unwrap();
            let hash = *hash;
            // Another thread reports before this callback returns.
            let reported =
                std::thread::spawn(move || engine.report_verdict(&hash, Verdict::Invalid))
                    .join()
                    .unwrap();
            let _ = tx.lock().send(reported.is_ok());
            Verdict::Pending
        })))
        .unwrap();
    let disconnected = disconnected_events(&receiver);
    sender.start().unwrap();
    receiver.start().unwrap();
    let connected = connected_events(&sender);
    sender.add_peer("127.0.0.1", port(&receiver)).unwrap();
    connected.recv_timeout(WAIT).unwrap();
    sender.broadcast(ItemKind::Tx, b"judged at once").unwrap();
    assert!(
        rx.recv_timeout(WAIT).unwrap(),
        "the early report is accepted"
    );
    let (_, reason) = disconnected.recv_timeout(WAIT).unwrap();
    assert_eq!(reason, DisconnectReason::Misbehaviour);
    receiver.stop().unwrap();
}

#[test]
fn a_panic_in_one_connection_leaves_the_engine_serving_others() {
    use p2pnet::{ItemKind, Verdict};
    let receiver = Engine::new(relay_config("/receiver/")).unwrap();
    receiver
        .set_item_hasher(Some(Arc::new(|kind, data: &[u8]| {
            assert!(data != b"poison", "hash function failure");
            p2pnet::relay::bitcoin_item_id(kind, data)
        })))
        .unwrap();
    let txs = item_events(&receiver, ItemKind::Tx, Verdict::Accepted);
    let disconnected = disconnected_events(&receiver);
    receiver.start().unwrap();
    let poisoner = Engine::new(relay_config("/poisoner/")).unwrap();
    let honest = Engine::new(relay_config("/honest/")).unwrap();
    for sender in [&poisoner, &honest] {
        let connected = connected_events(sender);
        sender.start().unwrap();
        sender.add_peer("127.0.0.1", port(&receiver)).unwrap();
        connected.recv_timeout(WAIT).unwrap();
    }
    poisoner.broadcast(ItemKind::Tx, b"poison").unwrap();
    let (_, reason) = disconnected.recv_timeout(WAIT).unwrap();
    assert_eq!(reason, DisconnectReason::InternalError);
    let hash = honest.broadcast(ItemKind::Tx, b"wholesome").unwrap();
    let (_, got, _) = txs
        .recv_timeout(WAIT)
        .expect("the honest peer is still served");
    assert_eq!(got, hash);
    assert_eq!(receiver.peers().unwrap().len(), 1);
}

/// A buffer that reports when the engine lets go of it.
struct Tracked {
    bytes: Vec<u8>,
    released: Arc<std::sync::atomic::AtomicUsize>,
}

impl AsRef<[u8]> for Tracked {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Tracked {
    fn drop(&mut self) {
        self.released
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    }
}

#[test]
fn a_block_handed_over_as_bytes_arrives_whole_and_is_released_once_at_stop() {
    use p2pnet::{ItemKind, Verdict};
    use std::sync::atomic::Ordering;
    let a = Engine::new(relay_config("/a/")).unwrap();
    let b = Engine::new(relay_config("/b/")).unwrap();
    let connected = connected_events(&a);
    let blocks = item_events(&b, ItemKind::Block, Verdict::Accepted);
    a.start().unwrap();
    b.start().unwrap();
    b.add_peer("127.0.0.1", port(&a)).unwrap();
    connected.recv_timeout(WAIT).unwrap();
    // Larger than a socket buffer, so the header and payload go out over several
    // vectored writes.
    let block: Vec<u8> = (0..3 * 1024 * 1024 + 7).map(|i| (i % 251) as u8).collect();
    let released = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let handed_over = bytes::Bytes::from_owner(Tracked {
        bytes: block.clone(),
        released: released.clone(),
    });
    let hash = a
        .broadcast_bytes(ItemKind::Block, handed_over, None)
        .unwrap();
    let (_, got, data) = blocks.recv_timeout(WAIT).expect("b receives the block");
    assert_eq!(got, hash);
    assert!(data == block, "the block arrived changed");
    assert_eq!(
        released.load(Ordering::SeqCst),
        0,
        "still cached for getdata"
    );
    a.stop().unwrap();
    drop(a);
    assert_eq!(released.load(Ordering::SeqCst), 1);
}
