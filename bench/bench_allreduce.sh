#!/bin/sh
# Data-parallel allreduce overlap for GPT-2 small shapes (124M parameters, random init), 2 ranks
# on this machine: how much of the gradient allreduce time is hidden behind backward.
#
#   bench/bench_allreduce.sh [OUT_DIR]      (from the repository root, after a build with MPI)
#
# Makes OUT_DIR (default out/bench/allreduce): a GPT-2 small model from `tandem init`, a corpus
# of random token ids, then runs `mpirun --oversubscribe -np 2 tandem finetune` (full
# fine-tuning, CPU policy, 1 compute thread per rank) with --trace, and prints what
# bench_allreduce reads from rank 0's trace (allreduce.json). The run's 1.5 GB of checkpoint
# and export are deleted afterwards. Environment: TANDEM_BUILD_DIR (default build), STEPS (5),
# BATCH (1 per rank), SEQ (128), BUCKET_MB (25).
set -eu
BUILD=${TANDEM_BUILD_DIR:-build}
OUT=${1:-out/bench/allreduce}
STEPS=${STEPS:-5}
BATCH=${BATCH:-1}
SEQ=${SEQ:-128}
BUCKET_MB=${BUCKET_MB:-25}
T=$BUILD/cli/tandem
mkdir -p "$OUT"
if [ "$(id -u)" = 0 ]; then
  export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
fi
[ -f "$OUT/model/model.safetensors" ] ||
  "$T" init --config bench/bench_allreduce_gpt2_small.json --out "$OUT/model" --seed 1 >/dev/null
awk -v seq="$SEQ" 'BEGIN { srand(1); for (i = 0; i < 64; i++) { s = ""; for (j = 0; j <= seq; j++) s = s (j ? " " : "") int(rand() * 50000) + 1; print s } }' \
  >"$OUT/corpus.ids"
rm -rf "$OUT/run"
mpirun --oversubscribe -np 2 "$T" finetune --model "$OUT/model" --data "$OUT/corpus.ids" --out "$OUT/run" \
  --steps "$STEPS" --batch "$BATCH" --seq "$SEQ" --lr 1e-5 --policy cpu --no-history --cpu-threads 1 \
  --allreduce-bucket-mb "$BUCKET_MB" --trace "$OUT/trace.json" --metrics "$OUT/metrics.jsonl" >"$OUT/finetune.log"
rm -rf "$OUT/run"
"$BUILD/bench/bench_allreduce" "$OUT/trace.json" --skip 1 | tee "$OUT/allreduce.json"
