#!/usr/bin/env bash
# Tandem's one entry point: installs what is missing, configures, builds, and runs.
#   ./run.sh demo    build, then fine-tune the shipped tiny GPT-2 on CPU + FPGA emulation
#   ./run.sh test    build, then run every test through ctest (non-zero exit on failure)
#   ./run.sh bench   build, then run the benchmarks, writing JSON to out/bench/
#   ./run.sh build   install and build only
#   ./run.sh test-sanitize [asan|tsan]   the test suite under ASan+UBSan and/or TSan (default: both)
#   ./run.sh test-fuzz [SECONDS]         each libFuzzer target for SECONDS (default 20) from its seeds
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD=${TANDEM_BUILD_DIR:-$ROOT/build}
JOBS=${TANDEM_JOBS:-$(nproc)}

# Debian 12 packages the build and tests need. OpenBLAS is only for the GEMM comparison
# benchmark; ccache only speeds up rebuilds. ICU gives the tokenizers Unicode categories and
# normalisation; PoCL is the OpenCL device the FPGA kernels are emulated on. XRT is the native
# Xilinx runtime (compiled in; no card here), Open MPI runs data-parallel training, valijson
# validates bitstream manifests against their JSON schema.
PACKAGES=(
  cmake ninja-build g++ pkg-config ccache
  libeigen3-dev libtbb-dev nlohmann-json3-dev libcli11-dev
  libgtest-dev libgmock-dev libbenchmark-dev libopenblas-dev
  libicu-dev
  ocl-icd-opencl-dev opencl-headers opencl-clhpp-headers pocl-opencl-icd clinfo
  libxrt-dev uuid-dev libopenmpi-dev openmpi-bin libvalijson-dev doxygen
)
# Only ./run.sh test-fuzz needs these: libFuzzer ships with clang's runtime, not with GCC.
FUZZ_PACKAGES=(clang-14 libclang-rt-14-dev)

say() { printf 'run.sh: %s\n' "$*"; }

# install_missing [PACKAGE...]: the named packages (default: PACKAGES) that dpkg lacks.
install_missing() {
  local missing=() pkg wanted=("$@")
  [ $# -eq 0 ] && wanted=("${PACKAGES[@]}")
  for pkg in "${wanted[@]}"; do
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

# build [TARGET...]: everything, or only the named targets (the demo needs just the CLI).
build() {
  install_missing
  configure
  say "building in $BUILD"
  local targets=()
  [ $# -gt 0 ] && targets=(--target "$@")
  cmake --build "$BUILD" -j "$JOBS" "${targets[@]}"
}

run_demo() {
  build tandem_cli
  # The main job: stage-two fine-tuning of the shipped tiny GPT-2 (pre-trained by Tandem on
  # generated village tales, examples/README.md) on generated recipes, with the FPGA kernels
  # emulated on PoCL next to the CPU under the heft policy. docs/demo.md explains the output.
  local t="$BUILD/cli/tandem" d="$ROOT/out/demo" m="$ROOT/examples/tiny-gpt2"
  rm -rf "$d/run"
  mkdir -p "$d"
  say "demo 1/4: generating the fine-tuning corpus (recipes) and a held-out split"
  "$t" corpus --kind b --paragraphs 400 --seed 2 --out "$d/recipes-train.txt"
  "$t" corpus --kind b --paragraphs 60 --seed 3 --out "$d/recipes-eval.txt"
  say "demo 2/4: the pre-trained model continues \"Bake for\" (before fine-tuning)"
  "$t" generate --model "$m" --prompt "Bake for" --tokens 100 --temperature 0.7 --top-k 20 --seed 1
  say "demo 3/4: fine-tuning on cpu + opencl (PoCL) under heft"
  "$t" finetune --model "$m" --data "$d/recipes-train.txt" --eval-data "$d/recipes-eval.txt" \
    --out "$d/run" --steps 150 --batch 8 --seq 128 --lr 1e-3 --warmup 15 --weight-decay 0.01 --clip 1.0 \
    --devices cpu,opencl --policy heft --trace "$d/trace.json" --metrics "$d/metrics.jsonl" --seed 1 \
    2> >(grep -v 'warnings\? generated' >&2)
  say "demo 4/4: the fine-tuned model continues \"Bake for\""
  "$t" generate --model "$d/run/final" --prompt "Bake for" --tokens 100 --temperature 0.7 --top-k 20 --seed 1
  say "trace (open in https://ui.perfetto.dev): $d/trace.json; metrics, plots and checkpoints: $d"
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
  for b in bench_gemm bench_adamw bench_ops bench_opencl bench_dispatch bench_train; do
    say "running $b (JSON in out/bench/$b.json)"
    "$BUILD/bench/$b" --benchmark_out="$ROOT/out/bench/$b.json" --benchmark_out_format=json
  done
}

# sanitize PRESET: a cold or incremental build of the preset's tree (CMakePresets.json), then
# the whole suite under that sanitizer; any report fails the test that triggered it.
sanitize() {
  local preset=$1 start=$SECONDS
  local args=(--preset "$preset")
  command -v ccache >/dev/null && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake "${args[@]}" >/dev/null
  say "building the $preset tree"
  cmake --build --preset "$preset" -j "$JOBS"
  say "running the test suite under $preset"
  TANDEM_REQUIRE_OPENCL_DEVICE=1 ctest --preset "$preset" -j "$JOBS"
  say "$preset: build + suite took $((SECONDS - start)) s"
}

run_test_sanitize() {
  install_missing
  case "${1:-both}" in
    asan | tsan) sanitize "$1" ;;
    both) sanitize asan && sanitize tsan ;;
    *)
      echo "usage: ./run.sh test-sanitize [asan|tsan]" >&2
      exit 2
      ;;
  esac
}

# Each fuzz target starts from its committed seeds (tests/fuzz/corpus/<target>/, read only) and
# keeps what it discovers in build-fuzz/corpus/<target>/; a crash input lands in
# build-fuzz/artifacts/ and fails the command.
run_test_fuzz() {
  local seconds=${1:-20} dir="$ROOT/build-fuzz"
  install_missing "${PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
  local args=(--preset fuzz)
  command -v ccache >/dev/null && args+=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
  cmake "${args[@]}" >/dev/null
  say "building the fuzz targets in $dir"
  cmake --build --preset fuzz -j "$JOBS" --target tandem_fuzz_targets
  local target
  while read -r target; do
    mkdir -p "$dir/corpus/$target" "$dir/artifacts"
    say "fuzzing $target for $seconds s"
    "$dir/tests/fuzz/fuzz_$target" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$dir/artifacts/$target-" "$dir/corpus/$target" "$ROOT/tests/fuzz/corpus/$target" \
      2>"$dir/$target.log" || {
      tail -n 40 "$dir/$target.log" >&2
      say "$target failed: log in $dir/$target.log, input in $dir/artifacts/"
      exit 1
    }
    grep -E '^(stat::number_of_executed_units|#[0-9]+ +DONE)' "$dir/$target.log" | sed "s/^/  $target: /"
  done <"$dir/tests/fuzz/fuzz_targets.txt"
}

case "${1:-}" in
  demo) run_demo ;;
  test) run_test ;;
  bench) run_bench ;;
  build) build ;;
  test-sanitize) run_test_sanitize "${2:-both}" ;;
  test-fuzz) run_test_fuzz "${2:-20}" ;;
  *)
    echo "usage: ./run.sh demo|test|bench|build|test-sanitize [asan|tsan]|test-fuzz [SECONDS]" >&2
    exit 2
    ;;
esac
