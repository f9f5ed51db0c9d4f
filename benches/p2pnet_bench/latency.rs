//! Figure 3: one-hop relay latency, broadcast on one engine to the item callback on
//! the other, against a round trip of a small message on a plain socket.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pnet::{Engine, ItemKind, Verdict};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::json::Json;
use crate::profile;
use crate::support::{
    self, connected_pair_labelled, make_unique, on_item, percentile, RawPair, Target,
};

const TX_SIZE: usize = 250;
const BLOCK_SIZE: usize = 1024;
/// A ping frame: 24-byte header and 8-byte nonce.
const PING_SIZE: usize = 32;
/// An `inv` of one entry: header, count, one 36-byte entry.
const INV_SIZE: usize = 24 + 1 + 36;
const TX_FRAME_SIZE: usize = 24 + TX_SIZE;
const WARM_UP: usize = 100;
/// Each latency is pooled from this many fresh engine pairs (or socket pairs): where
/// the scheduler places two threads on a 2-core VM (same core or not) changes a
/// cross-thread wake-up several-fold, and it is decided anew for each pair.
const SEGMENTS: usize = 4;
/// The engine's p50 may be at most this multiple of the same three legs (inv, getdata,
/// tx) exchanged on plain sockets between two runtimes.
const TARGET_MULTIPLE: f64 = 1.5;

struct Latencies {
    p50_us: f64,
    p99_us: f64,
    samples: Vec<f64>,
}

impl Latencies {
    fn from_samples(samples: Vec<f64>) -> Self {
        Latencies {
            p50_us: percentile(&samples, 50.0),
            p99_us: percentile(&samples, 99.0),
            samples,
        }
    }

    fn to_json(&self) -> Json {
        let mean = self.samples.iter().sum::<f64>() / self.samples.len().max(1) as f64;
        Json::object([
            ("p50_us", Json::Num(self.p50_us)),
            ("p99_us", Json::Num(self.p99_us)),
            ("mean_us", Json::Num(mean)),
            (
                "max_us",
                Json::Num(self.samples.iter().copied().fold(0.0, f64::max)),
            ),
        ])
    }
}

