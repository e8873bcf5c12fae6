// pingpong: two actors on two shards bounce a ball; every hop crosses the
// mesh. Prints the rate, then the same on one shard for comparison.
//
//   bazel run -c opt //samples/pingpong -- --hops=1000000
#include <chrono>
#include <cstdio>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "actors/promise.h"
#include "runtime/runtime.h"

ABSL_FLAG(int32_t, hops, 200000, "messages per run");

namespace veloq {
namespace {

using actors::ActorRef;
using actors::Promise;
using runtime::Task;

class Player;
struct Ball {
  int32_t left;
};
struct Partner {
  ActorRef<Player> other;
};
struct Serve {
  int32_t hops;
  Promise<void> done;
};

// Returns the ball until none are left; the player holding the promise
// answers it when the last hop arrives.
class Player : public actors::Actor {
 public:
  void Handle(Partner p) { other_ = p.other; }
  void Handle(Serve s) {
    done_ = std::move(s.done);
    other_.Tell(Ball{s.hops - 1});
  }
  void Handle(Ball b) {
    if (b.left == 0) {
      if (done_.valid()) done_.Set(absl::OkStatus());
      return;
    }
    other_.Tell(Ball{b.left - 1});
  }

 private:
  ActorRef<Player> other_;
  Promise<void> done_;
};

// Bounces `hops` messages between a player here and one on `shard`;
// returns the time it took.
Task<absl::StatusOr<double>> Rally(uint32_t shard, int32_t hops) {
  ActorRef<Player> a = actors::Spawn<Player>();
  ActorRef<Player> b = co_await actors::SpawnOn<Player>(shard);
  a.Tell(Partner{b});
  b.Tell(Partner{a});
  // An even count ends at `a`, which holds the promise.
  hops += hops % 2;
  auto [promise, future] = actors::MakePromise<void>();
  const auto start = std::chrono::steady_clock::now();
  a.Tell(Serve{hops, std::move(promise)});
  absl::Status s = co_await future;
  const std::chrono::duration<double> took =
      std::chrono::steady_clock::now() - start;
  a.Stop();
  b.Stop();
  if (!s.ok()) co_return s;
  co_return took.count();
}

}  // namespace
}  // namespace veloq

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int32_t hops = absl::GetFlag(FLAGS_hops);
  auto rt = veloq::runtime::Runtime::Builder().Shards(2).Build();
  if (!rt.ok()) {
    std::fprintf(stderr, "pingpong: %s\n", rt.status().ToString().c_str());
    return 1;
  }
  absl::Status s = (*rt)->Run([hops]() -> veloq::runtime::Task<absl::Status> {
    for (int round = 0; round < 2; ++round) {
      const uint32_t shard = round == 0 ? 1 : 0;  // across first, then within
      absl::StatusOr<double> t = co_await veloq::Rally(shard, hops);
      if (!t.ok()) co_return t.status();
      std::printf("%s: %d hops in %.1f ms, %.2f M hops/s\n",
                  shard == 1 ? "across shards 0 <-> 1" : "within shard 0",
                  hops + hops % 2, *t * 1e3, (hops + hops % 2) / *t / 1e6);
    }
    co_return absl::OkStatus();
  });
  if (!s.ok()) {
    std::fprintf(stderr, "pingpong: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
