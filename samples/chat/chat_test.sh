#!/usr/bin/env bash
# Two clients join one room; what one says, both hear; a client that leaves
# stops receiving; SIGTERM ends the server with exit 0.
set -euo pipefail
OUT=$(mktemp)
samples/chat/chat_server --port=0 --shards=2 >"$OUT" 2>/dev/null &
PID=$!
trap 'kill -9 $PID 2>/dev/null || true; rm -f "$OUT"' EXIT
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening on 127.0.0.1:\([0-9]*\).*/\1/p' "$OUT")
  [[ -n $PORT ]] && break
  sleep 0.05
done
exec 3<>"/dev/tcp/127.0.0.1/$PORT"
exec 4<>"/dev/tcp/127.0.0.1/$PORT"
# Reads lines from fd $1 until one equals $2 (at most 20 lines, 5 s).
wait_for() {
  local fd=$1 want=$2 line
  for _ in $(seq 20); do
    IFS= read -r -t 5 line <&"$fd" || break
    [[ $line == "$want" ]] && return 0
  done
  echo "FAIL: fd $fd never got '$want'"
  exit 1
}
printf '/nick alice\n/join lobby\n' >&3
wait_for 3 "* joined lobby"
printf '/nick bob\n/join lobby\n' >&4
wait_for 4 "* joined lobby"
wait_for 3 "* a new member joined lobby"
printf 'hello bob\n' >&3
wait_for 4 "[lobby] alice: hello bob"
wait_for 3 "[lobby] alice: hello bob"
printf 'hi alice\n' >&4
wait_for 3 "[lobby] bob: hi alice"
printf '/quit\n' >&4
exec 4>&-
sleep 0.2
printf 'anyone?\n' >&3
wait_for 3 "[lobby] alice: anyone?"
exec 3>&-
kill -TERM $PID
wait $PID
echo PASS
