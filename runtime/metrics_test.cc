#include "runtime/metrics.h"

#include <cmath>
#include <cstdint>
#include <limits>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/remote.h"
#include "runtime/shard.h"
#include "runtime/task.h"
#include "testing/test_runtime.h"

namespace veloq::metrics {
namespace {

using runtime::InvokeOnAll;
using runtime::Shard;
using runtime::SpawnOn;
using runtime::Task;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;

// Renders `registry` alone, as shard `shard`.
std::string Render(const Registry& registry, uint32_t shard = 0) {
  std::vector<Snapshot> snapshots;
  snapshots.push_back(registry.Snapshot(shard));
  return RenderPrometheus(snapshots);
}

// One sample line, parsed: name{label="value",...} value.
struct ParsedSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped
  double value = 0;
};

bool IsNameChar(char c, bool first, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         (colon && c == ':') || (!first && c >= '0' && c <= '9');
}

// Reads a name at `*at`; empty if there is none.
std::string ReadName(const std::string& line, size_t* at, bool colon) {
  const size_t start = *at;
  while (*at < line.size() && IsNameChar(line[*at], *at == start, colon)) {
    ++*at;
  }
  return line.substr(start, *at - start);
}

// Parses a sample line by the text format 0.0.4 grammar (the subset Veloq
// writes: labels always present, no timestamp). Label values may hold only
// the escapes \\, \" and \n.
std::optional<ParsedSample> ParseSample(const std::string& line) {
  ParsedSample out;
  size_t at = 0;
  out.name = ReadName(line, &at, /*colon=*/true);
  if (out.name.empty() || at >= line.size() || line[at++] != '{') {
    return std::nullopt;
  }
  while (true) {
    std::string key = ReadName(line, &at, /*colon=*/false);
    if (key.empty() || line.compare(at, 2, "=\"") != 0) return std::nullopt;
    at += 2;
    std::string value;
    while (at < line.size() && line[at] != '"') {
      if (line[at] == '\\') {
        if (++at >= line.size()) return std::nullopt;
        const char e = line[at];
        if (e != '\\' && e != '"' && e != 'n') return std::nullopt;
        value.push_back(e == 'n' ? '\n' : e);
      } else {
        value.push_back(line[at]);
      }
      ++at;
    }
    if (at >= line.size()) return std::nullopt;  // unterminated value
    out.labels.emplace_back(std::move(key), std::move(value));
    if (++at >= line.size()) return std::nullopt;
    if (line[at] == '}') break;
    if (line[at++] != ',') return std::nullopt;
  }
  if (line.compare(at, 2, "} ") != 0) return std::nullopt;
  const std::string number = line.substr(at + 2);
  if (number == "+Inf" || number == "-Inf" || number == "NaN") {
    out.value = number == "NaN"    ? std::nan("")
                : number[0] == '+' ? std::numeric_limits<double>::infinity()
                                   : -std::numeric_limits<double>::infinity();
    return out;
  }
  if (number.empty() ||
      number.find_first_not_of("0123456789.e+-") != std::string::npos) {
    return std::nullopt;
  }
  size_t used = 0;
  out.value = std::stod(number, &used);
  if (used != number.size()) return std::nullopt;
  return out;
}

// Checks `text` against the text format 0.0.4 and Veloq's promises: every
// line is "# HELP", "# TYPE" or a sample; a family's HELP comes before its
// TYPE, each once, and before its samples; every sample belongs to the
// family last TYPE'd (histograms: _bucket, _sum, _count) and has
// shard="<n>" as its first label; no series appears twice; histogram
// buckets are cumulative, ordered by le, end with le="+Inf", and that
// bucket equals _count. Returns the number of samples.
size_t ExpectWellFormed(const std::string& text) {
  EXPECT_TRUE(text.empty() || text.back() == '\n');
  std::set<std::string> typed, helped, series;
  std::string family, type;
  std::string bucket_series;  // labels of the histogram series in progress
  double last_le = 0, last_bucket = 0;
  bool inf_seen = true;
  size_t samples = 0;
  size_t start = 0;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.starts_with("# HELP ") || line.starts_with("# TYPE ")) {
      size_t at = 7;
      const std::string name = ReadName(line, &at, /*colon=*/true);
      EXPECT_FALSE(name.empty()) << line;
      EXPECT_TRUE(at < line.size() && line[at] == ' ') << line;
      if (line[2] == 'H') {
        EXPECT_TRUE(helped.insert(name).second) << "second HELP: " << line;
        EXPECT_EQ(typed.count(name), 0u) << "HELP after TYPE: " << line;
      } else {
        EXPECT_TRUE(typed.insert(name).second) << "second TYPE: " << line;
        EXPECT_TRUE(inf_seen) << "histogram series without le=\"+Inf\"";
        family = name;
        type = line.substr(at + 1);
        EXPECT_TRUE(type == "counter" || type == "gauge" || type == "histogram")
            << line;
      }
      continue;
    }
    const std::optional<ParsedSample> sample = ParseSample(line);
    if (!sample.has_value()) {
      ADD_FAILURE() << "not a sample line: \"" << line << "\"";
      continue;
    }
    ++samples;
    auto labels = sample->labels;
    EXPECT_FALSE(labels.empty() || labels[0].first != "shard" ||
                 labels[0].second.empty() ||
                 labels[0].second.find_first_not_of("0123456789") !=
                     std::string::npos)
        << "no shard label first: " << line;
    std::string le;
    if (!labels.empty() && labels.back().first == "le") {
      le = labels.back().second;
      labels.pop_back();
    }
    std::string key = sample->name;
    for (const auto& [k, v] : labels) key += "|" + k + "=" + v;
    EXPECT_TRUE(series.insert(key + "|le=" + le).second)
        << "duplicate series: " << line;
    if (type != "histogram") {
      EXPECT_EQ(sample->name, family) << line;
      EXPECT_TRUE(le.empty()) << line;
      continue;
    }
    if (sample->name == family + "_bucket") {
      EXPECT_FALSE(le.empty()) << "bucket without le: " << line;
      const double bound = le == "+Inf"
                               ? std::numeric_limits<double>::infinity()
                               : std::stod(le);
      if (key != bucket_series) {
        EXPECT_TRUE(inf_seen) << "histogram series without le=\"+Inf\"";
        bucket_series = key;
        last_le = -std::numeric_limits<double>::infinity();
        last_bucket = 0;
      }
      EXPECT_LT(last_le, bound) << "bucket bounds out of order: " << line;
      EXPECT_LE(last_bucket, sample->value) << "not cumulative: " << line;
      last_le = bound;
      last_bucket = sample->value;
      inf_seen = std::isinf(bound);
    } else if (sample->name == family + "_count") {
      EXPECT_EQ(family + "_bucket" + key.substr(sample->name.size()),
                bucket_series)
          << "_count without buckets: " << line;
      EXPECT_TRUE(inf_seen) << line;
      EXPECT_EQ(sample->value, last_bucket) << "_count != +Inf: " << line;
    } else {
      EXPECT_EQ(sample->name, family + "_sum") << line;
    }
  }
  EXPECT_TRUE(inf_seen);
  return samples;
}

