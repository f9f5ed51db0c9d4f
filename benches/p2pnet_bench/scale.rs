//! Figure 4: what it costs to hold many idle, handshaken inbound peers.
//!
//! Each measurement runs in a fresh process so that no earlier figure's allocations
//! blur its RSS: the bench starts a *holder* (the engine, or for the baseline a plain
//! tokio accept loop) which starts a *client swarm*, a third process of raw sockets that
//! complete the version/verack handshake with the wire codec and then stay idle. The
//! holder reports its own RSS before and after, the time until every peer was
//! established, and which allocation sizes grew.

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use p2pnet::wire::{DecodedFrame, FrameDecoder, Message, NetAddress, VersionMessage};
use p2pnet::Network;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Semaphore;

use crate::alloc_stats;
use crate::json::Json;
use crate::support::{self, Target};

const PEER_COUNTS: [usize; 2] = [1000, 10000];
/// RSS per idle peer allowed at the largest count.
const TARGET_BYTES_PER_PEER: f64 = 8.0 * 1024.0;
/// Connections the swarm opens at once, well under the listen backlog.
const CONCURRENT_DIALS: usize = 64;
/// Time given after the last peer connected for its first ping/pong and any deferred
/// allocation, before RSS is read.
const SETTLE: Duration = Duration::from_millis(1500);
const HOLD_LIMIT: Duration = Duration::from_secs(120);
/// Size classes listed per measurement.
const TOP_CLASSES: usize = 12;

/// Which process the binary is running as, chosen by `--role`.
pub fn run_role(role: &str, args: &[String]) -> i32 {
    let value = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .unwrap_or_default()
    };
    let count: usize = value("--count").parse().unwrap_or(0);
    let mode = value("--mode");
    match role {
        "holder" => {
            alloc_stats::enable();
            match mode.as_str() {
                "engine" => hold_with_engine(count, false),
                "engine-v2" => hold_with_engine(count, true),
                _ => hold_plain(count),
            }
        }
        "clients" => {
            let target: SocketAddr = match value("--target").parse() {
                Ok(t) => t,
                Err(_) => {
                    eprintln!("clients: --target IP:PORT is required");
                    return 2;
                }
            };
            run_clients(target, count, &mode)
        }
        other => {
            eprintln!("unknown role {other:?}");
            2
        }
    }
}

/// One holder measurement as reported back to the bench.
#[derive(Default)]
struct Holding {
    peers: usize,
    seconds: f64,
    rss_before: u64,
    rss_after: u64,
    heap_growth: i64,
    classes: Vec<(usize, i64, i64)>,
}

impl Holding {
    fn rss_per_peer(&self) -> f64 {
        (self.rss_after as f64 - self.rss_before as f64) / self.peers as f64
    }

    fn heap_per_peer(&self) -> f64 {
        self.heap_growth as f64 / self.peers as f64
    }

    fn to_json(&self) -> Json {
        let classes = self
            .classes
            .iter()
            .map(|(size, allocations, bytes)| {
                let open_ended = *size >= (alloc_stats::CLASSES - 1) * alloc_stats::CLASS_STEP;
                Json::object([
                    ("size_up_to", Json::count(*size)),
                    ("and_all_larger", Json::Bool(open_ended)),
                    (
                        "allocations_per_peer",
                        Json::Num(*allocations as f64 / self.peers as f64),
                    ),
                    (
                        "bytes_per_peer",
                        Json::Num(*bytes as f64 / self.peers as f64),
                    ),
                ])
            })
            .collect();
        Json::object([
            ("peers", Json::count(self.peers)),
            ("seconds_to_hold", Json::Num(self.seconds)),
            ("rss_before_bytes", Json::Num(self.rss_before as f64)),
            ("rss_after_bytes", Json::Num(self.rss_after as f64)),
            ("rss_per_peer_bytes", Json::Num(self.rss_per_peer())),
            ("heap_per_peer_bytes", Json::Num(self.heap_per_peer())),
            ("heap_growth_by_size", Json::Arr(classes)),
        ])
    }
}

