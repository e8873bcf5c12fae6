#include "testing/eventually.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::testing {
namespace {

using namespace std::chrono_literals;
using runtime::Task;

TestRuntimeOptions VirtualClock() {
  TestRuntimeOptions o = Shards(2);
  o.virtual_clock = true;
  return o;
}

Task<void> SetAfter(bool* flag, runtime::Duration d) {
  (void)co_await runtime::Sleep(d);
  *flag = true;
}

TEST(EventuallyTest, TrueAtOnceReturnsWithoutWaiting) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    int calls = 0;
    auto holds = [&calls] {
      ++calls;
      return true;
    };
    const runtime::TimePoint start = runtime::Now();
    absl::Status s = co_await Eventually(holds, 1s);
    EXPECT_EQ(runtime::Now(), start);
    EXPECT_EQ(calls, 1);
    co_return s;
  });
  EXPECT_EQ(r, absl::OkStatus());
}

TEST(EventuallyTest, TrueLaterOnTheRealClock) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    bool flag = false;
    runtime::JoinHandle<void> setter = runtime::Spawn(SetAfter(&flag, 5ms));
    auto is_set = [&flag] { return flag; };
    const runtime::TimePoint start = runtime::Now();
    absl::Status s = co_await Eventually(is_set, 10s);
    EXPECT_TRUE(flag);
    EXPECT_GE(runtime::Now() - start, 5ms);
    EXPECT_LT(runtime::Now() - start, 5s);
    co_await setter;
    co_return s;
  });
  EXPECT_EQ(r, absl::OkStatus());
}

// On a virtual clock the wait is exact: polls at 10, 20, 30 ms see the flag
// set at 30 ms (its timer was queued first).
TEST(EventuallyTest, TrueLaterPollsAtTheGivenPeriod) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    bool flag = false;
    int calls = 0;
    runtime::JoinHandle<void> setter = runtime::Spawn(SetAfter(&flag, 30ms));
    auto is_set = [&] {
      ++calls;
      return flag;
    };
    const runtime::TimePoint start = runtime::Now();
    absl::Status s = co_await Eventually(is_set, 1s, 10ms);
    EXPECT_EQ(runtime::Now() - start, 30ms);
    EXPECT_EQ(calls, 4);
    co_await setter;
    co_return s;
  });
  EXPECT_EQ(r, absl::OkStatus());
}

TEST(EventuallyTest, NeverIsDeadlineExceededNamingTheCallSite) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    int calls = 0;
    auto never = [&calls] {
      ++calls;
      return false;
    };
    const runtime::TimePoint start = runtime::Now();
    const int line = __LINE__ + 1;
    absl::Status s = co_await Eventually(never, 250ms, 100ms);
    EXPECT_EQ(runtime::Now() - start, 250ms);
    EXPECT_EQ(calls, 4);  // at 0, 100, 200 and at the deadline, 250 ms
    EXPECT_EQ(s, absl::DeadlineExceededError(absl::StrCat(
                     "Eventually: condition still false after 250 ms (",
                     __FILE__, ":", line, ")")));
    co_return absl::OkStatus();
  });
  EXPECT_EQ(r, absl::OkStatus());
}

TEST(EventuallyTest, CancellingTheWaiterStopsIt) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    auto never = [] { return false; };
    runtime::JoinHandle<absl::Status> waiting =
        runtime::Spawn(Eventually(never, 10s));
    (void)co_await runtime::Sleep(5ms);
    waiting.Cancel();
    co_return co_await waiting;
  });
  EXPECT_EQ(r, runtime::CancelledStatus());
}

struct Add {};
struct Get {};

class Counter : public actors::Actor {
 public:
  void Handle(Add) { ++n_; }
  int Handle(Get) const { return n_; }

 private:
  int n_ = 0;
};

// A condition that awaits: ask an actor on shard 1, which another task on
// shard 1 feeds slowly.
TEST(EventuallyTest, AsyncConditionIsAwaitedEachPoll) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    actors::ActorRef<Counter> counter = co_await actors::SpawnOn<Counter>(1);
    auto feed = [counter]() -> Task<void> {
      for (int i = 0; i < 3; ++i) {
        (void)co_await runtime::Sleep(2ms);
        counter.Tell(Add{});
      }
    };
    runtime::RemoteJoinHandle<void> feeding = runtime::SpawnOn(1, feed);
    int asks = 0;
    auto reached_three = [counter, &asks]() -> Task<bool> {
      ++asks;
      absl::StatusOr<int> n = co_await counter.Ask(Get{});
      co_return n.ok() && *n == 3;
    };
    absl::Status s = co_await Eventually(reached_three, 10s);
    EXPECT_GT(asks, 1);
    co_await feeding;
    co_return s;
  });
  EXPECT_EQ(r, absl::OkStatus());
}

}  // namespace
}  // namespace veloq::testing
