//! Figure 5: how long a block takes to reach every node of a 50-engine mesh, against
//! two baselines from the same run: the mesh's own one-hop latency times the number of
//! hops the farthest node is away, and a flood of the same bytes over the same graph
//! on plain tokio sockets, one runtime per node like the engines.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use bytes::{BufMut, Bytes, BytesMut};
use p2pnet::wire::Hash256;
use p2pnet::{Engine, ItemKind, Verdict};
use parking_lot::Mutex;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc as tokio_mpsc;

use crate::json::Json;
use crate::support::{self, median, peer_count, port_of, unique_item};

const NODES: usize = 50;
const DEGREE: usize = 8;
/// Fixed so every run measures the same graph.
const GRAPH_SEED: u64 = 0x5EED_2026;
const SOURCE: usize = 0;
const BLOCK_SIZES: [usize; 2] = [1024, 1024 * 1024];
const ARRIVAL_LIMIT: Duration = Duration::from_secs(30);

type Graph = Vec<Vec<usize>>;

/// A random `degree`-regular simple graph on `n` nodes, connected: stubs are paired at
/// random, avoiding loops and double edges, restarting when the pairing gets stuck.
fn random_regular_graph(n: usize, degree: usize, seed: u64) -> Graph {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    'attempt: loop {
        let mut stubs: Vec<usize> = (0..n)
            .flat_map(|v| std::iter::repeat_n(v, degree))
            .collect();
        let mut adjacency = vec![Vec::new(); n];
        while !stubs.is_empty() {
            let mut paired = false;
            for _ in 0..1000 {
                let i = rng.random_range(0..stubs.len());
                let j = rng.random_range(0..stubs.len());
                let (u, v) = (stubs[i], stubs[j]);
                if i == j || u == v || adjacency[u].contains(&v) {
                    continue;
                }
                adjacency[u].push(v);
                adjacency[v].push(u);
                stubs.swap_remove(i.max(j));
                stubs.swap_remove(i.min(j));
                paired = true;
                break;
            }
            if !paired {
                continue 'attempt;
            }
        }
        if distances(&adjacency, 0).iter().all(|d| d.is_some()) {
            return adjacency;
        }
    }
}

/// Hop counts from `source` (breadth-first); `None` for unreachable nodes.
fn distances(graph: &Graph, source: usize) -> Vec<Option<usize>> {
    let mut dist = vec![None; graph.len()];
    dist[source] = Some(0);
    let mut queue = VecDeque::from([source]);
    while let Some(u) = queue.pop_front() {
        let d = dist[u].unwrap_or(0);
        for &v in &graph[u] {
            if dist[v].is_none() {
                dist[v] = Some(d + 1);
                queue.push_back(v);
            }
        }
    }
    dist
}

fn edges(graph: &Graph) -> Vec<(usize, usize)> {
    let mut list = Vec::new();
    for (u, neighbours) in graph.iter().enumerate() {
        for &v in neighbours {
            if u < v {
                list.push((u, v));
            }
        }
    }
    list
}

/// One block's spread: per node, milliseconds from broadcast to its callback.
struct Spread {
    arrival_ms: Vec<f64>,
}

impl Spread {
    fn total_ms(&self) -> f64 {
        self.arrival_ms.iter().copied().fold(0.0, f64::max)
    }

    /// When the first direct neighbour of the source had the block: one hop.
    fn first_hop_ms(&self, dist: &[usize]) -> f64 {
        self.arrival_ms
            .iter()
            .zip(dist)
            .filter(|(_, d)| **d == 1)
            .map(|(ms, _)| *ms)
            .fold(f64::INFINITY, f64::min)
    }
}

