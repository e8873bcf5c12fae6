#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and runs the main job: kv_server, the
# sharded Redis-protocol key-value server (samples/kv), on every core, on
# 127.0.0.1:6379 until Ctrl-C. Extra arguments go to the server, e.g.
#   tools/run.sh --port=7000 --shards=2 --aof=/tmp/kv --appendfsync=always
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec bazel run -c opt //samples/kv:kv_server -- "$@"
