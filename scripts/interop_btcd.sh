#!/usr/bin/env bash
# Interoperability check of p2pnet against btcd, an independent full node written in
# Go. Run by hand, as root:
#
#   sudo ./scripts/interop_btcd.sh [--transport v1|v2|both] [--soak SECONDS] [--verbose]
#
# It installs btcd and btcctl with `go install` into build-interop/bin (once), builds
# p2pnet (Release) and examples/interop_btcd.cpp into build-interop/, then, once per
# transport run, inside a fresh network namespace that has only a loopback interface
# (`unshare -n`, hence root: nothing can leave the machine), starts btcd in regtest,
# mines 101 blocks with btcctl and runs the check program against it. The program,
# with p2pnet's default regtest preset, shakes hands with btcd, syncs headers and
# blocks from it, receives a block btcd mines while connected, hands btcd a block of
# its own, stays connected for a while (--soak, default 20 s), then has btcd dial it
# (inbound) and receives a block over that connection, and dials btcd from a second
# engine with the other transport mode.
#
# btcd v0.26.2 implements BIP324 (its v2transport module) behind --v2transport (off by
# default; with it btcd announces NODE_P2P_V2, answers v2 and v1 inbound, and dials
# out v2). The transport runs (--transport, default both, v1 first):
#   v1  p2pnet in TransportMode::V1Only, btcd without --v2transport: every connection
#       must be v1; the second engine, with the default PreferV2, must fall back to
#       v1 after btcd closes its v2 attempt.
#   v2  p2pnet's default TransportMode::PreferV2, btcd --v2transport: both connections
#       (p2pnet dialling btcd, btcd dialling p2pnet) must be BIP324 v2, and btcd's log
#       (V2TR at trace level; it also logs this throwaway node's session keys) must
#       hold the session id p2pnet reports; the second engine, V1Only, must get v1.
# It ends with a summary and exits 0 only if every step of every run passed. btcd's
# log and the program's output of the last runs are kept in build-interop/last-run/RUN/.
#
# Needs go, cargo, cmake, a C++17 compiler, unshare (util-linux) and ip (iproute2).
# BTCD_VERSION, BUILD_DIR and JOBS override the btcd release, build directory and
# build parallelism.
set -euo pipefail

# btcd release checked here: v0.26.2, the newest on the Go module proxy when this was
# written, built with go1.26.
btcd_version=${BTCD_VERSION:-v0.26.2}
btcd_p2p_port=18444
btcd_rpc_port=18334
rpc_user=interop
rpc_pass=interop
# Bitcoin Core's test framework's unspendable regtest address (P2WSH of 32 zero
# bytes): the coinbases `generate` mines pay it, and no key is needed.
mining_address=bcrt1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq3xueyj
initial_blocks=101
# Bounds on every phase; only reached when something is broken.
install_timeout=900
build_timeout=1800
rpc_wait_tries=100 # x 0.2 s
generate_timeout=120
program_timeout=300
btcd_stop_tries=100 # x 0.2 s

