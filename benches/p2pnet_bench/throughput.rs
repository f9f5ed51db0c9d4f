//! Figures 1 and 2: block relay throughput and transaction relay rate between two
//! engines, each against the same bytes moved over a plain tokio socket.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use p2pnet::relay::tracker::MAX_PEER_ANNOUNCEMENTS;
use p2pnet::wire::frame::frame_header;
use p2pnet::wire::{
    encode_frame, sha256d, Command, DecodedFrame, FrameDecoder, Message, HEADER_LEN,
};
use p2pnet::{ItemKind, Network, Verdict};
use sha2::Digest;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::json::Json;
use crate::profile;
use crate::support::{
    bench_config, connected_pair_labelled, make_unique, median, on_item, peer_count, port_of,
    start_engine, unique_item, wait_until, Arrivals, RawPair, Target, WAIT_LIMIT,
};

const MIB: usize = 1024 * 1024;
/// Payload sizes of figure 1. Over v1 the largest is exactly the 32 MiB message limit,
/// which the engine's limit check includes; a BIP324 packet carries at most 16 MiB, so
/// over v2 the largest is 15 MiB.
fn block_sizes() -> [usize; 3] {
    if crate::support::transport_name() == "v2" {
        [MIB, 4 * MIB, 15 * MIB]
    } else {
        [MIB, 4 * MIB, 32 * MIB]
    }
}
/// Block relay must reach this share of the streaming-hash ceiling (raw TCP that checks
/// every byte once, as it arrives).
const BLOCK_TARGET_RATIO: f64 = 0.85;

const TX_COUNT: usize = 100_000;
const TX_SIZE: usize = 250;
const TX_TARGET_PER_SEC: f64 = 250_000.0;

fn mb_per_s(bytes: usize, elapsed: Duration) -> f64 {
    bytes as f64 / elapsed.as_secs_f64() / 1e6
}

fn size_label(bytes: usize) -> String {
    format!("{} MiB", bytes / MIB)
}

/// Figure 1.
pub fn block_relay(quick: bool) -> Json {
    let reps = if quick { 3 } else { 7 };
    println!(
        "1. Block relay A→B: broadcast → inv → getdata → block → on_block, \
         two engines over loopback (median of {reps}, after one warm-up)"
    );
    let (engine, usage) = engine_block_throughput(reps);
    let hop = engine_relay_hop_throughput(reps);
    let raw = raw_tcp_throughput(reps, RawCheck::None);
    let framed = raw_tcp_throughput(reps, RawCheck::AfterLastByte);
    let ceiling = raw_tcp_throughput(reps, RawCheck::AsBytesArrive);
    let costs = copy_and_hash_costs();
    println!(
        "   {:>8}  {:>22}  {:>13}  {:>7}  {:>23}  {:>16}  {:>22}  target (relay hop)",
        "payload",
        "broadcast MB/s (×ceil)",
        "raw TCP MB/s",
        "ratio",
        "raw + checksums MB/s",
        "ceiling MB/s",
        "relay hop MB/s (×ceil)"
    );
    let mut rows = Vec::new();
    for (i, size) in block_sizes().iter().enumerate() {
        let engine_mb_s = median(&engine[i]);
        let hop_mb_s = median(&hop[i]);
        let raw_mb_s = median(&raw[i]);
        let framed_mb_s = median(&framed[i]);
        let ceiling_mb_s = median(&ceiling[i]);
        let ratio = engine_mb_s / raw_mb_s;
        let target = Target::new(
            format!("≥ {BLOCK_TARGET_RATIO:.2}× the ceiling"),
            hop_mb_s / ceiling_mb_s >= BLOCK_TARGET_RATIO,
        );
        println!(
            "   {:>8}  {:>14.1} ({:>4.2}×)  {:>13.1}  {:>6.1}%  {:>14.1} ({:>4.1}%)  {:>16.1}  {:>14.1} ({:>4.2}×)  {} {}",
            size_label(*size),
            engine_mb_s,
            engine_mb_s / ceiling_mb_s,
            raw_mb_s,
            ratio * 100.0,
            framed_mb_s,
            framed_mb_s / raw_mb_s * 100.0,
            ceiling_mb_s,
            hop_mb_s,
            hop_mb_s / ceiling_mb_s,
            target.description,
            target.label()
        );
        rows.push(Json::object([
            ("payload_bytes", Json::count(*size)),
            ("engine_mb_s", Json::Num(engine_mb_s)),
            ("raw_tcp_mb_s", Json::Num(raw_mb_s)),
            ("ratio", Json::Num(ratio)),
            ("raw_tcp_with_checksums_mb_s", Json::Num(framed_mb_s)),
            ("streaming_hash_ceiling_mb_s", Json::Num(ceiling_mb_s)),
            ("engine_of_ceiling", Json::Num(engine_mb_s / ceiling_mb_s)),
            ("relay_hop_mb_s", Json::Num(hop_mb_s)),
            ("relay_hop_of_ceiling", Json::Num(hop_mb_s / ceiling_mb_s)),
            ("target", target.to_json()),
            ("engine_samples_mb_s", Json::nums(&engine[i])),
            ("relay_hop_samples_mb_s", Json::nums(&hop[i])),
            ("raw_tcp_samples_mb_s", Json::nums(&raw[i])),
            (
                "raw_tcp_with_checksums_samples_mb_s",
                Json::nums(&framed[i]),
            ),
            (
                "streaming_hash_ceiling_samples_mb_s",
                Json::nums(&ceiling[i]),
            ),
        ]));
    }
    let btcd_rows = btcd_blocks(&engine, reps);
    println!(
        "   broadcast: the node hands A a block it made (broadcast_bytes, no copy); A hashes \
         it for the frame header before it can send. relay hop: S broadcasts to A, A's node \
         accepts it and A relays it to B in the frame it arrived in, timed from A's callback \
         to B's; like the ceiling, the sender knows the checksum."
    );
    println!(
        "   CPU cost of the extra work per 32 MiB on this machine: SHA-256d {:.1} ms, \
         copy into a fresh buffer {:.1} ms",
        costs.sha256d_ms, costs.copy_ms
    );
    println!(
        "   Where the time goes at {} (A sends, B receives; \"other\" includes the bench \
         thread calling broadcast):",
        size_label(block_sizes()[block_sizes().len() - 1])
    );
    usage.print("MiB");
    Json::object([
        ("repetitions", Json::count(reps)),
        ("rows", Json::Arr(rows)),
        ("btcd", btcd_rows),
        ("engine_profile_per_mib_at_largest", usage.to_json()),
        (
            "cost_per_32_mib",
            Json::object([
                ("sha256d_ms", Json::Num(costs.sha256d_ms)),
                ("copy_to_fresh_buffer_ms", Json::Num(costs.copy_ms)),
            ]),
        ),
    ])
}

