#!/usr/bin/env bash
# kv_server against Debian's redis-server, driven by the same redis-benchmark
# runs in one go (persistence off for both): SET and GET, -P 1 and -P 16,
# 50 clients, -r 100000. Prints a table with both columns and the ratio.
#
#   testing/perf/kv_vs_redis.sh [--shards N] [--requests N]
#
# Builds kv_server with -c opt first (KV_SERVER=path uses a prebuilt one
# instead). The client shares the machine's cores with the servers, as it
# would on one box.
set -euo pipefail
cd "$(dirname "$0")/../.."

SHARDS=$(nproc)
REQUESTS=200000
while (($#)); do
  case "$1" in
    --shards) SHARDS=$2; shift 2 ;;
    --requests) REQUESTS=$2; shift 2 ;;
    *) echo "usage: $0 [--shards N] [--requests N]" >&2; exit 2 ;;
  esac
done

for tool in redis-server redis-benchmark redis-cli; do
  command -v "$tool" >/dev/null || { echo "$tool missing: run tools/setup.sh" >&2; exit 1; }
done

if [[ -n ${KV_SERVER:-} ]]; then  # a prebuilt binary: no Bazel needed
  KV=$KV_SERVER
else
  bazel build -c opt //samples/kv:kv_server >/dev/null 2>&1
  KV="$(bazel info -c opt bazel-bin 2>/dev/null)/samples/kv/kv_server"
fi
KV_PORT=17379
REDIS_PORT=17380
WORK=$(mktemp -d)
cleanup() {
  kill "$KV_PID" "$REDIS_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

"$KV" --port=$KV_PORT --shards="$SHARDS" >"$WORK/kv.log" 2>&1 &
KV_PID=$!
redis-server --port $REDIS_PORT --save "" --appendonly no \
  --dir "$WORK" >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
for port in $KV_PORT $REDIS_PORT; do
  for _ in $(seq 50); do
    redis-cli -p $port ping >/dev/null 2>&1 && break
    sleep 0.1
  done
done

# requests per second of one redis-benchmark run
rps() {
  local port=$1 test=$2 pipeline=$3
  redis-benchmark -p "$port" -t "$test" -n "$REQUESTS" -c 50 -r 100000 \
    -P "$pipeline" -q 2>/dev/null | tr '\r' '\n' |
    awk -F'[: ]+' '/requests per second/ {print $2}' | tail -1
}

echo "kv_server ($SHARDS shards) vs redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2)," \
  "redis-benchmark -c 50 -r 100000 -n $REQUESTS, $(nproc) cores"
printf "%-10s %14s %14s %8s\n" "test" "kv_server" "redis" "ratio"
for pipeline in 1 16; do
  for test in set get; do
    kv=$(rps $KV_PORT $test $pipeline)
    redis=$(rps $REDIS_PORT $test $pipeline)
    ratio=$(awk -v a="$kv" -v b="$redis" 'BEGIN { printf "%.2f", a / b }')
    printf "%-10s %14.0f %14.0f %7sx\n" "${test^^} -P$pipeline" "$kv" "$redis" "$ratio"
  done
done
