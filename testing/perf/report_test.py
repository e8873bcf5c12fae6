#!/usr/bin/env python3
"""Tests for report.py on the fixture run in testing/perf/testdata/results,
and for report.sh's sweep and --bundle with fake benchmark binaries.

The fixtures are small hand-written Google Benchmark JSON files (with
aggregates and an errored repetition that must not count), a shard-count
sweep (scaling/: actor_benchmark at 1, 2 and 4 shards, CAF's Big missing at
4; mesh_benchmark at 2 and 4), two fio_compare.sh outputs and two
kv_vs_redis.sh outputs (1 and 2 shards of the 1, 2, 4 asked for).
"""

import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import report  # noqa: E402

RESULTS = os.path.join(HERE, "testdata", "results")
SVG_NS = "{http://www.w3.org/2000/svg}"


def RowFor(rows, ours_key):
  return next(r for r in rows if r.ours_key == ours_key)


class ParsingTest(unittest.TestCase):

  def test_normalize_name_drops_run_options_keeps_arguments(self):
    n = report.NormalizeName
    self.assertEqual(n("BM_MeshOneWay/real_time"), "BM_MeshOneWay")
    self.assertEqual(n("BM_MeshAllToAll/iterations:3/real_time"),
                     "BM_MeshAllToAll")
    self.assertEqual(n("BM_VeloqLog/real_time/threads:2"),
                     "BM_VeloqLog/threads:2")
    self.assertEqual(n("BM_EpollEcho_64B_64/64/64/real_time"),
                     "BM_EpollEcho_64B_64/64/64")
    self.assertEqual(n("BM_MallocFree/4096"), "BM_MallocFree/4096")

  def test_gbench_uses_iterations_not_aggregates(self):
    series, ctx = report.LoadGbench(
        os.path.join(RESULTS, "gbench", "actor_benchmark.json"))
    s = series["BM_Veloq_Counting"]
    self.assertEqual(s.binary, "actor_benchmark")
    self.assertEqual(s.rates, [10e6, 12e6, 11e6])  # the 1.0 mean is ignored
    self.assertEqual(s.times_ns, [100e6, 83.3e6, 90.9e6])  # ms -> ns
    self.assertEqual(ctx["library_build_type"], "release")

  def test_errored_repetition_is_left_out(self):
    series, _ = report.LoadGbench(
        os.path.join(RESULTS, "gbench", "actor_benchmark.json"))
    s = series["BM_Veloq_PingPongCrossShard"]
    self.assertEqual(s.rates, [1.5e6, 2.5e6])
    self.assertEqual(s.errors, ["needs 2+ cores"])

  def test_time_units(self):
    series, _ = report.LoadGbench(
        os.path.join(RESULTS, "gbench", "mesh_benchmark.json"))
    self.assertEqual(series["BM_SubmitToRoundTripSpinning"].times_ns,
                     [1500.0, 1200.0, 1400.0])

  def test_scaling_files_by_binary_and_shards(self):
    results = report.LoadResults(RESULTS)
    self.assertEqual(sorted(results.scaling), ["actor_benchmark",
                                               "mesh_benchmark"])
    self.assertEqual(sorted(results.scaling["actor_benchmark"]), [1, 2, 4])
    self.assertEqual(sorted(results.scaling["mesh_benchmark"]), [2, 4])
    s = results.scaling["actor_benchmark"][2]["BM_Veloq_Counting"]
    self.assertEqual(s.rates, [20e6, 22e6, 24e6])  # the mean is ignored
    self.assertEqual(s.binary, "actor_benchmark")
    # The sweep's cases stay out of the main tables.
    self.assertEqual(results.series["BM_Veloq_Counting"].rates,
                     [10e6, 12e6, 11e6])

  def test_stats(self):
    self.assertEqual(report.Stats([3, 1, 2]), (1, 2, 3))
    self.assertEqual(report.Stats([4, 1, 3, 2]), (1, 2.5, 4))
    self.assertEqual(report.Stats([7]), (7, 7, 7))
    self.assertIsNone(report.Stats([]))

  def test_parse_fio(self):
    with open(os.path.join(RESULTS, "fio", "run1.txt")) as f:
      self.assertEqual(report.ParseFio(f.read()),
                       {"randread": (100000.0, 120000.0),
                        "seqwrite": (1700.0, 1600.0)})
    self.assertEqual(report.ParseFio("fio is not installed"), {})

  def test_parse_kv(self):
    with open(os.path.join(RESULTS, "kv", "shards2-run1.txt")) as f:
      shards, version, rows = report.ParseKv(f.read())
    self.assertEqual(shards, 2)
    self.assertEqual(version, "7.0.15")
    self.assertEqual(rows["SET -P16"], (350000.0, 660000.0))
    self.assertEqual(sorted(rows), sorted(report.KV_TESTS))


