#include "runtime/shard.h"

#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "runtime/remote.h"
#include "runtime/runtime.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/log_capture.h"
#include "testing/process_stats.h"
#include "testing/test_runtime.h"

namespace veloq::runtime {
namespace {

using namespace std::chrono_literals;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;
using veloq::testing::TestRuntimeOptions;

// --- Fairness: each of the tick's sources is bounded by its budget. ---

TEST(FairnessTest, InboundMessagesDoNotStarveLocalTasks) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<int64_t> {
    Shard* shard = Shard::Current();
    auto delivered = std::make_shared<int64_t>(0);
    constexpr int64_t kMessages = 100'000;
    for (int64_t i = 0; i < kMessages; ++i) {
      shard->runtime().Post(0, mesh::Message([delivered] { ++*delivered; }));
    }
    // All 100k are queued before this task yields. A tick resumes it up to
    // task_budget (256) times, then drains at most mesh_budget (256)
    // messages: 1000 yields span ~4 ticks and see ~4 * 256 delivered.
    for (int i = 0; i < 1000; ++i) co_await Yield();
    const int64_t seen = *delivered;
    while (*delivered < kMessages) co_await Yield();
    co_return seen;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_GT(*r, 0) << "messages were not interleaved with the task";
  EXPECT_LE(*r, 6 * 256) << "the message flood starved the local task";
}

TEST(FairnessTest, SpinningLocalTasksDoNotStarveMeshOrTimers) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    auto stop = std::make_shared<bool>(false);
    auto spinner = Spawn([](std::shared_ptr<bool> stop) -> Task<void> {
      while (!*stop) co_await Yield();
    }(stop));
    // A cross-shard round trip and a timer both complete while the spinner
    // is always runnable.
    const int v = co_await SpawnOn(1, [] { return 7; });
    const absl::Status slept = co_await Sleep(2ms);
    EXPECT_TRUE(slept.ok());
    *stop = true;
    co_await spinner;
    co_return v;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 7);
}

// A Parker that reports an endless stream of I/O completions.
class BusyParker final : public Parker {
 public:
  explicit BusyParker(std::unique_ptr<Parker> inner,
                      std::shared_ptr<std::atomic<uint64_t>> polls)
      : inner_(std::move(inner)), polls_(std::move(polls)) {}
  void Park(std::optional<TimePoint> d) override { inner_->Park(d); }
  void Wake() override { inner_->Wake(); }
  size_t Poll(size_t budget) override {
    polls_->fetch_add(1, std::memory_order_relaxed);
    return budget;  // as many completions as allowed, every time
  }

 private:
  std::unique_ptr<Parker> inner_;
  std::shared_ptr<std::atomic<uint64_t>> polls_;
};

TEST(FairnessTest, IoCompletionsAndTasksInterleave) {
  auto polls = std::make_shared<std::atomic<uint64_t>>(0);
  auto rt =
      Runtime::Builder()
          .Shards(1)
          .Pin(false)
          .Parkers(
              [polls](uint32_t) -> absl::StatusOr<std::unique_ptr<Parker>> {
                auto inner = EventfdParker::Create();
                if (!inner.ok()) return inner.status();
                return std::unique_ptr<Parker>(
                    new BusyParker(*std::move(inner), polls));
              })
          .Build();
  ASSERT_TRUE(rt.ok());
  auto r = (*rt)->Run([polls]() -> Task<std::vector<uint64_t>> {
    std::vector<uint64_t> seen;
    // The task progresses although I/O never runs dry, and I/O is polled
    // between its steps although the task is always runnable.
    for (int i = 0; i < 5; ++i) {
      seen.push_back(polls->load());
      for (int j = 0; j < 300; ++j) co_await Yield();  // > one task budget
    }
    co_return seen;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  for (size_t i = 1; i < r->size(); ++i) EXPECT_GT((*r)[i], (*r)[i - 1]);
}

// --- Parking ---

TEST(ParkTest, IdleShardsUseNoCpu) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<double> {
    co_await SpawnOn(1, [] {});  // both shards up and then idle
    const double before = veloq::testing::ProcessCpuSeconds();
    (void)co_await Sleep(300ms);
    co_return veloq::testing::ProcessCpuSeconds() - before;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  // Two parked shards for 300 ms: a spinning one would burn ~300 ms each.
  EXPECT_LT(*r, 0.05) << "CPU seconds while idle";
}

TEST(ParkTest, ParkedShardIsWokenByMessages) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    int sum = 0;
    for (int i = 0; i < 50; ++i) {
      (void)co_await Sleep(1ms);  // shard 1 parks in between
      sum += co_await SpawnOn(1, [i] { return i; });
    }
    co_return sum;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 49 * 50 / 2);
}

