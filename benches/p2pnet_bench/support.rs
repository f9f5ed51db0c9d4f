//! Shared pieces: engine setup on loopback, unique items, arrival bookkeeping, statistics
//! and the report format.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use p2pnet::{Config, Engine, ItemKind, Network, TransportMode, Verdict};
use parking_lot::{Condvar, Mutex};

use crate::json::Json;
use crate::profile;

/// How long any wait for the engine may take before the figure is declared failed.
pub const WAIT_LIMIT: Duration = Duration::from_secs(60);

/// The transport the engines of the figure being run speak: 0 v1, 1 BIP324 v2.
static TRANSPORT_V2: AtomicBool = AtomicBool::new(false);

/// Sets the transport for the engines made from now on.
pub fn use_transport(v2: bool) {
    TRANSPORT_V2.store(v2, Ordering::Relaxed);
}

/// "v1" or "v2": the transport figures are being run with.
pub fn transport_name() -> &'static str {
    if TRANSPORT_V2.load(Ordering::Relaxed) {
        "v2"
    } else {
        "v1"
    }
}

/// Regtest with a loopback listener on a free port, no automatic dialling and no
/// transaction trickle, so that every figure measures the relay path itself; v1 only
/// or v2 only as [`use_transport`] said, so a figure never mixes the two.
pub fn bench_config() -> Config {
    let mut config = Config::new(Network::Regtest);
    config.transport = if TRANSPORT_V2.load(Ordering::Relaxed) {
        TransportMode::V2Only
    } else {
        TransportMode::V1Only
    };
    config
        .set_listen_address("127.0.0.1:0")
        .expect("loopback listen address parses");
    config.max_outbound = 0;
    config.tx_trickle_inbound = Duration::ZERO;
    config.tx_trickle_outbound = Duration::ZERO;
    config
}

pub fn start_engine(config: Config) -> Engine {
    let engine = Engine::new(config).expect("bench config is valid");
    engine.start().expect("engine starts on loopback");
    engine
}

pub fn port_of(engine: &Engine) -> u16 {
    engine
        .local_addr()
        .expect("engine is running")
        .expect("engine listens")
        .port()
}

pub fn peer_count(engine: &Engine) -> usize {
    engine.peers().map(|p| p.len()).unwrap_or(0)
}

/// Polls `condition` until it holds or `limit` passes; returns whether it held.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    condition()
}

/// Two engines, `b` dialled into `a`, both with the handshake done, with each engine's
/// threads labelled "A" and "B" for profiles. `a` is the sender in every two-engine
/// figure, so `b` is an inbound peer of `a`.
pub fn connected_pair_labelled() -> (Engine, Engine, profile::Labels) {
    let mut labels = profile::Labels::new();
    let existing = profile::thread_ids();
    let a = start_engine(bench_config());
    let with_a = profile::thread_ids();
    let b = start_engine(bench_config());
    let with_b = profile::thread_ids();
    labels.add("A", with_a.difference(&existing).copied().collect());
    labels.add("B", with_b.difference(&with_a).copied().collect());
    b.add_peer("127.0.0.1", port_of(&a))
        .expect("dial is accepted");
    assert!(
        wait_until(WAIT_LIMIT, || peer_count(&a) == 1 && peer_count(&b) == 1),
        "two engines on loopback did not complete the handshake"
    );
    (a, b, labels)
}

/// Process-wide sequence and salt that make every generated item's id unique, also
/// across engines that outlive one figure.
static ITEM_SEQUENCE: AtomicU64 = AtomicU64::new(0);

fn next_item_tag() -> [u8; 16] {
    static SALT: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let salt = *SALT.get_or_init(rand::random);
    let seq = ITEM_SEQUENCE.fetch_add(1, Ordering::Relaxed);
    let mut tag = [0u8; 16];
    tag[..8].copy_from_slice(&seq.to_le_bytes());
    tag[8..].copy_from_slice(&salt.to_le_bytes());
    tag
}

/// Makes `item` new to every engine: a block's id covers its first 80 bytes and a
/// transaction's id all of it, so a unique tag at the front suffices for both.
pub fn make_unique(item: &mut [u8]) {
    let tag = next_item_tag();
    let n = tag.len().min(item.len());
    item[..n].copy_from_slice(&tag[..n]);
}

/// `size` bytes of filler with a unique tag in front.
pub fn unique_item(size: usize) -> Vec<u8> {
    let mut item: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
    make_unique(&mut item);
    item
}

/// Counts items reaching a node's callback and wakes a waiter at a chosen count.
/// Waking only at that count keeps the callback cheap: no syscall per item.
#[derive(Default)]
pub struct Arrivals {
    state: Mutex<ArrivalState>,
    reached: Condvar,
}

#[derive(Default)]
struct ArrivalState {
    count: usize,
    last: Option<Instant>,
    wake_at: Option<usize>,
}