class ComparisonTest(unittest.TestCase):

  @classmethod
  def setUpClass(cls):
    cls.results = report.LoadResults(RESULTS)
    cls.rows, cls.missing = report.GbenchRows(cls.results)

  def test_rate_pair_min_median_max_and_ratio(self):
    r = RowFor(self.rows, "BM_Veloq_Counting")
    self.assertEqual(r.peer_key, "BM_Caf_Counting")
    self.assertEqual(r.ours, (10e6, 11e6, 12e6))
    self.assertEqual(r.peer, (1.0e6, 1.1e6, 1.2e6))
    self.assertAlmostEqual(r.ratio, 10.0)
    self.assertTrue(r.met)  # target >= 10x

  def test_missed_target(self):
    r = RowFor(self.rows, "BM_Veloq_PingPongCrossShard")
    self.assertAlmostEqual(r.ratio, 2.0)  # median of the 2 good ones
    self.assertFalse(r.met)  # target >= 3x

  def test_unsteady_sides_are_flagged(self):
    self.assertFalse(report.Unsteady((1.5e6, 2.0e6, 2.5e6)))
    self.assertTrue(report.Unsteady((2.9e6, 13.3e6, 13.3e6)))
    self.assertFalse(report.Unsteady(None))
    steady = report.Row("actors", "x", "Veloq", "CAF", "msgs/s", "rate",
                        (2e6, 2e6, 2e6), (1e6, 1e6, 1e6))
    shaky = report.Row("actors", "x", "Veloq", "floor", "msgs/s", "rate",
                       (2e6, 2e6, 2e6), (2.9e6, 13.3e6, 13.3e6))
    self.assertNotIn("unsteady", report.ComparisonTable([steady])[2])
    self.assertIn("(unsteady)", report.ComparisonTable([shaky])[2])

  def test_time_pair_ratio_is_time_over_limit(self):
    r = RowFor(self.rows, "BM_SubmitToRoundTripSpinning")
    self.assertEqual(r.metric, "time")
    self.assertEqual(r.ours, (1200.0, 1400.0, 1500.0))
    self.assertEqual(r.peer, (400.0, 450.0, 500.0))
    self.assertAlmostEqual(r.ratio, 1400.0 / 450.0)
    self.assertFalse(r.met)  # target <= 3x

  def test_two_conditions(self):
    r = RowFor(self.rows, "BM_MeshOneWay")
    self.assertAlmostEqual(r.ratio, 20e6 / 240e6)
    self.assertFalse(r.met)
    self.assertIn("≥ 0.1×", r.target_text)
    self.assertIn("≥ 30.0 M msgs/s", r.target_text)

  def test_pairs_not_in_the_run_are_reported_missing(self):
    missing = {(p["ours"], p["peer"]) for p in self.missing}
    self.assertIn(("BM_Veloq_Big", "BM_Caf_Big"), missing)
    self.assertNotIn(("BM_Veloq_Counting", "BM_Caf_Counting"), missing)

  def test_fio_rows_over_runs(self):
    rows = report.FioRows(self.results)
    rr = next(r for r in rows if r.unit == "IOPS")
    self.assertEqual(rr.ours, (99000.0, 109500.0, 120000.0))
    self.assertEqual(rr.peer, (100000.0, 105000.0, 110000.0))
    self.assertAlmostEqual(rr.ratio, 109500.0 / 105000.0)
    self.assertTrue(rr.met)  # >= 0.9x of fio

  def test_kv_rows(self):
    rows = report.KvRows(self.results)
    self.assertEqual(len(rows), 8)
    r = next(r for r in rows if r.shards == 1 and r.test == "SET -P1")
    self.assertAlmostEqual(r.ratio, 51500 / 47000)

  def test_pair_table_names_real_benchmarks(self):
    # Every ours/peer name (and every case of the sweep) must be one the
    # benchmark sources define, so the tables follow renames.
    sources = ""
    for name in os.listdir(HERE):
      if name.endswith(".cc"):
        with open(os.path.join(HERE, name)) as f:
          sources += f.read()
    if not sources:
      self.skipTest("no benchmark sources beside the test")
    keys = [k for p in report.PAIRS for k in (p["ours"], p["peer"])]
    keys += [k for c in report.SCALING_CASES for k in c[2:4] if k]
    for key in keys:
      base = key.split("/")[0]
      # BM_VeloqEcho_64B_1 comes from a macro: BM_VeloqEcho plus a suffix.
      macro = re.sub(r"_\d+K?B_\d+$", "", base)
      self.assertTrue(base in sources or macro in sources, key)


