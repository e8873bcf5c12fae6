#include "runtime/remote.h"

#include <atomic>
#include <memory>
#include <numeric>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::runtime {
namespace {

using namespace std::chrono_literals;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;
using veloq::testing::TestRuntimeOptions;

TEST(SpawnOnTest, RunsOnTheTargetShardAndReturnsTheResult) {
  auto r = RunOnRuntime(Shards(3), []() -> Task<std::vector<uint32_t>> {
    std::vector<uint32_t> where;
    for (uint32_t s = 0; s < 3; ++s) {
      where.push_back(
          co_await SpawnOn(s, [] { return Shard::Current()->id(); }));
    }
    co_return where;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<uint32_t>{0, 1, 2}));
}

// The SpawnOn message and the Cancel message leave in one batch, so the
// target drains both before the remote task has started: the cancel must
// not be lost (it was, once: the task then ran on forever).
TEST(SpawnOnTest, CancelBeforeTheRemoteTaskStartsIsNotLost) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    int cancelled = 0;
    for (int i = 0; i < 20; ++i) {
      auto h = SpawnOn(
          1, []() -> Task<absl::Status> { co_return co_await Sleep(10s); });
      h.Cancel();  // same tick as the spawn
      absl::Status s = co_await h;
      if (s.code() == absl::StatusCode::kCancelled) ++cancelled;
    }
    co_return cancelled;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 20);
}

TEST(SpawnOnTest, TaskFunctionsRunAsTasksThere) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    co_return co_await SpawnOn(1, []() -> Task<std::string> {
      (void)co_await Sleep(1ms);
      co_return "shard " + std::to_string(Shard::Current()->id());
    });
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "shard 1");
}

TEST(SpawnOnTest, MoveOnlyArgumentsAndResults) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    auto p = std::make_unique<int>(20);
    // Bound to a local first: g++ 12 destroys a closure temporary that owns
    // resources twice when it appears inside a co_await expression (see
    // docs/runtime.md, "Compiler notes").
    auto fn = [p = std::move(p)]() mutable {
      *p += 1;
      return std::move(p);
    };
    std::unique_ptr<int> back = co_await SpawnOn(1, std::move(fn));
    co_return *back;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 21);
}

TEST(SpawnOnTest, ResultReadyBeforeAwaitTakesTheNoMessagePath) {
  // The remote side finishes while the owner is busy (IDLE -> READY), then
  // the owner awaits: no suspension, the value is there.
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    auto h = SpawnOn(1, [] { return 9; });
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (!h.ready() && std::chrono::steady_clock::now() < until) {
      co_await Yield();
    }
    EXPECT_TRUE(h.ready());
    co_return co_await h;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 9);
}

TEST(SpawnOnTest, ManyConcurrentRoundTripsNoneLost) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<uint64_t> {
    std::vector<RemoteJoinHandle<uint64_t>> hs;
    constexpr uint64_t kN = 20000;  // more than a ring holds: overflow path
    for (uint64_t i = 0; i < kN; ++i) {
      hs.push_back(SpawnOn(1, [i] { return i; }));
    }
    uint64_t sum = 0;
    for (auto& h : hs) sum += co_await h;
    EXPECT_EQ(sum, kN * (kN - 1) / 2);
    co_return sum;
  });
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST(SpawnOnTest, CancelReachesTheRemoteTask) {
  absl::Status s = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    auto h = SpawnOn(
        1, []() -> Task<absl::Status> { co_return co_await Sleep(1h); });
    (void)co_await Sleep(5ms);
    h.Cancel();
    co_return co_await h;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
}

TEST(SpawnOnTest, CancellingTheAwaiterCancelsTheRemoteWork) {
  absl::Status s = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    auto waiter = Spawn([]() -> Task<absl::Status> {
      co_return co_await SpawnOn(
          1, []() -> Task<absl::Status> { co_return co_await Sleep(1h); });
    }());
    (void)co_await Sleep(5ms);
    waiter.Cancel();
    co_return co_await waiter;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
}

#if defined(__cpp_exceptions)
TEST(SpawnOnTest, ExceptionsAreRethrownToTheAwaiter) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    std::string got;
    try {
      (void)co_await SpawnOn(1, []() -> int {
        throw std::runtime_error("plain function failed");
      });
    } catch (const std::runtime_error& e) {
      got += e.what();
    }
    got += "; ";
    try {
      (void)co_await SpawnOn(1, []() -> Task<int> {
        co_await Yield();
        throw std::runtime_error("task failed");
      });
    } catch (const std::runtime_error& e) {
      got += e.what();
    }
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "plain function failed; task failed");
}
#endif

TEST(SpawnOnTest, PlainFunctionsRunInTheMessageHandlerWithoutATask) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<uint64_t> {
    auto spawned = [] { return Shard::Current()->stats().spawned; };
    const uint64_t before = co_await SpawnOn(1, spawned);
    for (int i = 0; i < 100; ++i) (void)co_await SpawnOn(1, [] { return 0; });
    (void)co_await Sleep(2ms);  // let shard 1 publish its stats
    const uint64_t after = co_await SpawnOn(1, spawned);
    co_return after - before;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 0u);
}