/// btcd's peer package relaying blocks of 1 MiB and of its largest size (4,000,000
/// bytes, against the engine's 4 MiB): printed next to the engine's broadcast figure.
fn btcd_blocks(engine: &[Vec<f64>], reps: usize) -> Json {
    if crate::btcd::binary().is_none() {
        println!("   {}", crate::btcd::NOT_BUILT);
        return Json::Null;
    }
    let mut rows = Vec::new();
    for (i, size) in block_sizes().into_iter().enumerate() {
        let engine_mb_s = median(&engine[i]);
        let wanted = size.min(crate::btcd::MAX_BLOCK_BYTES);
        if size > 4 * MIB {
            println!(
                "   btcd peer package at {}: refused (its blocks are at most {} bytes)",
                size_label(size),
                crate::btcd::MAX_BLOCK_BYTES
            );
            continue;
        }
        let Some((bytes, mb_s)) = crate::btcd::block_mb_s(wanted, reps) else {
            println!(
                "   btcd peer package at {}: failed (see stderr)",
                size_label(size)
            );
            continue;
        };
        let target = crate::btcd::ahead(engine_mb_s, mb_s, true);
        println!(
            "   btcd peer package, {bytes}-byte block: {mb_s:.1} MB/s; engine broadcast at {}: \
             {} {}",
            size_label(size),
            target.description,
            target.label()
        );
        rows.push(Json::object([
            ("btcd_block_bytes", Json::count(bytes)),
            ("btcd_mb_s", Json::Num(mb_s)),
            ("engine_payload_bytes", Json::count(size)),
            ("engine_ahead", target.to_json()),
        ]));
    }
    Json::Arr(rows)
}