TEST(ExpectWellFormedTest, ParsesEscapesAndRejectsBadLines) {
  const std::optional<ParsedSample> s =
      ParseSample(R"(a_b:c{shard="0",x="q\"\\\n"} -1.5e-07)");
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->name, "a_b:c");
  ASSERT_EQ(s->labels.size(), 2u);
  EXPECT_EQ(s->labels[1].second, "q\"\\\n");
  EXPECT_EQ(s->value, -1.5e-07);
  for (const char* bad : {"a{shard=\"0\"}", "a{shard=\"0\"} x", "a 1",
                          "a{shard=\"0} 1", "a{x=\"\\t\"} 1", "0a{x=\"\"} 1",
                          "a{shard=\"0\"} 1 2", "a{a:b=\"\"} 1"}) {
    EXPECT_FALSE(ParseSample(bad).has_value()) << bad;
  }
}

TEST(MetricsRenderTest, SmallRegistryRendersExactly) {
  Registry reg;
  Counter gets(reg, "veloq_requests_total", "Requests handled",
               {{"op", "get"}});
  Counter puts(reg, "veloq_requests_total", "Requests handled",
               {{"op", "put"}});
  gets.Inc(3);
  Gauge depth(reg, "veloq_queue_depth", "Queue depth");
  depth.Set(5);
  depth.Sub(7);
  DoubleGauge load(reg, "veloq_load", "Load");
  load.Set(0.25);
  Histogram latency(reg, "veloq_latency_seconds", "Latency", {0.5, 1, 2});
  for (double v : {0.25, 0.5, 0.5, 1.5, 4.0}) latency.Observe(v);

  EXPECT_EQ(Render(reg),
            "# HELP veloq_latency_seconds Latency\n"
            "# TYPE veloq_latency_seconds histogram\n"
            "veloq_latency_seconds_bucket{shard=\"0\",le=\"0.5\"} 3\n"
            "veloq_latency_seconds_bucket{shard=\"0\",le=\"1\"} 3\n"
            "veloq_latency_seconds_bucket{shard=\"0\",le=\"2\"} 4\n"
            "veloq_latency_seconds_bucket{shard=\"0\",le=\"+Inf\"} 5\n"
            "veloq_latency_seconds_sum{shard=\"0\"} 6.75\n"
            "veloq_latency_seconds_count{shard=\"0\"} 5\n"
            "# HELP veloq_load Load\n"
            "# TYPE veloq_load gauge\n"
            "veloq_load{shard=\"0\"} 0.25\n"
            "# HELP veloq_queue_depth Queue depth\n"
            "# TYPE veloq_queue_depth gauge\n"
            "veloq_queue_depth{shard=\"0\"} -2\n"
            "# HELP veloq_requests_total Requests handled\n"
            "# TYPE veloq_requests_total counter\n"
            "veloq_requests_total{shard=\"0\",op=\"get\"} 3\n"
            "veloq_requests_total{shard=\"0\",op=\"put\"} 0\n");
  EXPECT_EQ(ExpectWellFormed(Render(reg)), 10u);
}