pub fn mesh(quick: bool) -> Json {
    let blocks = if quick { 3 } else { 7 };
    let graph = random_regular_graph(NODES, DEGREE, GRAPH_SEED);
    let dist: Vec<usize> = distances(&graph, SOURCE)
        .into_iter()
        .map(|d| d.expect("graph is connected"))
        .collect();
    let eccentricity = dist.iter().copied().max().unwrap_or(0);
    let diameter = (0..NODES)
        .filter_map(|s| distances(&graph, s).into_iter().flatten().max())
        .max()
        .unwrap_or(0);
    println!(
        "5. Propagation: {NODES} engines in one process, random {DEGREE}-regular mesh \
         (diameter {diameter}; farthest node {eccentricity} hops from the source), block \
         broadcast on node {SOURCE} until every other node ran on_block (median of {blocks})"
    );
    let mut engine_spreads: HashMap<usize, Vec<Spread>> = HashMap::new();
    {
        let (engines, arrivals) = start_mesh(&graph);
        for &size in &BLOCK_SIZES {
            let spreads = (0..blocks)
                .map(|_| engine_spread(&engines, &arrivals, size))
                .collect();
            engine_spreads.insert(size, spreads);
        }
        stop_all(engines);
    }
    println!(
        "   Baselines: a flood of the same bytes over the same graph on plain sockets (each \
         node forwards on first receipt, no inv/getdata, no hashing), and the mesh's own \
         one-hop time (first neighbour of the source to run on_block) times the hops to \
         the farthest node."
    );
    println!(
        "   {:>7}  {:>10}  {:>14}  {:>16}  {:>13}  median arrival by hop distance (ms)",
        "block", "engine ms", "raw flood ms", "1 hop × dist ms", "engine/flood"
    );
    let mut rows = Vec::new();
    for &size in &BLOCK_SIZES {
        let spreads = &engine_spreads[&size];
        let totals: Vec<f64> = spreads.iter().map(Spread::total_ms).collect();
        let hops: Vec<f64> = spreads.iter().map(|s| s.first_hop_ms(&dist)).collect();
        let by_distance: Vec<f64> = (1..=eccentricity)
            .map(|d| {
                let at_d: Vec<f64> = spreads
                    .iter()
                    .flat_map(|s| {
                        s.arrival_ms
                            .iter()
                            .zip(&dist)
                            .filter(move |(_, nd)| **nd == d)
                            .map(|(ms, _)| *ms)
                    })
                    .collect();
                median(&at_d)
            })
            .collect();
        let flood = raw_flood(&graph, size, blocks);
        let engine_ms = median(&totals);
        let flood_ms = median(&flood);
        let one_hop_ms = median(&hops);
        let pipeline_ms = one_hop_ms * eccentricity as f64;
        println!(
            "   {:>7}  {:>10.2}  {:>14.2}  {:>16.2}  {:>12.2}×  {}",
            if size >= 1024 * 1024 {
                format!("{} MiB", size / (1024 * 1024))
            } else {
                format!("{} KiB", size / 1024)
            },
            engine_ms,
            flood_ms,
            pipeline_ms,
            engine_ms / flood_ms,
            by_distance
                .iter()
                .enumerate()
                .map(|(i, ms)| format!("{}:{ms:.2}", i + 1))
                .collect::<Vec<_>>()
                .join(" ")
        );
        rows.push(Json::object([
            ("block_bytes", Json::count(size)),
            ("engine_ms", Json::Num(engine_ms)),
            ("raw_flood_ms", Json::Num(flood_ms)),
            ("one_hop_ms", Json::Num(one_hop_ms)),
            ("one_hop_times_eccentricity_ms", Json::Num(pipeline_ms)),
            ("engine_over_flood", Json::Num(engine_ms / flood_ms)),
            ("median_arrival_by_distance_ms", Json::nums(&by_distance)),
            ("engine_samples_ms", Json::nums(&totals)),
            ("raw_flood_samples_ms", Json::nums(&flood)),
        ]));
    }
    let nodes_at: Vec<f64> = (1..=eccentricity)
        .map(|d| dist.iter().filter(|x| **x == d).count() as f64)
        .collect();
    Json::object([
        ("nodes", Json::count(NODES)),
        ("degree", Json::count(DEGREE)),
        ("graph_seed", Json::Num(GRAPH_SEED as f64)),
        ("diameter", Json::count(diameter)),
        ("source_eccentricity", Json::count(eccentricity)),
        ("nodes_at_distance", Json::nums(&nodes_at)),
        ("blocks", Json::count(blocks)),
        ("engine_worker_threads", Json::int(1)),
        ("rows", Json::Arr(rows)),
    ])
}

/// Starts one engine per node (one worker thread each: fifty nodes share two cores),
/// connects the graph's edges explicitly and waits until every node has all its
/// neighbours. Each node's block callback reports (node, id, time) and accepts the
/// block, so the node relays it on.
fn start_mesh(graph: &Graph) -> (Vec<Engine>, mpsc::Receiver<(usize, Hash256, Instant)>) {
    let (report, arrivals) = mpsc::channel();
    let engines: Vec<Engine> = (0..graph.len())
        .map(|node| {
            let mut config = support::bench_config();
            config.worker_threads = 1;
            let engine = support::start_engine(config);
            let report = report.clone();
            support::on_item(
                &engine,
                ItemKind::Block,
                Arc::new(move |_, id, _| {
                    let _ = report.send((node, *id, Instant::now()));
                    Verdict::Accepted
                }),
            );
            engine
        })
        .collect();
    for (u, v) in edges(graph) {
        engines[u]
            .add_peer("127.0.0.1", port_of(&engines[v]))
            .expect("dial is accepted");
    }
    let meshed = support::wait_until(support::WAIT_LIMIT, || {
        engines
            .iter()
            .zip(graph)
            .all(|(e, neighbours)| peer_count(e) == neighbours.len())
    });
    assert!(meshed, "the mesh did not finish its handshakes");
    (engines, arrivals)
}

