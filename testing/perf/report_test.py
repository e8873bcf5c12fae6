#!/usr/bin/env python3
"""Tests for report.py on the fixture run in testing/perf/testdata/results.

The fixtures are small hand-written Google Benchmark JSON files (with
aggregates and an errored repetition that must not count), two
fio_compare.sh outputs and two kv_vs_redis.sh outputs.
"""

import os
import re
import shutil
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
    # Every ours/peer name must be one the benchmark sources define, so the
    # table follows renames.
    sources = ""
    for name in os.listdir(HERE):
      if name.endswith(".cc"):
        with open(os.path.join(HERE, name)) as f:
          sources += f.read()
    if not sources:
      self.skipTest("no benchmark sources beside the test")
    for p in report.PAIRS:
      for key in (p["ours"], p["peer"]):
        base = key.split("/")[0]
        # BM_VeloqEcho_64B_1 comes from a macro: BM_VeloqEcho plus a suffix.
        macro = re.sub(r"_\d+K?B_\d+$", "", base)
        self.assertTrue(base in sources or macro in sources, key)


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
    self.assertEqual(len(list(root.iter(SVG_NS + "circle"))), 3)


if __name__ == "__main__":
  unittest.main()
