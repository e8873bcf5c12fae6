#!/usr/bin/env bash
# The rally finishes both ways and reports its rate.
set -euo pipefail
out=$(samples/pingpong/pingpong --hops=10000)
echo "$out"
grep -q "across shards 0 <-> 1: 10000 hops in" <<<"$out"
grep -q "within shard 0: 10000 hops in" <<<"$out"
