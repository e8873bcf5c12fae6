#!/usr/bin/env bash
# The echo server answers two clients at once, byte for byte, and stops on
# SIGTERM with exit 0.
set -euo pipefail
OUT=$(mktemp)
samples/echo/echo_server --port=0 --shards=2 >"$OUT" 2>/dev/null &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT")
  [[ -n $PORT ]] && break
  sleep 0.05
done
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
printf 'hello from three\n' >&3
printf 'and from four\n' >&4
read -r a <&3
read -r b <&4
[[ $a == "hello from three" && $b == "and from four" ]] || { echo "FAIL: '$a' '$b'"; exit 1; }
exec 3>&- 4>&-
kill -TERM $PID
wait $PID
echo PASS