fn engine_spread(
    engines: &[Engine],
    arrivals: &mpsc::Receiver<(usize, Hash256, Instant)>,
    size: usize,
) -> Spread {
    let block = unique_item(size);
    let started = Instant::now();
    let id = engines[SOURCE]
        .broadcast(ItemKind::Block, &block)
        .expect("block is accepted");
    let mut arrival_ms = vec![0.0; engines.len()];
    let mut reached = HashSet::new();
    let deadline = started + ARRIVAL_LIMIT;
    while reached.len() < engines.len() - 1 {
        let left = deadline.saturating_duration_since(Instant::now());
        let Ok((node, got, at)) = arrivals.recv_timeout(left) else {
            panic!(
                "block reached {} of {} nodes",
                reached.len(),
                engines.len() - 1
            );
        };
        if got == id && reached.insert(node) {
            arrival_ms[node] = (at - started).as_secs_f64() * 1e3;
        }
    }
    Spread { arrival_ms }
}

/// Stops the engines in parallel; each stop waits for its own runtime to wind down.
fn stop_all(engines: Vec<Engine>) {
    std::thread::scope(|scope| {
        for engine in &engines {
            scope.spawn(move || {
                let _ = engine.stop();
            });
        }
    });
}

/// Per node of the flood: who it has heard of and its links' send queues.
struct FloodNode {
    seen: Mutex<HashSet<u64>>,
    links: Mutex<Vec<(usize, tokio_mpsc::UnboundedSender<Bytes>)>>,
}

type Report = mpsc::Sender<(usize, u64, Instant)>;

/// Floods `blocks` messages of `size` bytes from the source over `graph` on plain
/// sockets, each node on a runtime of its own (one worker, as the engines here): a node
/// forwards a message it sees first to every other neighbour, with no announcement
/// round trip and no hashing. Returns milliseconds until the last node had each message.
fn raw_flood(graph: &Graph, size: usize, blocks: usize) -> Vec<f64> {
    let runtimes: Vec<tokio::runtime::Runtime> = (0..graph.len())
        .map(|_| support::runtime_with_workers(1))
        .collect();
    let nodes: Arc<Vec<FloodNode>> = Arc::new(
        (0..graph.len())
            .map(|_| FloodNode {
                seen: Mutex::new(HashSet::new()),
                links: Mutex::new(Vec::new()),
            })
            .collect(),
    );
    let (report, reports) = mpsc::channel();
    for (u, v) in edges(graph) {
        let (dialled, accepted) = support::std_socket_pair();
        for (node, peer, stream) in [(u, v, dialled), (v, u, accepted)] {
            let runtime = &runtimes[node];
            let (reader, writer) = support::into_runtime(runtime, stream).into_split();
            let (queue, outbox) = tokio_mpsc::unbounded_channel();
            nodes[node].links.lock().push((peer, queue));
            runtime.spawn(flood_writer(writer, outbox));
            runtime.spawn(flood_reader(
                reader,
                nodes.clone(),
                node,
                peer,
                report.clone(),
            ));
        }
    }
    let mut results = Vec::new();
    for id in 0..blocks as u64 {
        let payload = unique_item(size);
        let mut frame = BytesMut::with_capacity(12 + size);
        frame.put_u64_le(id);
        frame.put_u32_le(size as u32);
        frame.put_slice(&payload);
        let started = Instant::now();
        flood_receive(&nodes, SOURCE, usize::MAX, id, frame.freeze(), &report);
        let mut reached = HashSet::new();
        let mut last = started;
        while reached.len() < graph.len() {
            let (node, got, at) = reports
                .recv_timeout(ARRIVAL_LIMIT)
                .expect("flood completes");
            if got == id && reached.insert(node) {
                last = last.max(at);
            }
        }
        results.push((last - started).as_secs_f64() * 1e3);
    }
    results
}

/// A node sees a message: the first time, it reports and forwards to all but the sender.
fn flood_receive(
    nodes: &[FloodNode],
    node: usize,
    from: usize,
    id: u64,
    frame: Bytes,
    report: &Report,
) {
    if !nodes[node].seen.lock().insert(id) {
        return;
    }
    let _ = report.send((node, id, Instant::now()));
    for (peer, queue) in nodes[node].links.lock().iter() {
        if *peer != from {
            let _ = queue.send(frame.clone());
        }
    }
}

async fn flood_reader(
    mut reader: tokio::net::tcp::OwnedReadHalf,
    nodes: Arc<Vec<FloodNode>>,
    node: usize,
    peer: usize,
    report: Report,
) {
    loop {
        let mut header = [0u8; 12];
        if reader.read_exact(&mut header).await.is_err() {
            return;
        }
        let id = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(header[8..].try_into().expect("4 bytes")) as usize;
        let mut frame = BytesMut::with_capacity(12 + len);
        frame.put_slice(&header);
        frame.resize(12 + len, 0);
        if reader.read_exact(&mut frame[12..]).await.is_err() {
            return;
        }
        flood_receive(&nodes, node, peer, id, frame.freeze(), &report);
    }
}

async fn flood_writer(
    mut writer: tokio::net::tcp::OwnedWriteHalf,
    mut outbox: tokio_mpsc::UnboundedReceiver<Bytes>,
) {
    while let Some(frame) = outbox.recv().await {
        if writer.write_all(&frame).await.is_err() {
            return;
        }
    }
}
