#!/usr/bin/env bash
# report.py's unit test (report_test.py, unittest) on the fixture run in
# testdata/results, and report.sh's sweep and --bundle on fake binaries, with
# the system python3 and bash: the generator is standard library only, so
# nothing else is needed.
set -euo pipefail
command -v python3 >/dev/null || { echo "SKIP: python3 missing"; exit 0; }
exec python3 testing/perf/report_test.py -v