// IdleYield: a spinning shard calls sched_yield (counted) and still notices
// messages; without it, it never yields.
TEST(ParkTest, IdleYieldYieldsWhileSpinningAndStillServesMessages) {
  for (bool yield : {false, true}) {
    SCOPED_TRACE(yield ? "IdleYield(true)" : "IdleYield(false)");
    auto rt =
        Runtime::Builder().Shards(2).IdleSpin(1s).IdleYield(yield).Build();
    ASSERT_TRUE(rt.ok()) << rt.status();
    int sum = 0;
    ShardStats stats;
    absl::Status st = (*rt)->Run([&sum, &stats]() -> Task<void> {
      for (int i = 0; i < 50; ++i) {
        sum += co_await SubmitTo(1, [i] { return i; });
      }
      (void)co_await Sleep(5ms);  // shard 1 spins for work meanwhile
      // The first request's tick publishes the counters of the spin before
      // it; the second reads them.
      (void)co_await SubmitTo(1, [] { return 0; });
      stats = co_await SubmitTo(1, [] { return Shard::Current()->stats(); });
    });
    ASSERT_TRUE(st.ok()) << st;
    EXPECT_EQ(sum, 49 * 50 / 2);
    if (yield) {
      EXPECT_GT(stats.idle_yields, 0u);
    } else {
      EXPECT_EQ(stats.idle_yields, 0u);
    }
  }
}

// --- Shutdown ---

struct DestroyCounter {
  std::shared_ptr<std::atomic<int>> n;
  ~DestroyCounter() {
    if (n) n->fetch_add(1);
  }
};