/// Per size, the throughput of each repetition in MB/s; and for the largest size,
/// where the CPU time went per MiB.
fn engine_block_throughput(reps: usize) -> (Vec<Vec<f64>>, profile::PerUnit) {
    let (a, b, labels) = connected_pair_labelled();
    let arrivals = Arc::new(Arrivals::default());
    on_item(&b, ItemKind::Block, arrivals.callback(Verdict::Accepted));
    let mut delivered = 0;
    let mut usage = None;
    let samples = block_sizes()
        .iter()
        .map(|&size| {
            // The node's own buffers, made before the clock and the profile start and
            // handed over without a copy.
            let mut block = unique_item(size);
            let blocks: Vec<Bytes> = (0..=reps)
                .map(|_| {
                    make_unique(&mut block);
                    Bytes::from(block.clone())
                })
                .collect();
            let mut samples = Vec::new();
            let mut usage_before = None;
            for (rep, handed_over) in blocks.into_iter().enumerate() {
                if rep == 1 {
                    usage_before = Some(profile::sample());
                }
                let started = Instant::now();
                a.broadcast_bytes(ItemKind::Block, handed_over, None)
                    .expect("a block at the size limit is accepted");
                delivered += 1;
                let arrived = arrivals
                    .wait_for(delivered, WAIT_LIMIT)
                    .unwrap_or_else(|| panic!("{} block did not arrive", size_label(size)));
                if rep > 0 {
                    samples.push(mb_per_s(size, arrived - started));
                }
            }
            if let Some(before) = usage_before {
                let mib = reps * size / MIB;
                usage = Some(profile::per_unit(&before, &profile::sample(), &labels, mib));
            }
            samples
        })
        .collect();
    (samples, usage.expect("at least one repetition"))
}

/// Per size, the throughput of each repetition in MB/s for the hop from a relaying
/// node: S broadcasts to A, A's node accepts the block and A relays it to B; timed from
/// A's callback to B's.
fn engine_relay_hop_throughput(reps: usize) -> Vec<Vec<f64>> {
    let (a, b, _) = connected_pair_labelled();
    let source = start_engine(bench_config());
    a.add_peer("127.0.0.1", port_of(&source))
        .expect("dial is accepted");
    assert!(
        wait_until(WAIT_LIMIT, || peer_count(&a) == 2
            && peer_count(&source) == 1),
        "the source did not complete the handshake"
    );
    let at_a = Arc::new(Arrivals::default());
    on_item(&a, ItemKind::Block, at_a.callback(Verdict::Accepted));
    let at_b = Arc::new(Arrivals::default());
    on_item(&b, ItemKind::Block, at_b.callback(Verdict::Accepted));
    let mut delivered = 0;
    block_sizes()
        .iter()
        .map(|&size| {
            let mut block = unique_item(size);
            let mut samples = Vec::new();
            for rep in 0..=reps {
                make_unique(&mut block);
                source
                    .broadcast_bytes(ItemKind::Block, Bytes::from(block.clone()), None)
                    .expect("a block at the size limit is accepted");
                delivered += 1;
                let relayed_from = at_a
                    .wait_for(delivered, WAIT_LIMIT)
                    .unwrap_or_else(|| panic!("{} block did not reach A", size_label(size)));
                let arrived = at_b
                    .wait_for(delivered, WAIT_LIMIT)
                    .unwrap_or_else(|| panic!("{} block was not relayed to B", size_label(size)));
                if rep > 0 {
                    samples.push(mb_per_s(size, arrived - relayed_from));
                }
            }
            samples
        })
        .collect()
}

/// The same payloads written on one socket and read into a fresh buffer of the full
/// size on the other; each end on its own two-worker runtime, like the two engines.
/// With `checksums`, the sender also writes a Bitcoin frame header (SHA-256d of the
/// payload) and the receiver verifies it: the least work any engine speaking the v1
/// wire protocol must do.
/// What the raw-socket baselines check of each block on arrival.
#[derive(Clone, Copy, PartialEq, Eq)]
enum RawCheck {
    /// Nothing: plain TCP.
    None,
    /// The sender frames it (hashing it first), the receiver hashes it whole once the
    /// last byte is in.
    AfterLastByte,
    /// The ceiling for a node that checks every byte once per hop: the sender's header
    /// is ready before the clock starts (the checksum already known), the receiver
    /// hashes each read as it arrives, into a buffer allocated once.
    AsBytesArrive,
}

