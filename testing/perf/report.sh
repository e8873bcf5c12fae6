#!/usr/bin/env bash
# One command for docs/benchmarks.md: builds the -c opt benchmarks once, runs
# every Google Benchmark binary of testing/perf (JSON output, N repetitions),
# fio_compare.sh and kv_vs_redis.sh, records the machine, and renders the
# report and its SVG plots (docs/benchmarks/*.svg) with report.py.
#
#   testing/perf/report.sh [--quick] [--repetitions N] [--scaling "1 2 4"]
#                          [--out docs/benchmarks.md] [--skip fio,redis,...]
#                          [--bin DIR] [--results DIR] [--fio-dir DIR]
#
#   --quick           a smoke run, not a report to commit: 2 repetitions
#                     (unless --repetitions), --benchmark_min_time=0.05,
#                     net_benchmark without its zero-copy sweep, one fio run
#                     of 1 s per workload, one redis run of 20,000 requests.
#   --repetitions N   Google Benchmark repetitions per case (default 5); the
#                     report gives min / median / max over them. fio and
#                     redis comparisons run min(N, 3) times.
#   --scaling "1 2 4" kv_server shard counts for kv_vs_redis.sh (default:
#                     "1 <nproc>"); with 2 or more, the report plots
#                     throughput against shards. The other binaries fix their
#                     shard counts in the source (listed in the report).
#   --out FILE        the report (default docs/benchmarks.md); plots go to
#                     benchmarks/ beside it.
#   --skip LIST       comma-separated: fio, redis, or benchmark binaries
#                     (mesh_benchmark or just mesh).
#   --bin DIR         use prebuilt -c opt binaries instead of running Bazel
#                     (also VELOQ_BENCH_BIN=DIR). DIR is a bazel-bin tree
#                     (DIR/testing/perf/*_benchmark, DIR/samples/kv/kv_server)
#                     or a flat folder of the binaries; DIR/lib, if present,
#                     goes on LD_LIBRARY_PATH for the shared libraries they
#                     link (Abseil, benchmark, CAF, liburing, spdlog, fmt).
#   --results DIR     keep the raw outputs there (default: a new
#                     /tmp/veloq-bench.XXXXXX, printed at the end); re-render
#                     with testing/perf/report.py --results DIR --out FILE.
#   --fio-dir DIR     where fio_compare.sh lays out its 1 GiB file; needs
#                     O_DIRECT (not tmpfs). Default: $TMPDIR or /tmp.
# Environment: VELOQ_FIO_SECONDS (per fio workload; default 5, quick 1) and
# VELOQ_KV_REQUESTS (per redis-benchmark run; default 200000, quick 20000).
#
# Raw outputs per binary: <results>/gbench/<name>.json (what the report
# reads), <name>.txt (Google Benchmark's console table), <name>.stderr.
#
# Relative paths are taken from the repository root. Run it on an idle machine: every figure is a same-run ratio, but a busy
# machine still moves them. Examples:
#   testing/perf/report.sh                                  # docs/benchmarks.md
#   testing/perf/report.sh --quick --skip fio,redis --out /tmp/bench/benchmarks.md
#   testing/perf/report.sh --scaling "1 2 4 8 16"           # a 16-core machine
# On a machine without Bazel (e.g. a 16-core box), copy the binaries:
#   here:  bazel build -c opt //testing/perf:all //samples/kv:kv_server
#          mkdir -p /tmp/vb/lib && cp bazel-bin/testing/perf/*_benchmark \
#            bazel-bin/testing/perf/file_bench bazel-bin/samples/kv/kv_server /tmp/vb/
#          ldd /tmp/vb/* | awk '/=> \//{print $3}' | sort -u | xargs cp -t /tmp/vb/lib
#   there: testing/perf/report.sh --bin /tmp/vb --scaling "1 2 4 8 16"
# (fio, redis-server and redis-benchmark must be installed there for those
# comparisons; --skip fio,redis otherwise.)
set -euo pipefail
cd "$(dirname "$0")/../.."

