#!/usr/bin/env bash
# Tandem's one entry point: installs what is missing, configures, builds, and runs.
#   ./run.sh demo    build, then run the main job on the built-in example
#   ./run.sh test    build, then run every test through ctest (non-zero exit on failure)
#   ./run.sh bench   build, then run the benchmarks, writing JSON to out/bench/
#   ./run.sh build   install and build only
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${TANDEM_BUILD_DIR:-$ROOT/build}
JOBS=${TANDEM_JOBS:-$(nproc)}

# Debian 12 packages the build and tests need. OpenBLAS is only for the GEMM comparison
# benchmark; ccache only speeds up rebuilds.
PACKAGES=(
  cmake ninja-build g++ pkg-config ccache
  libeigen3-dev libtbb-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
)

say() { printf 'run.sh: %s\n' "$*"; }

install_missing() {
  local missing=() pkg
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  [ "$(id -u)" -ne 0 ] && sudo=(sudo)
  say "installing with apt-get: ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

configure() {
  local args=(-S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release)
  command -v ccache >/dev/null && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  # Re-running cmake on an existing tree is incremental; it only regenerates what changed.
  cmake "${args[@]}" >/dev/null
}

build() {
  install_missing
  configure
  say "building in $BUILD"
  cmake --build "$BUILD" -j "$JOBS"
}

run_demo() {
  build
  say "demo: every op on the CPU backend against its reference, then GEMM against OpenBLAS"
  "$BUILD/tandem" ops check
  "$BUILD/bench/bench_gemm" --benchmark_filter='/1024/' --benchmark_min_time=0.2
}

run_test() {
  build
  say "running the test suite"
  ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
}

run_bench() {
  build
  mkdir -p "$ROOT/out/bench"
  local b
  for b in bench_gemm bench_adamw bench_ops; do
    say "running $b (JSON in out/bench/$b.json)"
    "$BUILD/bench/$b" --benchmark_out="$ROOT/out/bench/$b.json" --benchmark_out_format=json
  done
}

case "${1:-}" in
  demo) run_demo ;;
  test) run_test ;;
  bench) run_bench ;;
  build) build ;;
  *)
    echo "usage: ./run.sh demo|test|bench|build" >&2
    exit 2
    ;;
esac
