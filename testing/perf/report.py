#!/usr/bin/env python3
"""Writes docs/benchmarks.md and its SVG plots from one benchmark run.

testing/perf/report.sh runs the benchmarks and calls this script; run it by
hand to re-render a kept results directory:

  testing/perf/report.py --results DIR --out docs/benchmarks.md

DIR holds what report.sh wrote:
  machine.txt              key=value lines: cpu, cores, kernel, compiler, ...
  gbench/<binary>.json     Google Benchmark --benchmark_out JSON, one per binary
  scaling/<binary>_<N>.json  the same, of the shard-count sweep at N shards
                           (report.sh --scaling; optional)
  fio/run<i>.txt           stdout of testing/perf/fio_compare.sh, one per run
  kv/shards<N>-run<i>.txt  stdout of testing/perf/kv_vs_redis.sh --shards N
  notes.txt                one line per thing skipped or failed (optional)

Every figure is the min / median / max over the repetitions of the run
(Google Benchmark's per-repetition "iteration" entries, never its aggregates;
one fio or redis comparison per repetition). A ratio is median(ours) /
median(peer) of the metric named in its row: for throughput above 1 means
ours is faster; for time (round trips), it is how many times the limit's
time ours takes, so below is better.

Standard library only: it must run wherever python3 does.
"""

import argparse
import json
import math
import os
import re
import statistics
import sys
from xml.sax.saxutils import escape

# --- What is compared with what ----------------------------------------------
#
# Keys are Google Benchmark names with "/real_time", "/iterations:N" and
# similar run options removed (see NormalizeName); arguments and
# "/threads:N" stay.
#
# metric: "rate" (items_per_second, or iterations per second where a case
# sets no items) or "time" (real time per iteration, in ns).
# targets: conditions stated in the project's docs (README measured table,
# docs/*.md): ("ratio", op, x) on the ratio, ("ours", op, x) on our median.

AREAS = [
    ("actors", "Actors: Veloq vs CAF 0.17", "actor_benchmark"),
    ("mesh", "Mesh vs the raw limits", "mesh_benchmark"),
    ("driver", "io_uring driver vs bare liburing", "driver_benchmark"),
    ("buffers", "Buffer pools vs malloc/free", "buffer_benchmark"),
    ("net", "TCP echo: Veloq vs a plain epoll server", "net_benchmark"),
    ("files", "Files: Veloq vs fio", None),
    ("kv", "kv_server vs redis-server", None),
    ("log", "Logging: Veloq vs spdlog", "log_benchmark"),
    ("metrics", "Metrics: per-shard counter vs a shared atomic",
     "metrics_benchmark"),
]


def P(area, ours, peer, label, peer_name, unit, metric="rate", targets=(),
      headline=False, kind="peer"):
  return dict(area=area, ours=ours, peer=peer, label=label,
              peer_name=peer_name, unit=unit, metric=metric,
              targets=list(targets), headline=headline, kind=kind)


