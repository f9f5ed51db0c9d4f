//! A connection's reader and writer over in-memory streams: framing into the core,
//! answers coming back, write coalescing, the send-buffer limit and close reasons.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use tokio::sync::mpsc;

use super::connection;
use super::link::{Exit, Link, Peeking};
use super::logging::{self, LogFilter};
use super::queue::{EventSender, Queued};
use super::transport::Transport;
use super::Driver;
use crate::addrman::AddrMan;
use crate::banman::BanList;
use crate::config::{Config, Network};
use crate::events::{DisconnectReason, PeerId};
use crate::node::Node;
use crate::wire::{
    Command, DecodedFrame, Frame, FrameDecoder, Message, NetAddress, VersionMessage,
};

const MAGIC: u32 = 0xDAB5_BFFA;

fn driver(max_send_buffer: usize) -> (Arc<Driver>, mpsc::Receiver<Queued>) {
    driver_with(|config| config.max_send_buffer = max_send_buffer)
}

/// A driver on the regtest preset without automatic dialling, adjusted by `adjust`.
fn driver_with(adjust: impl FnOnce(&mut Config)) -> (Arc<Driver>, mpsc::Receiver<Queued>) {
    let mut config = Config::new(Network::Regtest);
    config.max_outbound = 0;
    adjust(&mut config);
    let (tx, rx) = EventSender::channel(64, 1 << 20);
    let filter = Arc::new(LogFilter::default());
    let tracing = logging::dispatch(filter.clone(), tx.clone());
    let now = Driver::now();
    let node = Node::new(
        config.clone(),
        BanList::new(10),
        AddrMan::new(true),
        Vec::new(),
        7,
        now,
    );
    let driver = Driver::new(config, node, tx, filter, tracing);
    (driver, rx)
}

/// An inbound connection the core admitted: its id, link and outbox.
fn admit_inbound(driver: &Arc<Driver>) -> (PeerId, Arc<Link>, mpsc::UnboundedReceiver<Frame>) {
    let (link, outbox) = Link::new(driver.config.max_send_buffer, driver.traffic.clone());
    let (opened, events) = driver.open_link(&link, |node, now| {
        node.accept_inbound(
            "127.0.0.2:1000".parse().unwrap(),
            "127.0.0.1:18444".parse().unwrap(),
            now,
        )
        .ok()
        .map(|id| (id, ()))
    });
    assert!(events.is_empty());
    let (id, ()) = opened.expect("admitted");
    (id, link, outbox)
}

/// Opens an inbound connection in the core and runs it over one end of a duplex stream;
/// returns the other end and the task's exit.
fn open(driver: &Arc<Driver>) -> (DuplexStream, tokio::task::JoinHandle<Exit>, Arc<Link>) {
    let (ours, theirs) = tokio::io::duplex(1 << 20);
    let (id, link, outbox) = admit_inbound(driver);
    let (reader, writer) = tokio::io::split(ours);
    let task = tokio::spawn(connection::run(
        driver.clone(),
        id,
        link.clone(),
        Peeking::new(reader),
        writer,
        outbox,
        Transport::v1(&driver.config, BytesMut::new()),
    ));
    (theirs, task, link)
}

fn version() -> Message {
    Message::Version(VersionMessage {
        version: 70016,
        services: 9,
        timestamp: 0,
        receiver: NetAddress::from_socket_addr(0, "127.0.0.1:18444".parse().unwrap()),
        sender: NetAddress::from_socket_addr(0, "127.0.0.2:1000".parse().unwrap()),
        nonce: 99,
        user_agent: "/duplex/".into(),
        start_height: 5,
        relay: true,
    })
}

/// Reads frames from the remote end until `n` messages arrived.
async fn read_messages(stream: &mut DuplexStream, n: usize) -> Vec<Message> {
    let mut decoder = FrameDecoder::new(MAGIC, 32 << 20);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    while out.len() < n {
        while let Some(DecodedFrame::Frame(frame)) = decoder.decode(&mut buf).unwrap() {
            out.push(Message::decode(frame.command, frame.payload).unwrap());
        }
        if out.len() >= n {
            break;
        }
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), stream.read(&mut chunk))
            .await
            .expect("the connection answers")
            .unwrap();
        assert!(read > 0, "closed after {} messages", out.len());
        buf.extend_from_slice(&chunk[..read]);
    }
    out
}

