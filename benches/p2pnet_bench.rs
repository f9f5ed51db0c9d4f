//! End-to-end benchmarks of the engine, each figure printed next to a baseline measured
//! in the same run and against its target.
//!
//! ```text
//! cargo bench --bench p2pnet_bench -- [--json FILE] [--quick] [--only NAME[,NAME...]]
//!     [--transport v1|v2|both]
//! ```
//!
//! Figures (names for `--only`): `block_relay`, `tx_relay`, `latency`, `scale`,
//! `propagation`. Block relay, tx relay and latency run over plaintext v1 and over
//! BIP324 v2 in the same run (`--transport both`, the default), reported as `NAME` and
//! `NAME_v2`; the others run over v1. Everything runs over loopback TCP. The connection-scale figure re-runs
//! this binary as child processes (a holder that owns the engine, and a client swarm) so
//! that the memory it reports belongs to the engine alone. Where `P2PNET_BTCD_BENCH`
//! names the program in `benches/btcd/` (`scripts/bench.sh` builds it), each figure also
//! prints btcd's `peer` package doing the same work.

#[path = "p2pnet_bench/alloc_stats.rs"]
mod alloc_stats;
#[path = "p2pnet_bench/btcd.rs"]
mod btcd;
#[path = "p2pnet_bench/json.rs"]
mod json;
#[path = "p2pnet_bench/latency.rs"]
mod latency;
#[path = "p2pnet_bench/profile.rs"]
mod profile;
#[path = "p2pnet_bench/propagation.rs"]
mod propagation;
#[path = "p2pnet_bench/scale.rs"]
mod scale;
#[path = "p2pnet_bench/support.rs"]
mod support;
#[path = "p2pnet_bench/throughput.rs"]
mod throughput;

use std::time::Instant;

use json::Json;

/// Counts live heap bytes by size class so the scale figure can say where a peer's
/// memory goes. Counting is off (one relaxed load per call) except in the holder role.
#[global_allocator]
static ALLOCATOR: alloc_stats::CountingAllocator = alloc_stats::CountingAllocator;

/// Every figure, in the order they run.
const FIGURES: [&str; 5] = ["block_relay", "tx_relay", "latency", "scale", "propagation"];

/// Figures measured once per transport.
const PER_TRANSPORT: [&str; 3] = ["block_relay", "tx_relay", "latency"];

struct Options {
    json_path: Option<String>,
    quick: bool,
    only: Vec<String>,
    /// Run the per-transport figures over v1, over v2.
    transports: Vec<bool>,
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(pos) = args.iter().position(|a| a == "--role") {
        let role = args.get(pos + 1).map(String::as_str).unwrap_or_default();
        std::process::exit(scale::run_role(role, &args));
    }
    let options = match parse_options(&args) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            eprintln!(
                "usage: p2pnet_bench [--json FILE] [--quick] [--only NAME[,NAME...]] \
                 [--transport v1|v2|both]\n\
                 figures: {}",
                FIGURES.join(", ")
            );
            std::process::exit(2);
        }
    };
    let started = Instant::now();
    let machine = support::machine_description();
    println!(
        "p2pnet benchmarks ({}) on {}",
        if options.quick { "quick" } else { "full" },
        machine.summary()
    );
    let mut figures = Vec::new();
    for name in FIGURES {
        if !options.only.is_empty() && !options.only.iter().any(|o| o == name) {
            continue;
        }
        let transports = if PER_TRANSPORT.contains(&name) {
            options.transports.clone()
        } else {
            vec![false]
        };
        for v2 in transports {
            support::use_transport(v2);
            println!();
            if PER_TRANSPORT.contains(&name) {
                println!("[transport {}]", support::transport_name());
            }
            let figure = match name {
                "block_relay" => throughput::block_relay(options.quick),
                "tx_relay" => throughput::tx_relay(options.quick),
                "latency" => latency::one_hop(options.quick),
                "scale" => scale::connection_scale(options.quick),
                "propagation" => propagation::mesh(options.quick),
                _ => unreachable!("figure list and dispatch agree"),
            };
            let key = if v2 {
                format!("{name}_v2")
            } else {
                name.to_string()
            };
            figures.push((key, figure));
        }
        support::use_transport(false);
    }
    let elapsed = started.elapsed().as_secs_f64();
    println!("\nfinished in {elapsed:.1} s");
    if let Some(path) = options.json_path {
        let document = Json::object([
            ("quick", Json::Bool(options.quick)),
            ("machine", machine.to_json()),
            ("elapsed_s", Json::Num(elapsed)),
            ("figures", Json::Obj(figures)),
        ]);
        if let Err(e) = std::fs::write(&path, document.to_string_pretty()) {
            eprintln!("cannot write {path}: {e}");
            std::process::exit(1);
        }
        println!("figures written to {path}");
    }
}

fn parse_options(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        json_path: None,
        quick: false,
        only: Vec::new(),
        transports: vec![false, true],
    };
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--json" => {
                let path = args.next().ok_or("--json needs a file name")?;
                options.json_path = Some(path.clone());
            }
            "--quick" => options.quick = true,
            "--transport" => {
                options.transports = match args.next().map(String::as_str) {
                    Some("v1") => vec![false],
                    Some("v2") => vec![true],
                    Some("both") => vec![false, true],
                    _ => return Err("--transport needs v1, v2 or both".into()),
                };
            }
            "--only" => {
                let names = args.next().ok_or("--only needs a figure name")?;
                for name in names.split(',').filter(|n| !n.is_empty()) {
                    if !FIGURES.contains(&name) {
                        return Err(format!("unknown figure {name:?}"));
                    }
                    options.only.push(name.to_string());
                }
            }
            // `cargo bench` passes `--bench` to every bench binary.
            "--bench" => {}
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(options)
}
