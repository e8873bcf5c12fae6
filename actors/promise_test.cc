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
using veloq::testing::Shards;

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

VELOQ_TEST_WITH(PromiseTest, AnsweredLaterFromAnotherShard, Shards(2)) {
  ActorRef<Deferring> d = co_await SpawnOn<Deferring>(1);
  auto [promise, future] = MakePromise<std::string>();
  d.Tell(Later{std::move(promise)});
  d.Tell(Now{"later"});
  absl::StatusOr<std::string> v = co_await future;
  CO_ASSERT_OK(v);
  EXPECT_EQ(*v, "later");
}

VELOQ_TEST_WITH(PromiseTest, DroppedPromiseCancelsTheFuture, Shards(2)) {
  ActorRef<Deferring> d = co_await SpawnOn<Deferring>(1);
  auto [promise, future] = MakePromise<std::string>();
  d.Tell(Later{std::move(promise)});
  d.Stop();  // destroys the actor, and the promise it kept
  absl::StatusOr<std::string> v = co_await future;
  EXPECT_EQ(v.status(), absl::CancelledError("promise dropped"));
}

VELOQ_TEST_WITH(PromiseTest, DeadlineAndVoid, Shards(1)) {
  auto [p1, f1] = MakePromise<int>(2ms);
  absl::StatusOr<int> late = co_await f1;
  EXPECT_EQ(late.status(),
            absl::DeadlineExceededError("ask: deadline exceeded"));
  auto [p2, f2] = MakePromise<void>();
  p2.Set(absl::OkStatus());
  absl::Status done = co_await f2;
  EXPECT_TRUE(done.ok()) << done;
}

}  // namespace
}  // namespace veloq::actors
