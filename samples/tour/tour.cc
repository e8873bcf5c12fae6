// A tour of the runtime: starts one shard per CPU, and shows what each piece
// does, printing what happened. Ctrl-C stops it gracefully.
//
//   bazel run //samples/tour -- [--shards=N] [--round_trips=N]
#include <sched.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "runtime/remote.h"
#include "runtime/run_blocking.h"
#include "runtime/runtime.h"
#include "runtime/scope.h"
#include "runtime/spawn.h"
#include "runtime/timeout.h"
#include "runtime/timer.h"

ABSL_FLAG(uint32_t, shards, 0, "shards to run (0: one per CPU)");
ABSL_FLAG(int, round_trips, 100000, "cross-shard round trips to time");

namespace {

using namespace std::chrono_literals;
using veloq::runtime::InvokeOnAll;
using veloq::runtime::MapReduce;
using veloq::runtime::RunBlocking;
using veloq::runtime::Shard;
using veloq::runtime::Sleep;
using veloq::runtime::SpawnOn;
using veloq::runtime::Task;
using veloq::runtime::TaskScope;
using veloq::runtime::WithTimeout;

Task<absl::Status> Tour(int round_trips) {
  Shard* here = Shard::Current();
  const uint32_t n = here->shard_count();
  std::printf("veloq tour: %u shard(s)\n", n);

  auto where = [] {
    return absl::StrFormat("shard %u on cpu %d", Shard::Current()->id(),
                           sched_getcpu());
  };
  std::vector<std::string> placements = co_await InvokeOnAll(where);
  for (const std::string& p : placements) std::printf("  %s\n", p.c_str());

  // Cross-shard round trips over the mesh (to the last shard and back).
  const uint32_t peer = n - 1;
  const auto t0 = std::chrono::steady_clock::now();
  uint64_t sum = 0;
  for (int i = 0; i < round_trips; ++i) {
    sum += co_await SpawnOn(peer, [i] { return static_cast<uint64_t>(i); });
  }
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0)
          .count();
  std::printf("%d round trips shard %u -> %u -> %u: %.0f ns each (sum %llu)\n",
              round_trips, here->id(), peer, here->id(),
              secs * 1e9 / round_trips, static_cast<unsigned long long>(sum));

  // Map-reduce over every shard.
  auto ids = [] { return static_cast<uint64_t>(Shard::Current()->id()); };
  const uint64_t id_sum = co_await MapReduce(
      ids, uint64_t{0}, [](uint64_t a, uint64_t b) { return a + b; });
  std::printf("map-reduce of shard ids: %llu\n",
              static_cast<unsigned long long>(id_sum));

  // Structured concurrency: three children, one per shard round-robin.
  TaskScope scope;
  for (int i = 0; i < 3; ++i) {
    scope.Spawn([](int i) -> Task<absl::Status> {
      absl::Status s = co_await Sleep(std::chrono::milliseconds(10 * (i + 1)));
      std::printf("  scope child %d woke after %d ms\n", i, 10 * (i + 1));
      co_return s;
    }(i));
  }
  absl::Status scoped = co_await scope.Join();
  std::printf("task scope joined: %s\n", scoped.ToString().c_str());

  // A deadline.
  absl::Status timed = co_await WithTimeout(
      5ms, []() -> Task<absl::Status> { co_return co_await Sleep(1s); }());
  std::printf("1 s sleep under a 5 ms deadline: %s\n",
              timed.ToString().c_str());

  // Blocking work off the shards.
  const std::string blocking = co_await RunBlocking([] {
    std::this_thread::sleep_for(2ms);
    return std::string("done on the blocking pool");
  });
  std::printf("blocking call: %s, back on shard %u\n", blocking.c_str(),
              Shard::Current()->id());

  for (uint32_t i = 0; i < n; ++i) {
    const auto s = here->runtime().shard(i).stats();
    std::printf("  shard %u: tasks_run=%llu ticks=%llu parks=%llu\n", i,
                static_cast<unsigned long long>(s.tasks_run),
                static_cast<unsigned long long>(s.ticks),
                static_cast<unsigned long long>(s.parks));
  }
  co_return absl::OkStatus();
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto rt = veloq::runtime::Runtime::Builder()
                .Shards(absl::GetFlag(FLAGS_shards))
                .HandleSignals(true)
                .Build();
  if (!rt.ok()) {
    std::fprintf(stderr, "tour: %s\n", rt.status().ToString().c_str());
    return 1;
  }
  const int round_trips = absl::GetFlag(FLAGS_round_trips);
  absl::Status s = (*rt)->Run([round_trips] { return Tour(round_trips); });
  std::printf("runtime stopped: %s\n", s.ToString().c_str());
  return s.ok() ? 0 : 1;
}
