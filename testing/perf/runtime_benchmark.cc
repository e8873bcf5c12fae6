// Runtime micro-benchmarks (run with -c opt):
//   bazel run -c opt //testing/perf:runtime_benchmark
// Each case runs inside a one-shard runtime; items_per_second counts the
// operation named by the case.
#include <chrono>

#include "benchmark/benchmark.h"
#include "runtime/runtime.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::runtime {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Runtime> OneShard() {
  return *Runtime::Builder().Shards(1).Build();
}

Task<int> Empty() { co_return 1; }

// Spawn an empty task and await its JoinHandle, on one shard.
void BM_SpawnJoinLocal(benchmark::State& state) {
  auto rt = OneShard();
  (void)rt->Run([&state]() -> Task<void> {
    for (auto _ : state) {
      int v = co_await Spawn(Empty());
      benchmark::DoNotOptimize(v);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpawnJoinLocal)->UseRealTime();

// Await a Task inline (no spawn): the cost of a coroutine call.
void BM_AwaitInline(benchmark::State& state) {
  auto rt = OneShard();
  (void)rt->Run([&state]() -> Task<void> {
    for (auto _ : state) {
      int v = co_await Empty();
      benchmark::DoNotOptimize(v);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_AwaitInline)->UseRealTime();

// Yield with another task runnable: one reschedule per item.
void BM_YieldLocal(benchmark::State& state) {
  auto rt = OneShard();
  (void)rt->Run([&state]() -> Task<void> {
    bool stop = false;
    auto other = Spawn([](bool* stop) -> Task<void> {
      while (!*stop) co_await Yield();
    }(&stop));
    for (auto _ : state) co_await Yield();
    stop = true;
    co_await other;
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_YieldLocal)->UseRealTime();

// Arm a timer that is already due and let the shard fire it.
void BM_TimerArmFire(benchmark::State& state) {
  auto rt = OneShard();
  (void)rt->Run([&state]() -> Task<void> {
    for (auto _ : state) {
      absl::Status s = co_await SleepUntil(Now() + 1ns);
      benchmark::DoNotOptimize(s);
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_TimerArmFire)->UseRealTime();

}  // namespace
}  // namespace veloq::runtime
