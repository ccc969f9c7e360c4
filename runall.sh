#!/bin/bash
# runall.sh filter variants...
f=$1; shift
for v in "$@"; do ./quiet.sh; python3 cmp.py ./bench_$v "$f" --benchmark_min_time=0.05 --benchmark_repetitions=5 > res_$v.txt; done
for v in "$@"; do awk -v n=$v '{s+=log($9); t+=log($5); c++; if($9<0.95) low++} END {printf "%s geomean ratio %.3f ours %.1f  n<0.95: %d\n", n, exp(s/c), exp(t/c), low}' res_$v.txt; done
