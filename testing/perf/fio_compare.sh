#!/usr/bin/env bash
# Files: Veloq (io::File on one shard, //testing/perf:file_bench) against
# fio --ioengine=io_uring, same file, same run, same parameters:
#   - 4 KB random reads, O_DIRECT, queue depth 32, on a 1 GiB file;
#   - sequential 1 MB writes, O_DIRECT, 4 in flight.
# Usage: testing/perf/fio_compare.sh [dir] [seconds]   (defaults: $TMPDIR, 10)
#   FILE_BENCH=path: a prebuilt file_bench instead of building one with Bazel.
# Ends with two lines: randread_iops_ratio=<ours/fio> seqwrite_bw_ratio=<ours/fio>
set -euo pipefail

cd "$(dirname "$0")/../.."
dir="${1:-${TMPDIR:-/tmp}}"
secs="${2:-10}"
file="$dir/veloq_fio_compare.dat"
command -v fio >/dev/null || { echo "fio is not installed (tools/setup.sh installs it)"; exit 1; }

# FILE_BENCH=/path/to/file_bench uses a prebuilt binary (no Bazel needed).
if [[ -n ${FILE_BENCH:-} ]]; then
  bench=$FILE_BENCH
else
  bazel build -c opt //testing/perf:file_bench >/dev/null 2>&1 || bazel build -c opt //testing/perf:file_bench
  bench="$(bazel info -c opt bazel-bin 2>/dev/null)/testing/perf/file_bench"
fi

cleanup() { rm -f "$file"; }
trap cleanup EXIT

echo "laying out 1 GiB at $file"
fio --name=layout --filename="$file" --size=1G --rw=write --bs=1M --direct=1 \
    --ioengine=io_uring --output-format=terse >/dev/null

fio_json() { fio --output-format=json "$@" 2>/dev/null; }
json_get() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

echo "fio randread 4k qd32 (${secs}s)"
fio_rr=$(fio_json --name=rr --filename="$file" --size=1G --rw=randread --bs=4k \
  --iodepth=32 --direct=1 --ioengine=io_uring --time_based --runtime="$secs" \
  | json_get 'd["jobs"][0]["read"]["iops"]')
echo "veloq randread 4k qd32 (${secs}s)"
ours_rr=$("$bench" --file="$file" --mode=randread --bs=4096 --depth=32 \
  --seconds="$secs" | sed -n 's/^iops=\([0-9.]*\).*/\1/p')

echo "fio seqwrite 1M depth 4 (${secs}s)"
fio_sw=$(fio_json --name=sw --filename="$file" --size=1G --rw=write --bs=1M \
  --iodepth=4 --direct=1 --ioengine=io_uring --time_based --runtime="$secs" \
  | json_get 'd["jobs"][0]["write"]["bw"] / 1024.0')
echo "veloq seqwrite 1M depth 4 (${secs}s)"
ours_sw=$("$bench" --file="$file" --mode=seqwrite --bs=1048576 --depth=4 \
  --seconds="$secs" | sed -n 's/.*bw_mib_s=\([0-9.]*\).*/\1/p')

printf '| workload | fio | veloq |\n| --- | --- | --- |\n'
printf '| randread 4 KB QD32 (IOPS) | %.0f | %.0f |\n' "$fio_rr" "$ours_rr"
printf '| seqwrite 1 MB x4 (MiB/s) | %.1f | %.1f |\n' "$fio_sw" "$ours_sw"
python3 -c "print('randread_iops_ratio=%.3f' % ($ours_rr / $fio_rr))"
python3 -c "print('seqwrite_bw_ratio=%.3f' % ($ours_sw / $fio_sw))"