pub fn connection_scale(_quick: bool) -> Json {
    println!(
        "4. Connection scale: idle handshaken inbound peers held by one engine; RSS of the \
         holding process (VmRSS) before and after, clients in a separate process"
    );
    println!(
        "   Time to hold: from starting the client swarm until the last peer is connected \
         (engine: handshake done; plain: accepted)."
    );
    println!(
        "   {:>6}  {:>14}  {:>15}  {:>15}  {:>16}  {:>15}  target",
        "peers", "engine: time", "RSS/peer", "heap/peer", "plain tokio: time", "RSS/peer"
    );
    let mut rows = Vec::new();
    let mut v2_rows = Vec::new();
    let mut at_largest_kib = None;
    for &count in &PEER_COUNTS {
        let engine = measure("engine", count);
        let plain = measure("plain", count);
        // The same over BIP324: the swarm's clients speak v2, the engine v2 only.
        if let Some(v2) = measure("engine-v2", count) {
            v2_rows.push((count, v2));
        }
        let (Some(engine), Some(plain)) = (engine, plain) else {
            println!("   {count:>6}  measurement failed (see stderr)");
            rows.push(Json::object([
                ("peers", Json::count(count)),
                ("failed", Json::Bool(true)),
            ]));
            continue;
        };
        let at_target_point = count == *PEER_COUNTS.last().expect("counts are listed");
        if at_target_point {
            at_largest_kib = Some(engine.rss_per_peer() / 1024.0);
        }
        let target = at_target_point.then(|| {
            Target::new(
                format!(
                    "≤ {:.0} KiB RSS per idle peer",
                    TARGET_BYTES_PER_PEER / 1024.0
                ),
                engine.rss_per_peer() <= TARGET_BYTES_PER_PEER,
            )
        });
        println!(
            "   {:>6}  {:>12.2} s  {:>11.1} KiB  {:>11.1} KiB  {:>15.2} s  {:>11.1} KiB  {}",
            count,
            engine.seconds,
            engine.rss_per_peer() / 1024.0,
            engine.heap_per_peer() / 1024.0,
            plain.seconds,
            plain.rss_per_peer() / 1024.0,
            target.as_ref().map_or(String::new(), |t| format!(
                "{} {}",
                t.description,
                t.label()
            ))
        );
        if at_target_point {
            println!("   Engine heap growth per peer at {count} peers, by allocation size:");
            let open_ended = (alloc_stats::CLASSES - 1) * alloc_stats::CLASS_STEP;
            for (size, allocations, bytes) in &engine.classes {
                let class = if *size >= open_ended {
                    format!(">{:>6} B", open_ended - alloc_stats::CLASS_STEP)
                } else {
                    format!("≤{size:>6} B")
                };
                println!(
                    "     {class}  ×{:>5.2}  = {:>8.0} B",
                    *allocations as f64 / count as f64,
                    *bytes as f64 / count as f64
                );
            }
        }
        let mut row = vec![
            ("peers".to_string(), Json::count(count)),
            ("engine".to_string(), engine.to_json()),
            ("plain_tokio".to_string(), plain.to_json()),
        ];
        if let Some(t) = target {
            row.push(("target".to_string(), t.to_json()));
        }
        rows.push(Json::Obj(row));
    }
    println!("   Over BIP324 v2 (engine v2 only, clients v2):");
    let mut v2_json = Vec::new();
    for (count, v2) in &v2_rows {
        println!(
            "   {:>6}  {:>12.2} s  {:>11.1} KiB  {:>11.1} KiB",
            count,
            v2.seconds,
            v2.rss_per_peer() / 1024.0,
            v2.heap_per_peer() / 1024.0
        );
        v2_json.push(Json::object([
            ("peers", Json::count(*count)),
            ("engine_v2", v2.to_json()),
        ]));
    }
    let largest = *PEER_COUNTS.last().expect("counts are listed");
    let btcd = crate::btcd::idle_peer_kib(largest);
    let btcd_json = match (btcd, at_largest_kib) {
        (Some(kib), Some(engine_kib)) => {
            let target = crate::btcd::ahead(engine_kib, kib, false);
            println!(
                "   btcd peer package, {largest} idle peers: {kib:.1} KiB RSS per peer; engine {} {}",
                target.description,
                target.label()
            );
            Json::object([
                ("peers", Json::count(largest)),
                ("rss_kib_per_peer", Json::Num(kib)),
                ("engine_ahead", target.to_json()),
            ])
        }
        _ => {
            println!("   {}", crate::btcd::NOT_BUILT);
            Json::Null
        }
    };
    Json::object([
        ("rows", Json::Arr(rows)),
        ("rows_v2", Json::Arr(v2_json)),
        ("btcd", btcd_json),
        (
            "baseline",
            Json::str("tokio task per accepted socket reading into a 512-byte buffer"),
        ),
    ])
}