PAIRS = [
    # actor_benchmark.cc / caf_workloads.cc: the same workloads.
    P("actors", "BM_Veloq_PingPongSameShard", "BM_Caf_PingPong",
      "PingPong, one shard", "CAF", "msgs/s"),
    P("actors", "BM_Veloq_PingPongCrossShard", "BM_Caf_PingPong",
      "PingPong across shards", "CAF", "msgs/s",
      targets=[("ratio", ">=", 3)], headline=True),
    P("actors", "BM_Veloq_Counting", "BM_Caf_Counting",
      "Counting, 2 shards", "CAF", "msgs/s",
      targets=[("ratio", ">=", 10)], headline=True),
    P("actors", "BM_Veloq_PingPongCrossShard", "BM_RawRingPingPong",
      "PingPong across shards", "raw ring ping-pong (the floor)", "msgs/s",
      kind="limit"),
    P("actors", "BM_Veloq_CountingSameShard", "BM_Caf_Counting",
      "Counting, one shard", "CAF", "msgs/s"),
    P("actors", "BM_Veloq_ThreadRing", "BM_Caf_ThreadRing",
      "ThreadRing", "CAF", "hops/s"),
    P("actors", "BM_Veloq_ForkJoinCreation", "BM_Caf_ForkJoinCreation",
      "ForkJoinCreation", "CAF", "actors/s", headline=True),
    P("actors", "BM_Veloq_Big", "BM_Caf_Big", "Big", "CAF", "msgs/s"),
    # mesh_benchmark.cc: ours beside the physical limits.
    P("mesh", "BM_MeshOneWay", "BM_RawSpscRing",
      "mesh one-way, shard 0 to 1", "raw SPSC ring", "msgs/s",
      targets=[("ratio", ">=", 0.10), ("ours", ">=", 30e6)], headline=True,
      kind="limit"),
    P("mesh", "BM_MeshTwoThreads", "BM_RawSpscRing",
      "the Mesh alone, two threads", "raw SPSC ring", "msgs/s",
      kind="limit"),
    P("mesh", "BM_MeshOneWay", "BM_RawSpscRingPrefetchW",
      "mesh one-way, shard 0 to 1", "raw SPSC ring, write-prefetched",
      "msgs/s", kind="limit"),
    P("mesh", "BM_MeshOneWay", "BM_RawSpscRingLineItemsPrefetchW",
      "mesh one-way, shard 0 to 1",
      "raw ring, one 64-B item a line, write-prefetched", "msgs/s",
      kind="limit"),
    P("mesh", "BM_RawSpscRingLineItems", "BM_RawSpscRing",
      "raw ring, one 64-B item a line", "raw SPSC ring", "items/s",
      kind="limit"),
    P("mesh", "BM_SubmitToRoundTripSpinning", "BM_CacheLineRoundTrip",
      "SubmitTo round trip, spinning", "cache line RT", "round trip",
      metric="time", targets=[("ratio", "<=", 3)], headline=True,
      kind="limit"),
    P("mesh", "BM_SubmitToRoundTripSpinningIoInFlight",
      "BM_CacheLineRoundTrip",
      "SubmitTo round trip, spinning, I/O in flight", "cache line RT",
      "round trip", metric="time", kind="limit"),
    P("mesh", "BM_SubmitToRoundTripSpinningIoInFlightNoTaskrunFlag",
      "BM_SubmitToRoundTripSpinningIoInFlight",
      "the same without TASKRUN_FLAG (a syscall a poll)",
      "with TASKRUN_FLAG", "round trip", metric="time", kind="limit"),
    P("mesh", "BM_SpawnOnRoundTripSpinning", "BM_CacheLineRoundTrip",
      "SpawnOn round trip, spinning", "cache line RT", "round trip",
      metric="time", kind="limit"),
    P("mesh", "BM_SubmitToRoundTripParked", "BM_EventfdWakeRoundTrip",
      "SubmitTo round trip to a parked shard (futex wake)",
      "eventfd wake RT", "round trip",
      metric="time", targets=[("ratio", "<=", 1)], kind="limit"),
    P("mesh", "BM_SubmitToRoundTripParked",
      "BM_EventfdWakeRoundTripSpinningRequester",
      "SubmitTo round trip to a parked shard (futex wake)",
      "eventfd wake, requester spinning", "round trip", metric="time",
      kind="limit"),
    P("mesh", "BM_SubmitToRoundTripParkedIoInFlight",
      "BM_EventfdWakeRoundTripSpinningRequester",
      "the same, I/O in flight (MSG_RING wake)",
      "eventfd wake, requester spinning", "round trip", metric="time",
      kind="limit"),
    P("mesh", "BM_SubmitToRoundTripParkedIoInFlightEventfdWake",
      "BM_EventfdWakeRoundTripSpinningRequester",
      "the same, I/O in flight, eventfd wake",
      "eventfd wake, requester spinning", "round trip", metric="time",
      kind="limit"),
    P("mesh", "BM_SubmitToRoundTripBothParked", "BM_EventfdWakeRoundTrip",
      "SubmitTo round trip, both shards parked (futex)",
      "eventfd wake RT", "round trip", metric="time", kind="limit"),
    # driver_benchmark.cc
    P("driver", "BM_DriverNop", "BM_RawUringNop",
      "NOPs through the driver", "bare liburing", "NOPs/s",
      targets=[("ratio", ">=", 0.5)], headline=True, kind="limit"),
    P("driver", "BM_DriverNopSpawnEach", "BM_RawUringNop",
      "NOPs, a task spawned per NOP", "bare liburing", "NOPs/s",
      kind="limit"),
    # buffer_benchmark.cc
    P("buffers", "BM_BuddyAllocFree/4096", "BM_MallocFree/4096",
      "BuddyPool, 4 KB", "malloc/free", "pairs/s"),
    P("buffers", "BM_HybridAllocFree/4096", "BM_MallocFree/4096",
      "HybridPool, 4 KB", "malloc/free", "pairs/s", headline=True),
    P("buffers", "BM_HybridTryAllocateFree/4096", "BM_MallocFree/4096",
      "HybridPool TryAllocate, 4 KB", "malloc/free", "pairs/s"),
    P("buffers", "BM_BuddyAllocFree/65536", "BM_MallocFree/65536",
      "BuddyPool, 64 KB", "malloc/free", "pairs/s"),
    P("buffers", "BM_HybridAllocFree/65536", "BM_MallocFree/65536",
      "HybridPool, 64 KB", "malloc/free", "pairs/s"),
    # net_benchmark.cc: BM_<Server>Echo_<size>_<conns>/<size>/<conns>.
    P("net", "BM_VeloqEcho_64B_1/64/1", "BM_EpollEcho_64B_1/64/1",
      "echo 64 B, 1 connection", "epoll", "round trips/s"),
    P("net", "BM_VeloqEcho_64B_64/64/64", "BM_EpollEcho_64B_64/64/64",
      "echo 64 B, 64 connections", "epoll", "round trips/s",
      targets=[("ratio", ">=", 1.2)], headline=True),
    P("net", "BM_VeloqEcho_16KB_1/16384/1", "BM_EpollEcho_16KB_1/16384/1",
      "echo 16 KB, 1 connection", "epoll", "round trips/s"),
    P("net", "BM_VeloqEcho_16KB_64/16384/64", "BM_EpollEcho_16KB_64/16384/64",
      "echo 16 KB, 64 connections", "epoll", "round trips/s",
      targets=[("ratio", ">=", 1.2)]),
    P("net", "BM_VeloqEchoZc_4KB_1/4096/1/1", "BM_VeloqEchoCopy_4KB_1/4096/1/0",
      "SEND_ZC vs copy, 4 KB", "copy send", "round trips/s",
      kind="variant"),
    P("net", "BM_VeloqEchoZc_16KB_1/16384/1/1",
      "BM_VeloqEchoCopy_16KB_1/16384/1/0", "SEND_ZC vs copy, 16 KB",
      "copy send", "round trips/s", kind="variant"),
    P("net", "BM_VeloqEchoZc_64KB_1/65536/1/1",
      "BM_VeloqEchoCopy_64KB_1/65536/1/0", "SEND_ZC vs copy, 64 KB",
      "copy send", "round trips/s", kind="variant"),
    P("net", "BM_VeloqEchoZc_256KB_1/262144/1/1",
      "BM_VeloqEchoCopy_256KB_1/262144/1/0", "SEND_ZC vs copy, 256 KB",
      "copy send", "round trips/s", kind="variant"),
    # log_benchmark.cc: lines/s summed over the threads.
    P("log", "BM_VeloqLog/threads:1", "BM_SpdlogFileSinkMt/threads:1",
      "log, 1 thread", "spdlog file sink", "lines/s"),
    P("log", "BM_VeloqLog/threads:1", "BM_SpdlogConsoleSinkMt/threads:1",
      "log, 1 thread", "spdlog console sink", "lines/s"),
    P("log", "BM_VeloqLog/threads:1", "BM_SpdlogAsync/threads:1",
      "log, 1 thread", "spdlog async", "lines/s"),
    P("log", "BM_VeloqLog/threads:2", "BM_SpdlogFileSinkMt/threads:2",
      "log, 2 threads", "spdlog file sink", "lines/s", headline=True),
    P("log", "BM_VeloqLog/threads:2", "BM_SpdlogConsoleSinkMt/threads:2",
      "log, 2 threads", "spdlog console sink", "lines/s"),
    P("log", "BM_VeloqLog/threads:2", "BM_SpdlogAsync/threads:2",
      "log, 2 threads", "spdlog async", "lines/s"),
    P("log", "BM_VeloqLog/threads:1", "BM_WriteSyscall/threads:1",
      "log, 1 thread", "bare write(2)", "lines/s", kind="limit"),
    P("log", "BM_VeloqLogDisabled/threads:1", "BM_SpdlogDisabled/threads:1",
      "filtered call, 1 thread", "spdlog", "calls/s"),
    P("log", "BM_VeloqLogDisabled/threads:2", "BM_SpdlogDisabled/threads:2",
      "filtered call, 2 threads", "spdlog", "calls/s"),
    # metrics_benchmark.cc
    P("metrics", "BM_CounterInc", "BM_AtomicCounterInc",
      "Counter::Inc", "shared atomic fetch_add", "incs/s"),
]

# Targets on single benchmarks with no peer (docs/runtime.md).
SINGLE_TARGETS = {
    "BM_SpawnJoinLocal": ("time", "<=", 50.0),  # ns: >= 20 M spawn+join/s
}

# fio_compare.sh's table rows, and the target from docs/fs.md.
FIO_ROWS = [
    ("randread", "randread 4 KB QD32", "4 KB random reads, O_DIRECT, QD 32",
     "IOPS", [("ratio", ">=", 0.9)]),
    ("seqwrite", "seqwrite 1 MB x4", "1 MB sequential writes, O_DIRECT, 4 in"
     " flight", "MiB/s", []),
]

KV_TESTS = ["SET -P1", "GET -P1", "SET -P16", "GET -P16"]

