#!/usr/bin/env bash
# Builds and runs every check: formatting, lints, the Rust tests, and the C++ suite
# (GoogleTest through ctest) against the library built by CMake, then that suite again
# under the sanitizers.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
jobs=${JOBS:-$(nproc)}

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked
echo "== cmake build"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug
cmake --build "$build_dir" -j "$jobs"
echo "== ctest"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs"
echo "== sanitizers"
# The C++ suite again under ASan, LSan and UBSan (own build dir); see scripts/sanitize.sh.
JOBS="$jobs" ./scripts/sanitize.sh