/// Runs one holder process and parses its report.
fn measure(mode: &str, count: usize) -> Option<Holding> {
    let exe = std::env::current_exe().ok()?;
    let output = Command::new(exe)
        .args([
            "--role",
            "holder",
            "--mode",
            mode,
            "--count",
            &count.to_string(),
        ])
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !output.status.success() {
        eprintln!("{mode} holder for {count} peers failed: {}", output.status);
        return None;
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let mut holding = Holding::default();
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        match fields.next() {
            Some("held") => {
                let numbers: Vec<f64> = fields.filter_map(|f| f.parse().ok()).collect();
                if let [peers, seconds, before, after, heap] = numbers[..] {
                    holding.peers = peers as usize;
                    holding.seconds = seconds;
                    holding.rss_before = before as u64;
                    holding.rss_after = after as u64;
                    holding.heap_growth = heap as i64;
                }
            }
            Some("class") => {
                let numbers: Vec<i64> = fields.filter_map(|f| f.parse().ok()).collect();
                if let [size, allocations, bytes] = numbers[..] {
                    holding.classes.push((size as usize, allocations, bytes));
                }
            }
            _ => {}
        }
    }
    (holding.peers == count).then_some(holding)
}

/// Prints the report the parent parses: one `held` line and the grown size classes.
fn report(count: usize, seconds: f64, rss_before: u64, heap_before: &alloc_stats::Snapshot) -> i32 {
    let rss_after = support::rss_bytes("self").unwrap_or(0);
    let heap_after = alloc_stats::snapshot();
    println!(
        "held {count} {seconds} {rss_before} {rss_after} {}",
        heap_after.live_bytes - heap_before.live_bytes
    );
    for class in alloc_stats::growth(heap_before, &heap_after, TOP_CLASSES) {
        println!("class {} {} {}", class.size, class.allocations, class.bytes);
    }
    0
}

fn spawn_clients(target: SocketAddr, count: usize, mode: &str) -> std::io::Result<Child> {
    Command::new(std::env::current_exe()?)
        .args([
            "--role",
            "clients",
            "--mode",
            mode,
            "--count",
            &count.to_string(),
            "--target",
            &target.to_string(),
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
}

/// Closes the swarm's stdin, which tells it to exit, and reaps it.
fn release_clients(mut child: Child) {
    drop(child.stdin.take());
    let _ = child.wait();
}

fn hold_with_engine(count: usize, v2: bool) -> i32 {
    support::use_transport(v2);
    let mut config = support::bench_config();
    config.max_inbound = count + 64;
    config.max_connections = count + 64;
    // The swarm uses a distinct source address per socket anyway.
    config.max_inbound_per_ip = count + 64;
    let engine = support::start_engine(config);
    let connected = Arc::new(AtomicUsize::new(0));
    let counter = connected.clone();
    engine
        .set_on_peer_connected(Some(Arc::new(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        })))
        .expect("callback registers");
    let target = SocketAddr::from((Ipv4Addr::LOCALHOST, support::port_of(&engine)));
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = support::rss_bytes("self").unwrap_or(0);
    let heap_before = alloc_stats::snapshot();
    alloc_stats::start_tracing(2);
    let started = Instant::now();
    let mode = if v2 { "engine-v2" } else { "engine" };
    let Ok(clients) = spawn_clients(target, count, mode) else {
        eprintln!("cannot start the client swarm");
        return 1;
    };
    let held = support::wait_until(HOLD_LIMIT, || connected.load(Ordering::Relaxed) >= count);
    let seconds = started.elapsed().as_secs_f64();
    if !held {
        eprintln!(
            "engine holder: {} of {count} peers connected",
            connected.load(Ordering::Relaxed)
        );
        release_clients(clients);
        return 1;
    }
    std::thread::sleep(SETTLE);
    let status = report(count, seconds, rss_before, &heap_before);
    release_clients(clients);
    let _ = engine.stop();
    status
}

fn hold_plain(count: usize) -> i32 {
    let runtime = support::baseline_runtime();
    let accepted = Arc::new(AtomicUsize::new(0));
    let listener = runtime
        .block_on(TcpListener::bind("127.0.0.1:0"))
        .expect("bind");
    let target = listener.local_addr().expect("local addr");
    let counter = accepted.clone();
    runtime.spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(idle_reader(stream));
        }
    });
    std::thread::sleep(Duration::from_millis(300));
    let rss_before = support::rss_bytes("self").unwrap_or(0);
    let heap_before = alloc_stats::snapshot();
    let started = Instant::now();
    let Ok(clients) = spawn_clients(target, count, "plain") else {
        eprintln!("cannot start the client swarm");
        return 1;
    };
    let held = support::wait_until(HOLD_LIMIT, || accepted.load(Ordering::Relaxed) >= count);
    let seconds = started.elapsed().as_secs_f64();
    if !held {
        eprintln!(
            "plain holder: {} of {count} accepted",
            accepted.load(Ordering::Relaxed)
        );
        release_clients(clients);
        return 1;
    }
    std::thread::sleep(SETTLE);
    let status = report(count, seconds, rss_before, &heap_before);
    release_clients(clients);
    status
}

