#!/usr/bin/env bash
# Builds the demo node with CMake (Release, in build-demo/) and runs its local demo:
# a few nodes in one process shake hands, relay a transaction and blocks, sync a late
# joiner and ban a misbehaving peer, then it prints a summary (exit 0: every step seen).
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

mkdir -p "$build_dir"
# A build directory ignores itself, so it never shows up in git status.
[ -f "$build_dir/.gitignore" ] || echo '*' >"$build_dir/.gitignore"
log="$build_dir/demo-build.log"
echo "== building p2pnet and the demo node ($build_type, in $build_dir/; the first build"
echo "   compiles the Rust crate and can take a few minutes)"
if ! {
  cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="$build_type" \
    -DP2PNET_BUILD_TESTS=OFF -DP2PNET_BUILD_EXAMPLES=ON &&
    cmake --build "$build_dir" -j "$jobs" --target p2pnet_node
} >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "demo.sh: the build failed; full log in $log" >&2
  exit 1
fi

[ $# -gt 0 ] || set -- --demo
exec "$build_dir/examples/p2pnet_node" "$@"