class ScalingTest(unittest.TestCase):

  def setUp(self):
    self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

  def tearDown(self):
    shutil.rmtree(self.tmp)

  def test_rows_by_shard_count(self):
    rows = report.ScalingRows(report.LoadResults(RESULTS))
    counting = rows["Counting"]
    self.assertEqual([r.shards for r in counting], [1, 2, 4])
    self.assertEqual(counting[1].ours, (20e6, 22e6, 24e6))
    self.assertEqual(counting[1].peer, (2.0e6, 2.2e6, 2.4e6))
    self.assertAlmostEqual(counting[1].ratio, 10.0)
    big4 = rows["Big"][2]
    self.assertEqual((big4.shards, big4.ours), (4, (18e6, 20e6, 22e6)))
    self.assertIsNone(big4.peer)  # CAF's Big is not in the 4-shard file
    self.assertIsNone(big4.ratio)
    self.assertEqual([r.shards for r in rows["PingPong across shards"]],
                     [2, 4])
    mesh = rows["all-to-all"]
    self.assertEqual([(r.shards, r.ours[1]) for r in mesh],
                     [(2, 3.5e6), (4, 12e6)])
    self.assertIsNone(mesh[0].peer)

  def Render(self, results_dir):
    out = os.path.join(self.tmp, "out", "b.md")
    report.Main(["--results", results_dir, "--out", out])
    with open(out) as f:
      md = f.read()
    return md, sorted(os.listdir(os.path.join(self.tmp, "out",
                                              "benchmarks")))

  def Section(self, md):
    return md.split("## Scaling with shard count")[1].split("\n## ")[0]

  def CopyResults(self):
    d = os.path.join(self.tmp, "results")
    shutil.copytree(RESULTS, d)
    return d

  def test_tables_and_plots(self):
    md, svgs = self.Render(RESULTS)
    sec = self.Section(md)
    self.assertIn("The sweep, at 1, 2, 4 shards on 2 cores", sec)
    self.assertIn("### Actors: Veloq vs CAF 0.17", sec)
    self.assertIn("| Counting | 2 | 20.0 / 22.0 / 24.0 M msgs/s | "
                  "2.00 / 2.20 / 2.40 M msgs/s | 10.0× |", sec)
    self.assertIn("| ForkJoinCreation | 1 | 4.00 / 4.40 / 4.80 M actors/s "
                  "| 300 / 320 / 340 k actors/s | 13.8× |", sec)
    self.assertIn("| Big | 4 | 18.0 / 20.0 / 22.0 M msgs/s | — | — |", sec)
    self.assertIn("| PingPong across shards | 2 | 600 / 700 / 800 k msgs/s "
                  "| 1.60 / 1.75 / 1.90 M msgs/s | 0.400× |", sec)
    self.assertNotIn("| PingPong across shards | 1 |", sec)
    self.assertIn("### Mesh: all to all", sec)
    self.assertIn("| 4 | 10.0 / 12.0 / 14.0 M msgs/s | 3.00 M msgs/s |", sec)
    self.assertIn("### kv_server vs redis-server", sec)
    # The fixture kv run has 1 and 2 shards of the 1, 2, 4 asked for.
    self.assertIn("- `kv_server`: no results at 4 shards.", sec)
    self.assertNotIn("`actor_benchmark`: no results", sec)
    self.assertNotIn("`mesh_benchmark`: no results", sec)  # 1 is too few
    self.assertIn("`VELOQ_BENCH_SHARDS=N` runs the Veloq cases", sec)
    self.assertNotIn("fix theirs in the source", md)
    for name in ["scaling_actors_counting.svg", "scaling_actors_big.svg",
                 "scaling_actors_threadring.svg",
                 "scaling_actors_forkjoincreation.svg",
                 "scaling_actors_pingpong_across_shards.svg",
                 "scaling_mesh_all_to_all.svg"]:
      self.assertIn(name, svgs)
      self.assertIn("](benchmarks/%s)" % name, sec)
    plot_dir = os.path.join(self.tmp, "out", "benchmarks")
    root = ET.parse(os.path.join(plot_dir,
                                 "scaling_actors_big.svg")).getroot()
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    self.assertIn("Big vs shards: Veloq vs CAF 0.17", texts)
    self.assertIn("Veloq", texts)
    self.assertIn("CAF 0.17", texts)
    # Veloq at 1, 2 and 4 shards; CAF at 1 and 2 only.
    lines = list(root.iter(SVG_NS + "polyline"))
    self.assertEqual([len(l.get("points").split()) for l in lines], [3, 2])
    self.assertEqual(len(list(root.iter(SVG_NS + "circle"))), 5)
    root = ET.parse(os.path.join(plot_dir,
                                 "scaling_mesh_all_to_all.svg")).getroot()
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    self.assertIn("all shards", texts)
    self.assertIn("per shard", texts)

  def test_no_sweep(self):
    d = self.CopyResults()
    shutil.rmtree(os.path.join(d, "scaling"))
    md, svgs = self.Render(d)
    sec = self.Section(md)
    self.assertNotIn("### Actors", sec)
    self.assertNotIn("### Mesh", sec)
    self.assertIn("- `actor_benchmark`: not run.", sec)
    self.assertIn("- `mesh_benchmark`: not run.", sec)
    self.assertFalse([n for n in svgs if n.startswith("scaling_actors")])
    self.assertIn("scaling_kv_p16.svg", svgs)  # kv's sweep still ran
    shutil.rmtree(os.path.join(d, "kv"))
    sec = self.Section(self.Render(d)[0])
    self.assertIn("Not run (`report.sh --scaling \"1 2 4\"`", sec)

  def test_missing_and_unreadable_files(self):
    d = self.CopyResults()
    sdir = os.path.join(d, "scaling")
    for name in ["mesh_benchmark_2.json", "mesh_benchmark_4.json",
                 "actor_benchmark_4.json"]:
      os.remove(os.path.join(sdir, name))
    with open(os.path.join(sdir, "actor_benchmark_2.json"), "w") as f:
      f.write('{"benchmarks": [')  # a run that died mid-write
    with open(os.path.join(d, "notes.txt"), "a") as f:
      f.write("mesh_benchmark shard sweep: skipped (--skip)\n")
    md, svgs = self.Render(d)
    sec = self.Section(md)
    self.assertIn("- `actor_benchmark`: no results at 2, 4 shards.", sec)
    self.assertIn("- `mesh_benchmark`: not run (mesh_benchmark shard "
                  "sweep: skipped (--skip)).", sec)
    self.assertIn("| Counting | 1 | 10.0 / 11.0 / 12.0 M msgs/s |", sec)
    # One shard count: a table, no plot.
    self.assertFalse([n for n in svgs if n.startswith("scaling_actors")])
    self.assertNotIn("scaling_mesh_all_to_all.svg", svgs)
    self.assertIn("scaling/actor_benchmark_2.json: unreadable JSON", md)


