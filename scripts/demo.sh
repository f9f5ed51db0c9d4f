#!/usr/bin/env bash
# Builds the demo node with CMake (Release, in build-demo/) and runs its local demo:
# a few nodes in one process shake hands, relay a transaction and blocks, sync a late
# joiner and ban a misbehaving peer, then it prints a summary (exit 0: every step seen).
#
# First it checks the machine (scripts/setup.sh demo): missing Debian packages are
# installed when run as root, otherwise it stops and prints the apt-get command.
#
# Arguments replace --demo and go to the node itself, e.g.
#   ./scripts/demo.sh --help
#   ./scripts/demo.sh --name a --listen 127.0.0.1:18444 --mine 5
# BUILD_DIR, BUILD_TYPE and JOBS override the build directory, type and parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-demo}
build_type=${BUILD_TYPE:-Release}
jobs=${JOBS:-$(nproc 2>/dev/null || echo 2)}

./scripts/setup.sh demo

mkdir -p "$build_dir"
# A build directory ignores itself, so it never shows up in git status.
[ -f "$build_dir/.gitignore" ] || echo '*' >"$build_dir/.gitignore"
log="$build_dir/demo-build.log"
: >"$log"

# Crates cargo may compile (for "n of N"); empty if cargo cannot tell quickly.
crates=$(cargo tree --locked --offline -e normal,build --prefix none 2>/dev/null | sed 's/ (\*)$//' | sort -u | wc -l || true)
[ "${crates:-0}" -gt 1 ] 2>/dev/null || crates=""

echo "== building p2pnet and the demo node ($build_type, in $build_dir/)"
if [ ! -x "$build_dir/examples/p2pnet_node" ]; then
  echo "   the first build compiles the Rust crate and its ${crates:+$crates }dependencies:"
  echo "   a few minutes on 2 cores"
fi
echo "   full build log: $log"

started=$SECONDS
# progress: writes every line of the build to the log and shows what it is doing,
# on one line rewritten in place on a terminal, one line per step otherwise.
progress() {
  local line status="" compiled=0 tty=""
  [ -t 1 ] && tty=yes
  while IFS= read -r line; do
    printf '%s\n' "$line" >>"$log"
    case "$line" in
    *"Compiling "*)
      compiled=$((compiled + 1))
      status="cargo: compiling ${line#*Compiling } ($compiled${crates:+ of ~$crates})"
      ;;
    *"Finished "*) status="cargo: finished ${line#*Finished }" ;;
    "-- Configuring done"*) status="cmake: configured" ;;
    *"Building C"*" object "*)
      status=${line##*/}
      status="c++: compiling ${status%.o}"
      ;;
    *"Linking "*) status="c++: linking ${line##* }" ;;
    *) continue ;;
    esac
    if [ -n "$tty" ]; then
      printf '\r\033[K   [%3ds] %.100s' $((SECONDS - started)) "$status"
    else
      printf '   [%3ds] %s\n' $((SECONDS - started)) "$status"
    fi
  done
  [ -z "$tty" ] || printf '\r\033[K'
}

if ! {
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" \
    -DP2PNET_BUILD_TESTS=OFF -DP2PNET_BUILD_EXAMPLES=ON &&
    cmake --build "$build_dir" -j "$jobs" --target p2pnet_node
} 2>&1 | progress; then
  tail -n 40 "$log" >&2
  echo "demo.sh: the build failed; full log in $log" >&2
  exit 1
fi
echo "   built in $((SECONDS - started)) s"

[ $# -gt 0 ] || set -- --demo
exec "$build_dir/examples/p2pnet_node" "$@"