usage() { sed -n '2,/^set -euo/p' testing/perf/report.sh | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

quote() {  # quote ARGS...: as a reader would retype them
  local a out=""
  for a in "$@"; do
    if [[ $a =~ ^[A-Za-z0-9_./,=:+-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi
  done
  echo "$out"
}
COMMAND="testing/perf/report.sh$(quote "$@")"
QUICK=0
REPS=""
SCALING=""
OUT=docs/benchmarks.md
SKIP=""
BIN=${VELOQ_BENCH_BIN:-}
RES=""
FIO_DIR=${TMPDIR:-/tmp}
while (($#)); do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --repetitions) REPS=$2; shift 2 ;;
    --scaling) SCALING=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --skip) SKIP=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    --results) RES=$2; shift 2 ;;
    --fio-dir) FIO_DIR=$2; shift 2 ;;
    -h|--help) usage ;;
    *) echo "unknown argument: $1" >&2; usage ;;
  esac
done
[[ -z $REPS ]] && REPS=$((QUICK ? 2 : 5))
[[ $REPS =~ ^[1-9][0-9]*$ ]] || { echo "--repetitions: a positive integer" >&2; exit 2; }
CMP_RUNS=$((QUICK ? 1 : (REPS < 3 ? REPS : 3)))
MIN_TIME=""
((QUICK)) && MIN_TIME=0.05
FIO_SECS=${VELOQ_FIO_SECONDS:-$((QUICK ? 1 : 5))}
KV_REQUESTS=${VELOQ_KV_REQUESTS:-$((QUICK ? 20000 : 200000))}
[[ -z $SCALING ]] && SCALING="1 $(nproc)"
KV_SHARDS=$(tr " " "\n" <<<"$SCALING" | grep -E "^[0-9]+$" | sort -n -u | tr "\n" " " || true)

# Filters for --quick: the cases a smoke run can do without.
declare -A QUICK_FILTER=([net_benchmark]='-Zc|Copy')

skipped() {  # skipped NAME: was NAME (or NAME without _benchmark) in --skip?
  local s
  for s in ${SKIP//,/ }; do
    [[ $s == "$1" || ${s}_benchmark == "$1" ]] && return 0
  done
  return 1
}

if [[ -z $RES ]]; then
  RES=$(mktemp -d /tmp/veloq-bench.XXXXXX)
fi
mkdir -p "$RES/gbench" "$RES/fio" "$RES/kv"
rm -f "$RES"/gbench/* "$RES"/fio/* "$RES"/kv/* "$RES/notes.txt"
note() { echo "note: $*" >&2; echo "$*" >>"$RES/notes.txt"; }

# --- Build (once) or take prebuilt binaries ---
if [[ -z $BIN ]]; then
  command -v bazel >/dev/null ||
    { echo "bazel not found: build elsewhere and pass --bin DIR" >&2; exit 1; }
  echo "== bazel build -c opt //testing/perf:all //samples/kv:kv_server"
  bazel build -c opt //testing/perf:all //samples/kv:kv_server
  BIN=$(bazel info -c opt bazel-bin 2>/dev/null)
  COMPILER=$(g++ --version 2>/dev/null | head -1 || true)
else
  BIN=$(cd "$BIN" && pwd)
  [[ -d $BIN/lib ]] && export LD_LIBRARY_PATH="$BIN/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  COMPILER=""
fi

find_bin() {  # find_bin NAME SUBDIR: the binary's path, bazel-bin or flat
  local c
  for c in "$BIN/$2/$1" "$BIN/$1"; do
    [[ -f $c && -x $c ]] && { echo "$c"; return 0; }
  done
  return 1
}

mapfile -t BENCHES < <(
  for f in "$BIN"/testing/perf/*_benchmark "$BIN"/*_benchmark; do
    [[ -f $f && -x $f ]] && basename "$f"
  done | sort -u)
((${#BENCHES[@]})) || { echo "no *_benchmark binaries under $BIN" >&2; exit 1; }

# --- The machine ---
first() { head -1 | sed 's/^[[:space:]]*//; s/[[:space:]]*$//'; }
CPU=$(lscpu 2>/dev/null | sed -n 's/^Model name:[[:space:]]*//p' | first || true)
[[ -z $CPU ]] && CPU=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | first || true)
if [[ -z $COMPILER ]] && command -v readelf >/dev/null; then
  # Prebuilt: the compiler that built them, from the ELF .comment section.
  COMPILER=$(readelf -p .comment "$(find_bin "${BENCHES[0]}" testing/perf)" 2>/dev/null |
    sed -n 's/^ *\[ *[0-9a-f]*\] *//p' | grep -v '^$' | tail -1 || true)