# A stand-in for a Google Benchmark binary, for report.sh: it logs its name,
# VELOQ_BENCH_SHARDS and filter to $FAKE_BENCH_LOG and writes a JSON result
# whose rates grow with the shard count (1 M items/s per shard; Veloq 10x).
FAKE_BENCHMARK = r"""#!/usr/bin/env bash
out="" filter=""
for a in "$@"; do
  case $a in
    --benchmark_out=*) out=${a#*=} ;;
    --benchmark_filter=*) filter=${a#*=} ;;
  esac
done
name=$(basename "$0")
echo "$name shards=${VELOQ_BENCH_SHARDS:-unset} filter=$filter" >>"$FAKE_BENCH_LOG"
n=${VELOQ_BENCH_SHARDS:-2}
case $name in
  actor_benchmark) cases="BM_Veloq_Counting:$((n * 10000000)) BM_Caf_Counting:$((n * 1000000))" ;;
  *) cases="BM_MeshAllToAll:$((n * 1000000))" ;;
esac
{
  echo '{"context": {}, "benchmarks": ['
  sep=""
  for c in $cases; do
    printf '%s{"name": "%s/real_time", "run_type": "iteration", "real_time": 1, "time_unit": "ms", "items_per_second": %s}\n' "$sep" "${c%%:*}" "${c#*:}"
    sep=","
  done
  echo ']}'
} >"$out"
"""


