#!/usr/bin/env bash
# Builds the C/C++ test suite with AddressSanitizer, LeakSanitizer and
# UndefinedBehaviorSanitizer and runs it under ctest; any report fails the run.
#
# The Rust library is linked as built by cargo (stable Rust cannot instrument
# it), but every allocation it makes goes through the sanitizer's malloc, so
# heap misuse across the C ABI and leaks of engine memory are still caught.
#
#   scripts/sanitize.sh                  # build dir build-asan, Debug
#   SANITIZE_BUILD_DIR=/tmp/asan scripts/sanitize.sh
#   P2PNET_CARGO_TARGET_DIR=$PWD/target scripts/sanitize.sh   # share cargo's output
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${SANITIZE_BUILD_DIR:-build-asan}
jobs=${JOBS:-$(nproc)}

sanitize_flags="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined"
cargo_args=()
if [ -n "${P2PNET_CARGO_TARGET_DIR:-}" ]; then
  cargo_args=(-DP2PNET_CARGO_TARGET_DIR="$P2PNET_CARGO_TARGET_DIR")
fi

echo "== cmake build ($build_dir, ASan + UBSan)"
# Examples are not part of the test suite; skipping them keeps the build short.
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Debug \
  -DP2PNET_BUILD_EXAMPLES=OFF "${cargo_args[@]}" \
  -DCMAKE_C_FLAGS="$sanitize_flags" \
  -DCMAKE_CXX_FLAGS="$sanitize_flags" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" \
  -DCMAKE_SHARED_LINKER_FLAGS="-fsanitize=address,undefined"
cmake --build "$build_dir" -j "$jobs"

# A flag lost on the way (a toolchain file or a target resetting options)
# would make the run below pass without checking anything.
for test_binary in "$build_dir"/cpp-tests/p2pnet_cpp_tests "$build_dir"/cpp-tests/p2pnet_shared_tests; do
  if ! readelf -d "$test_binary" | grep -q 'NEEDED.*libasan'; then
    echo "error: $test_binary is not built with AddressSanitizer" >&2
    exit 1
  fi
done

# halt_on_error + exitcode: the first report fails the test that produced it.
# detect_leaks: LeakSanitizer runs at exit of every test process, and covers
# memory the Rust library allocated. The Rust library has no frame pointers,
# so report stacks stop at its first frame; for full stacks rerun with
# ASAN_OPTIONS=fast_unwind_on_malloc=0 (slower), which is appended here.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:exitcode=86:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

echo "== ctest under sanitizers"
# The install tests (label install) build separate, uninstrumented consumers
# against the installed package; they test packaging, not memory safety. The reliability
# scenarios measure throughput and resident memory, which the sanitizers'
# shadow memory and slowdown would distort.
ctest --test-dir "$build_dir" --output-on-failure -j "$jobs" -LE '^(install|reliability|netsim)$'
