#include "runtime/scope.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timeout.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::runtime {
namespace {

using namespace std::chrono_literals;
using veloq::testing::RunOnRuntime;
using veloq::testing::TestRuntimeOptions;

TestRuntimeOptions Virtual() {
  TestRuntimeOptions o;
  o.shards = 1;
  o.virtual_clock = true;
  return o;
}

Task<absl::Status> SleepThen(Duration d, absl::Status result,
                             std::vector<std::string>* log, std::string name) {
  absl::Status s = co_await Sleep(d);
  if (!s.ok()) {
    log->push_back(name + ":cancelled");
    co_return s;
  }
  log->push_back(name + ":done");
  co_return result;
}

TEST(TaskScopeTest, JoinWaitsForAllChildren) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    TaskScope scope;
    scope.Spawn(SleepThen(20ms, absl::OkStatus(), &log, "b"));
    scope.Spawn(SleepThen(10ms, absl::OkStatus(), &log, "a"));
    EXPECT_EQ(scope.outstanding(), 2u);
    absl::Status s = co_await scope.Join();
    EXPECT_TRUE(s.ok()) << s;
    EXPECT_EQ(scope.outstanding(), 0u);
    co_return log;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"a:done", "b:done"}));
}

TEST(TaskScopeTest, FirstErrorCancelsSiblingsAndPropagates) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    TaskScope scope;
    scope.Spawn(SleepThen(1h, absl::OkStatus(), &log, "slow1"));
    scope.Spawn(SleepThen(10ms, absl::InternalError("boom"), &log, "failing"));
    scope.Spawn(SleepThen(2h, absl::OkStatus(), &log, "slow2"));
    const TimePoint start = Now();
    absl::Status s = co_await scope.Join();
    EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
    EXPECT_EQ(s.message(), "boom");
    EXPECT_LT(Now() - start, 1s) << "siblings were not cancelled";
    co_return log;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"failing:done", "slow1:cancelled",
                                          "slow2:cancelled"}));
}

TEST(TaskScopeTest, StatusOrChildrenCountAsFailures) {
  absl::Status s = RunOnRuntime(Virtual(), []() -> Task<absl::Status> {
    TaskScope scope;
    scope.Spawn([]() -> Task<absl::StatusOr<int>> { co_return 7; }());
    scope.Spawn([]() -> Task<absl::StatusOr<int>> {
      co_return absl::NotFoundError("gone");
    }());
    scope.Spawn([]() -> Task<void> { co_return; }());
    co_return co_await scope.Join();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
}

TEST(TaskScopeTest, CancellingTheJoinerCancelsChildren) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    auto parent =
        Spawn([](std::vector<std::string>* log) -> Task<absl::Status> {
          TaskScope scope;
          scope.Spawn(SleepThen(1h, absl::OkStatus(), log, "child"));
          co_return co_await scope.Join();
        }(&log));
    co_await Yield();
    co_await Yield();
    parent.Cancel();
    absl::Status s = co_await parent;
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
    co_return log;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"child:cancelled"}));
}

TEST(TaskScopeTest, WithScopeJoinsAndReportsBodyErrors) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    absl::Status s =
        co_await WithScope([&](TaskScope& scope) -> Task<absl::Status> {
          scope.Spawn(SleepThen(1h, absl::OkStatus(), &log, "child"));
          co_return absl::InvalidArgumentError("body failed");
        });
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
    co_return log;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"child:cancelled"}));
}

TEST(WithTimeoutTest, ReturnsResultWhenInTime) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<absl::StatusOr<int>> {
    co_return co_await WithTimeout(1s, []() -> Task<int> {
      (void)co_await Sleep(10ms);
      co_return 5;
    }());
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 5);
}

TEST(WithTimeoutTest, DeadlineExceededCancelsTheTask) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<std::string>> {
    std::vector<std::string> log;
    const TimePoint start = Now();
    absl::Status s = co_await WithTimeout(
        50ms, SleepThen(1h, absl::OkStatus(), &log, "slow"));
    EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
    EXPECT_GE(Now() - start, 50ms);
    EXPECT_LT(Now() - start, 1s);
    co_return log;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"slow:cancelled"}));
}

TEST(WithTimeoutTest, VoidTasks) {
  absl::Status s = RunOnRuntime(Virtual(), []() -> Task<absl::Status> {
    co_return co_await WithTimeout(1s, []() -> Task<void> { co_return; }());
  });
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace veloq::runtime