class ReportShTest(unittest.TestCase):
  """report.sh's sweep and --bundle, with fake binaries: no Bazel."""

  def setUp(self):
    self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))
    self.log = os.path.join(self.tmp, "bench.log")
    self.env = dict(os.environ, FAKE_BENCH_LOG=self.log)
    self.env.pop("VELOQ_BENCH_BIN", None)
    self.env.pop("BUILD_WORKSPACE_DIRECTORY", None)

  def tearDown(self):
    shutil.rmtree(self.tmp)

  def Bin(self, files):
    """A flat --bin folder: {name: source path or script text}."""
    d = os.path.join(self.tmp, "bin")
    os.makedirs(d)
    for name, what in files.items():
      path = os.path.join(d, name)
      if what.startswith("/"):
        shutil.copy(what, path)
      else:
        with open(path, "w") as f:
          f.write(what)
      os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR)
    return d

  def ReportSh(self, script, *args, env=None):
    return subprocess.run(["bash", script] + list(args), env=env or self.env,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          universal_newlines=True, timeout=120)

  def test_sweep_runs_each_count_with_its_filter(self):
    bin_dir = self.Bin({"actor_benchmark": FAKE_BENCHMARK,
                        "mesh_benchmark": FAKE_BENCHMARK})
    res = os.path.join(self.tmp, "res")
    env = dict(self.env, VELOQ_BENCH_SHARDS="7")  # not for the main runs
    p = self.ReportSh(os.path.join(HERE, "report.sh"), "--quick",
                      "--skip", "fio,redis", "--scaling", "2 1 1",
                      "--bin", bin_dir, "--results", res,
                      "--out", os.path.join(res, "b.md"), env=env)
    self.assertEqual(p.returncode, 0, p.stdout)
    with open(self.log) as f:
      log = f.read().splitlines()
    actor_1 = ("^BM_(Veloq|Caf)_(Counting|Big|ThreadRing|ForkJoinCreation)"
               "(/|$)")
    actor_2 = ("^BM_((Veloq|Caf)_(Counting|Big|ThreadRing|ForkJoinCreation)"
               "|Veloq_PingPongCrossShard|Caf_PingPong)(/|$)")
    self.assertEqual(sorted(log), sorted([
        "actor_benchmark shards=unset filter=",
        "mesh_benchmark shards=unset filter=",
        "actor_benchmark shards=1 filter=" + actor_1,
        "actor_benchmark shards=2 filter=" + actor_2,
        "mesh_benchmark shards=2 filter=^BM_MeshAllToAll(/|$)"]))
    self.assertEqual(sorted(os.listdir(os.path.join(res, "scaling"))), sorted(
        "%s_%d.%s" % (b, n, ext)
        for b, n in [("actor_benchmark", 1), ("actor_benchmark", 2),
                     ("mesh_benchmark", 2)]
        for ext in ("json", "txt", "stderr")))
    machine = report.ReadKeyValues(os.path.join(res, "machine.txt"))
    self.assertEqual(machine["scaling"], "1 2")
    with open(os.path.join(res, "b.md")) as f:
      md = f.read()
    self.assertIn("| Counting | 2 | 20.0 / 20.0 / 20.0 M msgs/s | "
                  "2.00 / 2.00 / 2.00 M msgs/s | 10.0× |", md)
    self.assertIn("| 2 | 2.00 / 2.00 / 2.00 M msgs/s | 1.00 M msgs/s |", md)

  def test_skip_and_bad_scaling(self):
    bin_dir = self.Bin({"actor_benchmark": FAKE_BENCHMARK,
                        "mesh_benchmark": FAKE_BENCHMARK})
    res = os.path.join(self.tmp, "res")
    p = self.ReportSh(os.path.join(HERE, "report.sh"), "--quick",
                      "--skip", "fio,redis,mesh", "--scaling", "1 2",
                      "--bin", bin_dir, "--results", res,
                      "--out", os.path.join(res, "b.md"))
    self.assertEqual(p.returncode, 0, p.stdout)
    with open(self.log) as f:
      self.assertNotIn("mesh_benchmark", f.read())
    with open(os.path.join(res, "b.md")) as f:
      md = f.read()
    self.assertIn("- `mesh_benchmark`: not run (mesh_benchmark shard sweep: "
                  "skipped (--skip)).", md)
    for bad in ["0 2", "1 x", " "]:
      p = self.ReportSh(os.path.join(HERE, "report.sh"), "--scaling", bad,
                        "--bin", bin_dir, "--results", res)
      self.assertEqual(p.returncode, 2, bad)
      self.assertIn("--scaling", p.stdout)

  def test_bundle_runs_through_its_own_interpreter(self):
    if not shutil.which("ldd"):
      self.skipTest("no ldd")
    true = os.path.realpath(shutil.which("true") or "/bin/true")
    if os.path.basename(true) != "true":
      self.skipTest("true is a multi-call binary here")  # argv[0] matters
    bin_dir = self.Bin({"actor_benchmark": true, "file_bench": true,
                        "kv_server": true})
    bundle = os.path.join(self.tmp, "bundle")
    p = self.ReportSh(os.path.join(HERE, "report.sh"), "--bundle", bundle,
                      "--bin", bin_dir)
    self.assertEqual(p.returncode, 0, p.stdout)
    for name in ["actor_benchmark", "file_bench", "kv_server", "bundle.txt",
                 "testing/perf/report.sh", "testing/perf/report.py",
                 "testing/perf/fio_compare.sh", "testing/perf/kv_vs_redis.sh"]:
      self.assertTrue(os.path.isfile(os.path.join(bundle, name)), name)
    libs = os.listdir(os.path.join(bundle, "lib"))
    self.assertIn("libc.so.6", libs)
    loaders = [n for n in libs if n.startswith("ld-linux")]
    self.assertEqual(len(loaders), 1, libs)
    with open(os.path.join(bundle, "bundle.txt")) as f:
      self.assertIn("\ncommit=", f.read())
    # Run from the bundle without --bin: it is its own --bin, and every
    # binary goes through the bundled interpreter.
    res = os.path.join(self.tmp, "res")
    p = self.ReportSh(os.path.join(bundle, "testing", "perf", "report.sh"),
                      "--quick", "--skip", "fio,redis", "--scaling", "2",
                      "--results", res, "--out", os.path.join(res, "b.md"))
    self.assertEqual(p.returncode, 0, p.stdout)
    with open(os.path.join(res, "run", "actor_benchmark")) as f:
      wrapper = f.read()
    self.assertIn(os.path.join(bundle, "lib", loaders[0]), wrapper)
    self.assertIn("--library-path", wrapper)
    self.assertTrue(os.path.exists(
        os.path.join(res, "scaling", "actor_benchmark_2.txt")))
    self.assertNotIn("exited with status", p.stdout)