# The shard-count sweep (report.sh --scaling "1 2 4"): the binary runs with
# VELOQ_BENCH_SHARDS=N and writes scaling/<binary>_<N>.json.
# (binary, label, ours, peer or None, unit, fewest shards it runs at).
SCALING_CASES = [
    ("actor_benchmark", "Counting", "BM_Veloq_Counting", "BM_Caf_Counting",
     "msgs/s", 1),
    ("actor_benchmark", "Big", "BM_Veloq_Big", "BM_Caf_Big", "msgs/s", 1),
    ("actor_benchmark", "ThreadRing", "BM_Veloq_ThreadRing",
     "BM_Caf_ThreadRing", "hops/s", 1),
    ("actor_benchmark", "ForkJoinCreation", "BM_Veloq_ForkJoinCreation",
     "BM_Caf_ForkJoinCreation", "actors/s", 1),
    ("actor_benchmark", "PingPong across shards",
     "BM_Veloq_PingPongCrossShard", "BM_Caf_PingPong", "msgs/s", 2),
    ("mesh_benchmark", "all-to-all", "BM_MeshAllToAll", None, "msgs/s", 2),
]
SCALING_BINARIES = ["actor_benchmark", "mesh_benchmark"]

# How each binary picks its shard count, for the scaling section.
SHARD_COUNTS = [
    (["actor_benchmark"], "`VELOQ_BENCH_SHARDS=N` runs the Veloq cases on N "
     "shards (default 2, as in the tables above) and CAF's scheduler on N "
     "threads (default CAF's own, max(4, cores)); the sweep sets it"),
    (["mesh_benchmark"], "`BM_MeshAllToAll` takes `VELOQ_BENCH_SHARDS` "
     "(default one shard per core); the other cases use one or two shards "
     "or pinned threads, by design"),
    (["runtime_benchmark", "driver_benchmark", "net_benchmark"], "one "
     "shard, by design (per-shard costs)"),
    (["metrics_benchmark"], "`BM_ScrapeAll2Shards`: 2 shards, fixed"),
]

# --- Reading results ------------------------------------------------------------

_RUN_OPTIONS = re.compile(
    r"/(real_time|process_time|manual_time|iterations:\d+|repeats:\d+|"
    r"min_time:[0-9.]+s?|min_warmup_time:[0-9.]+s?)(?=/|$)")

_TIME_UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}


def NormalizeName(name):
  """'BM_X/64/real_time/threads:2' -> 'BM_X/64/threads:2'."""
  return _RUN_OPTIONS.sub("", name)


class Series:
  """The repetitions of one benchmark case."""

  def __init__(self, key, binary):
    self.key = key
    self.binary = binary
    self.rates = []  # items (or iterations) per second, one per repetition
    self.times_ns = []  # real time per iteration, one per repetition
    self.has_items = False
    self.errors = []

  def values(self, metric):
    return self.rates if metric == "rate" else self.times_ns


def LoadGbench(path, binary=None, into=None):
  """Reads one --benchmark_out JSON file into {key: Series}.

  Only "iteration" entries count (one per repetition); Google Benchmark's
  mean/median/stddev/cv aggregates are ignored and recomputed. Returns
  (series, context).
  """
  binary = binary or os.path.splitext(os.path.basename(path))[0]
  series = {} if into is None else into
  with open(path) as f:
    doc = json.load(f)
  for b in doc.get("benchmarks", []):
    if b.get("run_type", "iteration") != "iteration":
      continue
    key = NormalizeName(b.get("run_name") or b["name"])
    s = series.get(key)
    if s is None:
      s = series[key] = Series(key, binary)
    if b.get("error_occurred"):
      s.errors.append(b.get("error_message", "error"))
      continue
    t = float(b["real_time"]) * _TIME_UNIT_NS.get(b.get("time_unit", "ns"), 1)
    s.times_ns.append(t)
    if "items_per_second" in b:
      s.has_items = True
      s.rates.append(float(b["items_per_second"]))
    elif t > 0:
      s.rates.append(1e9 / t)
  return series, doc.get("context", {})


def ParseFio(text):
  """fio_compare.sh output -> {'randread': (fio, ours), 'seqwrite': ...}."""
  out = {}
  for key, prefix, _, _, _ in FIO_ROWS:
    m = re.search(r"^\|\s*" + re.escape(prefix) + r"[^|]*\|\s*([0-9.]+)\s*\|"
                  r"\s*([0-9.]+)\s*\|", text, re.M)
    if m:
      out[key] = (float(m.group(1)), float(m.group(2)))
  return out


def ParseKv(text):
  """kv_vs_redis.sh output -> (shards, redis_version, {test: (kv, redis)})."""
  shards = version = None
  m = re.search(r"kv_server \((\d+) shards?\) vs redis-server (\S+?),", text)
  if m:
    shards, version = int(m.group(1)), m.group(2)
  rows = {}
  for m in re.finditer(r"^((?:SET|GET) -P\d+)\s+([0-9.]+)\s+([0-9.]+)\s+"
                       r"[0-9.]+x\s*$", text, re.M):
    rows[m.group(1)] = (float(m.group(2)), float(m.group(3)))
  return shards, version, rows


def ReadKeyValues(path):
  kv = {}
  if os.path.exists(path):
    with open(path) as f:
      for line in f:
        line = line.rstrip("\n")
        if "=" in line:
          k, v = line.split("=", 1)
          kv[k.strip()] = v.strip()
  return kv


class Results:
  """Everything one run produced."""

  def __init__(self):
    self.machine = {}
    self.series = {}  # key -> Series
    self.contexts = {}  # binary -> Google Benchmark context
    self.fio = []  # one dict per run
    self.kv = {}  # shards -> list of {test: (kv, redis)}
    self.scaling = {}  # binary -> {shards: {key: Series}}
    self.redis_version = None
    self.notes = []


def LoadResults(d):
  r = Results()
  r.machine = ReadKeyValues(os.path.join(d, "machine.txt"))
  gdir = os.path.join(d, "gbench")
  if os.path.isdir(gdir):
    for name in sorted(os.listdir(gdir)):
      if not name.endswith(".json"):
        continue
      binary = name[:-len(".json")]
      try:
        _, ctx = LoadGbench(os.path.join(gdir, name), binary, r.series)
        r.contexts[binary] = ctx
      except (ValueError, KeyError, OSError) as e:
        r.notes.append("%s: unreadable JSON (%s)" % (name, e))
  sdir = os.path.join(d, "scaling")
  if os.path.isdir(sdir):
    for name in sorted(os.listdir(sdir)):
      m = re.match(r"^(.+)_(\d+)\.json$", name)
      if not m:
        continue
      try:
        series, _ = LoadGbench(os.path.join(sdir, name), m.group(1))
      except (ValueError, KeyError, OSError) as e:
        r.notes.append("scaling/%s: unreadable JSON (%s)" % (name, e))
        continue
      r.scaling.setdefault(m.group(1), {})[int(m.group(2))] = series
  fdir = os.path.join(d, "fio")
  if os.path.isdir(fdir):
    for name in sorted(os.listdir(fdir)):
      with open(os.path.join(fdir, name)) as f:
        parsed = ParseFio(f.read())
      if parsed:
        r.fio.append(parsed)
      else:
        r.notes.append("fio/%s: no result table in the output" % name)
  kdir = os.path.join(d, "kv")
  if os.path.isdir(kdir):
    for name in sorted(os.listdir(kdir)):
      with open(os.path.join(kdir, name)) as f:
        shards, version, rows = ParseKv(f.read())
      if shards is None or not rows:
        r.notes.append("kv/%s: no result table in the output" % name)
        continue
      r.redis_version = r.redis_version or version
      r.kv.setdefault(shards, []).append(rows)
  npath = os.path.join(d, "notes.txt")
  if os.path.exists(npath):
    with open(npath) as f:
      r.notes.extend(l.strip() for l in f if l.strip())
  return r


