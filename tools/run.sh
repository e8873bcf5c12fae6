#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and runs the main job. Until the KV
# sample lands (issue #10), that is the runtime tour: a runtime on every
# core that prints what each part did. Extra arguments go to the binary.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec bazel run -c opt //samples/tour -- "$@"
