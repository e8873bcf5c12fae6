#!/usr/bin/env bash
# One command for docs/benchmarks.md: builds the -c opt benchmarks once, runs
# every Google Benchmark binary of testing/perf (JSON output, N repetitions),
# the shard-count sweep, fio_compare.sh and kv_vs_redis.sh, records the
# machine, and renders the report and its SVG plots (docs/benchmarks/*.svg)
# with report.py.
#
#   testing/perf/report.sh [--quick] [--repetitions N] [--scaling "1 2 4"]
#                          [--out docs/benchmarks.md] [--skip fio,redis,...]
#                          [--bin DIR] [--results DIR] [--fio-dir DIR]
#   testing/perf/report.sh --bundle DIR [--bin DIR]
#   bazel run -c opt //testing/perf:report -- [either form's options]
#
#   --quick           a smoke run, not a report to commit: 2 repetitions
#                     (unless --repetitions), --benchmark_min_time=0.05,
#                     net_benchmark without its zero-copy sweep, one fio run
#                     of 1 s per workload, one redis run of 20,000 requests.
#   --repetitions N   Google Benchmark repetitions per case (default 5), in
#                     the sweep too, interleaved in random order across a
#                     binary's cases; the report gives min / median / max over
#                     them. fio and redis comparisons run min(N, 3) times.
#   --scaling "1 2 4" the shard counts to sweep (default: "1 <nproc>"). At
#                     each count N: actor_benchmark's Counting, Big,
#                     ThreadRing, ForkJoinCreation and, from N = 2,
#                     PingPongCrossShard, Veloq and CAF, with
#                     VELOQ_BENCH_SHARDS=N (N Veloq shards, N CAF scheduler
#                     threads); mesh_benchmark's BM_MeshAllToAll from N = 2;
#                     kv_vs_redis.sh --shards N. The report tables and plots
#                     throughput against N. The other cases and binaries keep
#                     the shard counts of their source (listed in the report).
#   --out FILE        the report (default docs/benchmarks.md); plots go to
#                     benchmarks/ beside it.
#   --skip LIST       comma-separated: fio, redis, or benchmark binaries
#                     (mesh_benchmark or just mesh), in the sweep too.
#   --bin DIR         use prebuilt -c opt binaries instead of running Bazel
#                     (also VELOQ_BENCH_BIN=DIR). DIR is a bazel-bin tree
#                     (DIR/testing/perf/*_benchmark, DIR/samples/kv/kv_server),
#                     a flat folder of the binaries, or a bundle (--bundle).
#                     When DIR/lib holds the shared libraries they link,
#                     every binary runs through a wrapper script in
#                     <results>/run/ (which fio_compare.sh and kv_vs_redis.sh
#                     get as FILE_BENCH and KV_SERVER): with DIR/lib's own
#                     ELF interpreter, `DIR/lib/ld-linux-x86-64.so.2
#                     --library-path DIR/lib BINARY ARGS`, when DIR/lib has
#                     one (a bundle does), so the machine's glibc does not
#                     matter; with LD_LIBRARY_PATH=DIR/lib otherwise. Nothing
#                     else (python3, fio, redis) sees DIR/lib.
#   --bundle DIR      make DIR a self-contained copy for a machine without
#                     Bazel, then exit: build (or take --bin's binaries) and
#                     copy every *_benchmark, file_bench and kv_server to DIR,
#                     the shared libraries they link (ldd) and the ELF
#                     interpreter to DIR/lib, this script, report.py,
#                     fio_compare.sh and kv_vs_redis.sh to DIR/testing/perf,
#                     and the commit and peer library versions to
#                     DIR/bundle.txt. There, DIR/testing/perf/report.sh runs
#                     with DIR as its --bin and its repository root.
#   --results DIR     keep the raw outputs there (default: a new
#                     /tmp/veloq-bench.XXXXXX, printed at the end); re-render
#                     with testing/perf/report.py --results DIR --out FILE.
#   --fio-dir DIR     where fio_compare.sh lays out its 1 GiB file; needs
#                     O_DIRECT (not tmpfs). Default: $TMPDIR or /tmp.
# Environment: VELOQ_FIO_SECONDS (per fio workload; default 5, quick 1) and
# VELOQ_KV_REQUESTS (per redis-benchmark run; default 200000, quick 20000).
# VELOQ_BENCH_SHARDS is not passed on: the sweep sets it per run, the other
# runs use the binaries' defaults.
#
# Raw outputs per binary: <results>/gbench/<name>.json (what the report
# reads), <name>.txt (Google Benchmark's console table), <name>.stderr; the
# sweep's in <results>/scaling/<name>_<N>.{json,txt,stderr}.
#
# Relative paths are taken from the repository root: the workspace under
# `bazel run`, DIR in a bundle. Run it on an idle machine: every figure is a
# same-run ratio, but a busy machine still moves them. Examples:
#   testing/perf/report.sh                                  # docs/benchmarks.md
#   testing/perf/report.sh --quick --skip fio,redis --out /tmp/bench/benchmarks.md
#   testing/perf/report.sh --scaling "1 2 4 8 16"           # a 16-core machine
#   bazel run -c opt //testing/perf:report -- --quick --skip fio,redis
# On a machine without Bazel (e.g. a 16-core box), bundle the binaries:
#   here:  testing/perf/report.sh --bundle /tmp/vb && scp -r /tmp/vb box:/tmp/
#   there: /tmp/vb/testing/perf/report.sh --scaling "1 2 4 8 16"
#          (the report lands in /tmp/vb/docs/benchmarks.md; copy it back)
# (python3 renders the report; fio, redis-server and redis-benchmark must be
# installed there for those comparisons; --skip fio,redis otherwise.)
set -euo pipefail
if [[ -n ${BUILD_WORKSPACE_DIRECTORY:-} ]]; then
  cd "$BUILD_WORKSPACE_DIRECTORY"  # bazel run: $0 is in the runfiles tree