# --- Statistics and comparisons ------------------------------------------------


def Stats(values):
  """(min, median, max) of a non-empty list; None for an empty one."""
  if not values:
    return None
  return (min(values), statistics.median(values), max(values))


# A series whose max is over this many times its min ran in more than one
# speed of the machine (the shared VMs change phase mid-run): its median
# and any ratio built on it are flagged, not trusted.
UNSTEADY_SPREAD = 2.0


def Unsteady(t):
  """True if a (min, median, max) triple spreads over UNSTEADY_SPREAD×."""
  return t is not None and t[0] > 0 and t[2] / t[0] > UNSTEADY_SPREAD


def Ratio(ours, peer):
  if ours is None or peer is None or peer[1] == 0:
    return None
  return ours[1] / peer[1]


_OPS = {">=": (lambda a, b: a >= b, "≥"), "<=": (lambda a, b: a <= b, "≤")}


def CheckTargets(targets, ratio, ours_median, unit="", metric="rate"):
  """-> (text, met) where met is True, False or None (no target)."""
  if not targets:
    return "", None
  parts, met = [], True
  for what, op, x in targets:
    fn, sym = _OPS[op]
    if what == "ratio":
      value, shown = ratio, "%s %s×" % (sym, FormatNumber(x))
    else:
      value = ours_median
      shown = "%s %s" % (sym, FormatValue(x, unit, metric))
    parts.append(shown)
    if value is None or not fn(value, x):
      met = False
  return " and ".join(parts), met


class Row:
  """One comparison: ours beside a peer or limit, both min/median/max."""

  def __init__(self, area, label, ours_name, peer_name, unit, metric, ours,
               peer, targets=(), headline=False, kind="peer", ours_key="",
               peer_key=""):
    self.area, self.label = area, label
    self.ours_name, self.peer_name = ours_name, peer_name
    self.unit, self.metric = unit, metric
    self.ours, self.peer = ours, peer  # (min, median, max) or None
    self.ratio = Ratio(ours, peer)
    self.target_text, self.met = CheckTargets(
        targets, self.ratio, ours[1] if ours else None, unit, metric)
    self.headline, self.kind = headline, kind
    self.ours_key, self.peer_key = ours_key, peer_key
    self.short = label  # for plots


def GbenchRows(results):
  rows, missing = [], []
  for p in PAIRS:
    o, q = results.series.get(p["ours"]), results.series.get(p["peer"])
    if o is None or q is None:
      missing.append(p)
      continue
    rows.append(Row(p["area"], p["label"], "Veloq", p["peer_name"], p["unit"],
                    p["metric"], Stats(o.values(p["metric"])),
                    Stats(q.values(p["metric"])), p["targets"], p["headline"],
                    p["kind"], p["ours"], p["peer"]))
  return rows, missing


def FioRows(results):
  rows = []
  for key, prefix, label, unit, targets in FIO_ROWS:
    runs = [r[key] for r in results.fio if key in r]
    if not runs:
      continue
    rows.append(Row("files", label, "Veloq", "fio", unit, "rate",
                    Stats([o for _, o in runs]), Stats([f for f, _ in runs]),
                    targets, headline=True))
    rows[-1].short = prefix
  return rows


def KvRows(results):
  """One row per (shards, test); the headline gets the fewest and most."""
  rows = []
  ends = {min(results.kv), max(results.kv)} if results.kv else set()
  for shards in sorted(results.kv):
    runs = results.kv[shards]
    for test in KV_TESTS:
      pairs = [r[test] for r in runs if test in r]
      if not pairs:
        continue
      label = "%s, %d shard%s" % (test, shards, "" if shards == 1 else "s")
      rows.append(Row("kv", label, "kv_server", "redis", "ops/s", "rate",
                      Stats([k for k, _ in pairs]),
                      Stats([r for _, r in pairs]), headline=shards in ends))
      rows[-1].shards, rows[-1].test = shards, test
  return rows


class ScalingRow:
  """One case of the sweep at one shard count."""

  def __init__(self, shards, ours, peer):
    self.shards = shards
    self.ours, self.peer = ours, peer  # (min, median, max) items/s, or None
    self.ratio = Ratio(ours, peer)


def ScalingRows(results):
  """{label: [ScalingRow, ...] by shard count} for the cases that ran."""
  out = {}
  for binary, label, ours, peer, _, _ in SCALING_CASES:
    rows = []
    for shards, series in sorted(results.scaling.get(binary, {}).items()):
      o = series.get(ours)
      q = series.get(peer) if peer else None
      if o is None and q is None:
        continue
      rows.append(ScalingRow(shards, Stats(o.rates) if o else None,
                             Stats(q.rates) if q else None))
    if rows:
      out[label] = rows
  return out


def ScalingGaps(results):
  """What the sweep lacks: one line per binary with no result at a shard
  count it runs at (the counts report.sh asked for, from machine.txt), with
  the notes that say why when it did not run at all."""
  asked = sorted({int(n) for n in results.machine.get("scaling", "").split()
                  if n.isdigit()})
  # (name, {shards: results}, fewest shards it runs at, its notes' prefixes)
  sweeps = [(b, results.scaling.get(b, {}),
             min(c[5] for c in SCALING_CASES if c[0] == b),
             (b + " shard sweep", "scaling/%s_" % b))
            for b in SCALING_BINARIES]
  sweeps.append(("kv_server", results.kv, 1,
                 ("redis comparison", "kv_vs_redis.sh")))
  gaps = []
  for name, have, fewest, prefixes in sweeps:
    if not have:
      why = [n for n in results.notes if n.startswith(prefixes)]
      gaps.append("`%s`: not run%s" % (
          name, " (%s)" % "; ".join(why) if why else ""))
      continue
    lacking = [n for n in asked if n >= fewest and n not in have]
    if lacking:
      gaps.append("`%s`: no results at %s shard%s" % (
          name, ", ".join(str(n) for n in lacking),
          "" if lacking == [1] else "s"))
  return gaps


# --- Formatting -------------------------------------------------------------------


def _Decimals(x):
  x = abs(x)
  return 0 if x >= 100 else 1 if x >= 10 else 2


def FormatNumber(x):
  """3 significant digits, no exponent: 0.1, 24.1, 249, 1230."""
  if x == 0:
    return "0"
  if abs(x) >= 1000:
    return "%.0f" % x
  if abs(x) < 0.01:
    return "%.2g" % x
  s = "%.*f" % (_Decimals(x), x)
  return s.rstrip("0").rstrip(".") if "." in s else s


_SI = [(1e9, "G"), (1e6, "M"), (1e3, "k"), (1, "")]


# Units that already carry a scale: printed as they are.
_NO_PREFIX_UNITS = ("MiB/s",)


def _SiScale(x, unit=""):
  if unit in _NO_PREFIX_UNITS:
    return 1, ""
  for scale, prefix in _SI:
    if abs(x) >= scale:
      return scale, prefix
  return 1, ""


def _TimeScale(ns):
  for scale, unit in [(1e9, "s"), (1e6, "ms"), (1e3, "µs")]:
    if abs(ns) >= scale:
      return scale, unit
  return 1, "ns"


