#!/usr/bin/env bash
# Runs leyser's comparison benchmarks and prints, per binary, a Markdown table of ratios
# (leyser / raw RocksDB, leyser / SQLCipher); the raw figures go to JSON files.
#
#   bench/run.sh            release build, full sizes (about 10-15 minutes on 2 cores)
#   bench/run.sh --quick    CI size (under 2 minutes), in the build given by LEYSER_BENCH_BUILD
#
# Environment: LEYSER_BENCH_BUILD (build directory; default build-release, configured here),
# LEYSER_BENCH_DIR (scratch space on a real disk; default /tmp), LEYSER_BENCH_OUT (JSON output
# directory; default bench-results).
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
build=${LEYSER_BENCH_BUILD:-build-release}
out=${LEYSER_BENCH_OUT:-bench-results}
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DLEYSER_BUILD_TESTS=OFF >/dev/null
fi
cmake --build "$build" -j2 --target kv_benchmark tenants_benchmark audit_benchmark rotation_benchmark \
  maintenance_benchmark crypto_benchmark ycsb_benchmark
mkdir -p "$out"
export LEYSER_BENCH_QUICK=$quick
if [ "$quick" = 1 ]; then
  kv_flags=(--benchmark_min_time=0.02)
  audit_flags=(--benchmark_min_time=0.05)
else
  kv_flags=(--benchmark_min_time=0.5 --benchmark_repetitions=3
            --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true)
  audit_flags=(--benchmark_min_time=0.5 --benchmark_repetitions=5
               --benchmark_enable_random_interleaving=true --benchmark_report_aggregates_only=true)
fi
"$build/bench/kv_benchmark" "${kv_flags[@]}" \
  --benchmark_out="$out/kv_benchmark.json" --benchmark_out_format=json
"$build/bench/ycsb_benchmark" "${kv_flags[@]}" \
  --benchmark_out="$out/ycsb_benchmark.json" --benchmark_out_format=json
"$build/bench/tenants_benchmark" \
  --benchmark_out="$out/tenants_benchmark.json" --benchmark_out_format=json
"$build/bench/audit_benchmark" "${audit_flags[@]}" \
  --benchmark_out="$out/audit_benchmark.json" --benchmark_out_format=json
"$build/bench/maintenance_benchmark" \
  --benchmark_out="$out/maintenance_benchmark.json" --benchmark_out_format=json
"$build/bench/crypto_benchmark" "${audit_flags[@]}" \
  --benchmark_out="$out/crypto_benchmark.json" --benchmark_out_format=json
if [ "$quick" = 0 ]; then
  "$build/bench/rotation_benchmark" \
    --benchmark_out="$out/rotation_benchmark.json" --benchmark_out_format=json
fi
echo "JSON: $out/kv_benchmark.json $out/tenants_benchmark.json $out/audit_benchmark.json $out/maintenance_benchmark.json $out/crypto_benchmark.json $out/ycsb_benchmark.json"