pub fn one_hop(quick: bool) -> Json {
    let samples = if quick { 500 } else { 2000 };
    let per_segment = samples / SEGMENTS;
    println!(
        "3. One-hop latency: broadcast on A → callback on B, sequential, {samples} samples \
         each, pooled from {SEGMENTS} fresh pairs (each after {WARM_UP} warm-up)"
    );
    let mut tx_samples = Vec::new();
    let mut block_samples = Vec::new();
    let mut usage = None;
    for _ in 0..SEGMENTS {
        let (a, b, labels) = connected_pair_labelled();
        let usage_before = profile::sample();
        tx_samples.extend(engine_latency(&a, &b, ItemKind::Tx, TX_SIZE, per_segment));
        usage.get_or_insert_with(|| {
            profile::per_unit(
                &usage_before,
                &profile::sample(),
                &labels,
                WARM_UP + per_segment,
            )
        });
        block_samples.extend(engine_latency(
            &a,
            &b,
            ItemKind::Block,
            BLOCK_SIZE,
            per_segment,
        ));
    }
    let usage = usage.expect("at least one segment");
    let (tx, block) = (
        Latencies::from_samples(tx_samples),
        Latencies::from_samples(block_samples),
    );

    let mut rtt_samples = Vec::new();
    let mut rtt_one_runtime_samples = Vec::new();
    let mut exchange_samples = Vec::new();
    let mut exchange_usage = None;
    for _ in 0..SEGMENTS {
        let pair = RawPair::new();
        rtt_samples.extend(raw_round_trip(&pair.near, &pair.far, per_segment));
        let (measured, usage) = raw_relay_exchange(&pair, per_segment);
        exchange_samples.extend(measured);
        exchange_usage.get_or_insert(usage);
        drop(pair);
        let shared = support::baseline_runtime();
        rtt_one_runtime_samples.extend(raw_round_trip(&shared, &shared, per_segment));
    }
    let exchange_usage = exchange_usage.expect("at least one segment");
    let rtt = Latencies::from_samples(rtt_samples);
    let rtt_one_runtime = Latencies::from_samples(rtt_one_runtime_samples);
    let exchange = Latencies::from_samples(exchange_samples);
    let wake_up = thread_wake_up(samples);

    let target_text = format!("p50 ≤ {TARGET_MULTIPLE:.1}× raw three legs");
    let tx_target = Target::new(
        target_text.clone(),
        tx.p50_us <= TARGET_MULTIPLE * exchange.p50_us,
    );
    let block_target = Target::new(
        target_text.clone(),
        block.p50_us <= TARGET_MULTIPLE * exchange.p50_us,
    );
    let btcd = crate::btcd::latency_us(samples, WARM_UP);
    let btcd_target = btcd.map(|(p50, _)| crate::btcd::ahead(tx.p50_us, p50, false));
    println!(
        "   {:<48}  {:>7}  {:>7}  {:>7}  target",
        "", "p50 µs", "p99 µs", "p50/legs"
    );
    let rows = [
        (format!("engine tx ({TX_SIZE} B)"), &tx, Some(&tx_target)),
        (
            format!("engine block ({BLOCK_SIZE} B)"),
            &block,
            Some(&block_target),
        ),
        (
            format!("raw TCP round trip ({PING_SIZE} B, two runtimes)"),
            &rtt,
            None,
        ),
        (
            "raw TCP round trip, both ends in one runtime".to_string(),
            &rtt_one_runtime,
            None,
        ),
        (
            "raw inv → getdata → tx legs, two runtimes".to_string(),
            &exchange,
            None,
        ),
        (
            "thread wake-up through a channel".to_string(),
            &wake_up,
            None,
        ),
    ];
    for (name, lat, target) in rows {
        let verdict = target.map_or(String::new(), |t| {
            format!("{} {}", t.description, t.label())
        });
        println!(
            "   {:<48}  {:>7.1}  {:>7.1}  {:>6.2}×  {}",
            name,
            lat.p50_us,
            lat.p99_us,
            lat.p50_us / exchange.p50_us,
            verdict
        );
    }
    match (btcd, &btcd_target) {
        (Some((p50, p99)), Some(target)) => println!(
            "   {:<48}  {:>7.1}  {:>7.1}  {:>6.2}×  {} {}",
            format!("btcd peer package tx ({TX_SIZE} B)"),
            p50,
            p99,
            p50 / exchange.p50_us,
            target.description,
            target.label()
        ),
        _ => println!("   {}", crate::btcd::NOT_BUILT),
    }
    println!(
        "   Where a sequential tx's time goes, first pair (A sends, B receives; \"other\" includes the \
         bench thread calling broadcast):"
    );
    usage.print("tx");
    println!("   The same for the raw inv → getdata → tx legs, first pair:");
    exchange_usage.print("tx");
    Json::object([
        ("samples", Json::count(samples)),
        (
            "engine_tx",
            with_target(tx.to_json(), &tx_target, tx.p50_us / exchange.p50_us),
        ),
        (
            "engine_block",
            with_target(
                block.to_json(),
                &block_target,
                block.p50_us / exchange.p50_us,
            ),
        ),
        ("raw_tcp_round_trip", rtt.to_json()),
        ("raw_tcp_round_trip_one_runtime", rtt_one_runtime.to_json()),
        (
            "btcd_tx",
            match (btcd, &btcd_target) {
                (Some((p50, p99)), Some(target)) => Json::object([
                    ("p50_us", Json::Num(p50)),
                    ("p99_us", Json::Num(p99)),
                    ("engine_ahead", target.to_json()),
                ]),
                _ => Json::Null,
            },
        ),
        ("raw_inv_getdata_tx_exchange", exchange.to_json()),
        ("thread_wake_up_through_channel", wake_up.to_json()),
        ("engine_tx_profile_per_item", usage.to_json()),
        ("raw_exchange_profile_per_item", exchange_usage.to_json()),
        ("tx_bytes", Json::count(TX_SIZE)),
        ("block_bytes", Json::count(BLOCK_SIZE)),
        ("ping_bytes", Json::count(PING_SIZE)),
    ])
}

fn with_target(figure: Json, target: &Target, multiple: f64) -> Json {
    let Json::Obj(mut fields) = figure else {
        return figure;
    };
    fields.push(("p50_over_raw_legs".into(), Json::Num(multiple)));
    fields.push(("target".into(), target.to_json()));
    Json::Obj(fields)
}

/// Broadcasts one item at a time and times it to the moment B's callback starts.
fn engine_latency(a: &Engine, b: &Engine, kind: ItemKind, size: usize, samples: usize) -> Vec<f64> {
    let (arrived_tx, arrived) = mpsc::channel::<Instant>();
    on_item(
        b,
        kind,
        Arc::new(move |_, _, _| {
            let _ = arrived_tx.send(Instant::now());
            Verdict::Accepted
        }),
    );
    let mut item = support::unique_item(size);
    let mut measured = Vec::with_capacity(samples);
    for i in 0..WARM_UP + samples {
        make_unique(&mut item);
        let started = Instant::now();
        a.broadcast(kind, &item).expect("item is accepted");
        let at = arrived
            .recv_timeout(support::WAIT_LIMIT)
            .expect("item reaches the other engine");
        if i >= WARM_UP {
            measured.push((at - started).as_secs_f64() * 1e6);
        }
    }
    measured
}

