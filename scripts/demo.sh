#!/usr/bin/env bash
# Builds the library and the demo node with CMake, then runs the demo.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build-release}
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DP2PNET_BUILD_TESTS=OFF >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target p2pnet_demo >/dev/null
exec "$build_dir/examples/p2pnet_demo" "$@"