# ---------------------------------------------------------------------------------
# Inside the namespace: `unshare -n` runs this script again with __scenario.
# ---------------------------------------------------------------------------------
if [ "${1:-}" = "__scenario" ]; then
  shift
  work=$1 bin=$2 program=$3 transport=$4
  shift 4
  results="$work/results"
  btcd_pid=""
  program_pid=""
  btcd_home_existed=yes

  record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }

  stop_btcd() {
    [ -n "$btcd_pid" ] || return 0
    kill -TERM "$btcd_pid" 2>/dev/null || true
    for _ in $(seq "$btcd_stop_tries"); do
      kill -0 "$btcd_pid" 2>/dev/null || break
      sleep 0.2
    done
    if kill -0 "$btcd_pid" 2>/dev/null; then
      echo "btcd did not stop within $((btcd_stop_tries / 5)) s; killing it" >&2
      kill -KILL "$btcd_pid" 2>/dev/null || true
    fi
    wait "$btcd_pid" 2>/dev/null || true
    btcd_pid=""
    [ -n "$btcd_home_existed" ] || rmdir "$btcd_home" 2>/dev/null || true
  }
  stop_all() {
    # The program runs under `timeout`, which passes the signal on to it.
    [ -z "$program_pid" ] || kill -TERM "$program_pid" 2>/dev/null || true
    stop_btcd
  }
  trap stop_all EXIT
  trap 'exit 130' INT TERM

  # Every file btcd and btcctl write is in the temporary directory, except that btcd
  # always creates its (here unused) home ~/.btcd; it is removed again if it was not
  # there before. btcctl given a config file creates none.
  btcd_home="$(getent passwd "$(id -u)" | cut -d: -f6)/.btcd"
  [ -e "$btcd_home" ] && btcd_home_existed=yes || btcd_home_existed=""
  : >"$work/btcd.conf"
  : >"$work/btcctl.conf"
  btcctl=("$bin/btcctl" --configfile="$work/btcctl.conf" --regtest --notls
    "--rpcserver=127.0.0.1:$btcd_rpc_port" "--rpcuser=$rpc_user" "--rpcpass=$rpc_pass")

  ip link set lo up
  interfaces=$(ip -o link show | awk -F': ' '{print $2}' | paste -sd' ')
  echo "== network namespace: interfaces: $interfaces"
  if [ "$interfaces" != "lo" ]; then
    record FAIL "network namespace" "interfaces besides loopback: $interfaces"
    exit 1
  fi
  record PASS "network namespace" "loopback (lo) is the only interface"

  # v2: BIP324 on (btcd's default is off), and its V2TR log at trace level, where
  # btcd writes each connection's session id ("Derived session_id=...") for the
  # program to compare with p2pnet's.
  btcd_transport=()
  debuglevel="PEER=debug,SYNC=debug,SRVR=debug"
  if [ "$transport" = v2 ]; then
    btcd_transport=(--v2transport)
    debuglevel="$debuglevel,V2TR=trace"
  fi
  echo "== starting btcd $btcd_version (regtest, P2P 127.0.0.1:$btcd_p2p_port," \
    "RPC 127.0.0.1:$btcd_rpc_port, ${btcd_transport[*]:-without --v2transport})"
  "$bin/btcd" --configfile="$work/btcd.conf" --regtest \
    --datadir="$work/data" --logdir="$work/logs" \
    --listen="127.0.0.1:$btcd_p2p_port" --rpclisten="127.0.0.1:$btcd_rpc_port" \
    --rpcuser="$rpc_user" --rpcpass="$rpc_pass" --notls \
    --miningaddr="$mining_address" "${btcd_transport[@]}" \
    --debuglevel="$debuglevel" \
    >"$work/btcd.stdout" 2>&1 &
  btcd_pid=$!
  echo "$btcd_pid" >"$work/btcd.pid"

  started=$SECONDS
  up=""
  for _ in $(seq "$rpc_wait_tries"); do
    if ! kill -0 "$btcd_pid" 2>/dev/null; then
      break
    fi
    if timeout 10 "${btcctl[@]}" getblockcount >/dev/null 2>&1; then
      up=yes
      break
    fi
    sleep 0.2
  done
  if [ -z "$up" ]; then
    echo "btcd's RPC did not come up; its output:" >&2
    tail -n 30 "$work/btcd.stdout" >&2
    if kill -0 "$btcd_pid" 2>/dev/null; then
      record FAIL "btcd RPC up" "no answer from btcctl within $((rpc_wait_tries / 5)) s"
    else
      record FAIL "btcd RPC up" "btcd exited: $(grep -v '^$' "$work/btcd.stdout" | head -n 1)"
    fi
    exit 1
  fi
  version=$("$bin/btcd" --version | tr -d '\n')
  record PASS "btcd RPC up" \
    "$version ${btcd_transport[*]:-(v1 only)} (pid $btcd_pid), RPC answered after $((SECONDS - started)) s"

  echo "== btcctl generate $initial_blocks"
  if ! timeout "$generate_timeout" "${btcctl[@]}" generate "$initial_blocks" >"$work/generate.out" 2>&1; then
    cat "$work/generate.out" >&2
    record FAIL "generate $initial_blocks" "btcctl generate failed"
    exit 1
  fi
  height=$(timeout 10 "${btcctl[@]}" getblockcount)
  best=$(timeout 10 "${btcctl[@]}" getbestblockhash)
  echo "   height $height, best block $best"
  if [ "$height" != "$initial_blocks" ]; then
    record FAIL "generate $initial_blocks" "btcd's height is $height"
    exit 1
  fi
  record PASS "generate $initial_blocks" "height $height, best block ${best:0:16}.."

  log="$work/logs/regtest/btcd.log"
  echo "== running $(basename "$program") --transport $transport"
  # In the background, so that a signal to this shell is handled at once (a trap
  # waits for a foreground command to finish).
  timeout "$program_timeout" "$program" --connect "127.0.0.1:$btcd_p2p_port" \
    --transport "$transport" --btcd-log "$log" "$@" \
    -- "${btcctl[@]}" > >(tee "$work/program.log") 2>&1 &
  program_pid=$!
  status=0
  wait "$program_pid" || status=$?
  program_pid=""
  if [ "$status" -eq 124 ]; then
    record FAIL "check program" "killed after $program_timeout s"
  elif [ "$status" -ne 0 ]; then
    record FAIL "check program" "exit status $status"
  else
    record PASS "check program" "exit status 0"
  fi

  # btcd's own account: any misbehaviour it scored, bans, or disconnects of the peer,
  # and errors about a peer (such as a message btcd found invalid and dropped the
  # peer for). Not V2TR's: it logs every v2 connection that closes as an error.
  complaints=$(grep -E "Misbehaving|[Bb]anned|ban score|disconnecting|Rejected|protocol violation|\[ERR\] (PEER|SRVR|SYNC):" \
    "$log" 2>/dev/null || true)
  if [ -n "$complaints" ]; then
    echo "== btcd's log has complaints:"
    echo "$complaints" | tail -n 20
    record FAIL "btcd log" "$(echo "$complaints" | wc -l) complaint line(s) (misbehaving/ban/disconnect/reject/peer error)"
  else
    record PASS "btcd log" "no misbehaviour, ban, rejection, disconnect or peer error lines ($(wc -l <"$log") lines)"
  fi
  stop_btcd
  if [ "$status" -eq 0 ] && [ -z "$complaints" ]; then exit 0; else exit 1; fi