TEST(MetricsRenderTest, LabelValuesAndHelpAreEscaped) {
  Registry reg;
  Counter c(reg, "veloq_escapes_total", "Back\\slash, \"quotes\"\nnew line",
            {{"path", "C:\\dir\\\"x\"\nnext"}});
  c.Inc();
  // HELP escapes backslash and newline; label values also double quotes.
  EXPECT_EQ(Render(reg),
            "# HELP veloq_escapes_total Back\\\\slash, \"quotes\"\\nnew line\n"
            "# TYPE veloq_escapes_total counter\n"
            "veloq_escapes_total{shard=\"0\",path=\"C:\\\\dir\\\\\\\"x\\\"\\n"
            "next\"} 1\n");
  ExpectWellFormed(Render(reg));
}

TEST(MetricsRenderTest, LabelsAreSortedByNameAfterShard) {
  Registry reg;
  Gauge g(reg, "veloq_g", "G", {{"zone", "b"}, {"app", "kv"}});
  g.Set(1);
  EXPECT_EQ(Render(reg, 7),
            "# HELP veloq_g G\n"
            "# TYPE veloq_g gauge\n"
            "veloq_g{shard=\"7\",app=\"kv\",zone=\"b\"} 1\n");
}

TEST(MetricsRenderTest, EmptyHelpLeavesOutTheHelpLine) {
  Registry reg;
  Counter c(reg, "veloq_undocumented_total", "");
  EXPECT_EQ(Render(reg),
            "# TYPE veloq_undocumented_total counter\n"
            "veloq_undocumented_total{shard=\"0\"} 0\n");
}