fn raw_tcp_throughput(reps: usize, check: RawCheck) -> Vec<Vec<f64>> {
    let magic = Network::Regtest.magic();
    let pair = RawPair::new();
    let (mut sender, mut receiver) = pair.connect();
    let mut results = Vec::new();
    for size in block_sizes() {
        let payload = Arc::new(unique_item(size));
        let header = Arc::new(frame_header(magic, Command::BLOCK, &payload));
        let mut samples = Vec::new();
        for rep in 0..=reps {
            let started = Instant::now();
            let read = pair.far.spawn(async move {
                let total = size
                    + if check == RawCheck::None {
                        0
                    } else {
                        HEADER_LEN
                    };
                let mut buf = Vec::with_capacity(total);
                let mut streaming = sha2::Sha256::new();
                while buf.len() < total {
                    let before = buf.len();
                    let n = receiver.read_buf(&mut buf).await.expect("raw read");
                    assert!(n > 0, "raw sender closed early");
                    if check == RawCheck::AsBytesArrive {
                        streaming.update(&buf[before.max(HEADER_LEN).min(buf.len())..]);
                    }
                }
                let (head, body) = buf.split_at(total - size);
                match check {
                    RawCheck::None => {}
                    RawCheck::AfterLastByte => {
                        assert_eq!(head[20..24], sha256d(body)[..4], "checksum matches")
                    }
                    RawCheck::AsBytesArrive => {
                        let digest = sha2::Sha256::digest(streaming.finalize());
                        assert_eq!(head[20..24], digest[..4], "checksum matches");
                    }
                }
                (receiver, Instant::now())
            });
            let data = payload.clone();
            let known = header.clone();
            let write = pair.near.spawn(async move {
                match check {
                    RawCheck::None => {}
                    RawCheck::AfterLastByte => {
                        let header = frame_header(magic, Command::BLOCK, &data);
                        sender.write_all(&header).await.expect("raw write");
                    }
                    RawCheck::AsBytesArrive => {
                        sender.write_all(&known[..]).await.expect("raw write")
                    }
                }
                sender.write_all(&data).await.expect("raw write");
                sender
            });
            sender = pair.near.block_on(write).expect("writer task");
            let (back, finished) = pair.near.block_on(read).expect("reader task");
            receiver = back;
            if rep > 0 {
                samples.push(mb_per_s(size, finished - started));
            }
        }
        results.push(samples);
    }
    results
}

struct Costs {
    sha256d_ms: f64,
    copy_ms: f64,
}