/// A connected pair with one end on `near` and the other on `far` (which may be the
/// same runtime).
fn pair_on(
    near: &tokio::runtime::Runtime,
    far: &tokio::runtime::Runtime,
) -> (TcpStream, TcpStream) {
    let (a, b) = support::std_socket_pair();
    (
        support::into_runtime(near, a),
        support::into_runtime(far, b),
    )
}

/// Ping-pong of a ping-sized message: an echo task on `far`, and a client task on
/// `near` that times each round trip.
fn raw_round_trip(
    near: &tokio::runtime::Runtime,
    far: &tokio::runtime::Runtime,
    samples: usize,
) -> Vec<f64> {
    let (mut client, mut server) = pair_on(near, far);
    far.spawn(async move {
        let mut buf = [0u8; PING_SIZE];
        while server.read_exact(&mut buf).await.is_ok() {
            if server.write_all(&buf).await.is_err() {
                break;
            }
        }
    });
    let timing = near.spawn(async move {
        let mut buf = [7u8; PING_SIZE];
        let mut measured = Vec::with_capacity(samples);
        for i in 0..WARM_UP + samples {
            let started = Instant::now();
            client.write_all(&buf).await.expect("raw write");
            client.read_exact(&mut buf).await.expect("raw read");
            if i >= WARM_UP {
                measured.push(started.elapsed().as_secs_f64() * 1e6);
            }
        }
        measured
    });
    near.block_on(timing).expect("timing task")
}

/// The three legs of the relay protocol for one transaction (`inv` out, `getdata` back,
/// `tx` out) as plain bytes, timed to the moment the last leg is read: the floor for
/// any inv/getdata relay, without the engine's work in between. Also returns where its
/// time went, for comparison with the engine's.
fn raw_relay_exchange(pair: &RawPair, samples: usize) -> (Vec<f64>, profile::PerUnit) {
    let (mut client, mut server) = pair.connect();
    let (done_tx, mut done) = tokio::sync::mpsc::unbounded_channel::<Instant>();
    let usage_before = profile::sample();
    pair.far.spawn(async move {
        let mut inv = [0u8; INV_SIZE];
        let mut tx = [0u8; TX_FRAME_SIZE];
        loop {
            if server.read_exact(&mut inv).await.is_err()
                || server.write_all(&inv).await.is_err()
                || server.read_exact(&mut tx).await.is_err()
            {
                break;
            }
            let _ = done_tx.send(Instant::now());
        }
    });
    let timing = pair.near.spawn(async move {
        let mut inv = [1u8; INV_SIZE];
        let tx = [2u8; TX_FRAME_SIZE];
        let mut measured = Vec::with_capacity(samples);
        for i in 0..WARM_UP + samples {
            let started = Instant::now();
            client.write_all(&inv).await.expect("raw write");
            client.read_exact(&mut inv).await.expect("raw read");
            client.write_all(&tx).await.expect("raw write");
            // As in the engine run, the next exchange starts once this one has landed.
            let finished = done.recv().await.expect("server runs");
            if i >= WARM_UP {
                measured.push((finished - started).as_secs_f64() * 1e6);
            }
        }
        measured
    });
    let measured = pair.near.block_on(timing).expect("timing task");
    // Sampled while the runtimes (and their threads) still exist.
    let usage = profile::per_unit(
        &usage_before,
        &profile::sample(),
        &profile::Labels::new(),
        WARM_UP + samples,
    );
    (measured, usage)
}

/// How long a thread blocked on a bounded tokio channel takes to wake for a message
/// sent from another thread, as the engine's dispatcher does for every item. Messages
/// are spaced so the receiver is asleep each time.
fn thread_wake_up(samples: usize) -> Latencies {
    let (sender, mut receiver) = tokio::sync::mpsc::channel::<Instant>(1024);
    let waker = std::thread::spawn(move || {
        let mut measured = Vec::with_capacity(samples);
        while let Some(sent) = receiver.blocking_recv() {
            measured.push(sent.elapsed().as_secs_f64() * 1e6);
        }
        measured
    });
    for _ in 0..WARM_UP + samples {
        std::thread::sleep(Duration::from_micros(200));
        sender.blocking_send(Instant::now()).expect("receiver runs");
    }
    drop(sender);
    let measured = waker.join().expect("receiver thread");
    Latencies::from_samples(measured[WARM_UP..].to_vec())
}