TEST(MetricsRenderTest, ValuesKeepFullPrecisionAndSpecialValues) {
  Registry reg;
  Counter big(reg, "veloq_big_total", "Big");
  big.Inc(std::numeric_limits<uint64_t>::max());  // exact, not via double
  Gauge neg(reg, "veloq_neg", "Neg");
  neg.Set(std::numeric_limits<int64_t>::min());
  DoubleGauge d(reg, "veloq_d", "D", {{"k", "a"}});
  d.Set(0.1);
  DoubleGauge inf(reg, "veloq_d", "D", {{"k", "b"}});
  inf.Set(std::numeric_limits<double>::infinity());
  DoubleGauge ninf(reg, "veloq_d", "D", {{"k", "c"}});
  ninf.Set(-std::numeric_limits<double>::infinity());
  DoubleGauge nan(reg, "veloq_d", "D", {{"k", "d"}});
  nan.Set(std::nan(""));
  DoubleGauge huge(reg, "veloq_d", "D", {{"k", "e"}});
  huge.Set(1e21);
  EXPECT_EQ(Render(reg),
            "# HELP veloq_big_total Big\n"
            "# TYPE veloq_big_total counter\n"
            "veloq_big_total{shard=\"0\"} 18446744073709551615\n"
            "# HELP veloq_d D\n"
            "# TYPE veloq_d gauge\n"
            "veloq_d{shard=\"0\",k=\"a\"} 0.1\n"
            "veloq_d{shard=\"0\",k=\"b\"} +Inf\n"
            "veloq_d{shard=\"0\",k=\"c\"} -Inf\n"
            "veloq_d{shard=\"0\",k=\"d\"} NaN\n"
            "veloq_d{shard=\"0\",k=\"e\"} 1e+21\n"
            "# HELP veloq_neg Neg\n"
            "# TYPE veloq_neg gauge\n"
            "veloq_neg{shard=\"0\"} -9223372036854775808\n");
  ExpectWellFormed(Render(reg));
}

// Doubles are written as Go's strconv.FormatFloat(v, 'g', -1, 64) writes
// them (client_golang), so that le values match Go-instrumented services.
TEST(MetricsRenderTest, DoublesAreFormattedLikeGo) {
  const std::vector<std::pair<double, std::string>> cases = {
      {0, "0"},           {-0.5, "-0.5"},
      {0.0001, "0.0001"}, {0.00012, "0.00012"},
      {1e-5, "1e-05"},    {2.5e-7, "2.5e-07"},
      {100000, "100000"}, {123456.5, "123456.5"},
      {1e6, "1e+06"},     {1234567.5, "1.2345675e+06"},
      {1e100, "1e+100"},  {0.30000000000000004, "0.30000000000000004"}};
  for (const auto& [value, text] : cases) {
    Registry reg;
    DoubleGauge g(reg, "veloq_d", "D");
    g.Set(value);
    EXPECT_EQ(Render(reg),
              "# HELP veloq_d D\n# TYPE veloq_d gauge\n"
              "veloq_d{shard=\"0\"} " +
                  text + "\n")
        << value;
  }
}

TEST(MetricsRenderTest, ShardsMergeUnderOneHelpAndType) {
  Registry r0, r1;
  Counter a0(r0, "veloq_a_total", "A");
  Counter a1(r1, "veloq_a_total", "A");
  a0.Inc(1);
  a1.Inc(2);
  Gauge only1(r1, "veloq_b", "B");
  // Shards disagree on veloq_c's type: the lowest shard's wins.
  Gauge c0(r0, "veloq_c", "C as a gauge");
  Counter c1(r1, "veloq_c", "C as a counter");
  std::vector<Snapshot> snapshots;
  snapshots.push_back(r1.Snapshot(1));  // order of the vector is irrelevant
  snapshots.push_back(r0.Snapshot(0));
  snapshots.push_back(r1.Snapshot(0));  // a repeated shard id is ignored
  EXPECT_EQ(RenderPrometheus(snapshots),
            "# HELP veloq_a_total A\n"
            "# TYPE veloq_a_total counter\n"
            "veloq_a_total{shard=\"0\"} 1\n"
            "veloq_a_total{shard=\"1\"} 2\n"
            "# HELP veloq_b B\n"
            "# TYPE veloq_b gauge\n"
            "veloq_b{shard=\"1\"} 0\n"
            "# HELP veloq_c C as a gauge\n"
            "# TYPE veloq_c gauge\n"
            "veloq_c{shard=\"0\"} 0\n");
  EXPECT_EQ(RenderPrometheus({}), "");
}

