#!/usr/bin/env bash
# Runs the benchmark program in release mode and writes every figure as JSON.
#
#   ./scripts/bench.sh                  full run, JSON in target/bench/benchmarks.json
#   ./scripts/bench.sh --quick          fewer repetitions (under a minute)
#   ./scripts/bench.sh --only latency   one figure (block_relay, tx_relay, latency,
#                                       scale, propagation; comma-separated for several)
#
# BENCH_JSON overrides where the JSON goes. With --plot, docs/block_relay_throughput.png
# is redrawn from it afterwards (needs matplotlib).
set -euo pipefail
cd "$(dirname "$0")/.."
json=${BENCH_JSON:-target/bench/benchmarks.json}
plot=0
args=()
for arg in "$@"; do
    if [ "$arg" = "--plot" ]; then
        plot=1
    else
        args+=("$arg")
    fi
done
mkdir -p "$(dirname "$json")"
# The connection-scale figure opens 10,000 sockets in each of two processes.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)"
# btcd's peer package measured doing the same work (benches/btcd/, a Go program); the
# figures print its numbers next to the engine's when P2PNET_BTCD_BENCH names it.
btcd_bench="$PWD/target/bench/btcd-bench"
mkdir -p "$(dirname "$btcd_bench")"
if ! command -v go >/dev/null 2>&1; then
    echo "warning: go not found; the figures will run without the btcd comparison" >&2
elif (cd benches/btcd && go build -buildvcs=false -o "$btcd_bench" .); then
    export P2PNET_BTCD_BENCH="$btcd_bench"
else
    echo "warning: benches/btcd did not build; the figures will run without the btcd comparison" >&2
fi
cargo bench --bench p2pnet_bench -- --json "$json" "${args[@]+"${args[@]}"}"
if [ "$plot" = 1 ]; then
    python3 scripts/plot_benchmarks.py "$json" docs/block_relay_throughput.png
fi