/// What SHA-256d and a copy into a fresh buffer cost for a 32 MiB payload here: the
/// per-byte work the engine does beyond a plain socket copy.
fn copy_and_hash_costs() -> Costs {
    let data = unique_item(32 * MIB);
    let hash_samples: Vec<f64> = (0..3)
        .map(|_| {
            let started = Instant::now();
            std::hint::black_box(sha256d(std::hint::black_box(&data)));
            started.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    let copy_samples: Vec<f64> = (0..3)
        .map(|_| {
            let started = Instant::now();
            let copy = std::hint::black_box(data.clone());
            let ms = started.elapsed().as_secs_f64() * 1e3;
            drop(copy);
            ms
        })
        .collect();
    Costs {
        sha256d_ms: median(&hash_samples),
        copy_ms: median(&copy_samples),
    }
}

/// Figure 2.
pub fn tx_relay(quick: bool) -> Json {
    let reps = if quick { 1 } else { 3 };
    println!(
        "2. Transaction relay A→B: {TX_COUNT} unique {TX_SIZE}-byte txs, trickle off, \
         first broadcast to last on_transaction (median of {reps})"
    );
    println!(
        "   All {TX_COUNT} are broadcast at once; the sender's announcement pacing keeps the \
         receiver within its {MAX_PEER_ANNOUNCEMENTS} unrequested announcements per peer, and \
         every tx must arrive."
    );
    let mut txs: Vec<Vec<u8>> = (0..TX_COUNT).map(|_| unique_item(TX_SIZE)).collect();
    let mut engine_samples = Vec::new();
    let mut profile = None;
    for _ in 0..reps {
        for tx in txs.iter_mut() {
            make_unique(tx);
        }
        let (rate, usage) = engine_tx_rate(&txs);
        engine_samples.push(rate);
        profile = Some(usage);
    }
    let profile = profile.expect("at least one repetition");
    let raw_samples: Vec<f64> = (0..reps).map(|_| raw_tx_rate(&txs)).collect();
    let engine = median(&engine_samples);
    let raw = median(&raw_samples);
    let target = Target::new(
        format!("≥ {TX_TARGET_PER_SEC:.0} tx/s"),
        engine >= TX_TARGET_PER_SEC,
    );
    println!(
        "   {:>13}  {:>22}  {:>7}  target",
        "engine tx/s", "raw framed TCP tx/s", "ratio"
    );
    println!(
        "   {:>13.0}  {:>22.0}  {:>6.1}%  {} {}",
        engine,
        raw,
        engine / raw * 100.0,
        target.description,
        target.label()
    );
    println!("   Where the time goes (last repetition; A sends, B receives; \"other\" includes the bench thread calling broadcast):");
    profile.print("tx");
    let btcd = crate::btcd::tx_per_s(TX_COUNT, TX_SIZE);
    let btcd_target = btcd.map(|rate| crate::btcd::ahead(engine, rate, true));
    match (btcd, &btcd_target) {
        (Some(rate), Some(target)) => println!(
            "   btcd peer package, same work (invs of 1,000, all delivered): {rate:.0} tx/s; \
             engine {} {}",
            target.description,
            target.label()
        ),
        _ => println!("   {}", crate::btcd::NOT_BUILT),
    }
    Json::object([
        ("tx_count", Json::count(TX_COUNT)),
        ("tx_bytes", Json::count(TX_SIZE)),
        ("repetitions", Json::count(reps)),
        ("engine_tx_s", Json::Num(engine)),
        ("raw_framed_tcp_tx_s", Json::Num(raw)),
        ("ratio", Json::Num(engine / raw)),
        ("target", target.to_json()),
        ("engine_samples_tx_s", Json::nums(&engine_samples)),
        ("raw_samples_tx_s", Json::nums(&raw_samples)),
        ("engine_profile_per_tx", profile.to_json()),
        (
            "btcd",
            match (btcd, btcd_target) {
                (Some(rate), Some(target)) => Json::object([
                    ("tx_s", Json::Num(rate)),
                    ("engine_ahead", target.to_json()),
                ]),
                _ => Json::Null,
            },
        ),
    ])
}

/// Broadcasts every tx in `txs` at once on a fresh engine and waits until the other
/// has delivered all of them; returns tx/s and where the CPU time went.
fn engine_tx_rate(txs: &[Vec<u8>]) -> (f64, profile::PerUnit) {
    let (a, b, labels) = connected_pair_labelled();
    let usage_before = profile::sample();
    let arrivals = Arc::new(Arrivals::default());
    on_item(&b, ItemKind::Tx, arrivals.callback(Verdict::Accepted));
    let started = Instant::now();
    for tx in txs {
        a.broadcast(ItemKind::Tx, tx).expect("tx is accepted");
    }
    let last = arrivals.wait_for(txs.len(), WAIT_LIMIT).unwrap_or_else(|| {
        panic!(
            "only {} of {} transactions arrived",
            arrivals.count(),
            txs.len()
        )
    });
    let usage = profile::per_unit(&usage_before, &profile::sample(), &labels, txs.len());
    (txs.len() as f64 / (last - started).as_secs_f64(), usage)
}

/// The same transactions framed as `tx` messages, written in 64 KiB batches on a plain
/// socket and decoded (frame, checksum, payload) on the other side, each end on its
/// own runtime; returns tx/s.
fn raw_tx_rate(txs: &[Vec<u8>]) -> f64 {
    let magic = Network::Regtest.magic();
    let txs: Arc<Vec<Vec<u8>>> = Arc::new(txs.to_vec());
    let count = txs.len();
    let pair = RawPair::new();
    let (mut sender, mut receiver) = pair.connect();
    let started = Instant::now();
    let read = pair.far.spawn(async move {
        let mut decoder = FrameDecoder::with_default_limit(magic);
        let mut buf = BytesMut::with_capacity(64 * 1024);
        let mut received = 0;
        while received < count {
            buf.reserve(64 * 1024);
            let n = receiver.read_buf(&mut buf).await.expect("raw read");
            assert!(n > 0, "raw sender closed early");
            while let Some(DecodedFrame::Frame(frame)) =
                decoder.decode(&mut buf).expect("well-formed frames")
            {
                if let Ok(Message::Tx(tx)) = Message::decode(frame.command, frame.payload) {
                    std::hint::black_box(tx);
                    received += 1;
                }
            }
        }
        Instant::now()
    });
    let write = pair.near.spawn(async move {
        let mut out = Vec::with_capacity(128 * 1024);
        for tx in txs.iter() {
            encode_frame(magic, Command::TX, tx, &mut out);
            if out.len() >= 64 * 1024 {
                sender.write_all(&out).await.expect("raw write");
                out.clear();
            }
        }
        sender.write_all(&out).await.expect("raw write");
        sender
    });
    let _sender = pair.near.block_on(write).expect("writer task");
    let finished = pair.near.block_on(read).expect("reader task");
    count as f64 / (finished - started).as_secs_f64()
}