TEST(HistogramTest, BucketsAreCumulativeAndEndWithInf) {
  Registry reg;
  // A trailing +Inf bound is accepted and not repeated.
  Histogram h(reg, "veloq_h", "H",
              {1, 2, 4, std::numeric_limits<double>::infinity()},
              {{"op", "read"}});
  h.Observe(1);    // a value equal to a bound is in that bound's bucket
  h.Observe(0.5);  // le="1"
  h.Observe(3);    // le="4"
  h.Observe(100);  // +Inf only
  h.Observe(std::nan(""));  // +Inf only (and the sum becomes NaN)
  EXPECT_EQ(h.count(), 5u);
  EXPECT_EQ(Render(reg),
            "# HELP veloq_h H\n"
            "# TYPE veloq_h histogram\n"
            "veloq_h_bucket{shard=\"0\",op=\"read\",le=\"1\"} 2\n"
            "veloq_h_bucket{shard=\"0\",op=\"read\",le=\"2\"} 2\n"
            "veloq_h_bucket{shard=\"0\",op=\"read\",le=\"4\"} 3\n"
            "veloq_h_bucket{shard=\"0\",op=\"read\",le=\"+Inf\"} 5\n"
            "veloq_h_sum{shard=\"0\",op=\"read\"} NaN\n"
            "veloq_h_count{shard=\"0\",op=\"read\"} 5\n");
  ExpectWellFormed(Render(reg));
}

TEST(HistogramTest, BucketHelpers) {
  EXPECT_EQ(ExponentialBuckets(1, 2, 4), (std::vector<double>{1, 2, 4, 8}));
  EXPECT_EQ(LinearBuckets(0, 0.5, 3), (std::vector<double>{0, 0.5, 1}));
  // Rounded to what the user meant: 0.1 * 3 is 0.30000000000000004.
  EXPECT_EQ(LinearBuckets(0.1, 0.1, 3), (std::vector<double>{0.1, 0.2, 0.3}));
  EXPECT_EQ(ExponentialBuckets(1e-6, 10, 3),
            (std::vector<double>{1e-6, 1e-5, 1e-4}));
  Registry reg;
  Histogram h(reg, "veloq_h", "H", ExponentialBuckets(1e-6, 10, 3));
  h.Observe(5e-6);
  h.Observe(5e-5);
  EXPECT_EQ(Render(reg),
            "# HELP veloq_h H\n"
            "# TYPE veloq_h histogram\n"
            "veloq_h_bucket{shard=\"0\",le=\"1e-06\"} 0\n"
            "veloq_h_bucket{shard=\"0\",le=\"1e-05\"} 1\n"
            "veloq_h_bucket{shard=\"0\",le=\"0.0001\"} 2\n"
            "veloq_h_bucket{shard=\"0\",le=\"+Inf\"} 2\n"
            "veloq_h_sum{shard=\"0\"} 5.5e-05\n"
            "veloq_h_count{shard=\"0\"} 2\n");
}

TEST(RegistryTest, DestroyingAnInstrumentRemovesItsSeriesAndEmptyFamily) {
  Registry reg;
  Counter keep(reg, "veloq_x_total", "X", {{"k", "keep"}});
  {
    Counter gone(reg, "veloq_x_total", "X", {{"k", "gone"}});
    Gauge alone(reg, "veloq_alone", "Alone");
    EXPECT_EQ(reg.family_count(), 2u);
    EXPECT_NE(Render(reg).find("k=\"gone\""), std::string::npos);
  }
  EXPECT_EQ(reg.family_count(), 1u);
  EXPECT_EQ(Render(reg),
            "# HELP veloq_x_total X\n"
            "# TYPE veloq_x_total counter\n"
            "veloq_x_total{shard=\"0\",k=\"keep\"} 0\n");
  // The series can be registered again once its instrument is gone, and a
  // family can change type and help once it is empty.
  { Counter again(reg, "veloq_alone", "Now a counter"); }
  EXPECT_EQ(reg.family_count(), 1u);
}

TEST(RegistryTest, MovedInstrumentsKeepTheirSeries) {
  Registry reg;
  std::vector<Counter> counters;
  for (int i = 0; i < 10; ++i) {  // reallocations move the counters
    counters.emplace_back(reg, "veloq_m_total", "M",
                          Labels{{"i", std::to_string(i)}});
    counters.back().Inc(i);
  }
  Counter moved(std::move(counters[3]));
  EXPECT_FALSE(counters[3].registered());
  EXPECT_TRUE(moved.registered());
  moved.Inc(100);
  const Snapshot s = reg.Snapshot(0);
  ASSERT_EQ(s.families.size(), 1u);
  ASSERT_EQ(s.families[0].samples.size(), 10u);
  for (const Sample& sample : s.families[0].samples) {
    const uint64_t i = std::stoul(sample.labels[0].second);
    EXPECT_EQ(std::get<uint64_t>(sample.value), i == 3 ? 103 : i);
  }
}

