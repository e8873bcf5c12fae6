#!/usr/bin/env bash
# Builds the RESP parser's libFuzzer target with clang (ASan+UBSan) and runs
# it for a while over a copy of the seed corpus (samples/kv/testdata/
# resp_corpus). Exit 0: nothing found. Usage: samples/kv/fuzz_resp.sh [secs]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECS=${1:-30}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
  -fno-sanitize-recover=undefined -I. \
  samples/kv/resp.cc samples/kv/resp_fuzz.cc -o "$OUT/resp_fuzz" \
  -labsl_statusor -labsl_status -labsl_cord -labsl_cordz_info \
  -labsl_cord_internal -labsl_cordz_functions -labsl_cordz_handle \
  -labsl_exponential_biased -labsl_synchronization -labsl_graphcycles_internal \
  -labsl_symbolize -labsl_stacktrace -labsl_debugging_internal \
  -labsl_demangle_internal -labsl_malloc_internal -labsl_time \
  -labsl_civil_time -labsl_time_zone -labsl_str_format_internal \
  -labsl_strerror -labsl_strings -labsl_strings_internal -labsl_int128 \
  -labsl_throw_delegate -labsl_bad_optional_access -labsl_bad_variant_access \
  -labsl_base -labsl_spinlock_wait -labsl_raw_logging_internal \
  -labsl_log_severity -lpthread
mkdir -p "$OUT/corpus"
cp samples/kv/testdata/resp_corpus/* "$OUT/corpus/"
"$OUT/resp_fuzz" -max_total_time="$SECS" -max_len=4096 -print_final_stats=1 \
  "$OUT/corpus" 2>&1 | tail -5
