// Metrics micro-benchmarks (run with -c opt):
//   bazel run -c opt //testing/perf:metrics_benchmark
// Update costs (ns per Inc / Observe) on the calling thread's registry,
// next to the peer a shared (cross-thread) registry would pay: a relaxed
// atomic fetch_add on an uncontended counter. Scrape costs for a registry
// of 1000 series: Snapshot alone, RenderPrometheus alone, both, and
// ScrapeAll over a 2-shard runtime (1000 series per shard, one mesh round
// trip per shard). Google Benchmark prints the machine.
#include <atomic>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "benchmark/benchmark.h"
#include "runtime/metrics.h"
#include "runtime/remote.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"
#include "runtime/task.h"

namespace veloq::metrics {
namespace {

using runtime::Task;

void BM_CounterInc(benchmark::State& state) {
  Registry reg;
  Counter c(reg, "bench_total", "Bench");
  for (auto _ : state) {
    c.Inc();
    benchmark::ClobberMemory();  // one real load-add-store per item
  }
  benchmark::DoNotOptimize(c.value());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CounterInc);

// The peer: what every update would cost if the counter were shared.
void BM_AtomicCounterInc(benchmark::State& state) {
  std::atomic<uint64_t> c{0};
  for (auto _ : state) c.fetch_add(1, std::memory_order_relaxed);
  benchmark::DoNotOptimize(c.load());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AtomicCounterInc);

void BM_GaugeSet(benchmark::State& state) {
  Registry reg;
  Gauge g(reg, "bench_gauge", "Bench");
  int64_t v = 0;
  for (auto _ : state) {
    g.Set(++v);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GaugeSet);

// Observe with state.range(0) exponential buckets (1us * 2^i), values
// spread log-uniformly over the whole range so that every bucket is hit.
void BM_HistogramObserve(benchmark::State& state) {
  const size_t buckets = static_cast<size_t>(state.range(0));
  Registry reg;
  Histogram h(reg, "bench_seconds", "Bench",
              ExponentialBuckets(1e-6, 2, buckets));
  std::vector<double> values(1024);
  for (size_t i = 0; i < values.size(); ++i) {
    const double span = static_cast<double>(buckets + 1);
    values[i] =
        1e-6 * std::exp2(span * static_cast<double>((i * 619) % 1024) / 1024.0);
  }
  size_t i = 0;
  for (auto _ : state) {
    h.Observe(values[i++ & 1023]);
    benchmark::ClobberMemory();
  }
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_HistogramObserve)->Arg(8)->Arg(24)->Arg(64);

// 1000 series: 10 families (counters and gauges alternately) of 100 series
// with two labels each.
struct ThousandSeries {
  explicit ThousandSeries(Registry& reg) {
    counters.reserve(500);
    gauges.reserve(500);
    for (int f = 0; f < 10; ++f) {
      const std::string name = "bench_family_" + std::to_string(f);
      for (int s = 0; s < 100; ++s) {
        Labels labels = {{"peer", std::to_string(s)}, {"op", "read"}};
        if (f % 2 == 0) {
          counters.emplace_back(reg, name + "_total", "A benchmark counter",
                                std::move(labels));
          counters.back().Inc(static_cast<uint64_t>(f * 1000 + s));
        } else {
          gauges.emplace_back(reg, name, "A benchmark gauge",
                              std::move(labels));
          gauges.back().Set(-s);
        }
      }
    }
  }
  std::vector<Counter> counters;
  std::vector<Gauge> gauges;
};

void BM_Snapshot1000Series(benchmark::State& state) {
  Registry reg;
  ThousandSeries series(reg);
  // The previous snapshot is freed after the next is taken, as when a
  // scrape's snapshots are rendered: freeing each one right away leaves the
  // top of the heap free, and glibc then returns it to the kernel every
  // iteration (a trim syscall that a real scrape does not pay).
  Snapshot previous;
  for (auto _ : state) {
    Snapshot s = reg.Snapshot(0);
    benchmark::DoNotOptimize(s);
    std::swap(previous, s);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_Snapshot1000Series);

void BM_Render1000Series(benchmark::State& state) {
  Registry reg;
  ThousandSeries series(reg);
  std::vector<Snapshot> snapshots;
  snapshots.push_back(reg.Snapshot(0));
  size_t bytes = 0;
  for (auto _ : state) {
    std::string text = RenderPrometheus(snapshots);
    bytes = text.size();
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}
BENCHMARK(BM_Render1000Series);

void BM_SnapshotAndRender1000Series(benchmark::State& state) {
  Registry reg;
  ThousandSeries series(reg);
  for (auto _ : state) {
    std::vector<Snapshot> snapshots;
    snapshots.push_back(reg.Snapshot(0));
    std::string text = RenderPrometheus(snapshots);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations() * 1000);
}
BENCHMARK(BM_SnapshotAndRender1000Series);

// 100 histograms of 16 buckets: 1,800 lines.
void BM_SnapshotAndRender100Histograms(benchmark::State& state) {
  Registry reg;
  std::vector<Histogram> hs;
  hs.reserve(100);
  for (int s = 0; s < 100; ++s) {
    Labels labels = {{"peer", std::to_string(s)}};
    hs.emplace_back(reg, "bench_latency_seconds", "Bench",
                    ExponentialBuckets(1e-6, 4, 16), std::move(labels));
    hs.back().Observe(1e-3 * s);
  }
  for (auto _ : state) {
    std::vector<Snapshot> snapshots;
    snapshots.push_back(reg.Snapshot(0));
    std::string text = RenderPrometheus(snapshots);
    benchmark::DoNotOptimize(text);
  }
  state.SetItemsProcessed(state.iterations() * 100);
}
BENCHMARK(BM_SnapshotAndRender100Histograms);

ThousandSeries* RegisterThousandSeries() {
  return new ThousandSeries(Registry::Current());
}

// ScrapeAll over 2 shards, each with 1000 series: items are series.
void BM_ScrapeAll2Shards(benchmark::State& state) {
  auto rt = *runtime::Runtime::Builder().Shards(2).Build();
  (void)rt->Run([&state]() -> Task<void> {
    Task<std::vector<ThousandSeries*>> create =
        runtime::InvokeOnAll(&RegisterThousandSeries);
    std::vector<ThousandSeries*> per_shard = co_await std::move(create);
    for (auto _ : state) {
      Task<std::string> scrape = ScrapeAll();
      std::string text = co_await std::move(scrape);
      benchmark::DoNotOptimize(text);
    }
    for (uint32_t s = 0; s < per_shard.size(); ++s) {
      ThousandSeries* series = per_shard[s];
      auto destroy = [series] { delete series; };
      co_await runtime::SpawnOn(s, destroy);
    }
  });
  state.SetItemsProcessed(state.iterations() * 2000);
}
BENCHMARK(BM_ScrapeAll2Shards)->UseRealTime();

}  // namespace
}  // namespace veloq::metrics
