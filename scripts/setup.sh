#!/usr/bin/env bash
# Checks that this machine has what the README's commands need, and installs what is
# missing where it can. Called by scripts/demo.sh, scripts/test.sh and .ci/run; the one
# list of system packages lives here.
#
#   scripts/setup.sh demo   # CMake 3.20+, make, C and C++ compilers, Rust (rust-version)
#   scripts/setup.sh test   # the same, plus GoogleTest, pkg-config, iproute2, rustfmt
#                           # and clippy
#
# Missing Debian/Ubuntu packages are installed with apt-get when run as root (as CI
# does); otherwise it prints the one apt-get command to run and exits 1, before any
# build starts. The installed Rust is checked against `rust-version` in Cargo.toml.
# SETUP_NO_INSTALL=1 only reports, even as root.
set -euo pipefail
cd "$(dirname "$0")/.."

purpose=${1:-test}
case "$purpose" in
demo | test) ;;
*)
  echo "usage: scripts/setup.sh demo|test" >&2
  exit 2
  ;;
esac

cmake_floor=3.20
rust_floor=$(sed -n 's/^rust-version *= *"\([0-9.]*\)".*/\1/p' Cargo.toml | head -n 1)

# version_at_least HAVE NEED: true when HAVE >= NEED (dotted numbers).
version_at_least() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -V | head -n 1)" = "$2" ]
}

have_gtest() {
  local inc lib
  for inc in /usr/include /usr/local/include; do
    [ -f "$inc/gtest/gtest.h" ] || continue
    for lib in /usr/lib/*/libgtest.* /usr/lib/libgtest.* /usr/local/lib/libgtest.* \
      /usr/local/lib/*/libgtest.*; do
      [ -e "$lib" ] && return 0
    done
  done
  return 1
}

# The package list: each Debian package, after the check that says it is there.
find_missing() {
  missing=()
  command -v cmake >/dev/null 2>&1 || missing+=(cmake)
  command -v make >/dev/null 2>&1 || command -v ninja >/dev/null 2>&1 || missing+=(make)
  command -v gcc >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || missing+=(gcc)
  command -v g++ >/dev/null 2>&1 || command -v c++ >/dev/null 2>&1 || missing+=(g++)
  if [ "$purpose" = test ]; then
    have_gtest || missing+=(libgtest-dev)
    command -v pkg-config >/dev/null 2>&1 || command -v pkgconf >/dev/null 2>&1 || missing+=(pkg-config)
    # ip and tc for the network simulator (ctest -L netsim); they live in /usr/sbin,
    # which a user's PATH may lack.
    local sbin_path="$PATH:/usr/sbin:/sbin"
    { PATH=$sbin_path command -v ip && PATH=$sbin_path command -v tc; } >/dev/null 2>&1 ||
      missing+=(iproute2)
  fi
}
find_missing

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1 && [ -z "${SETUP_NO_INSTALL:-}" ]; then
    echo "== setup: installing ${missing[*]} (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
    find_missing
    if [ ${#missing[@]} -gt 0 ]; then
      echo "setup: still missing after apt-get install: ${missing[*]}" >&2
      exit 1
    fi
  else
    echo "setup: missing ${missing[*]}; install with this command, then run again:" >&2
    if command -v apt-get >/dev/null 2>&1; then
      sudo=""
      [ "$(id -u)" -eq 0 ] || sudo="sudo "
      echo "    ${sudo}apt-get install -y ${missing[*]}" >&2
      echo "  (on a machine where apt-get finds no package, run '${sudo}apt-get update' first)" >&2
    else
      echo "    (no apt-get here: install the equivalents with your package manager)" >&2
    fi
    exit 1
  fi
fi

problems=()
cmake_version=$(cmake --version | sed -n 's/^cmake version \([0-9.]*\).*/\1/p')
if ! version_at_least "$cmake_version" "$cmake_floor"; then
  problems+=("CMake $cmake_version is too old: $cmake_floor or newer is needed (Debian 12 and Ubuntu 22.04 have it; elsewhere 'pip install cmake' brings a current one)")
fi

if ! command -v cargo >/dev/null 2>&1; then
  problems+=("cargo not found: install Rust $rust_floor or newer with rustup (https://rustup.rs), then open a new shell")
else
  rust_version=$("${RUSTC:-rustc}" --version 2>/dev/null | sed -n 's/^rustc \([0-9.]*\).*/\1/p')
  if [ -z "$rust_version" ]; then
    problems+=("rustc does not run: check the Rust installation (rustup show)")
  elif ! version_at_least "$rust_version" "$rust_floor"; then
    problems+=("Rust $rust_version is too old: p2pnet needs $rust_floor or newer (Cargo.toml rust-version; the locked dependencies need it). Run: rustup update stable")
  fi
  if [ "$purpose" = test ]; then
    for component in fmt:rustfmt clippy:clippy; do
      if ! cargo "${component%%:*}" --version >/dev/null 2>&1; then
        if command -v rustup >/dev/null 2>&1 && [ -z "${SETUP_NO_INSTALL:-}" ]; then
          echo "== setup: rustup component add ${component#*:}"
          rustup component add "${component#*:}" ||
            problems+=("rustup could not add ${component#*:}")
        else
          problems+=("cargo ${component%%:*} not found: rustup component add ${component#*:}")
        fi
      fi
    done
  fi
fi

if [ ${#problems[@]} -gt 0 ]; then
  for problem in "${problems[@]}"; do
    echo "setup: $problem" >&2
  done
  exit 1
fi
extra=""
[ "$purpose" = test ] && extra=", GoogleTest, pkg-config, iproute2, rustfmt, clippy"
echo "== setup: ok (CMake $cmake_version, Rust $rust_version >= $rust_floor, C/C++ compilers$extra)"
