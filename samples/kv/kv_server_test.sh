#!/usr/bin/env bash
# kv_server driven by the stock Redis tools: redis-cli, redis-benchmark, and
# `kill -9` with --appendfsync always (nothing acknowledged may be lost).
set -euo pipefail
KV=samples/kv/kv_server
for tool in redis-cli redis-benchmark; do
  command -v $tool >/dev/null || { echo "SKIP: $tool missing (tools/setup.sh)"; exit 0; }
done
WORK=$(mktemp -d)
PID=""
trap '[[ -n $PID ]] && kill -9 $PID 2>/dev/null; rm -rf "$WORK"' EXIT

# Starts the server on a free port; sets PID and PORT.
start() {
  "$KV" --port=0 --shards=2 "$@" >"$WORK/out" 2>"$WORK/err" &
  PID=$!
  for _ in $(seq 100); do
    PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$WORK/out")
    [[ -n $PORT ]] && return 0
    sleep 0.05
  done
  cat "$WORK/out" "$WORK/err"
  echo "FAIL: server did not start"
  exit 1
}
cli() { redis-cli -p "$PORT" "$@"; }
expect() {  # expect WANT CMD...
  local want=$1; shift
  local got
  got=$(cli "$@")
  [[ $got == "$want" ]] || { echo "FAIL: $* -> '$got', want '$want'"; exit 1; }
}

# A bad --idle_yield is refused with exit status 2, before anything starts.
rc=0
timeout 10 "$KV" --port=0 --idle_yield=sometimes >/dev/null 2>"$WORK/err" || rc=$?
[[ $rc == 2 ]] && grep -q -- "--idle_yield" "$WORK/err" || { echo "FAIL: --idle_yield=sometimes -> $rc"; exit 1; }

start --idle_yield=on
grep -q "veloq-kv .*: 2 shards, listening on 127.0.0.1:.*, driver .*, idle yield on" "$WORK/out"
expect PONG ping
expect OK set greeting "hello world"
expect "hello world" get greeting
expect OK mset a 1 b 2 c 3
expect $'1\n2\n\n3' mget a b nokey c
expect 11 incrby a 10
expect 2 del a b
expect 2 dbsize
expect "ERR unknown command 'frobnicate', with args beginning with: 'x' " frobnicate x
cli info keyspace | grep -q "db0:keys=2"
# Binary-safe values through a pipe.
printf 'bin\0ary' | cli -x set blob >/dev/null
[[ $(cli --no-raw strlen blob) == "(integer) 7" ]]
# redis-benchmark, plain and pipelined; every request must succeed.
redis-benchmark -p "$PORT" -t set,get,incr,mset -n 20000 -c 20 -r 1000 -q >"$WORK/bench" 2>&1
grep -q "SET:" "$WORK/bench"
redis-benchmark -p "$PORT" -t set,get -n 20000 -c 20 -r 1000 -P 16 -q >>"$WORK/bench" 2>&1
cat "$WORK/bench" | tr '\r' '\n' | grep "requests per second"
# Graceful stop: SIGTERM, exit 0.
kill -TERM $PID
wait $PID
PID=""

# Durability: every acknowledged write survives kill -9.
start --aof="$WORK/aof" --appendfsync=always
for i in $(seq 1 300); do echo "SET key:$i value:$i"; done | cli >/dev/null
redis-benchmark -p "$PORT" -t set -n 5000 -c 10 -r 100 -q >/dev/null 2>&1
expect OK set last-acked yes
kill -9 $PID
wait $PID 2>/dev/null || true
start --aof="$WORK/aof" --appendfsync=always
expect yes get last-acked
for i in 1 77 150 299 300; do expect "value:$i" get "key:$i"; done
[[ $(cli dbsize) -ge 301 ]]
# A different shard count refuses the logs instead of misplacing keys.
kill -TERM $PID
wait $PID
PID=""
if "$KV" --port=0 --shards=3 --aof="$WORK/aof" >/dev/null 2>"$WORK/err3"; then
  echo "FAIL: started with a different shard count"
  exit 1
fi
grep -q "shards=2" "$WORK/err3"

# The metrics endpoint (--metrics_port): Prometheus text whose counters
# move with traffic, and the debug pages.
if command -v curl >/dev/null; then
  start --metrics_port=0
  MURL=$(sed -n 's|^metrics: \(http://[^,]*\)/metrics,.*|\1|p' "$WORK/out")
  [[ -n $MURL ]] || { cat "$WORK/out"; echo "FAIL: no metrics address"; exit 1; }
  commands() {  # sum of veloq_kv_commands_total over the shards
    local body
    body=$(curl -sf --noproxy '*' "$MURL/metrics") || { echo "FAIL: scrape" >&2; exit 1; }
    awk '/^veloq_kv_commands_total\{/ {s += $2} END {print s + 0}' <<<"$body"
  }
  before=$(commands)
  redis-benchmark -p "$PORT" -t set -n 2000 -c 5 -r 100 -q >/dev/null 2>&1
  after=$(commands)
  (( after >= before + 2000 )) || { echo "FAIL: commands $before -> $after"; exit 1; }
  # (Whole bodies first: `curl | grep -q` fails under pipefail when grep
  # exits before curl has written everything.)
  page() { curl -sf --noproxy '*' "$MURL$1"; }
  has() {  # has PATH PATTERN
    local body
    body=$(page "$1") || { echo "FAIL: GET $1"; exit 1; }
    grep -q -- "$2" <<<"$body" || { echo "FAIL: GET $1 lacks $2"; exit 1; }
  }
  has /metrics '^veloq_kv_clients{shard="0"} '
  has /debug/shards "<title>veloq shards</title>"
  has /debug/shards.json '"shard":1,"responsive":true'
  has /debug/tasks '"spawned_at":"'
  kill -TERM $PID
  wait $PID
  PID=""
fi
echo PASS