else
  cd "$(dirname "$0")/../.."
fi
unset VELOQ_BENCH_SHARDS

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
BUNDLE=""
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
    --bundle) BUNDLE=$2; shift 2 ;;
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
for n in $SCALING; do
  [[ $n =~ ^[1-9][0-9]*$ ]] ||
    { echo "--scaling: shard counts are positive integers, got '$n'" >&2; exit 2; }
done
SHARD_COUNTS=$(tr -s " " "\n" <<<"$SCALING" | sed '/^$/d' | sort -n -u | tr "\n" " ")
[[ -n ${SHARD_COUNTS// /} ]] || { echo "--scaling: no shard count" >&2; exit 2; }

# Filters for --quick: the cases a smoke run can do without.
declare -A QUICK_FILTER=([net_benchmark]='-Zc|Copy')

skipped() {  # skipped NAME: was NAME (or NAME without _benchmark) in --skip?
  local s
  for s in ${SKIP//,/ }; do
    [[ $s == "$1" || ${s}_benchmark == "$1" ]] && return 0
  done
  return 1
}

# A bundle's root holds bundle.txt; run from there, the bundle is the --bin.
[[ -z $BIN && -z $BUNDLE && -f bundle.txt ]] && BIN=$PWD

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

# bundle_value KEY: KEY's value in $BIN/bundle.txt; nothing outside a bundle.
bundle_value() {
  [[ -f $BIN/bundle.txt ]] && sed -n "s/^$1=//p" "$BIN/bundle.txt" | head -1
  return 0
}
dpkg_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || true; }

# --- --bundle: a self-contained copy, then exit ---
if [[ -n $BUNDLE ]]; then
  mkdir -p "$BUNDLE"
  BUNDLE=$(cd "$BUNDLE" && pwd)
  [[ $BUNDLE != "$BIN" ]] || { echo "--bundle: DIR is the --bin folder" >&2; exit 2; }
  mkdir -p "$BUNDLE/lib" "$BUNDLE/testing/perf"
  files=()
  for name in "${BENCHES[@]}"; do files+=("$(find_bin "$name" testing/perf)"); done
  for f in file_bench:testing/perf kv_server:samples/kv; do
    f=$(find_bin "${f%%:*}" "${f#*:}") ||
      { echo "--bundle: no ${f%%:*} under $BIN" >&2; exit 1; }
    files+=("$f")
  done
  # Bazel's outputs are read-only: -f replaces an earlier bundle's copies.
  cp -f "${files[@]}" "$BUNDLE/"
  interp=""
  for f in "${files[@]}"; do
    deps=$(ldd "$f") || { echo "--bundle: ldd $f failed" >&2; exit 1; }
    if grep -q "not found" <<<"$deps"; then
      echo "--bundle: $f links libraries ldd cannot find:" >&2
      grep "not found" <<<"$deps" >&2
      exit 1
    fi
    # "libx.so.1 => /usr/lib/.../libx.so.1 (0x...)", and the interpreter as
    # "/lib64/ld-linux-x86-64.so.2 (0x...)". -L: the files, not symlinks.
    awk '$2 == "=>" && $3 ~ /^\// { print $3 }' <<<"$deps" |
      xargs -r cp -fL -t "$BUNDLE/lib/"
    i=$(awk 'NF == 2 && $1 ~ /^\// { print $1 }' <<<"$deps")
    [[ -n $i ]] && interp=$i
  done
  [[ -n $interp ]] || { echo "--bundle: no ELF interpreter in ldd's output" >&2; exit 1; }
  cp -fL "$interp" "$BUNDLE/lib/"
  cp -f testing/perf/report.sh testing/perf/report.py testing/perf/fio_compare.sh \
    testing/perf/kv_vs_redis.sh "$BUNDLE/testing/perf/"
  commit=$(bundle_value commit)
  if [[ -z $commit ]]; then
    commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
    if [[ $commit != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then
      commit="$commit (with uncommitted changes)"
    fi
  fi
  caf=$(bundle_value caf); [[ -n $caf ]] || caf=$(dpkg_version libcaf-dev)
  spdlog=$(bundle_value spdlog); [[ -n $spdlog ]] || spdlog=$(dpkg_version libspdlog-dev)
  {
    echo "# A Veloq benchmark bundle: run testing/perf/report.sh here."
    echo "commit=$commit"
    echo "caf=$caf"
    echo "spdlog=$spdlog"
    echo "built=$(date -u '+%Y-%m-%d %H:%M UTC') on $(uname -n)"
  } >"$BUNDLE/bundle.txt"
  # The bundle runs through its own interpreter, as it will elsewhere.
  "$BUNDLE/lib/$(basename "$interp")" --library-path "$BUNDLE/lib" \
    "$BUNDLE/${BENCHES[0]}" --benchmark_list_tests >/dev/null ||
    { echo "--bundle: $BUNDLE/${BENCHES[0]} does not start through the bundled interpreter" >&2; exit 1; }
  echo "bundle: $BUNDLE ($(du -sh "$BUNDLE" | cut -f1)); run $BUNDLE/testing/perf/report.sh there"
  exit 0
fi

if [[ -z $RES ]]; then
  RES=$(mktemp -d /tmp/veloq-bench.XXXXXX)
fi
mkdir -p "$RES/gbench" "$RES/scaling" "$RES/fio" "$RES/kv" "$RES/run"
rm -f "$RES"/gbench/* "$RES"/scaling/* "$RES"/fio/* "$RES"/kv/* "$RES"/run/* "$RES/notes.txt"
note() { echo "note: $*" >&2; echo "$*" >>"$RES/notes.txt"; }

# How the binaries run: see --bin above.
BIN_LIB=""
LOADER=""
if [[ -d $BIN/lib ]]; then
  BIN_LIB=$BIN/lib
  for f in "$BIN_LIB"/ld-linux*.so.*; do
    [[ -f $f && -x $f ]] && { LOADER=$f; break; }
  done
fi

# runner PATH: the command that runs the binary PATH. The wrapper's
# ${LD_LIBRARY_PATH...} and "$@" are for it to expand, hence single quotes.
# shellcheck disable=SC2016
runner() {
  local w
  [[ -n $BIN_LIB ]] || { echo "$1"; return 0; }
  w="$RES/run/$(basename "$1")"
  {
    echo '#!/usr/bin/env bash'
    if [[ -n $LOADER ]]; then
      printf 'exec %q --library-path %q %q "$@"\n' "$LOADER" "$BIN_LIB" "$1"
    else
      printf 'export LD_LIBRARY_PATH=%q${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}\n' "$BIN_LIB"
      printf 'exec %q "$@"\n' "$1"
    fi
  } >"$w"
  chmod +x "$w"
  echo "$w"
}

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
v=$(bundle_value caf); [[ -n $v ]] || v=$(dpkg_version libcaf-dev)
[[ -n $v ]] && PEERS+=("CAF $v (libcaf-dev)")
command -v fio >/dev/null && PEERS+=("$(fio --version)")
command -v redis-server >/dev/null &&
  PEERS+=("redis-server $(redis-server --version | sed -n 's/.* v=\([^ ]*\).*/\1/p')")
v=$(bundle_value spdlog); [[ -n $v ]] || v=$(dpkg_version libspdlog-dev)
[[ -n $v ]] && PEERS+=("spdlog $v (libspdlog-dev)")
COMMIT=$(bundle_value commit)
if [[ -z $COMMIT ]]; then
  COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [[ $COMMIT != unknown ]] && ! git diff --quiet HEAD -- 2>/dev/null; then
    COMMIT="$COMMIT (with uncommitted changes)"
  fi
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
  echo "scaling=$SHARD_COUNTS"
  echo "load=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "peers=$(IFS=';'; echo "${PEERS[*]:-}" | sed 's/;/, /g')"
  echo "command=$COMMAND"
} >"$RES/machine.txt"

# run_gbench BASE EXE [ARGS...]: one Google Benchmark run with the report's
# repetitions: JSON to BASE.json (what report.py reads), the console table to
# BASE.txt, stderr to BASE.stderr; a failure becomes a note.
run_gbench() {
  local base=$1 exe=$2 rc=0
  shift 2
  # Repetitions of all the binary's cases run interleaved in random order:
  # on a VM whose speed drifts over minutes (this one's cross-core latency
  # moves between ~100 and ~450 ns), ours and the peer or limit it is
  # compared with are then sampled from the same stretch of time.
  local args=(--benchmark_out="$base.json" --benchmark_out_format=json
              --benchmark_repetitions="$REPS"
              --benchmark_enable_random_interleaving=true)
  [[ -n $MIN_TIME ]] && args+=(--benchmark_min_time="$MIN_TIME")
  args+=("$@")
  echo "== ${base#"$RES"/}${VELOQ_BENCH_SHARDS:+ (VELOQ_BENCH_SHARDS=$VELOQ_BENCH_SHARDS)} ${args[*]:2}"
  "$exe" "${args[@]}" >"$base.txt" 2>"$base.stderr" || rc=$?
  if ((rc)); then
    note "${base#"$RES"/} exited with status $rc (stderr: $base.stderr)"
  fi
}

# --- Google Benchmark binaries ---
for name in "${BENCHES[@]}"; do
  if skipped "$name"; then note "$name: skipped (--skip)"; continue; fi
  args=()
  [[ $QUICK == 1 && -n ${QUICK_FILTER[$name]:-} ]] &&
    args+=(--benchmark_filter="${QUICK_FILTER[$name]}")
  run_gbench "$RES/gbench/$name" "$(runner "$(find_bin "$name" testing/perf)")" "${args[@]}"
done

# --- Shard-count sweep ---
# scaling_filter NAME N: the cases of NAME that run at N shards; nothing when
# none does (BM_MeshAllToAll and PingPongCrossShard need two shards).
scaling_filter() {
  case $1 in
    actor_benchmark)
      if (($2 >= 2)); then
        echo '^BM_((Veloq|Caf)_(Counting|Big|ThreadRing|ForkJoinCreation)|Veloq_PingPongCrossShard|Caf_PingPong)(/|$)'
      else
        echo '^BM_(Veloq|Caf)_(Counting|Big|ThreadRing|ForkJoinCreation)(/|$)'
      fi ;;
    mesh_benchmark)
      if (($2 >= 2)); then echo '^BM_MeshAllToAll(/|$)'; fi ;;
  esac
}
for name in actor_benchmark mesh_benchmark; do
  if skipped "$name"; then note "$name shard sweep: skipped (--skip)"; continue; fi
  if ! exe=$(find_bin "$name" testing/perf); then
    note "$name shard sweep: no $name binary under $BIN"
    continue
  fi
  exe=$(runner "$exe")
  for n in $SHARD_COUNTS; do
    filter=$(scaling_filter "$name" "$n")
    [[ -n $filter ]] || continue
    VELOQ_BENCH_SHARDS=$n run_gbench "$RES/scaling/${name}_$n" "$exe" \
      --benchmark_filter="$filter"
  done
done

# --- fio ---
if skipped fio; then
  note "fio comparison: skipped (--skip)"
elif ! command -v fio >/dev/null; then
  note "fio comparison: fio is not installed (tools/setup.sh installs it)"
elif ! FILE_BENCH=$(find_bin file_bench testing/perf); then
  note "fio comparison: no file_bench binary under $BIN"
else
  FILE_BENCH=$(runner "$FILE_BENCH")
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
  KV_SERVER=$(runner "$KV_SERVER")
  for shards in $SHARD_COUNTS; do
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