TEST(RegistryTest, InstrumentsAndHandlesMayOutliveTheirRegistry) {
  auto reg = std::make_unique<Registry>();
  Counter c(*reg, "veloq_c_total", "C");
  CallbackHandle h = reg->AddCallback("veloq_cb", Type::kGauge, "CB",
                                      [](Emitter& e) { e.Emit(1); });
  reg.reset();
  EXPECT_FALSE(c.registered());
  EXPECT_FALSE(h.registered());
  c.Inc();  // still a plain counter
  EXPECT_EQ(c.value(), 1u);
}

TEST(RegistryTest, CurrentIsPerThread) {
  Registry* main = &Registry::Current();
  Registry* other = nullptr;
  std::thread([&other] { other = &Registry::Current(); }).join();
  EXPECT_NE(main, other);
  EXPECT_EQ(main, &Registry::Current());
}

TEST(CallbackTest, CalledAtScrapeTimeOnly) {
  Registry reg;
  int calls = 0;
  uint64_t sent = 10;
  CallbackHandle h =
      reg.AddCallback("veloq_peer_messages_total", Type::kCounter,
                      "Messages sent per peer", [&](Emitter& e) {
                        ++calls;
                        e.Emit({{"peer", "2"}}, sent * 2);
                        e.Emit({{"peer", "1"}}, sent);
                      });
  EXPECT_EQ(calls, 0);
  sent = 11;
  EXPECT_EQ(Render(reg),
            "# HELP veloq_peer_messages_total Messages sent per peer\n"
            "# TYPE veloq_peer_messages_total counter\n"
            "veloq_peer_messages_total{shard=\"0\",peer=\"1\"} 11\n"
            "veloq_peer_messages_total{shard=\"0\",peer=\"2\"} 22\n");
  EXPECT_EQ(calls, 1);
  sent = 12;
  EXPECT_NE(Render(reg).find("peer=\"1\"} 12\n"), std::string::npos);
  EXPECT_EQ(calls, 2);

  h.Reset();
  EXPECT_FALSE(h.registered());
  EXPECT_EQ(Render(reg), "");
  EXPECT_EQ(reg.family_count(), 0u);
  EXPECT_EQ(calls, 2);
}

TEST(CallbackTest, MovedHandleKeepsTheCallback) {
  Registry reg;
  CallbackHandle outer;
  {
    CallbackHandle inner = reg.AddCallback("veloq_g", Type::kGauge, "G",
                                           [](Emitter& e) { e.Emit(-3); });
    outer = std::move(inner);
  }
  EXPECT_EQ(Render(reg),
            "# HELP veloq_g G\n"
            "# TYPE veloq_g gauge\n"
            "veloq_g{shard=\"0\"} -3\n");
}

TEST(CallbackTest, EqualLabelsKeepTheInstrumentThenTheFirstCallback) {
  Registry reg;
  Gauge g(reg, "veloq_depth", "Depth", {{"q", "a"}});
  g.Set(1);
  CallbackHandle first =
      reg.AddCallback("veloq_depth", Type::kGauge, "Depth", [](Emitter& e) {
        e.Emit({{"q", "a"}}, 100);  // dropped: the instrument has q="a"
        e.Emit({{"q", "b"}}, 2);
        e.Emit({{"q", "b"}}, 200);  // dropped: emitted twice
      });
  CallbackHandle second =
      reg.AddCallback("veloq_depth", Type::kGauge, "Depth", [](Emitter& e) {
        e.Emit({{"q", "b"}}, 300);  // dropped: the first callback has it
        e.Emit({{"q", "c"}}, 3.5);
      });
  EXPECT_EQ(Render(reg),
            "# HELP veloq_depth Depth\n"
            "# TYPE veloq_depth gauge\n"
            "veloq_depth{shard=\"0\",q=\"a\"} 1\n"
            "veloq_depth{shard=\"0\",q=\"b\"} 2\n"
            "veloq_depth{shard=\"0\",q=\"c\"} 3.5\n");
}