/// The baseline's whole per-connection state: a task, its socket and a small buffer.
/// One byte is sent on accept so the client, like an engine client waiting for verack,
/// knows it was accepted (without it the swarm outruns the accept queue).
async fn idle_reader(mut stream: TcpStream) {
    if stream.write_all(&[1]).await.is_err() {
        return;
    }
    let mut buf = [0u8; 512];
    while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
}

/// The client swarm: `count` sockets from distinct loopback addresses (127.1.x.y), so
/// no per-address inbound limit applies, each completing the handshake when asked to
/// and then answering pings until stdin closes.
fn run_clients(target: SocketAddr, count: usize, mode: &str) -> i32 {
    let mode = mode.to_owned();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime builds");
    runtime.block_on(async move {
        let dials = Arc::new(Semaphore::new(CONCURRENT_DIALS));
        let ready = Arc::new(AtomicUsize::new(0));
        let failed = Arc::new(AtomicUsize::new(0));
        for i in 0..count {
            let permit = dials.clone().acquire_owned().await.expect("semaphore open");
            let (ready, failed) = (ready.clone(), failed.clone());
            let mode = mode.clone();
            tokio::spawn(async move {
                let source = Ipv4Addr::new(127, 1, (i / 250) as u8, (i % 250 + 1) as u8);
                if mode == "engine-v2" {
                    match client_v2(source, target).await {
                        Ok(protocol) => {
                            ready.fetch_add(1, Ordering::Relaxed);
                            drop(permit);
                            stay_idle_v2(protocol).await;
                        }
                        Err(e) => {
                            if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!("v2 client from {source}: {e}");
                            }
                        }
                    }
                    return;
                }
                match client(source, target, mode == "engine").await {
                    Ok(stream) => {
                        ready.fetch_add(1, Ordering::Relaxed);
                        drop(permit);
                        stay_idle(stream).await;
                    }
                    Err(e) => {
                        if failed.fetch_add(1, Ordering::Relaxed) == 0 {
                            eprintln!("client from {source}: {e}");
                        }
                    }
                }
            });
        }
        let _ = dials.acquire_many(CONCURRENT_DIALS as u32).await;
        let failures = failed.load(Ordering::Relaxed);
        if failures > 0 {
            eprintln!(
                "clients: {} ready, {failures} failed",
                ready.load(Ordering::Relaxed)
            );
        }
        // Hold every connection until the holder closes our stdin.
        let _ = tokio::task::spawn_blocking(|| {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
        })
        .await;
    });
    0
}

/// A frame reader over one client socket.
struct WireReader {
    stream: TcpStream,
    decoder: FrameDecoder,
    buf: BytesMut,
}

impl WireReader {
    async fn next(&mut self) -> std::io::Result<Message> {
        loop {
            match self.decoder.decode(&mut self.buf) {
                Ok(Some(DecodedFrame::Frame(frame))) => {
                    if let Ok(msg) = Message::decode(frame.command, frame.payload) {
                        return Ok(msg);
                    }
                }
                Ok(Some(DecodedFrame::BadChecksum { .. })) => {}
                Ok(None) => {
                    self.buf.reserve(4096);
                    if self.stream.read_buf(&mut self.buf).await? == 0 {
                        return Err(std::io::ErrorKind::UnexpectedEof.into());
                    }
                }
                Err(e) => return Err(std::io::Error::other(e.to_string())),
            }
        }
    }

    async fn send(&mut self, msg: &Message) -> std::io::Result<()> {
        let frame = msg.to_frame(self.decoder.magic());
        self.stream.write_all(&frame).await
    }
}