def FormatValue(x, unit, metric="rate", compact=False):
  """24.1 M msgs/s, 1.42 µs; compact: 24.1M."""
  if metric == "time":
    scale, u = _TimeScale(x)
    return "%.*f %s" % (_Decimals(x / scale), x / scale, u)
  scale, prefix = _SiScale(x, unit)
  num = "%.*f" % (_Decimals(x / scale), x / scale)
  if compact:
    return num + prefix
  return " ".join(p for p in (num, prefix, unit) if p)


def FormatTriple(t, unit, metric="rate"):
  """min / median / max with one scale, picked from the median."""
  if t is None:
    return "—"
  if metric == "time":
    scale, u = _TimeScale(t[1])
    d = _Decimals(t[1] / scale)
    return "%s %s" % (" / ".join("%.*f" % (d, v / scale) for v in t), u)
  scale, prefix = _SiScale(t[1], unit)
  d = _Decimals(t[1] / scale)
  nums = " / ".join("%.*f" % (d, v / scale) for v in t)
  return " ".join(p for p in (nums, prefix, unit) if p)


def FormatRatio(r, missed=False):
  """missed: a target was missed, so show enough digits to tell (0.4997×)."""
  if r is None:
    return "—"
  if missed and 0 < r < 100:
    return "%.*f×" % (max(0, 3 - math.floor(math.log10(r))), r)
  if r >= 100:
    return "%.0f×" % r
  if r >= 10:
    return "%.1f×" % r
  if r >= 1:
    return "%.2f×" % r
  return "%.3f×" % r  # 0.498×, not a 0.50× that reads as meeting ≥ 0.5×


def TargetCell(row):
  if row.met is None:
    return ""
  return "%s: %s" % (row.target_text, "met" if row.met else "**missed**")


# --- SVG -------------------------------------------------------------------------

OURS_COLOR = "#2b6cb0"
PEER_COLOR = "#a0aec0"
MET_COLOR = "#2f855a"
MISSED_COLOR = "#c53030"
SERIES_COLORS = ["#2b6cb0", "#dd6b20", "#2f855a", "#805ad5", "#c53030",
                 "#718096"]


class Svg:
  """A tiny SVG writer: rectangles, lines, polylines, circles and text."""

  def __init__(self, width):
    self.width = width
    self.items = []

  def rect(self, x, y, w, h, fill, title=None):
    t = "<title>%s</title>" % escape(title) if title else ""
    self.items.append('<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" '
                      'fill="%s">%s</rect>' % (x, y, max(w, 0.5), h, fill, t))

  def line(self, x1, y1, x2, y2, stroke="#4a5568", width=1, dash=None):
    d = ' stroke-dasharray="%s"' % dash if dash else ""
    self.items.append('<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" '
                      'stroke="%s" stroke-width="%s"%s/>' %
                      (x1, y1, x2, y2, stroke, width, d))

  def polyline(self, points, stroke, width=2, dash=None):
    d = ' stroke-dasharray="%s"' % dash if dash else ""
    pts = " ".join("%.1f,%.1f" % p for p in points)
    self.items.append('<polyline points="%s" fill="none" stroke="%s" '
                      'stroke-width="%s"%s/>' % (pts, stroke, width, d))

  def circle(self, cx, cy, r, fill):
    self.items.append('<circle cx="%.1f" cy="%.1f" r="%s" fill="%s"/>' %
                      (cx, cy, r, fill))

  def text(self, x, y, s, size=11, anchor="start", weight=None,
           fill="#1a202c", rotate=None):
    w = ' font-weight="%s"' % weight if weight else ""
    r = ' transform="rotate(%s %.1f %.1f)"' % (rotate, x, y) if rotate else ""
    self.items.append('<text x="%.1f" y="%.1f" font-size="%s" '
                      'text-anchor="%s" fill="%s"%s%s>%s</text>' %
                      (x, y, size, anchor, fill, w, r, escape(str(s))))

  def render(self, height):
    return ('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" '
            'viewBox="0 0 %d %d" font-family="Helvetica, Arial, sans-serif">'
            '\n<rect width="100%%" height="100%%" fill="white"/>\n%s\n</svg>\n'
            % (self.width, height, self.width, height, "\n".join(self.items)))


def NiceStep(span, ticks=5):
  raw = span / max(ticks, 1)
  mag = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
  for m in (1, 2, 2.5, 5, 10):
    if raw <= m * mag:
      return m * mag
  return 10 * mag


class Axis:
  """Maps values to x (or y) pixels, linear from 0 or log10; gives ticks.

  log10 when the largest value is more than `log_above` times the smallest.
  """

  def __init__(self, lo_px, hi_px, values, log_above=20):
    values = [v for v in values if v is not None and v > 0] or [1]
    vmin, vmax = min(values), max(values)
    self.log = vmax / vmin > log_above
    self.lo_px, self.hi_px = lo_px, hi_px
    if self.log:
      self.lo = 10 ** math.floor(math.log10(vmin))
      self.hi = 10 ** math.ceil(math.log10(vmax))
      if self.hi <= self.lo:
        self.hi = self.lo * 10
      self.ticks = []
      t = self.lo
      while t <= self.hi * 1.0001:
        self.ticks.append(t)
        t *= 10
    else:
      step = NiceStep(vmax * 1.05)
      self.lo, self.hi = 0.0, step * math.ceil(vmax * 1.05 / step)
      n = int(round(self.hi / step))
      self.ticks = [i * step for i in range(n + 1)]

  def __call__(self, v):
    if self.log:
      v = max(v, self.lo)
      f = (math.log10(v) - math.log10(self.lo)) / (
          math.log10(self.hi) - math.log10(self.lo))
    else:
      f = (v - self.lo) / (self.hi - self.lo) if self.hi > self.lo else 0
    return self.lo_px + f * (self.hi_px - self.lo_px)


def TickLabel(v, metric, unit=""):
  if metric == "time":
    scale, u = _TimeScale(v)
    return "%s %s" % (FormatNumber(v / scale), u)
  if v == 0:
    return "0"
  scale, prefix = _SiScale(v, unit)
  return FormatNumber(v / scale) + prefix