TEST(CallbackTest, HistogramCallbacks) {
  Registry reg;
  CallbackHandle h =
      reg.AddCallback("veloq_io_latency_seconds", Type::kHistogram,
                      "I/O latency", [](Emitter& e) {
                        HistogramValue v;
                        v.bounds = {0.001, 0.01};
                        v.counts = {4, 0, 1};
                        v.sum = 0.5;
                        e.EmitHistogram({{"op", "read"}}, std::move(v));
                      });
  EXPECT_EQ(Render(reg),
            "# HELP veloq_io_latency_seconds I/O latency\n"
            "# TYPE veloq_io_latency_seconds histogram\n"
            "veloq_io_latency_seconds_bucket{shard=\"0\",op=\"read\","
            "le=\"0.001\"} 4\n"
            "veloq_io_latency_seconds_bucket{shard=\"0\",op=\"read\","
            "le=\"0.01\"} 4\n"
            "veloq_io_latency_seconds_bucket{shard=\"0\",op=\"read\","
            "le=\"+Inf\"} 5\n"
            "veloq_io_latency_seconds_sum{shard=\"0\",op=\"read\"} 0.5\n"
            "veloq_io_latency_seconds_count{shard=\"0\",op=\"read\"} 5\n");
}

TEST(CallbackTest, EmptyCallbackFamiliesAreLeftOut) {
  Registry reg;
  CallbackHandle h =
      reg.AddCallback("veloq_none", Type::kGauge, "None", [](Emitter&) {});
  EXPECT_EQ(reg.family_count(), 1u);
  EXPECT_EQ(Render(reg), "");
}

TEST(MetricsDeathTest, MisuseAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "veloq_x_total", "X", {{"k", "v"}});
        Counter b(reg, "veloq_x_total", "X", {{"k", "v"}});
      },
      "registered twice");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "veloq_x", "X");
        Gauge b(reg, "veloq_x", "X", {{"k", "v"}});
      },
      "registered as counter");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "veloq_x", "X");
        Counter b(reg, "veloq_x", "Other help", {{"k", "v"}});
      },
      "registered as counter");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "0veloq", "X");
      },
      "not a valid metric name");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "veloq_x", "X", {{"shard", "1"}});
      },
      "reserved");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "veloq_x", "X", {{"__name", "1"}});
      },
      "reserved");
  EXPECT_DEATH(
      {
        Registry reg;
        Histogram a(reg, "veloq_x", "X", {1}, {{"le", "1"}});
      },
      "reserved in histograms");
  EXPECT_DEATH(
      {
        Registry reg;
        Counter a(reg, "veloq_x", "X", {{"a-b", "1"}});
      },
      "not a valid label name");
  EXPECT_DEATH(
      {
        Registry reg;
        Histogram a(reg, "veloq_x", "X", {2, 1});
      },
      "strictly increasing");
  EXPECT_DEATH(
      {
        Registry reg;
        CallbackHandle h = reg.AddCallback("veloq_x", Type::kHistogram, "X",
                                           [](Emitter& e) { e.Emit(1); });
        (void)reg.Snapshot(0);
      },
      "emitted a scalar");
  EXPECT_DEATH(
      {
        Registry reg;
        CallbackHandle h = reg.AddCallback(
            "veloq_x", Type::kGauge, "X",
            [&reg](Emitter&) { Counter inside(reg, "veloq_y_total", "Y"); });
        (void)reg.Snapshot(0);
      },
      "inside a scrape callback");
  EXPECT_DEATH(
      {
        Registry reg;
        CallbackHandle h =
            reg.AddCallback("veloq_x", Type::kGauge, "X",
                            [&reg](Emitter&) { (void)reg.Snapshot(1); });
        (void)reg.Snapshot(0);
      },
      "taking a snapshot inside a scrape callback");
#ifndef NDEBUG
  EXPECT_DEATH(
      {
        Registry reg;
        Counter c(reg, "veloq_x_total", "X");
        std::thread([&c] { c.Inc(); }).join();
      },
      "off the thread");
