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
# benchmark; ccache only speeds up rebuilds. ICU gives the tokenizers Unicode categories and
# normalisation; PoCL is the OpenCL device the FPGA kernels are emulated on.
PACKAGES=(
  cmake ninja-build g++ pkg-config ccache
  libeigen3-dev libtbb-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libicu-dev
  ocl-icd-opencl-dev opencl-headers opencl-clhpp-headers pocl-opencl-icd clinfo
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
  # Until the trainer lands, the main job is the CPU backend's measured speed.
  say "demo 1/3: our GEMM against OpenBLAS, 1024x1024x1024 fp32, same thread count"
  "$BUILD/bench/bench_gemm" --benchmark_filter='1024x1024x1024'
  say "demo 2/3: fused AdamW over GPT-2 small's 124M parameters against the memory bandwidth"
  "$BUILD/bench/bench_adamw" --benchmark_filter='Stream/copy$|AdamW/tandem' --benchmark_enable_random_interleaving=true
  say "demo 3/3: every op forward and backward at GPT-2 small shapes (B=4, T=256, C=768)"
  "$BUILD/bench/bench_ops"
}

run_test() {
  build
  say "running the test suite"
  # PoCL is installed above: the conformance test must find it rather than skip OpenCL.
  TANDEM_REQUIRE_OPENCL_DEVICE=1 ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
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
