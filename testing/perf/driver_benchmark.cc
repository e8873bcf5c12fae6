// The io_uring driver against a bare liburing loop, in one binary:
//   bazel run -c opt //testing/perf:driver_benchmark
// items_per_second = NOPs submitted and completed per second (one shard).
#include <liburing.h>

#include <vector>

#include "benchmark/benchmark.h"
#include "io/driver.h"
#include "runtime/runtime.h"
#include "runtime/spawn.h"
#include "runtime/task.h"

namespace veloq {
namespace {

constexpr unsigned kBatch = 32;

std::unique_ptr<runtime::Runtime> OneShardWithDriver() {
  return *runtime::Runtime::Builder()
              .Shards(1)
              .Parkers(io::DriverParkers())
              .Build();
}

// The raw limit: submit kBatch NOPs with one io_uring_enter, reap them.
void BM_RawUringNop(benchmark::State& state) {
  io_uring ring;
  io_uring_params p{};
  p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  if (io_uring_queue_init_params(256, &ring, &p) != 0) {
    p.flags = 0;
    if (io_uring_queue_init_params(256, &ring, &p) != 0) {
      state.SkipWithError("io_uring unavailable");
      return;
    }
  }
  for (auto _ : state) {
    for (unsigned i = 0; i < kBatch; ++i)
      io_uring_prep_nop(io_uring_get_sqe(&ring));
    io_uring_submit_and_wait(&ring, kBatch);
    io_uring_cqe* cqes[kBatch];
    unsigned got = 0;
    while (got < kBatch) {
      const unsigned n = io_uring_peek_batch_cqe(&ring, cqes, kBatch - got);
      if (n == 0) {
        io_uring_cqe* c;
        io_uring_wait_cqe(&ring, &c);
        continue;
      }
      io_uring_cq_advance(&ring, n);
      got += n;
    }
  }
  io_uring_queue_exit(&ring);
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_RawUringNop)->UseRealTime();

// The same through the driver: kBatch tasks each co_await NOPs back to back
// (kRounds each), so up to kBatch are in flight and the shard submits them
// with one io_uring_enter per tick. Items: NOPs.
void BM_DriverNop(benchmark::State& state) {
  constexpr int kRounds = 64;
  auto rt = OneShardWithDriver();
  (void)rt->Run([&state]() -> runtime::Task<void> {
    io::Driver* d = io::Driver::Current();
    auto worker = [](io::Driver* d) -> runtime::Task<int> {
      int ok = 0;
      for (int i = 0; i < kRounds; ++i) ok += (co_await d->Nop()).ok();
      co_return ok;
    };
    std::vector<runtime::JoinHandle<int>> hs;
    hs.reserve(kBatch);
    while (state.KeepRunningBatch(kBatch * kRounds)) {
      for (unsigned i = 0; i < kBatch; ++i) {
        hs.push_back(runtime::Spawn(worker(d)));
      }
      for (auto& h : hs) benchmark::DoNotOptimize(co_await h);
      hs.clear();
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DriverNop)->UseRealTime();

// As BM_DriverNop, but a task is spawned and joined for every NOP.
void BM_DriverNopSpawnEach(benchmark::State& state) {
  auto rt = OneShardWithDriver();
  (void)rt->Run([&state]() -> runtime::Task<void> {
    io::Driver* d = io::Driver::Current();
    auto one = [](io::Driver* d) -> runtime::Task<int> {
      io::Result r = co_await d->Nop();
      co_return r.raw();
    };
    std::vector<runtime::JoinHandle<int>> hs;
    hs.reserve(kBatch);
    for (auto _ : state) {
      for (unsigned i = 0; i < kBatch; ++i)
        hs.push_back(runtime::Spawn(one(d)));
      for (auto& h : hs) benchmark::DoNotOptimize(co_await h);
      hs.clear();
    }
  });
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK(BM_DriverNopSpawnEach)->UseRealTime();

// One task awaiting NOPs back to back: the latency path (one enter each).
void BM_DriverNopSerial(benchmark::State& state) {
  auto rt = OneShardWithDriver();
  (void)rt->Run([&state]() -> runtime::Task<void> {
    io::Driver* d = io::Driver::Current();
    for (auto _ : state) benchmark::DoNotOptimize((co_await d->Nop()).raw());
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_DriverNopSerial)->UseRealTime();

}  // namespace
}  // namespace veloq