async fn client(
    source: Ipv4Addr,
    target: SocketAddr,
    handshake: bool,
) -> std::io::Result<WireReader> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(target).await?;
    let mut reader = WireReader {
        stream,
        decoder: FrameDecoder::with_default_limit(Network::Regtest.magic()),
        buf: BytesMut::new(),
    };
    if !handshake {
        // The plain holder's accept signal.
        reader.stream.read_exact(&mut [0u8; 1]).await?;
        return Ok(reader);
    }
    let local = reader.stream.local_addr()?;
    reader
        .send(&client_version(target, local, "/p2pnet-bench-client/"))
        .await?;
    loop {
        match reader.next().await? {
            Message::Version(_) => reader.send(&Message::Verack).await?,
            Message::Verack => return Ok(reader),
            Message::Ping(nonce) => reader.send(&Message::Pong(nonce)).await?,
            _ => {}
        }
    }
}

/// The version message a swarm client opens with.
fn client_version(target: SocketAddr, local: SocketAddr, user_agent: &str) -> Message {
    Message::Version(VersionMessage {
        version: p2pnet::config::DEFAULT_PROTOCOL_VERSION,
        services: 0,
        timestamp: std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64),
        receiver: NetAddress::from_socket_addr(0, target),
        sender: NetAddress::from_socket_addr(0, local),
        nonce: rand::random(),
        user_agent: user_agent.into(),
        start_height: 0,
        relay: true,
    })
}

/// Answers pings until the connection closes; otherwise idle.
async fn stay_idle(mut reader: WireReader) {
    while let Ok(msg) = reader.next().await {
        if let Message::Ping(nonce) = msg {
            if reader.send(&Message::Pong(nonce)).await.is_err() {
                return;
            }
        }
    }
}

/// A BIP324 client: the handshake and the messages through the `bip324` crate's own
/// tokio protocol, an implementation independent of the engine's.
type V2Protocol = bip324::futures::Protocol<
    tokio::io::BufReader<tokio::net::tcp::OwnedReadHalf>,
    tokio::net::tcp::OwnedWriteHalf,
>;

/// BIP324's one-byte message ids for ping and pong.
const V2_PING: u8 = 18;
const V2_PONG: u8 = 19;

/// A message's contents with its 12-byte message type (BIP324's long form).
fn v2_long(command: &str, payload: &[u8]) -> Vec<u8> {
    let mut contents = vec![0u8; 13];
    contents[1..1 + command.len()].copy_from_slice(command.as_bytes());
    contents.extend_from_slice(payload);
    contents
}

/// The long message type of `contents`, if it has one.
fn v2_long_type(contents: &[u8]) -> Option<&str> {
    let name = contents
        .get(1..13)
        .filter(|_| contents.first() == Some(&0))?;
    std::str::from_utf8(name)
        .ok()
        .map(|n| n.trim_end_matches('\0'))
}

async fn client_v2(source: Ipv4Addr, target: SocketAddr) -> std::io::Result<V2Protocol> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::from((source, 0)))?;
    let stream = socket.connect(target).await?;
    let local = stream.local_addr()?;
    let (reader, writer) = stream.into_split();
    let magic = Network::Regtest.magic().to_le_bytes();
    let mut protocol = bip324::futures::Protocol::new(
        magic,
        bip324::Role::Initiator,
        None,
        None,
        tokio::io::BufReader::new(reader),
        writer,
    )
    .await
    .map_err(|e| std::io::Error::other(e.to_string()))?;
    let mut payload = Vec::new();
    client_version(target, local, "/p2pnet-bench-client-v2/").encode_payload(&mut payload);
    let send = |contents: Vec<u8>| bip324::io::Payload::genuine(contents);
    let io_error = |e: bip324::io::ProtocolError| std::io::Error::other(e.to_string());
    protocol
        .write(&send(v2_long("version", &payload)))
        .await
        .map_err(io_error)?;
    loop {
        let received = protocol.read().await.map_err(io_error)?;
        let contents = received.contents();
        match v2_long_type(contents) {
            Some("version") => protocol
                .write(&send(v2_long("verack", &[])))
                .await
                .map_err(io_error)?,
            Some("verack") => return Ok(protocol),
            _ => {}
        }
    }
}

/// Answers pings until the connection closes; otherwise idle.
async fn stay_idle_v2(mut protocol: V2Protocol) {
    while let Ok(received) = protocol.read().await {
        let contents = received.contents();
        if contents.first() == Some(&V2_PING) {
            let mut pong = vec![V2_PONG];
            pong.extend_from_slice(contents.get(1..).unwrap_or_default());
            let payload = bip324::io::Payload::genuine(pong);
            if protocol.write(&payload).await.is_err() {
                return;
            }
        }
    }
}