def BarChartSvg(title, panels, ours_name="Veloq (ours)",
                peer_legend="peer / limit"):
  """Grouped horizontal bars, one group per comparison.

  panels: [{"title": str, "metric": "rate"|"time", "unit": str,
            "rows": [Row, ...]}]; each panel has its own axis (one unit).
  """
  width, label_w, plot_x0, plot_x1 = 780, 250, 260, 600
  svg = Svg(width)
  svg.text(12, 22, title, size=15, weight="bold")
  svg.rect(plot_x0, 32, 12, 10, OURS_COLOR)
  svg.text(plot_x0 + 16, 41, ours_name)
  svg.rect(plot_x0 + 130, 32, 12, 10, PEER_COLOR)
  svg.text(plot_x0 + 146, 41, peer_legend)
  y = 56
  bar_h, gap, group_gap = 13, 2, 12
  for panel in panels:
    rows = [r for r in panel["rows"] if r.ours and r.peer]
    if not rows:
      continue
    metric = panel.get("metric", "rate")
    better = "lower is better" if metric == "time" else "higher is better"
    svg.text(12, y + 12, "%s (%s; %s)" % (panel["title"], panel["unit"],
                                          better), size=12, weight="bold")
    y += 22
    axis = Axis(plot_x0, plot_x1, [v for r in rows for v in (r.ours[1],
                                                               r.peer[1])])
    top = y
    bottom = top + len(rows) * (2 * bar_h + gap + group_gap) - group_gap + 4
    for t in axis.ticks:  # grid first, under the bars and their labels
      svg.line(axis(t), top - 2, axis(t), bottom, stroke="#e2e8f0")
    for r in rows:
      for i, (val, name, color) in enumerate(
          [(r.ours[1], r.ours_name, OURS_COLOR),
           (r.peer[1], r.peer_name, PEER_COLOR)]):
        by = y + i * (bar_h + gap)
        x1 = axis(val)
        svg.rect(plot_x0, by, x1 - plot_x0, bar_h, color,
                 title="%s: %s" % (name, FormatValue(val, r.unit, metric)))
        svg.text(x1 + 4, by + bar_h - 3, "%s %s" % (
            FormatValue(val, r.unit, metric, compact=True), name), size=10,
                 fill="#4a5568")
      short = r.short if len(r.short) <= 40 else r.short[:39] + "…"
      svg.text(label_w, y + bar_h - 2, short, anchor="end")
      color = {True: MET_COLOR, False: MISSED_COLOR}.get(r.met, "#1a202c")
      rt = FormatRatio(r.ratio, r.met is False) + (
          " the time" if metric == "time" else "")
      if r.met is not None:  # the ratio's own target; the table has all
        first = r.target_text.split(" and ")[0]
        rt += " (target %s%s)" % (first, "" if first == r.target_text
                                  else ", …")
      svg.text(label_w, y + 2 * bar_h + gap - 2, rt, size=10,
               anchor="end", weight="bold", fill=color)
      y += 2 * bar_h + gap + group_gap
    for t in axis.ticks:
      x = axis(t)
      svg.line(x, bottom, x, bottom + 4)
      svg.text(x, bottom + 15, TickLabel(t, metric, panel["unit"]), size=10,
               anchor="middle")
    svg.line(plot_x0, bottom, plot_x1, bottom)
    svg.line(plot_x0, top - 2, plot_x0, bottom)
    scale = "log scale" if axis.log else "linear"
    svg.text(plot_x1, bottom + 28, "%s (%s)" % (panel["unit"], scale),
             size=10, anchor="end", fill="#4a5568")
    y = bottom + 40
  return svg.render(y)


def LineChartSvg(title, series, xlabel, ylabel, metric="rate"):
  """series: [(name, [(x, y), ...], dashed, color or None)] -> SVG text.

  x is linear, or log2 when every x is positive and they span 8× or more
  (shard counts 1, 2, 4, ... 16); y is linear from 0, or log10 when the
  values span more than 5×, so that a line far below another keeps its
  shape.
  """
  width, height = 700, 380
  x0, x1, y0, y1 = 80, 500, 330, 50  # plot box: y0 is the bottom
  svg = Svg(width)
  svg.text(12, 22, title, size=15, weight="bold")
  xs = sorted({x for _, pts, _, _ in series for x, _ in pts}) or [1]
  ys = [y for _, pts, _, _ in series for _, y in pts] or [1]
  log2 = xs[0] > 0 and xs[-1] / xs[0] >= 8
  f = math.log2 if log2 else (lambda v: v)
  xlo, xhi = f(xs[0]), f(xs[-1])
  if xhi == xlo:
    xlo, xhi = xlo - 1, xhi + 1

  def X(v):
    return x0 + (f(v) - xlo) / (xhi - xlo) * (x1 - x0)

  Y = Axis(y0, y1, ys, log_above=5)
  for t in Y.ticks:
    svg.line(x0, Y(t), x1, Y(t), stroke="#e2e8f0")
    svg.text(x0 - 6, Y(t) + 4, TickLabel(t, metric), size=10, anchor="end")
  for x in xs:
    svg.line(X(x), y0, X(x), y0 + 4)
    svg.text(X(x), y0 + 16, FormatNumber(x), size=10, anchor="middle")
  svg.line(x0, y0, x1, y0)
  svg.line(x0, y0, x0, y1)
  svg.text((x0 + x1) / 2, y0 + 36, xlabel + (" (log scale)" if log2 else ""),
           size=11, anchor="middle")
  svg.text(18, (y0 + y1) / 2, ylabel + (" (log scale)" if Y.log else ""),
           size=11, anchor="middle", rotate=-90)
  ly = y1
  for i, (name, pts, dashed, color) in enumerate(series):
    color = color or SERIES_COLORS[i % len(SERIES_COLORS)]
    pts = sorted(pts)
    dash = "5,4" if dashed else None
    if len(pts) > 1:
      svg.polyline([(X(x), Y(y)) for x, y in pts], color, dash=dash)
    for x, y in pts:
      svg.circle(X(x), Y(y), 3, color)
    svg.line(x1 + 20, ly, x1 + 44, ly, stroke=color, width=2, dash=dash)
    svg.text(x1 + 50, ly + 4, name, size=11)
    ly += 18
  return svg.render(height)


# --- Markdown ----------------------------------------------------------------------


def ComparisonTable(rows, with_area=False):
  out = ["| comparison | ours (min / median / max) | peer or limit "
         "(min / median / max) | ratio | target |",
         "| --- | --- | --- | --- | --- |"]
  for r in rows:
    ratio = FormatRatio(r.ratio, r.met is False)
    if r.ratio is not None:
      ratio += " the time" if r.metric == "time" else ""
      if Unsteady(r.ours) or Unsteady(r.peer):
        ratio += " (unsteady)"
    label = r.label
    if r.ours_key:
      label += " (`%s`)" % r.ours_key
    peer = "%s: %s" % (r.peer_name, FormatTriple(r.peer, r.unit, r.metric))
    out.append("| %s | %s | %s | %s | %s |" % (
        label, FormatTriple(r.ours, r.unit, r.metric), peer, ratio,
        TargetCell(r)))
  return out


def UnpairedTable(results, paired_keys):
  out = ["| benchmark | binary | items/s (min / median / max) | time per "
         "iteration (min / median / max) | target |",
         "| --- | --- | --- | --- | --- |"]
  n = 0
  for key in sorted(results.series, key=lambda k: (results.series[k].binary,
                                                   k)):
    if key in paired_keys:
      continue
    s = results.series[key]
    rate = FormatTriple(Stats(s.rates), "") if s.has_items else "—"
    time = FormatTriple(Stats(s.times_ns), "", "time")
    target = ""
    if key in SINGLE_TARGETS and s.times_ns:
      metric, op, x = SINGLE_TARGETS[key]
      t = Stats(s.values(metric))
      text, met = CheckTargets([("ours", op, x)], None, t[1], "", metric)
      target = "%s: %s" % (text, "met" if met else "**missed**")
    if s.errors and not s.times_ns:
      time = "error: %s" % s.errors[0]
    out.append("| `%s` | %s | %s | %s | %s |" % (key, s.binary, rate, time,
                                                 target))
    n += 1
  return out if n else []


def Plot(plots, name, svg_text):
  plots[name] = svg_text
  return name


def _Slug(label):
  return re.sub(r"[^a-z0-9]+", "_", label.lower()).strip("_")


