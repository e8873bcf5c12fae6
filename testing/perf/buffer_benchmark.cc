// Buffer pools against malloc/free, in one binary:
//   bazel run -c opt //testing/perf:buffer_benchmark
// Each iteration allocates kLive buffers of the argument's size and frees
// them all (buffers are held across I/O, so several are live at once);
// items_per_second = alloc/free pairs per second. Ours go through the full
// user path: BufPool::Allocate and FixedBuf destruction (the cache in front
// of the backing pool included, as in any -c opt build);
// BM_HybridTryAllocateFree is the same through TryAllocate's StatusOr.
#include <cstdlib>
#include <vector>

#include "benchmark/benchmark.h"
#include "io/buffer/buf_pool.h"

namespace veloq {
namespace {

constexpr int kLive = 32;

void BM_MallocFree(benchmark::State& state) {
  const size_t size = static_cast<size_t>(state.range(0));
  void* live[kLive];
  for (auto _ : state) {
    for (int i = 0; i < kLive; ++i) {
      live[i] = std::malloc(size);
      benchmark::DoNotOptimize(live[i]);
    }
    for (int i = 0; i < kLive; ++i) std::free(live[i]);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kLive);
}

template <bool kWithStatus = false>
void RunPool(benchmark::State& state, io::BufPool& pool) {
  const size_t size = static_cast<size_t>(state.range(0));
  std::vector<io::FixedBuf> live;
  live.reserve(kLive);
  for (auto _ : state) {
    for (int i = 0; i < kLive; ++i) {
      if constexpr (kWithStatus) {
        absl::StatusOr<io::FixedBuf> b = pool.TryAllocate(size);
        if (!b.ok()) {
          state.SkipWithError("pool exhausted");
          return;
        }
        live.push_back(*std::move(b));
      } else {
        live.push_back(pool.Allocate(size));
        if (!live.back().valid()) {
          state.SkipWithError("pool exhausted");
          return;
        }
      }
    }
    benchmark::DoNotOptimize(live.data());
    live.clear();
  }
  state.SetItemsProcessed(state.iterations() * kLive);
}

void BM_BuddyAllocFree(benchmark::State& state) {
  absl::StatusOr<io::BufPool> pool =
      io::BufPool::Buddy({.arena_bytes = 32 << 20}, nullptr);
  if (!pool.ok()) {
    state.SkipWithError("no pool");
    return;
  }
  RunPool(state, *pool);
}

void BM_HybridAllocFree(benchmark::State& state) {
  absl::StatusOr<io::BufPool> pool = io::BufPool::Hybrid(
      {.slots = {kLive, kLive, kLive, kLive, kLive}}, nullptr);
  if (!pool.ok()) {
    state.SkipWithError("no pool");
    return;
  }
  RunPool(state, *pool);
}

void BM_HybridTryAllocateFree(benchmark::State& state) {
  absl::StatusOr<io::BufPool> pool = io::BufPool::Hybrid(
      {.slots = {kLive, kLive, kLive, kLive, kLive}}, nullptr);
  RunPool<true>(state, *pool);
}

BENCHMARK(BM_MallocFree)->Arg(4096)->Arg(65536);
BENCHMARK(BM_BuddyAllocFree)->Arg(4096)->Arg(65536);
BENCHMARK(BM_HybridAllocFree)->Arg(4096)->Arg(65536);
BENCHMARK(BM_HybridTryAllocateFree)->Arg(4096);

}  // namespace
}  // namespace veloq

BENCHMARK_MAIN();