fi

# ---------------------------------------------------------------------------------
# Outside: install, build, run the namespace, summarise.
# ---------------------------------------------------------------------------------
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$self")/.."
repo=$PWD
build_dir=${BUILD_DIR:-build-interop}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}
mkdir -p "$build_dir"
build_dir=$(cd "$build_dir" && pwd)
# A build directory ignores itself, so it never shows up in git status.
[ -f "$build_dir/.gitignore" ] || echo '*' >"$build_dir/.gitignore"
bin="$build_dir/bin"
program="$build_dir/examples/p2pnet_interop_btcd"
script_started=$SECONDS
summary=()

note() { summary+=("$(printf '  %s  %-26s %s' "$1" "$2" "$3")"); }
finish() {
  echo
  echo "== summary (btcd $btcd_version, $((SECONDS - script_started)) s) =================================="
  printf '%s\n' "${summary[@]}"
  echo
  if [ "$1" -eq 0 ]; then echo "RESULT: PASS"; else echo "RESULT: FAIL"; fi
  exit "$1"
}

# --transport is this script's; everything else goes to the program.
transport_choice=both
program_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --transport)
      transport_choice=${2:-}
      shift $(($# >= 2 ? 2 : 1))
      ;;
    --transport=*)
      transport_choice=${1#--transport=}
      shift
      ;;
    *)
      program_args+=("$1")
      shift
      ;;
  esac
done
case $transport_choice in
  v1 | v2) runs=("$transport_choice") ;;
  both) runs=(v1 v2) ;;
  *)
    echo "interop_btcd.sh: --transport takes v1, v2 or both, not '$transport_choice'" >&2
    exit 2
    ;;
esac

if [ "$(id -u)" -ne 0 ]; then
  echo "interop_btcd.sh: needs root for the network namespace (unshare -n); run it with sudo" >&2
  exit 2
fi
for tool in go cmake unshare ip timeout; do
  command -v "$tool" >/dev/null || { echo "interop_btcd.sh: $tool not found" >&2; exit 2; }
done

# 1. btcd and btcctl --------------------------------------------------------------
installed=$("$bin/btcd" --version 2>/dev/null || true)
if [ -x "$bin/btcctl" ] && [ "$installed" = "btcd version ${btcd_version#v}-beta" ]; then
  echo "== btcd: $installed already in $bin"
  note PASS "install btcd/btcctl" "$installed (already installed)"
else
  echo "== go install btcd and btcctl $btcd_version into $bin ($(go version | awk '{print $3}'))"
  started=$SECONDS
  if ! GOBIN="$bin" timeout --foreground "$install_timeout" go install \
    "github.com/btcsuite/btcd@$btcd_version" \
    "github.com/btcsuite/btcd/cmd/btcctl@$btcd_version" >"$build_dir/go-install.log" 2>&1; then
    tail -n 30 "$build_dir/go-install.log" >&2
    note FAIL "install btcd/btcctl" "go install failed; log in $build_dir/go-install.log"
    finish 1
  fi
  note PASS "install btcd/btcctl" "$("$bin/btcd" --version) in $((SECONDS - started)) s"