impl Arrivals {
    pub fn record(&self) {
        let now = Instant::now();
        let mut state = self.state.lock();
        state.count += 1;
        state.last = Some(now);
        if state.wake_at.is_some_and(|n| state.count >= n) {
            state.wake_at = None;
            self.reached.notify_all();
        }
    }

    pub fn count(&self) -> usize {
        self.state.lock().count
    }

    /// Waits until `count` items arrived; returns the arrival time of the latest item,
    /// or `None` on timeout.
    pub fn wait_for(&self, count: usize, limit: Duration) -> Option<Instant> {
        let deadline = Instant::now() + limit;
        let mut state = self.state.lock();
        while state.count < count {
            state.wake_at = Some(count);
            if self.reached.wait_until(&mut state, deadline).timed_out() {
                return None;
            }
        }
        state.last
    }

    /// An item callback that records each arrival and returns `verdict`.
    pub fn callback(self: &Arc<Self>, verdict: Verdict) -> p2pnet::ItemCallback {
        let arrivals = self.clone();
        Arc::new(move |_, _, _| {
            arrivals.record();
            verdict
        })
    }
}

/// Installs `callback` for items of `kind`.
pub fn on_item(engine: &Engine, kind: ItemKind, callback: p2pnet::ItemCallback) {
    let result = match kind {
        ItemKind::Block => engine.set_on_block(Some(callback)),
        ItemKind::Tx => engine.set_on_transaction(Some(callback)),
    };
    result.expect("engine accepts the callback");
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

/// Nearest-rank percentile (`p` in 0..=100).
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// A figure's verdict against its target, printed and recorded the same way everywhere.
pub struct Target {
    pub description: String,
    pub met: bool,
}

impl Target {
    pub fn new(description: impl Into<String>, met: bool) -> Self {
        Target {
            description: description.into(),
            met,
        }
    }

    pub fn label(&self) -> &'static str {
        if self.met {
            "met"
        } else {
            "MISSED"
        }
    }

    pub fn to_json(&self) -> Json {
        Json::object([
            ("target", Json::str(self.description.clone())),
            ("met", Json::Bool(self.met)),
        ])
    }
}

/// Resident set size of a process in bytes, from `/proc/<pid>/status`.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// What the figures were measured on.
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub kernel: String,
    pub load_average: String,
}

impl Machine {
    pub fn summary(&self) -> String {
        format!(
            "{} cores ({}), Linux {}, load average {}",
            self.cores, self.cpu, self.kernel, self.load_average
        )
    }

    pub fn to_json(&self) -> Json {
        Json::object([
            ("cpu", Json::str(self.cpu.clone())),
            ("cores", Json::count(self.cores)),
            ("kernel", Json::str(self.kernel.clone())),
            (
                "load_average_at_start",
                Json::str(self.load_average.clone()),
            ),
        ])
    }
}

pub fn machine_description() -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split(':').nth(1))
        .map_or_else(|| "unknown CPU".to_string(), |s| s.trim().to_string());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map_or_else(|_| "unknown".to_string(), |s| s.trim().to_string());
    let load_average = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    Machine {
        cpu,
        cores,
        kernel,
        load_average,
    }
}

/// A tokio runtime shaped like the engine's (two workers), for the raw baselines.
pub fn baseline_runtime() -> tokio::runtime::Runtime {
    runtime_with_workers(2)
}

pub fn runtime_with_workers(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("tokio runtime builds")
}

/// The raw baselines' counterpart of two engines: two runtimes of two workers each, and a
/// loopback connection whose ends belong one to each. A baseline whose two ends shared
/// one runtime could run both on one thread and skip the cross-thread wake-ups that two
/// nodes always pay.
pub struct RawPair {
    pub near: tokio::runtime::Runtime,
    pub far: tokio::runtime::Runtime,
}

impl RawPair {
    pub fn new() -> Self {
        RawPair {
            near: baseline_runtime(),
            far: baseline_runtime(),
        }
    }

    /// A connected socket pair: the first end on `near`, the second on `far`.
    pub fn connect(&self) -> (tokio::net::TcpStream, tokio::net::TcpStream) {
        let (a, b) = std_socket_pair();
        (into_runtime(&self.near, a), into_runtime(&self.far, b))
    }
}

/// A connected loopback pair of blocking sockets with Nagle off, as the engine sets it.
pub fn std_socket_pair() -> (std::net::TcpStream, std::net::TcpStream) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dialled =
        std::net::TcpStream::connect(listener.local_addr().expect("addr")).expect("connect");
    let (accepted, _) = listener.accept().expect("accept");
    for s in [&dialled, &accepted] {
        s.set_nodelay(true).expect("nodelay");
        s.set_nonblocking(true).expect("nonblocking");
    }
    (dialled, accepted)
}

/// Registers a socket with `runtime`'s I/O driver.
pub fn into_runtime(
    runtime: &tokio::runtime::Runtime,
    stream: std::net::TcpStream,
) -> tokio::net::TcpStream {
    let _guard = runtime.enter();
    tokio::net::TcpStream::from_std(stream).expect("socket registers")
}
