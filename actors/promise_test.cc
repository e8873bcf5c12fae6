#include "actors/promise.h"

#include <string>

#include "actors/actor_table.h"
#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;
using veloq::testing::TestRuntimeOptions;

// Keeps the promise of its first Later and answers it on the next Now.
struct Later {
  Promise<std::string> reply;
};
struct Now {
  std::string value;
};
class Deferring : public Actor {
 public:
  void Handle(Later m) { pending_ = std::move(m.reply); }
  void Handle(Now m) {
    if (pending_.valid()) pending_.Set(std::move(m.value));
  }

 private:
  Promise<std::string> pending_;
};

TEST(PromiseTest, AnsweredLaterFromAnotherShard) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    ActorRef<Deferring> d = co_await SpawnOn<Deferring>(1);
    auto [promise, future] = MakePromise<std::string>();
    d.Tell(Later{std::move(promise)});
    d.Tell(Now{"later"});
    absl::StatusOr<std::string> v = co_await future;
    co_return v.ok() ? *v : v.status().ToString();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "later");
}

TEST(PromiseTest, DroppedPromiseCancelsTheFuture) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::string> {
    ActorRef<Deferring> d = co_await SpawnOn<Deferring>(1);
    auto [promise, future] = MakePromise<std::string>();
    d.Tell(Later{std::move(promise)});
    d.Stop();  // destroys the actor, and the promise it kept
    co_return (co_await future).status().ToString();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "CANCELLED: promise dropped");
}

TEST(PromiseTest, DeadlineAndVoid) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    auto [p1, f1] = MakePromise<int>(2ms);
    absl::Status late = (co_await f1).status();
    auto [p2, f2] = MakePromise<void>();
    p2.Set(absl::OkStatus());
    absl::Status done = co_await f2;
    co_return late.ToString() + " / " + done.ToString();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "DEADLINE_EXCEEDED: ask: deadline exceeded / OK");
}

}  // namespace
}  // namespace veloq::actors