TEST(SubmitToTest, AwaitsTheResult) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    co_return co_await SubmitTo(1, [] { return 40 + 2; });
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 42);
}

TEST(SubmitToTest, RunsOnTheTargetIncludingTaskFunctionsAndVoid) {
  auto r = RunOnRuntime(Shards(3), []() -> Task<std::vector<uint32_t>> {
    std::vector<uint32_t> where;
    where.push_back(
        co_await SubmitTo(2, [] { return Shard::Current()->id(); }));
    where.push_back(co_await SubmitTo(1, []() -> Task<uint32_t> {
      (void)co_await Sleep(1ms);
      co_return Shard::Current()->id();
    }));
    where.push_back(
        co_await SubmitTo(0, [] { return Shard::Current()->id(); }));
    uint32_t seen = 99;
    uint32_t* out = &seen;
    co_await SubmitTo(2, [out] { *out = Shard::Current()->id(); });
    where.push_back(seen);
    co_return where;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<uint32_t>{2, 1, 0, 2}));
}

TEST(SubmitToTest, ManyConcurrentCallsEachGetTheirOwnReply) {
  TestRuntimeOptions o = Shards(2);
  auto r = RunOnRuntime(o, []() -> Task<uint64_t> {
    std::vector<JoinHandle<uint64_t>> hs;
    for (uint64_t i = 0; i < 5000; ++i) {
      hs.push_back(Spawn([](uint64_t i) -> Task<uint64_t> {
        co_return co_await SubmitTo(1, [i] { return i * 2; });
      }(i)));
    }
    uint64_t sum = 0;
    for (auto& h : hs) sum += co_await h;
    co_return sum;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 4999u * 5000u);
}

#if defined(__cpp_exceptions)
TEST(SubmitToTest, ExceptionsComeBack) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    try {
      (void)co_await SubmitTo(1,
                              []() -> int { throw std::runtime_error("no"); });
    } catch (const std::runtime_error& e) {
      co_return std::string(e.what());
    }
    co_return std::string("not thrown");
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "no");
}
#endif

TEST(SubmitToTest, AReplyForADestroyedAwaiterIsDropped) {
  TestRuntimeOptions o = Shards(2);
  o.shutdown_grace = 20ms;
  auto r = RunOnRuntime(o, []() -> Task<int> {
    // The awaiting task is detached; the runtime shuts down while shard 1
    // still sleeps, destroys the awaiting frame, and the reply (if it is
    // ever sent) finds no awaiter. ASan checks nothing touches freed memory.
    Spawn([]() -> Task<void> {
      (void)co_await SubmitTo(1, []() -> Task<int> {
        (void)co_await Sleep(50ms);
        co_return 1;
      });
    }())
        .Detach();
    (void)co_await Sleep(1ms);
    co_return 0;
  });
  ASSERT_TRUE(r.ok()) << r.status();
}

TEST(InvokeOnAllTest, RunsOncePerShardIndexedById) {
  auto r = RunOnRuntime(Shards(4), []() -> Task<std::vector<uint32_t>> {
    co_return co_await InvokeOnAll([] { return Shard::Current()->id() * 10; });
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<uint32_t>{0, 10, 20, 30}));
}

TEST(InvokeOnAllTest, VoidFunctions) {
  auto r = RunOnRuntime(Shards(3), []() -> Task<int> {
    auto count = std::make_shared<std::atomic<int>>(0);
    auto bump = [count] { count->fetch_add(1); };  // local: see above
    co_await InvokeOnAll(bump);
    co_return count->load();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 3);
}

TEST(MapReduceTest, FoldsInShardOrder) {
  auto r = RunOnRuntime(Shards(3), []() -> Task<std::string> {
    co_return co_await MapReduce(
        [] { return std::to_string(Shard::Current()->id()); },
        std::string("ids:"),
        [](std::string acc, std::string v) { return acc + v; });
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "ids:012");
}

TEST(SpawnBalancedTest, PicksTheLighterShard) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::vector<uint32_t>> {
    // Load shard 1 with many sleeping tasks, then let its load publish.
    co_await SpawnOn(1, [] {
      for (int i = 0; i < 200; ++i) {
        Spawn([]() -> Task<void> { (void)co_await Sleep(1h); }()).Detach();
      }
    });
    (void)co_await Sleep(5ms);
    std::vector<uint32_t> picks;
    for (int i = 0; i < 20; ++i) {
      picks.push_back(
          co_await SpawnBalanced([] { return Shard::Current()->id(); }));
    }
    co_return picks;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, std::vector<uint32_t>(20, 0u));
}

}  // namespace
}  // namespace veloq::runtime