#endif
}

// What one shard registers for the scrape tests: instruments whose values
// say which shard they are on, and a callback that reads the shard's id
// when scraped. Created and destroyed on that shard.
struct ShardMetrics {
  ShardMetrics()
      : id(Shard::Current()->id()),
        requests("veloq_test_requests_total", "Requests handled",
                 {{"op", "get"}}),
        depth("veloq_test_queue_depth", "Queue depth"),
        latency("veloq_test_latency_seconds", "Latency",
                ExponentialBuckets(0.001, 10, 3), {{"path", "a\"b\\c\nd"}}),
        where(Registry::Current().AddCallback(
            "veloq_test_callback_shard", Type::kGauge,
            "Shard id, read at scrape time", [](Emitter& e) {
              e.Emit({{"peer", "x"}}, Shard::Current()->id());
            })) {
    requests.Inc(id + 1);
    depth.Set(-static_cast<int64_t>(id));
    latency.Observe(0.005 * (id + 1));
  }
  uint32_t id;
  Counter requests;
  Gauge depth;
  Histogram latency;
  CallbackHandle where;
};

ShardMetrics* CreateShardMetrics() { return new ShardMetrics(); }

// Registers ShardMetrics on every shard, scrapes, and unregisters them (on
// their shards).
Task<std::string> ScrapeWithShardMetrics() {
  Task<std::vector<ShardMetrics*>> create = InvokeOnAll(&CreateShardMetrics);
  std::vector<ShardMetrics*> per_shard = co_await std::move(create);
  Task<std::string> scrape = ScrapeAll();
  std::string text = co_await std::move(scrape);
  for (uint32_t s = 0; s < per_shard.size(); ++s) {
    ShardMetrics* m = per_shard[s];
    auto destroy = [m] { delete m; };
    co_await SpawnOn(s, destroy);
  }
  co_return text;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + 1)) {
    ++n;
  }
  return n;
}

TEST(ScrapeAllTest, GathersEveryShardUnderOneHelpAndType) {
  auto r = RunOnRuntime(Shards(2), &ScrapeWithShardMetrics);
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string& text = *r;
  EXPECT_EQ(Count(text, "# HELP veloq_test_requests_total "), 1u) << text;
  EXPECT_EQ(Count(text, "# TYPE veloq_test_requests_total counter\n"), 1u);
  EXPECT_NE(text.find("# HELP veloq_test_requests_total Requests handled\n"
                      "# TYPE veloq_test_requests_total counter\n"
                      "veloq_test_requests_total{shard=\"0\",op=\"get\"} 1\n"
                      "veloq_test_requests_total{shard=\"1\",op=\"get\"} 2\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("veloq_test_queue_depth{shard=\"0\"} 0\n"
                      "veloq_test_queue_depth{shard=\"1\"} -1\n"),
            std::string::npos)
      << text;
  // The callback ran on each shard.
  EXPECT_NE(text.find("veloq_test_callback_shard{shard=\"0\",peer=\"x\"} 0\n"
                      "veloq_test_callback_shard{shard=\"1\",peer=\"x\"} 1\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("veloq_test_latency_seconds_bucket{shard=\"1\","
                      "path=\"a\\\"b\\\\c\\nd\",le=\"0.01\"} 1\n"),
            std::string::npos)
      << text;
}

TEST(ScrapeAllTest, OutputParsesBack) {
  auto r = RunOnRuntime(Shards(3), &ScrapeWithShardMetrics);
  ASSERT_TRUE(r.ok()) << r.status();
  // Per shard: 1 counter, 1 gauge, 1 callback, 4 buckets + sum + count.
  EXPECT_GE(ExpectWellFormed(*r), 3u * 9u) << *r;
}

TEST(ScrapeAllTest, UnregisteredMetricsAreGone) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    std::string before = co_await ScrapeWithShardMetrics();
    EXPECT_NE(before.find("veloq_test_requests_total"), std::string::npos);
    co_return co_await ScrapeAll();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->find("veloq_test_"), std::string::npos) << *r;
}

}  // namespace
}  // namespace veloq::metrics