class FormattingTest(unittest.TestCase):

  def test_triples_share_one_scale(self):
    self.assertEqual(report.FormatTriple((10e6, 11e6, 12e6), "msgs/s"),
                     "10.0 / 11.0 / 12.0 M msgs/s")
    self.assertEqual(report.FormatTriple((1200, 1400, 1500), "", "time"),
                     "1.20 / 1.40 / 1.50 µs")
    self.assertEqual(report.FormatTriple((1500, 1600, 1700), "MiB/s"),
                     "1500 / 1600 / 1700 MiB/s")

  def test_ratio(self):
    self.assertEqual(report.FormatRatio(9.2), "9.20×")
    self.assertEqual(report.FormatRatio(22.61), "22.6×")
    self.assertEqual(report.FormatRatio(2270.4), "2270×")
    self.assertEqual(report.FormatRatio(0.0737), "0.074×")
    self.assertEqual(report.FormatRatio(0.498), "0.498×")
    self.assertEqual(report.FormatRatio(0.49974, missed=True), "0.4997×")
    self.assertEqual(report.FormatRatio(None), "—")


class GenerateTest(unittest.TestCase):

  def setUp(self):
    self.tmp = tempfile.mkdtemp(dir=os.environ.get("TEST_TMPDIR"))

  def tearDown(self):
    shutil.rmtree(self.tmp)

  def test_markdown_and_svgs(self):
    out = os.path.join(self.tmp, "docs", "benchmarks.md")
    os.makedirs(os.path.join(self.tmp, "docs", "benchmarks"))
    stale = os.path.join(self.tmp, "docs", "benchmarks", "old.svg")
    open(stale, "w").close()
    self.assertEqual(report.Main(["--results", RESULTS, "--out", out]), 0)
    with open(out) as f:
      md = f.read()
    # Header: machine, date, command.
    self.assertIn("| CPU | Fixture CPU @ 2.1GHz |", md)
    self.assertIn("| kernel | 6.1.0-fixture |", md)
    self.assertIn("| compiler | g++ (Debian 12.2.0-14) 12.2.0 |", md)
    self.assertIn("| date | 2026-11-23 18:00 UTC |", md)
    self.assertIn("`testing/perf/report.sh --repetitions 3`", md)
    # Tables.
    for heading in ["## Headline", "## Actors: Veloq vs CAF 0.17",
                    "## Mesh vs the raw limits", "## Files: Veloq vs fio",
                    "## kv_server vs redis-server",
                    "## Scaling with shard count",
                    "## Other benchmarks (no peer in the same binary)",
                    "## Notes"]:
      self.assertIn(heading, md)
    self.assertIn("| Counting, 2 shards (`BM_Veloq_Counting`) | "
                  "10.0 / 11.0 / 12.0 M msgs/s | CAF: 1.00 / 1.10 / 1.20 M "
                  "msgs/s | 10.0× | ≥ 10×: met |", md)
    # A missed target shows 4 digits: 0.4997× must not read as 0.50×.
    self.assertIn("3.111× the time | ≤ 3×: **missed** |", md)
    self.assertIn("| 2.000× | ≥ 3×: **missed** |", md)
    self.assertIn("| `BM_SpawnJoinLocal` | runtime_benchmark | "
                  "20.8 / 21.3 / 21.7 M | 46.0 / 47.0 / 48.0 ns | "
                  "≤ 50.0 ns: met |", md)
    self.assertIn("| `BM_MeshAllToAll` | mesh_benchmark |", md)
    self.assertIn("log_benchmark: skipped (--skip)", md)
    self.assertIn("`BM_Veloq_PingPongCrossShard`: 1 of 3 repetitions failed "
                  "(needs 2+ cores)", md)
    # Every table row has the header's column count.
    for line in md.splitlines():
      if line.startswith("| comparison"):
        cols = line.count("|")
      elif line.startswith("| ") and "`BM_" in line and "comparison" in md:
        self.assertGreaterEqual(line.count("|"), 5, line)
    self.assertEqual(cols, 6)
    # Plots: linked, written, well-formed.
    plot_dir = os.path.join(self.tmp, "docs", "benchmarks")
    svgs = sorted(os.listdir(plot_dir))
    self.assertFalse(os.path.exists(stale))
    for name in ["actors_vs_caf.svg", "mesh_vs_limits.svg", "file_vs_fio.svg",
                 "kv_vs_redis.svg", "scaling_kv_p16.svg", "scaling_kv_p1.svg"]:
      self.assertIn(name, svgs)
      self.assertIn("](benchmarks/%s)" % name, md)
    for name in svgs:
      root = ET.parse(os.path.join(plot_dir, name)).getroot()
      self.assertEqual(root.tag, SVG_NS + "svg", name)
      texts = [t.text for t in root.iter(SVG_NS + "text")]
      self.assertTrue(texts, name)
    root = ET.parse(os.path.join(plot_dir, "actors_vs_caf.svg")).getroot()
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    self.assertIn("10.0× (target ≥ 10×)", texts)
    self.assertIn("2.000× (target ≥ 3×)", texts)
    self.assertIn("Counting, 2 shards", texts)
    self.assertTrue(any(t and t.endswith(" CAF") for t in texts))

  def test_plots_dir_elsewhere_rewrites_links(self):
    out = os.path.join(self.tmp, "b.md")
    plots = os.path.join(self.tmp, "img")
    report.Main(["--results", RESULTS, "--out", out, "--plots", plots])
    with open(out) as f:
      md = f.read()
    self.assertIn("](img/actors_vs_caf.svg)", md)
    self.assertNotIn("](benchmarks/", md)

  def test_svg_writers_escape_and_scale(self):
    rows = [report.Row("x", "a < b & c", "ours", "peer \"q\"", "ops/s",
                       "rate", (1, 2, 3), (100, 200, 300))]
    svg = report.BarChartSvg("T & <t>", [{"title": "p", "unit": "ops/s",
                                          "rows": rows}])
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    self.assertIn("a < b & c", texts)
    self.assertIn("ops/s (log scale)", texts)  # 100x apart: log axis
    line = report.LineChartSvg("L", [("s", [(1, 5), (2, 9), (16, 20)], False,
                                      None)], "shards", "ops/s")
    root = ET.fromstring(line)
    texts = [t.text for t in root.iter(SVG_NS + "text")]
    self.assertIn("shards (log scale)", texts)
    self.assertIn("ops/s", texts)  # 4x apart: linear from 0
    self.assertIn("0", texts)
    self.assertEqual(len(list(root.iter(SVG_NS + "circle"))), 3)
    line = report.LineChartSvg("L", [("a", [(1, 20e6), (2, 25e6)], False,
                                      None),
                                     ("b", [(1, 1e6), (2, 2e6)], True,
                                      None)], "shards", "ops/s")
    texts = [t.text for t in ET.fromstring(line).iter(SVG_NS + "text")]
    self.assertIn("ops/s (log scale)", texts)  # 25x apart
    self.assertIn("1M", texts)
    self.assertIn("100M", texts)


if __name__ == "__main__":
  unittest.main()
