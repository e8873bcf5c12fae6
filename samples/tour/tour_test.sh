#!/usr/bin/env bash
# The tour runs to completion and reports each step.
set -euo pipefail
out=$(samples/tour/tour --shards=2 --round_trips=1000)
echo "$out"
grep -q "veloq tour: 2 shard(s)" <<<"$out"
grep -q "1000 round trips shard 0 -> 1 -> 0" <<<"$out"
grep -q "map-reduce of shard ids: 1" <<<"$out"
grep -q "task scope joined: OK" <<<"$out"
grep -q "under a 5 ms deadline: DEADLINE_EXCEEDED" <<<"$out"
grep -q "back on shard 0" <<<"$out"
grep -q "runtime stopped: OK" <<<"$out"
