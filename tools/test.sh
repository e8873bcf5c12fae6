#!/usr/bin/env bash
# Sets up the machine (tools/setup.sh) and runs every test with g++.
# Extra arguments go to `bazel test`, e.g. `tools/test.sh --config=asan`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash tools/setup.sh
exec bazel test "$@" //...