def ScalingSection(results, kv_rows, plots):
  """The "Scaling with shard count" section: the actor and mesh sweep, then
  kv_server's, then what did not run and how each binary picks its count."""
  m = results.machine
  md = ["## Scaling with shard count", ""]
  rows = ScalingRows(results)
  counts = sorted({n for b in results.scaling.values() for n in b} |
                  set(results.kv))
  if not rows and len(results.kv) <= 1:
    md += ["Not run (`report.sh --scaling \"1 2 4\"` runs actor_benchmark, "
           "mesh_benchmark and kv_vs_redis.sh at each shard count).", ""]
  else:
    md += ["The sweep, at %s shards on %s cores (`report.sh --scaling`). "
           "Every figure is items/s, min / median / max over the "
           "repetitions; a ratio is median(Veloq) / median(CAF)." %
           (", ".join(str(n) for n in counts), m.get("cores", "?")), ""]

  actors = [(label, unit) for b, label, _, _, unit, _ in SCALING_CASES
            if b == "actor_benchmark" and label in rows]
  if actors:
    md += ["### Actors: Veloq vs CAF 0.17", "",
           "`actor_benchmark` with `VELOQ_BENCH_SHARDS=N`: the Veloq runtime "
           "has N shards, CAF's scheduler N threads. Counting, ThreadRing "
           "and PingPong keep their actors on shards 0 and 1 (Counting on "
           "shard 0 alone at N = 1), so more shards only add idle ones; "
           "ForkJoinCreation and Big spread over all of them. PingPong "
           "across shards needs N ≥ 2.", "",
           "| workload | shards | Veloq (min / median / max) | CAF 0.17 "
           "(min / median / max) | ratio |",
           "| --- | --- | --- | --- | --- |"]
    for label, unit in actors:
      for r in rows[label]:
        md.append("| %s | %d | %s | %s | %s |" % (
            label, r.shards, FormatTriple(r.ours, unit),
            FormatTriple(r.peer, unit), FormatRatio(r.ratio)))
    md.append("")
    for label, unit in actors:
      if len(rows[label]) < 2:
        continue
      ours = [(r.shards, r.ours[1]) for r in rows[label] if r.ours]
      peer = [(r.shards, r.peer[1]) for r in rows[label] if r.peer]
      series = [("Veloq", ours, False, OURS_COLOR),
                ("CAF 0.17", peer, True, SERIES_COLORS[1])]
      name = Plot(plots, "scaling_actors_%s.svg" % _Slug(label), LineChartSvg(
          "%s vs shards: Veloq vs CAF 0.17" % label,
          [x for x in series if x[1]],
          "shards (Veloq) = scheduler threads (CAF)", "%s (median)" % unit))
      md += ["![%s vs shards](benchmarks/%s)" % (label, name), ""]

  mesh = rows.get("all-to-all")
  if mesh:
    md += ["### Mesh: all to all", "",
           "`BM_MeshAllToAll` with `VELOQ_BENCH_SHARDS=N`: every shard sends "
           "2^20 messages spread over the others per iteration.", "",
           "| shards | messages/s, all shards (min / median / max) | per shard "
           "(median) |", "| --- | --- | --- |"]
    for r in mesh:
      md.append("| %d | %s | %s |" % (
          r.shards, FormatTriple(r.ours, "msgs/s"),
          FormatValue(r.ours[1] / r.shards, "msgs/s") if r.ours else "—"))
    md.append("")
    pts = [(r.shards, r.ours[1]) for r in mesh if r.ours]
    if len(pts) > 1:
      name = Plot(plots, "scaling_mesh_all_to_all.svg", LineChartSvg(
          "Mesh all-to-all vs shards", [
              ("all shards", pts, False, OURS_COLOR),
              ("per shard", [(n, v / n) for n, v in pts], True,
               SERIES_COLORS[2])], "shards", "msgs/s (median)"))
      md += ["![mesh all-to-all vs shards](benchmarks/%s)" % name, ""]

  if len(results.kv) > 1:
    md += ["### kv_server vs redis-server", "",
           "kv_server at %s shards on %s cores (`kv_vs_redis.sh --shards N`; "
           "redis-server is one thread, measured beside each)."
           % (", ".join(str(s) for s in sorted(results.kv)),
              m.get("cores", "?")), ""]
    for pipeline in ("16", "1"):
      series = []
      for i, op in enumerate(("SET", "GET")):
        test = "%s -P%s" % (op, pipeline)
        color = SERIES_COLORS[i]
        ours = [(r.shards, r.ours[1]) for r in kv_rows if r.test == test]
        peer = [(r.shards, r.peer[1]) for r in kv_rows if r.test == test]
        if ours:
          series.append(("kv_server " + test, ours, False, color))
          series.append(("redis " + test, peer, True, color))
      if series:
        name = Plot(plots, "scaling_kv_p%s.svg" % pipeline, LineChartSvg(
            "kv_server vs shards, redis-benchmark -c 50 -P %s" % pipeline,
            series, "kv_server shards (the client shares the cores)",
            "requests/s (median)"))
        md += ["![kv_server vs shards, -P %s](benchmarks/%s)" % (pipeline,
                                                                 name), ""]

  gaps = ScalingGaps(results)
  if gaps and (rows or len(results.kv) > 1):
    md += ["Not in this sweep:", ""] + ["- %s." % g for g in gaps] + [""]
  md += ["How each binary picks its shard count:", ""]
  md += ["- %s: %s." % (", ".join("`%s`" % b for b in binaries), why)
         for binaries, why in SHARD_COUNTS]
  md.append("")
  return md


