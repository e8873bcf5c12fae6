#!/usr/bin/env bash
# Installs everything Veloq needs to build and test on Debian 12, offline from
# anything but Debian's archive. Idempotent: a quick no-op when all is there.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap        # Bazel 4.2.3 (pulls a JDK)
  bazel-platforms        # @platforms, used offline by Bazel's own tools
  g++ clang clang-format # both compilers build the tree; formatting check
  libclang-rt-14-dev     # clang's sanitizer runtimes
  liburing-dev
  libabsl-dev
  libgtest-dev libgmock-dev
  libspdlog-dev libfmt-dev
  libbenchmark-dev
  python3                # tools/count_tests.py (CI)
  fio                    # testing/perf/fio_compare.sh (the peer for files)
  libcaf-dev             # testing/perf:actor_benchmark (the peer for actors)
  redis-server redis-tools  # samples/kv tests and kv_vs_redis.sh (the peer)
  curl                   # scrapes the metrics endpoint in tests (io/http)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]} == 0)); then
  exit 0
fi

echo "tools/setup.sh: installing ${missing[*]}" >&2
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# redis-server is only the benchmark's peer (started by hand on its own
# port). Where systemd started Debian's service on install, stop it so that
# port 6379 is free for kv_server, the main job.
if [[ " ${missing[*]} " == *" redis-server "* ]] && command -v systemctl >/dev/null &&
  systemctl is-active --quiet redis-server 2>/dev/null; then
  echo "tools/setup.sh: stopping and disabling the redis-server service (port 6379 is kv_server's)" >&2
  $SUDO systemctl disable --now redis-server >/dev/null 2>&1 || true
fi
