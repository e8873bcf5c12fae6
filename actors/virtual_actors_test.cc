#include "actors/virtual_actors.h"

#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "runtime/timer.h"
#include "testing/eventually.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::Eventually;
using veloq::testing::Shards;

struct Inc {};
struct Value {};

std::atomic<int> activations{0};

// A grain: its key, a count kept only while it is active.
class Grain : public Actor {
 public:
  explicit Grain(std::string key) : key_(std::move(key)) {}
  void Handle(Inc) { ++n_; }
  std::string Handle(Value) const {
    return key_ + "=" + std::to_string(n_) + "@" +
           std::to_string(runtime::Shard::Current()->id());
  }

 protected:
  Task<absl::Status> OnStart() override {
    activations.fetch_add(1);
    co_return absl::OkStatus();
  }

 private:
  std::string key_;
  int n_ = 0;
};

VELOQ_TEST_WITH(VirtualActorsTest, ActivatedByKeyDeactivatedWhenIdle,
                Shards(2)) {
  activations = 0;
  VirtualActors<Grain>::Options options;
  options.idle_timeout = 200ms;
  options.sweep_every = 20ms;
  VirtualActors<Grain> grains = co_await VirtualActors<Grain>::Start(options);
  for (int i = 0; i < 100; ++i) {
    grains.Tell("a", Inc{});
    grains.Tell("b", Inc{});
  }
  absl::StatusOr<std::string> a = co_await grains.Ask("a", Value{});
  absl::StatusOr<std::string> b = co_await grains.Ask("b", Value{});
  CO_ASSERT_OK(a);
  CO_ASSERT_OK(b);
  EXPECT_EQ(*a, "a=100@" + std::to_string(ShardFor("a", 2)));
  EXPECT_TRUE(b->starts_with("b=100@")) << *b;
  size_t active = co_await grains.Active();
  EXPECT_EQ(active, 2u);
  // Idle past the timeout: both deactivate.
  auto all_idle = [&grains]() -> Task<bool> {
    size_t n = co_await grains.Active();
    co_return n == 0;
  };
  CO_ASSERT_OK(co_await Eventually(all_idle, 5s));
  // The next message activates "a" again, fresh.
  absl::StatusOr<std::string> again = co_await grains.Ask("a", Value{});
  CO_ASSERT_OK(again);
  EXPECT_TRUE(again->starts_with("a=0@")) << *again;
  EXPECT_EQ(activations.load(), 3);
  grains.Stop();
  (void)co_await runtime::Sleep(2ms);
}

}  // namespace
}  // namespace veloq::actors