fi
PEERS=()
v=$(dpkg-query -W -f='${Version}' libcaf-dev 2>/dev/null || true)
[[ -n $v ]] && PEERS+=("CAF $v (libcaf-dev)")
command -v fio >/dev/null && PEERS+=("$(fio --version)")
command -v redis-server >/dev/null &&
  PEERS+=("redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')")
v=$(dpkg-query -W -f='${Version}' libspdlog-dev 2>/dev/null || true)
[[ -n $v ]] && PEERS+=("spdlog $v (libspdlog-dev)")
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
if [[ $COMMIT != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then
  COMMIT="$COMMIT (with uncommitted changes)"
fi
{
  echo "cpu=${CPU:-unknown}"
  echo "cores=$(nproc)"
  echo "memory=$(awk '/^MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo)"
  echo "kernel=$(uname -r)"
  echo "os=$( (. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") || uname -s)"
  echo "compiler=${COMPILER:-unknown}"
  echo "date=$(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "commit=$COMMIT"
  echo "mode=$([[ $QUICK == 1 ]] && echo 'quick (smoke run: do not commit)' || echo full)"
  echo "repetitions=$REPS per benchmark case${MIN_TIME:+ (min_time $MIN_TIME s)}; fio and redis: $CMP_RUNS run(s) each"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "peers=$(IFS=';'; echo "${PEERS[*]:-}" | sed 's/;/, /g')"
  echo "command=$COMMAND"
} >"$RES/machine.txt"

# --- Google Benchmark binaries ---
for name in "${BENCHES[@]}"; do
  if skipped "$name"; then note "$name: skipped (--skip)"; continue; fi
  exe=$(find_bin "$name" testing/perf)
  # JSON into the file report.py reads; the console table to $name.txt.
  args=(--benchmark_out="$RES/gbench/$name.json" --benchmark_out_format=json
        --benchmark_repetitions="$REPS")
  [[ -n $MIN_TIME ]] && args+=(--benchmark_min_time="$MIN_TIME")
  [[ $QUICK == 1 && -n ${QUICK_FILTER[$name]:-} ]] &&
    args+=(--benchmark_filter="${QUICK_FILTER[$name]}")
  echo "== $name ${args[*]:2}"
  rc=0
  "$exe" "${args[@]}" >"$RES/gbench/$name.txt" 2>"$RES/gbench/$name.stderr" || rc=$?
  if ((rc)); then
    note "$name exited with status $rc (stderr: $RES/gbench/$name.stderr)"
  fi
done

# --- fio ---
if skipped fio; then
  note "fio comparison: skipped (--skip)"
elif ! command -v fio >/dev/null; then
  note "fio comparison: fio is not installed (tools/setup.sh installs it)"
elif ! FILE_BENCH=$(find_bin file_bench testing/perf); then
  note "fio comparison: no file_bench binary under $BIN"
else
  for i in $(seq "$CMP_RUNS"); do
    echo "== fio_compare.sh $FIO_DIR $FIO_SECS (run $i of $CMP_RUNS)"
    FILE_BENCH=$FILE_BENCH testing/perf/fio_compare.sh "$FIO_DIR" "$FIO_SECS" \
      >"$RES/fio/run$i.txt" 2>&1 || note "fio_compare.sh run $i failed (see $RES/fio/run$i.txt)"
  done
fi

# --- redis ---
if skipped redis; then
  note "redis comparison: skipped (--skip)"
elif ! command -v redis-server >/dev/null || ! command -v redis-benchmark >/dev/null ||
     ! command -v redis-cli >/dev/null; then
  note "redis comparison: redis-server, redis-benchmark or redis-cli is not installed"
elif ! KV_SERVER=$(find_bin kv_server samples/kv); then
  note "redis comparison: no kv_server binary under $BIN"
else
  for shards in $KV_SHARDS; do
    for i in $(seq "$CMP_RUNS"); do
      echo "== kv_vs_redis.sh --shards $shards --requests $KV_REQUESTS (run $i of $CMP_RUNS)"
      KV_SERVER=$KV_SERVER testing/perf/kv_vs_redis.sh --shards "$shards" \
        --requests "$KV_REQUESTS" >"$RES/kv/shards$shards-run$i.txt" 2>&1 ||
        note "kv_vs_redis.sh --shards $shards run $i failed (see $RES/kv/shards$shards-run$i.txt)"
    done
  done
fi

# --- The report ---
mkdir -p "$(dirname "$OUT")"
python3 testing/perf/report.py --results "$RES" --out "$OUT"
echo "raw results: $RES"
