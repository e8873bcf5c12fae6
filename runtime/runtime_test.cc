#include "runtime/runtime.h"

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"

namespace veloq::runtime {
namespace {

using namespace std::chrono_literals;

std::unique_ptr<Runtime> Make(uint32_t shards, bool virtual_clock = false) {
  auto rt = Runtime::Builder()
                .Shards(shards)
                .Pin(false)
                .VirtualClock(virtual_clock)
                .ShutdownGrace(2s)
                .Build();
  EXPECT_TRUE(rt.ok()) << rt.status();
  return *std::move(rt);
}

TEST(RuntimeTest, ReturnsRootValue) {
  auto rt = Make(2);
  absl::StatusOr<int> r = rt->Run([]() -> Task<int> { co_return 42; });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
}

TEST(RuntimeTest, RootStatusIsNotDoubleWrapped) {
  auto rt = Make(1);
  absl::Status s = rt->Run(
      []() -> Task<absl::Status> { co_return absl::NotFoundError("nope"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
}

TEST(RuntimeTest, RunTwiceFails) {
  auto rt = Make(1);
  EXPECT_TRUE(rt->Run([]() -> Task<void> { co_return; }).ok());
  EXPECT_EQ(rt->Run([]() -> Task<void> { co_return; }).code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(RuntimeTest, BuilderRejectsBadOptions) {
  EXPECT_FALSE(Runtime::Builder().Shards(100000).Build().ok());
  EXPECT_FALSE(Runtime::Builder().RingCapacity(1000).Build().ok());
  EXPECT_FALSE(Runtime::Builder().TaskBudget(0).Build().ok());
}

TEST(RuntimeTest, DefaultShardCountIsAffinityMask) {
  auto rt = Runtime::Builder().Build();
  ASSERT_TRUE(rt.ok());
  cpu_set_t set;
  CPU_ZERO(&set);
  ASSERT_EQ(sched_getaffinity(0, sizeof(set), &set), 0);
  EXPECT_EQ((*rt)->shard_count(), static_cast<uint32_t>(CPU_COUNT(&set)));
}

Task<int> Add(int a, int b) { co_return a + b; }

Task<int> Chain(int n) {
  int sum = 0;
  for (int i = 0; i < n; ++i) sum = co_await Add(sum, 1);
  co_return sum;
}

TEST(TaskTest, LongSynchronousChainsKeepTheStackFlat) {
  auto rt = Make(1);
  absl::StatusOr<int> r = rt->Run([]() { return Chain(1'000'000); });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, 1'000'000);
}

TEST(SpawnTest, RunsInFifoOrder) {
  auto rt = Make(1);
  auto r = rt->Run([]() -> Task<std::vector<int>> {
    std::vector<int> order;
    std::vector<JoinHandle<void>> hs;
    for (int i = 0; i < 10; ++i) {
      hs.push_back(Spawn([](std::vector<int>* o, int i) -> Task<void> {
        o->push_back(i);
        co_return;
      }(&order, i)));
    }
    for (auto& h : hs) co_await h;
    co_return order;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
}

TEST(SpawnTest, YieldInterleavesTasks) {
  auto rt = Make(1);
  auto r = rt->Run([]() -> Task<std::string> {
    std::string trace;
    auto worker = [](std::string* t, char c) -> Task<void> {
      for (int i = 0; i < 3; ++i) {
        t->push_back(c);
        co_await Yield();
      }
    };
    auto a = Spawn(worker(&trace, 'a'));
    auto b = Spawn(worker(&trace, 'b'));
    co_await a;
    co_await b;
    co_return trace;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "ababab");
}

TEST(TimerTest, SleepOrdersByDeadlineOnVirtualClock) {
  auto rt = Make(1, /*virtual_clock=*/true);
  auto r = rt->Run([]() -> Task<std::string> {
    std::string trace;
    auto sleeper = [](std::string* t, char c, Duration d) -> Task<void> {
      absl::Status s = co_await Sleep(d);
      EXPECT_TRUE(s.ok());
      t->push_back(c);
    };
    const TimePoint start = Now();
    auto a = Spawn(sleeper(&trace, 'c', 30s));
    auto b = Spawn(sleeper(&trace, 'a', 10s));
    auto c = Spawn(sleeper(&trace, 'b', 20s));
    co_await a;
    co_await b;
    co_await c;
    EXPECT_GE(Now() - start, 30s);
    EXPECT_LT(Now() - start, 31s);
    co_return trace;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, "abc");
}

TEST(CancelTest, CancelsASleepingTask) {
  auto rt = Make(1, /*virtual_clock=*/true);
  auto r = rt->Run([]() -> Task<absl::Status> {
    auto h =
        Spawn([]() -> Task<absl::Status> { co_return co_await Sleep(1h); }());
    co_await Yield();  // let it start sleeping
    const TimePoint t0 = Now();
    h.Cancel();
    absl::Status s = co_await h;
    EXPECT_LT(Now() - t0, 1s);
    co_return s;
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kCancelled);
}

}  // namespace
}  // namespace veloq::runtime