TEST(ShutdownTest, PendingTasksAreCancelledOrDestroyed) {
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  auto cancelled = std::make_shared<std::atomic<int>>(0);
  TestRuntimeOptions o = Shards(2);
  o.shutdown_grace = 100ms;
  auto r = RunOnRuntime(o, [destroyed, cancelled]() -> Task<int> {
    for (uint32_t s = 0; s < 2; ++s) {
      // A named closure, not a temporary inside co_await: g++ 12 destroys
      // such temporaries' captures twice (docs/runtime.md).
      auto start_tasks = [destroyed, cancelled] {
        // Cooperative: returns when cancelled.
        Spawn([](auto d, auto c) -> Task<void> {
          DestroyCounter guard{d};
          absl::Status slept = co_await Sleep(1h);
          if (!slept.ok()) c->fetch_add(1);
        }(destroyed, cancelled))
            .Detach();
        // Uncooperative: ignores cancellation; destroyed after the grace.
        Spawn([](auto d) -> Task<void> {
          DestroyCounter guard{d};
          while (true) co_await Yield();
        }(destroyed))
            .Detach();
      };
      co_await SpawnOn(s, start_tasks);
    }
    co_return 1;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(cancelled->load(), 2);
  EXPECT_EQ(destroyed->load(), 4) << "every frame is destroyed at shutdown";
}

// A task left at the end of the grace period may hold the JoinHandle of
// another such task: whichever order their frames go in, nothing touches a
// destroyed frame (the child was once destroyed first, and the parent's
// handle then read its freed header: ASan caught it), and both go.
TEST(ShutdownTest, AJoinedTaskLeftAtShutdownIsDestroyedWithItsHandle) {
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  TestRuntimeOptions o = Shards(1);
  o.shutdown_grace = 50ms;
  auto r = RunOnRuntime(o, [destroyed]() -> Task<int> {
    auto child = [](auto d) -> Task<void> {
      DestroyCounter guard{d};
      co_await std::suspend_always{};  // never resumed, ignores cancel
    };
    auto parent = [child](auto d) -> Task<void> {
      DestroyCounter guard{d};
      auto h = Spawn(child(d), "child");
      co_await h;
    };
    Spawn(parent(destroyed), "parent").Detach();
    co_await Yield();
    co_await Yield();
    co_return 1;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(destroyed->load(), 2);
}

TEST(ShutdownTest, SignalStopsTheRootTaskGracefully) {
  auto rt = Runtime::Builder().Shards(2).Pin(false).HandleSignals(true).Build();
  ASSERT_TRUE(rt.ok());
  absl::Status s = (*rt)->Run([]() -> Task<absl::Status> {
    // Shard threads block SIGTERM; the thread in Run() takes it.
    ::kill(::getpid(), SIGTERM);
    absl::Status slept = co_await Sleep(1h);
    co_return slept;
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
}

// --- Stall detector ---

TEST(StallTest, ReportsTheTaskThatHeldTheShard) {
  std::string log;
  veloq::testing::LogCapture logs;
  TestRuntimeOptions o = Shards(1);
  o.stall_threshold = 5ms;
  auto r = RunOnRuntime(o, []() -> Task<uint64_t> {
    auto h = Spawn(
        []() -> Task<void> {
          const auto until = std::chrono::steady_clock::now() + 30ms;
          while (std::chrono::steady_clock::now() < until) {
          }
          co_return;
        }(),
        "busy_loop");
    co_await h;
    co_return Shard::Current()->stats().stalls;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  log = logs.text();
  EXPECT_NE(log.find("stall"), std::string::npos) << log;
  EXPECT_NE(log.find("shard 0"), std::string::npos) << log;
  EXPECT_NE(log.find("busy_loop"), std::string::npos) << log;
  EXPECT_NE(log.find("runtime/shard_test.cc"), std::string::npos) << log;
}

// A message from another shard runs in the receiving shard's mesh drain,
// not in a task: a slow one is reported as the drain's stall.
TEST(StallTest, ReportsAMessageThatHeldTheShard) {
  veloq::testing::LogCapture logs;
  TestRuntimeOptions o = Shards(2);
  o.stall_threshold = 5ms;
  auto r = RunOnRuntime(o, []() -> Task<uint64_t> {
    auto busy = [] {
      const auto until = std::chrono::steady_clock::now() + 30ms;
      while (std::chrono::steady_clock::now() < until) {
      }
      return Shard::Current()->id();
    };
    const uint32_t ran_on = co_await SubmitTo(1, busy);
    EXPECT_EQ(ran_on, 1u);
    co_return co_await SubmitTo(
        1, [] { return Shard::Current()->stats().stalls; });
  });
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string log = logs.text();
  EXPECT_NE(log.find("shard 1: stall"), std::string::npos) << log;
  EXPECT_NE(log.find("mesh drain"), std::string::npos) << log;
}

#if defined(__cpp_exceptions)
// A bare Shard::Send closure that throws on the receiving shard is logged,
// counted and dropped: the shard goes on with the messages behind it (in
// the same drain) and after it.
TEST(MessageExceptionTest, AThrowingMessageIsLoggedAndTheShardGoesOn) {
  veloq::testing::LogCapture logs;
  auto r = RunOnRuntime(Shards(2), []() -> Task<uint64_t> {
    // Lives in this frame, which outlives every closure below (each is
    // awaited behind); captured by plain pointer (g++ 12 mis-destroys
    // captures with destructors in a co_await operand).
    std::atomic<int> count{0};
    std::atomic<int>* ran = &count;
    Shard* here = Shard::Current();
    here->Send(1, mesh::Message([ran] { ++*ran; }));
    here->Send(1, mesh::Message([] { throw std::runtime_error("bad apple"); }));
    here->Send(1, mesh::Message([ran] { ++*ran; }));
    // Behind the three in the same ring: runs after them.
    const int seen = co_await SubmitTo(1, [ran] { return ran->load(); });
    EXPECT_EQ(seen, 2);
    co_return co_await SubmitTo(
        1, [] { return Shard::Current()->stats().message_exceptions; });
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 1u);
  const std::string log = logs.text();
  EXPECT_NE(log.find("shard 1: a message closure threw"), std::string::npos)
      << log;
  EXPECT_NE(log.find("bad apple"), std::string::npos) << log;
}
#endif

TEST(StallTest, QuickTasksAreNotReported) {
  veloq::testing::LogCapture logs;
  TestRuntimeOptions o = Shards(1);
  // Generous: the detector measures wall time, and a loaded CI machine may
  // preempt a shard thread mid-resume.
  o.stall_threshold = 1s;
  auto r = RunOnRuntime(o, []() -> Task<int> {
    for (int i = 0; i < 1000; ++i) co_await Yield();
    co_return 0;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(logs.text().find("stall"), std::string::npos) << logs.text();
}

// --- Stats ---

TEST(ShardStatsTest, CountTasksAndSpawns) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<ShardStats> {
    for (int i = 0; i < 10; ++i)
      co_await Spawn([]() -> Task<void> { co_return; }());
    (void)co_await Sleep(1ms);  // stats are published once per tick
    co_return Shard::Current()->stats();
  });
  ASSERT_TRUE(r.ok());
  EXPECT_GE(r->spawned, 11u);  // root + 10
  EXPECT_GE(r->tasks_run, 20u);
  EXPECT_GE(r->ticks, 1u);
}

}  // namespace
}  // namespace veloq::runtime