fi

# 2. p2pnet and the check program -------------------------------------------------
echo "== building p2pnet (Release) and p2pnet_interop_btcd in $build_dir/"
echo "   (the first build compiles the Rust crate and can take a few minutes)"
started=$SECONDS
if ! {
  timeout --foreground "$build_timeout" cmake -S "$repo" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release \
    -DP2PNET_BUILD_TESTS=OFF -DP2PNET_BUILD_EXAMPLES=ON -DP2PNET_BUILD_INTEROP=ON \
    -DP2PNET_CARGO_TARGET_DIR="$build_dir/cargo-target" &&
    timeout --foreground "$build_timeout" cmake --build "$build_dir" -j "$jobs" --target p2pnet_interop_btcd
} >"$build_dir/build.log" 2>&1; then
  tail -n 40 "$build_dir/build.log" >&2
  note FAIL "build" "failed; log in $build_dir/build.log"
  finish 1
fi
note PASS "build" "p2pnet + p2pnet_interop_btcd in $((SECONDS - started)) s"

# 3. The scenarios, each in its own network namespace ------------------------------
work=""
cleanup() {
  [ -n "$work" ] || return 0
  # The namespace stops its btcd itself; this is for an interrupted run.
  if [ -s "$work/btcd.pid" ]; then
    pid=$(cat "$work/btcd.pid")
    if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "btcd" ]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$build_dir/last-run/$run"
  mkdir -p "$build_dir/last-run/$run"
  cp -r "$work/logs" "$work/program.log" "$work/btcd.stdout" "$build_dir/last-run/$run/" \
    2>/dev/null || true
  rm -rf "$work"
  work=""
}
trap cleanup EXIT

describe_run() {
  case $1 in
    v1) echo "p2pnet TransportMode::V1Only <-> btcd without --v2transport" ;;
    v2) echo "p2pnet's default TransportMode::PreferV2 <-> btcd --v2transport" ;;
  esac
}

rm -rf "$build_dir/last-run"
overall=0
for run in "${runs[@]}"; do
  summary+=("  -- transport run $run: $(describe_run "$run")")
  work=$(mktemp -d "${TMPDIR:-/tmp}/p2pnet-interop-btcd.XXXXXX")
  : >"$work/results"
  run_started=$SECONDS
  echo
  echo "== transport run $run: $(describe_run "$run")"
  echo "== entering a new network namespace (unshare -n)"
  # `timeout` runs the namespace in a process group of its own, out of reach of the
  # terminal's Ctrl-C; an interrupt here is passed on, and the namespace stops its btcd.
  timeout $((program_timeout + 120)) unshare -n -- "$self" __scenario "$work" "$bin" "$program" \
    "$run" "${program_args[@]}" &
  scenario_pid=$!
  interrupted=""
  trap 'interrupted=yes; kill -TERM "$scenario_pid" 2>/dev/null || true' INT TERM
  scenario_status=0
  wait "$scenario_pid" || scenario_status=$?
  while kill -0 "$scenario_pid" 2>/dev/null; do # interrupted: wait for its cleanup
    scenario_status=0
    wait "$scenario_pid" || scenario_status=$?
  done
  trap - INT TERM
  if [ -n "$interrupted" ]; then
    note FAIL "scenario" "interrupted"
    scenario_status=130
  elif [ "$scenario_status" -eq 124 ]; then
    note FAIL "scenario" "killed after $((program_timeout + 120)) s"
  elif [ "$scenario_status" -ne 0 ] && [ ! -s "$work/results" ]; then
    note FAIL "scenario" "unshare -n or the namespace setup failed (exit $scenario_status)"
  fi

  while IFS=$'\t' read -r verdict name detail; do
    note "$verdict" "$name" "$detail"
  done <"$work/results"
  # The program's own per-step summary lines ("  PASS  a. handshake ...").
  while IFS= read -r line; do
    summary+=("    $line")
  done < <(sed -n '/^== summary/,/^RESULT/p' "$work/program.log" 2>/dev/null | grep -E '^  (PASS|FAIL)' || true)
  verdict=$([ "$scenario_status" -eq 0 ] && echo PASS || echo FAIL)
  summary+=("  run $run: $verdict in $((SECONDS - run_started)) s; \
btcd's log and the program's output: $build_dir/last-run/$run/")
  cleanup
  [ "$scenario_status" -eq 0 ] || overall=$scenario_status
  [ -z "$interrupted" ] || break
done
trap - EXIT

finish "$overall"