def Generate(results, command=None):
  """-> (markdown text, {svg file name: svg text})."""
  gb_rows, missing = GbenchRows(results)
  fio_rows, kv_rows = FioRows(results), KvRows(results)
  rows = gb_rows + fio_rows + kv_rows
  by_area = {}
  for r in rows:
    by_area.setdefault(r.area, []).append(r)
  plots = {}
  m = results.machine
  md = ["# Benchmarks", ""]
  md.append("Generated by `testing/perf/report.sh` from one run: do not edit "
            "by hand, run it again. Every figure is min / median / max over "
            "the run's repetitions; a ratio is median(ours) / median(peer), "
            "both measured in the same run on the same machine (absolute "
            "numbers drift between runs on shared VMs; same-run ratios much "
            "less). The repetitions of a binary's cases run interleaved in "
            "random order, so that a machine whose speed drifts during the "
            "run weighs on ours and on the peer alike; a ratio marked "
            "(unsteady) pairs a side whose max is over %g× its min (the "
            "machine changed speed during the run), so its median says "
            "little. For throughput a ratio above 1× means ours is faster; "
            "for round-trip times it is how many times the limit's time ours "
            "takes." % UNSTEADY_SPREAD)
  md += ["", "| | |", "| --- | --- |"]
  for key, label in [("cpu", "CPU"), ("cores", "cores (nproc)"),
                     ("memory", "memory"), ("kernel", "kernel"),
                     ("os", "OS"), ("compiler", "compiler"),
                     ("date", "date"), ("commit", "commit"),
                     ("repetitions", "repetitions"), ("mode", "mode"),
                     ("load", "load average at start"),
                     ("peers", "peers")]:
    if m.get(key):
      md.append("| %s | %s |" % (label, m[key].replace("|", "\\|")))
  ctx = next(iter(results.contexts.values()), {})
  if ctx.get("library_build_type"):
    md.append("| Google Benchmark library | %s build |" %
              ctx["library_build_type"])
  cmd = command or m.get("command")
  if cmd:
    md.append("| command | `%s` |" % cmd.replace("|", "\\|"))
  md += ["", "Reproduce: `testing/perf/report.sh` or `bazel run -c opt "
         "//testing/perf:report` (builds `bazel build -c opt "
         "//testing/perf:all //samples/kv:kv_server` once, then runs every "
         "binary, the shard-count sweep, `fio_compare.sh` and "
         "`kv_vs_redis.sh`). For a machine without Bazel, "
         "`testing/perf/report.sh --bundle DIR` copies the binaries, their "
         "shared libraries and the scripts into DIR; run "
         "`DIR/testing/perf/report.sh` there. See the top of "
         "`testing/perf/report.sh` for every option.", ""]

  # Headline.
  head = [r for r in rows if r.headline]
  md += ["## Headline", ""]
  if head:
    md += ComparisonTable(head)
  else:
    md.append("No headline comparison ran.")
  md.append("")
  headline_plots = []
  area_plot = {}
  if by_area.get("actors"):
    area_plot["actors"] = Plot(plots, "actors_vs_caf.svg", BarChartSvg(
        "Actors: Veloq vs CAF 0.17 (Savina-style workloads)",
        [{"title": "workloads", "unit": "items/s", "rows":
          [r for r in by_area["actors"] if r.kind == "peer"]}],
        peer_legend="CAF 0.17"))
    headline_plots.append(("Actors vs CAF", area_plot["actors"]))
  if by_area.get("mesh"):
    mesh = by_area["mesh"]
    area_plot["mesh"] = Plot(plots, "mesh_vs_limits.svg", BarChartSvg(
        "Mesh vs the raw limits (2 pinned cores)",
        [{"title": "one-way throughput", "unit": "msgs/s", "rows":
          [r for r in mesh if r.metric == "rate"]},
         {"title": "round trip", "unit": "time per round trip",
          "metric": "time", "rows": [r for r in mesh if r.metric == "time"]}],
        peer_legend="physical limit"))
    headline_plots.append(("Mesh vs the raw limits", area_plot["mesh"]))
  if kv_rows:
    shard_counts = sorted(results.kv)
    shown = sorted({shard_counts[0], shard_counts[-1]})
    area_plot["kv"] = Plot(plots, "kv_vs_redis.svg", BarChartSvg(
        "kv_server vs redis-server %s (redis-benchmark -c 50)" %
        (results.redis_version or ""),
        [{"title": "%d shard%s" % (s, "" if s == 1 else "s"),
          "unit": "ops/s", "rows": [r for r in kv_rows if r.shards == s]}
         for s in shown], ours_name="kv_server", peer_legend="redis-server"))
    headline_plots.append(("KV vs Redis", area_plot["kv"]))
  if fio_rows:
    area_plot["files"] = Plot(plots, "file_vs_fio.svg", BarChartSvg(
        "Files: io::File on one shard vs fio --ioengine=io_uring",
        [{"title": r.label, "unit": r.unit, "rows": [r]} for r in fio_rows],
        peer_legend="fio"))
    headline_plots.append(("File I/O vs fio", area_plot["files"]))
  if by_area.get("net"):
    echo = [r for r in by_area["net"] if r.kind != "variant"]
    area_plot["net"] = Plot(plots, "echo_vs_epoll.svg", BarChartSvg(
        "TCP echo, one server thread: Veloq vs plain epoll",
        [{"title": "echo", "unit": "round trips/s", "rows": echo}],
        peer_legend="epoll echo"))
    headline_plots.append(("Echo vs epoll", area_plot["net"]))
  for area, title, unit in [("driver", "NOPs", "NOPs/s"),
                            ("buffers", "alloc + free", "pairs/s"),
                            ("log", "lines to /dev/null", "lines/s")]:
    if by_area.get(area):
      rate_rows = [r for r in by_area[area] if r.metric == "rate" and
                   "filtered" not in r.label]
      area_plot[area] = Plot(plots, "%s.svg" % area, BarChartSvg(
          dict((a, t) for a, t, _ in AREAS)[area],
          [{"title": title, "unit": unit, "rows": rate_rows}]))
  for title, name in headline_plots:
    md += ["![%s](benchmarks/%s)" % (title, name), ""]

  # Per area.
  for area, title, binary in AREAS:
    if not by_area.get(area):
      continue
    md += ["## %s" % title, ""]
    if binary:
      md += ["`%s`." % binary, ""]
    md += ComparisonTable(by_area[area]) + [""]
    if area in area_plot and area_plot[area] not in [n for _, n in
                                                     headline_plots]:
      md += ["![%s](benchmarks/%s)" % (title, area_plot[area]), ""]

  md += ScalingSection(results, kv_rows, plots)

  # Unpaired.
  paired = {p["ours"] for p in PAIRS} | {p["peer"] for p in PAIRS}
  unpaired = UnpairedTable(results, paired)
  if unpaired:
    md += ["## Other benchmarks (no peer in the same binary)", ""]
    md += unpaired + [""]

  notes = list(results.notes)
  for key in sorted(results.series):
    e = results.series[key].errors
    if e:
      n = len(e) + len(results.series[key].times_ns)
      notes.append("`%s`: %d of %d repetitions failed (%s); the figures use "
                   "the others" % (key, len(e), n, e[0]))
  ran_binaries = set(results.contexts)
  for p in missing:
    b = dict((a, bin_) for a, _, bin_ in AREAS).get(p["area"])
    if b in ran_binaries:
      notes.append("`%s` vs `%s`: not in this run (filtered out or failed)"
                   % (p["ours"], p["peer"]))
  if notes:
    md += ["## Notes", ""] + ["- %s" % n for n in notes] + [""]
  return "\n".join(md), plots


def Main(argv):
  ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  ap.add_argument("--results", required=True, help="report.sh's results dir")
  ap.add_argument("--out", default="docs/benchmarks.md")
  ap.add_argument("--plots", help="SVG dir (default: <out dir>/benchmarks); "
                  "the report owns it: other .svg files there are removed")
  args = ap.parse_args(argv)
  results = LoadResults(args.results)
  md, plots = Generate(results)
  out_dir = os.path.dirname(os.path.abspath(args.out))
  plot_dir = args.plots or os.path.join(out_dir, "benchmarks")
  os.makedirs(plot_dir, exist_ok=True)
  rel = os.path.relpath(plot_dir, out_dir)
  if rel != "benchmarks":
    md = md.replace("](benchmarks/", "](%s/" % rel)
  for name in os.listdir(plot_dir):  # plots of an earlier run
    if name.endswith(".svg") and name not in plots:
      os.remove(os.path.join(plot_dir, name))
  for name, text in plots.items():
    with open(os.path.join(plot_dir, name), "w") as f:
      f.write(text)
  with open(args.out, "w") as f:
    f.write(md)
  print("wrote %s and %d plots in %s" % (args.out, len(plots), plot_dir))
  return 0


if __name__ == "__main__":
  sys.exit(Main(sys.argv[1:]))
