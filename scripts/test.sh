#!/usr/bin/env bash
# Builds and runs every check: formatting, lints, the Rust tests, and the C++ suite
# (GoogleTest through ctest) against the library built by CMake, the reliability
# scenarios against a Release build, then the C++ suite again under the sanitizers.
#
# First it checks the machine (scripts/setup.sh test): CMake, compilers, GoogleTest,
# pkg-config and the Rust version; missing Debian packages are installed when run as
# root, otherwise it stops at once and prints the apt-get command.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
release_dir=${RELEASE_BUILD_DIR:-build-release}
jobs=${JOBS:-$(nproc)}
# The CMake builds use cargo's own target directory here, so the Rust dependencies
# are compiled once per profile for cargo test and all three CMake builds, not once
# per build directory (CMake's default is a cargo directory inside each build dir).
cargo_target=${CARGO_TARGET_DIR:-$PWD/target}

./scripts/setup.sh test

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== cargo test"
cargo test --locked
echo "== cmake build"
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug -DP2PNET_CARGO_TARGET_DIR="$cargo_target"
cmake --build "$build_dir" -j "$jobs"
echo "== ctest"
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -LE reliability
echo "== reliability (Release build)"
# Bursts of 100,000 announcements, floods and memory bounds: run against the
# optimised library, one scenario at a time (each is measured on its own).
cmake -S . -B "$release_dir" -DCMAKE_BUILD_TYPE=Release -DP2PNET_BUILD_EXAMPLES=OFF \
  -DP2PNET_CARGO_TARGET_DIR="$cargo_target"
cmake --build "$release_dir" -j "$jobs" --target p2pnet_reliability_tests
ctest --test-dir "$release_dir" --output-on-failure -L reliability
echo "== sanitizers"
# The C++ suite again under ASan, LSan and UBSan (own build dir); see scripts/sanitize.sh.
JOBS="$jobs" P2PNET_CARGO_TARGET_DIR="$cargo_target" ./scripts/sanitize.sh
