#include "actors/virtual_actors.h"

#include <atomic>
#include <string>

#include "gtest/gtest.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::RunOnRuntime;

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

TEST(VirtualActorsTest, ActivatedByKeyDeactivatedWhenIdle) {
  activations = 0;
  auto r = RunOnRuntime({.shards = 2}, []() -> Task<absl::Status> {
    VirtualActors<Grain> grains = co_await VirtualActors<Grain>::Start(
        {.idle_timeout = 200ms, .sweep_every = 20ms});
    for (int i = 0; i < 100; ++i) {
      grains.Tell("a", Inc{});
      grains.Tell("b", Inc{});
    }
    absl::StatusOr<std::string> a = co_await grains.Ask("a", Value{});
    absl::StatusOr<std::string> b = co_await grains.Ask("b", Value{});
    const std::string want_a = "a=100@" + std::to_string(ShardFor("a", 2));
    if (!a.ok() || *a != want_a)
      co_return absl::InternalError(a.ok() ? *a : a.status().ToString());
    if (!b.ok() || b->rfind("b=100@", 0) != 0) {
      co_return absl::InternalError(b.ok() ? *b : b.status().ToString());
    }
    if (co_await grains.Active() != 2) co_return absl::InternalError("active");
    // Idle past the timeout: both deactivate.
    (void)co_await runtime::Sleep(600ms);
    if (size_t n = co_await grains.Active(); n != 0) {
      co_return absl::InternalError("still active: " + std::to_string(n));
    }
    // The next message activates "a" again, fresh.
    absl::StatusOr<std::string> again = co_await grains.Ask("a", Value{});
    if (!again.ok() || again->rfind("a=0@", 0) != 0) {
      co_return absl::InternalError(again.ok() ? *again
                                               : again.status().ToString());
    }
    if (activations.load() != 3) {
      co_return absl::InternalError("activations " +
                                    std::to_string(activations.load()));
    }
    grains.Stop();
    (void)co_await runtime::Sleep(2ms);
    co_return absl::OkStatus();
  });
  EXPECT_TRUE(r.ok()) << r;
}

}  // namespace
}  // namespace veloq::actors