#[tokio::test]
async fn frames_reach_the_core_and_its_answers_come_back() {
    let (driver, _events) = driver(1 << 20);
    let (mut remote, _task, _link) = open(&driver);
    remote.write_all(&version().to_frame(MAGIC)).await.unwrap();
    let answers = read_messages(&mut remote, 4).await;
    assert!(matches!(&answers[0], Message::Version(v) if v.nonce != 99));
    assert_eq!(
        answers[1..],
        [Message::WtxidRelay, Message::SendAddrV2, Message::Verack]
    );
    // Split across writes, byte by byte: still one message.
    for byte in Message::Verack.to_frame(MAGIC).iter() {
        remote.write_all(&[*byte]).await.unwrap();
    }
    remote
        .write_all(&Message::Ping(7).to_frame(MAGIC))
        .await
        .unwrap();
    // No timer runs here: after the handshake's sendheaders the only answer is the pong.
    assert_eq!(
        read_messages(&mut remote, 2).await,
        vec![Message::SendHeaders, Message::Pong(7)]
    );
    assert_eq!(driver.inspect(|node| node.peer_infos().len()), 1);
}

#[tokio::test]
async fn queued_frames_arrive_whole_and_in_order() {
    let (driver, _events) = driver(1 << 20);
    let (mut remote, _task, link) = open(&driver);
    for nonce in 0..500u64 {
        link.send(Message::Ping(nonce).frame(MAGIC));
    }
    let got = read_messages(&mut remote, 500).await;
    let nonces: Vec<u64> = got
        .iter()
        .map(|m| match m {
            Message::Ping(n) => *n,
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(nonces, (0..500).collect::<Vec<_>>());
    // Counted engine-wide, on the socket and by command.
    let frame_len = Message::Ping(0).to_frame(MAGIC).len() as u64;
    let totals = driver.traffic.totals();
    assert_eq!(totals.bytes_sent, 500 * frame_len);
    assert_eq!(totals.messages_sent, 500);
    let by_command = driver.traffic.by_command();
    assert_eq!(by_command.len(), 1);
    assert_eq!(
        (by_command[0].command.as_str(), by_command[0].bytes_sent),
        ("ping", 500 * frame_len)
    );
}

#[tokio::test]
async fn a_peer_that_does_not_read_is_closed_at_the_send_buffer_limit() {
    let (driver, _events) = driver(64 * 1024);
    let (_remote, task, link) = open(&driver);
    // The remote never reads; the duplex buffer fills, then the outbox.
    let big = Frame::test_from(Bytes::from(vec![0u8; 16 * 1024]));
    for _ in 0..200 {
        link.send(big.clone());
    }
    let (reason, _) = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("closed")
        .unwrap();
    assert_eq!(reason, DisconnectReason::SendBufferFull);
}

#[tokio::test]
async fn close_reasons_name_what_happened() {
    let (driver, _events) = driver(1 << 20);
    let (remote, task, _link) = open(&driver);
    drop(remote);
    assert_eq!(task.await.unwrap().0, DisconnectReason::ClosedByPeer);

    let (mut remote, task, _link) = open(&driver);
    remote.write_all(&[0xAB; 24]).await.unwrap();
    assert_eq!(task.await.unwrap().0, DisconnectReason::ProtocolViolation);

    let (_remote, task, link) = open(&driver);
    link.close(DisconnectReason::Requested, "asked".into());
    assert_eq!(
        task.await.unwrap(),
        (DisconnectReason::Requested, "asked".into())
    );
}

/// An inbound connection whose remote speaks BIP324: the engine side detects v2 from
/// the first bytes and answers the handshake, then runs the connection. Returns the
/// remote's stream and session, the task's exit and the engine's config.
async fn open_v2(
    max_message_size: u32,
) -> (
    DuplexStream,
    crate::encrypted::V2Session,
    tokio::task::JoinHandle<Exit>,
) {
    use crate::encrypted::{Progress, Role, V2Handshake};
    let (driver, events) = driver_with(|config| config.max_message_size = max_message_size);
    // Events are not read here; the queue is kept open for the connection's lifetime.
    std::mem::forget(events);
    let (ours, mut theirs) = tokio::io::duplex(1 << 20);
    let (id, link, outbox) = admit_inbound(&driver);
    let task = tokio::spawn(async move {
        let (reader, mut writer) = tokio::io::split(ours);
        let mut reader = Peeking::new(reader);
        let plan = super::transport::TransportPlan::Detect;
        let negotiated =
            super::transport::negotiate(&mut reader, &mut writer, &link, &driver.config, plan)
                .await;
        let super::transport::Negotiation::Ready(transport) = negotiated else {
            panic!("the engine side did not settle a transport");
        };
        assert!(transport.session_id.is_some(), "v2 detected");
        connection::run(driver.clone(), id, link, reader, writer, outbox, transport).await
    });
    let (mut handshake, first) = V2Handshake::new(MAGIC, Role::Initiator);
    theirs.write_all(&first).await.unwrap();
    let mut buf = BytesMut::new();
    let session = loop {
        let mut chunk = [0u8; 8192];
        let read = tokio::time::timeout(Duration::from_secs(5), theirs.read(&mut chunk))
            .await
            .expect("the engine answers the handshake")
            .unwrap();
        assert!(read > 0, "closed during the handshake");
        buf.extend_from_slice(&chunk[..read]);
        match handshake.receive(&mut buf).unwrap() {
            Progress::NeedMore => {}
            Progress::Send(bytes) => theirs.write_all(&bytes).await.unwrap(),
            Progress::Done { send, session } => {
                theirs.write_all(&send).await.unwrap();
                break session;
            }
        }
    };
    (theirs, session, task)
}

fn version_payload() -> Vec<u8> {
    let mut payload = Vec::new();
    version().encode_payload(&mut payload);
    payload
}

/// Waits for the connection task's exit.
async fn exit_of(task: tokio::task::JoinHandle<Exit>) -> Exit {
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("the connection ends")
        .unwrap()
}

#[tokio::test]
async fn v2_packet_with_a_bad_tag_ends_the_connection() {
    let (mut theirs, mut session, task) = open_v2(32 << 20).await;
    let mut packet = Vec::new();
    session
        .encoder()
        .encode(Command::VERSION, &version_payload(), &mut packet)
        .unwrap();
    let last = packet.len() - 1;
    packet[last] ^= 1;
    theirs.write_all(&packet).await.unwrap();
    let (reason, detail) = exit_of(task).await;
    assert_eq!(reason, DisconnectReason::ProtocolViolation);
    assert!(detail.contains("v2"), "{detail}");
}

#[tokio::test]
async fn v2_length_over_the_limit_ends_the_connection_before_the_rest_arrives() {
    let (mut theirs, mut session, task) = open_v2(64 * 1024).await;
    let mut packet = Vec::new();
    session
        .encoder()
        .encode(Command::BLOCK, &vec![0u8; 64 * 1024 + 100], &mut packet)
        .unwrap();
    // Only the encrypted length goes out: the engine refuses at once.
    theirs.write_all(&packet[..3]).await.unwrap();
    let (reason, detail) = exit_of(task).await;
    assert_eq!(reason, DisconnectReason::ProtocolViolation);
    assert!(detail.contains("over the 65549-byte limit"), "{detail}");
}

#[tokio::test]
async fn v2_messages_reach_the_core_and_a_truncated_packet_waits_for_the_rest() {
    let (mut theirs, mut session, task) = open_v2(32 << 20).await;
    // A valid version in two halves: the engine waits for the second and answers.
    let mut packet = Vec::new();
    session
        .encoder()
        .encode(Command::VERSION, &version_payload(), &mut packet)
        .unwrap();
    let half = packet.len() / 2;
    theirs.write_all(&packet[..half]).await.unwrap();
    tokio::task::yield_now().await;
    assert!(!task.is_finished(), "half a packet is no violation");
    theirs.write_all(&packet[half..]).await.unwrap();
    // The engine's answer (version, ...) arrives encrypted.
    let mut buf = BytesMut::new();
    let (command, _) = loop {
        if let Some(message) = session.decoder().decode(&mut buf, 32 << 20).unwrap() {
            break message;
        }
        let mut chunk = [0u8; 4096];
        let read = tokio::time::timeout(Duration::from_secs(5), theirs.read(&mut chunk))
            .await
            .expect("an answer")
            .unwrap();
        assert!(read > 0);
        buf.extend_from_slice(&chunk[..read]);
    };
    assert_eq!(command, Command::VERSION);
    drop(theirs);
    let (reason, _) = exit_of(task).await;
    assert_eq!(reason, DisconnectReason::ClosedByPeer);
}
