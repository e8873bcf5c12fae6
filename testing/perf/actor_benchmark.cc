// Veloq side of the Savina-style actor benchmark (run with -c opt):
//   bazel run -c opt //testing/perf:actor_benchmark
//
// The CAF 0.17 counterparts (BM_Caf_*) are in the same binary
// (caf_workloads.cc) with the same parameters; items_per_second compares
// directly. Veloq runs a runtime of VELOQ_BENCH_SHARDS shards (default 2;
// testing/perf/bench_shards.h), and CAF a scheduler of as many threads when
// the variable is set; every case records its count in the "shards" counter.
// One iteration is one whole workload, from spawning its actors until the
// last has stopped.
//
//   BM_Veloq_PingPongSameShard   200,000 messages between two actors on one
//                                shard. Items: messages.
//   BM_Veloq_PingPongCrossShard  the same with the actors on shards 0 and 1:
//                                every message crosses the mesh. Needs 2+
//                                shards (an error otherwise).
//   BM_Veloq_Counting            a producer actor on shard 0 tells 1,000,000
//                                increments to a counter on shard 1 (shard 0
//                                when there is only one), then asks it for
//                                the count (checked).
//   BM_Veloq_CountingSameShard   the same, both on shard 0.
//   BM_Veloq_ThreadRing          100 actors in a ring on shard 0 pass a
//                                token 1,000,000 hops. Items: hops.
//   BM_Veloq_ForkJoinCreation    100,000 actors split evenly over the shards,
//                                each sent one message right after its spawn
//                                on its own shard; it handles it and stops.
//                                Items: actors.
//   BM_Veloq_Big                 120 actors dealt round-robin over the
//                                shards, each sends 5,000 pings one at a time
//                                to random peers and waits for each pong.
//                                Items: 1,200,000.
//
//   BM_RawRingPingPong           no actors: the floor of a ping-pong between
//                                two cores (below). Items: hops.
//
// PingPong, Counting and ThreadRing use at most two shards whatever the
// count, so more shards only add idle ones; ForkJoinCreation and Big spread
// over all of them.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "actors/actor.h"
#include "actors/actor_table.h"
#include "actors/promise.h"
#include "benchmark/benchmark.h"
#include "runtime/remote.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "testing/perf/bench_shards.h"
#include "testing/perf/pin.h"

namespace veloq::actors {
namespace {

using runtime::Task;

// The runtime's shard count: VELOQ_BENCH_SHARDS, 2 when unset.
uint32_t Shards() {
  static const uint32_t shards = testing::perf::BenchShards(2);
  return shards;
}

std::unique_ptr<runtime::Runtime> MakeRuntime() {
  return *runtime::Runtime::Builder().Shards(Shards()).Build();
}

// Runs `workload` (a Task<absl::Status>() callable) once per iteration on
// shard 0 of a fresh runtime.
template <typename F>
void RunIterations(benchmark::State& state, int64_t items, F workload) {
  auto rt = MakeRuntime();
  state.counters["shards"] = rt->shard_count();
  absl::Status result = rt->Run([&]() -> Task<absl::Status> {
    for (auto _ : state) {
      absl::Status s = co_await workload();
      if (!s.ok()) co_return s;
    }
    co_return absl::OkStatus();
  });
  if (!result.ok()) state.SkipWithError(result.ToString().c_str());
  state.SetItemsProcessed(state.iterations() * items);
}

// --- The floor of a cross-core ping-pong ---
// Two threads pinned to CPUs 0 and 1 bounce one 8-byte item through two
// minimal rings (a slot and a release-published tail each way), one item in
// flight: the floor for any ping-pong between cores built on rings, such as
// PingPongCrossShard. In this binary so that the two are measured in the
// same run, interleaved (the 2-core VM's line transfer cost changes by 4x
// over minutes). Items: hops (messages), as in the PingPong cases.
void BM_RawRingPingPong(benchmark::State& state) {
  constexpr uint64_t kCap = 1024;
  struct alignas(128) Index {
    std::atomic<uint64_t> v{0};
  };
  struct OneWay {
    alignas(128) uint64_t slots[kCap] = {};
    Index tail;
    alignas(128) uint64_t write = 0;  // producer-private
    alignas(128) uint64_t read = 0;   // consumer-private
  };
  auto put = [](OneWay& q, uint64_t v) {
    q.slots[q.write & (kCap - 1)] = v;
    q.tail.v.store(++q.write, std::memory_order_release);
  };
  // Returns ~0 once `stop` is set while waiting.
  auto get = [](OneWay& q, const std::atomic<bool>& stop) -> uint64_t {
    while (q.tail.v.load(std::memory_order_acquire) == q.read) {
      if (stop.load(std::memory_order_relaxed)) return ~uint64_t{0};
    }
    return q.slots[q.read++ & (kCap - 1)];
  };
  auto ping = std::make_unique<OneWay>();
  auto pong = std::make_unique<OneWay>();
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    testing::perf::Pin(1);
    while (true) {
      const uint64_t v = get(*ping, stop);
      if (v == ~uint64_t{0}) return;
      put(*pong, v + 1);
    }
  });
  testing::perf::ScopedPin pin(0);
  uint64_t v = 0;
  for (auto _ : state) {
    put(*ping, v);
    v = get(*pong, stop);
  }
  stop.store(true);
  echo.join();
  benchmark::DoNotOptimize(v);
  state.SetItemsProcessed(state.iterations() * 2);
}
BENCHMARK(BM_RawRingPingPong)->UseRealTime();

// --- PingPong ---

class Pinger;
struct Ball {
  int32_t left;
};
struct Serve {
  ActorRef<Pinger> pinger;
  int32_t messages;
  Promise<void> done;
};

class Ponger : public Actor {
 public:
  void Handle(Ball b);
  ActorRef<Pinger> pinger;
};

class Pinger : public Actor {
 public:
  void Handle(ActorRef<Ponger> p) { ponger_ = p; }
  void Handle(Serve s) {
    done_ = std::move(s.done);
    ponger_.Tell(Ball{s.messages - 1});
  }
  void Handle(Ball b) {
    if (b.left == 0) {
      done_.Set(absl::OkStatus());
      return;
    }
    ponger_.Tell(Ball{b.left - 1});
  }

 private:
  ActorRef<Ponger> ponger_;
  Promise<void> done_;
};

struct SetPinger {
  ActorRef<Pinger> p;
};

// Message k (from 1) carries left = 200,000 - k: the ponger gets the odd
// ones (left >= 1), the pinger the even ones and finishes at left == 0.
void Ponger::Handle(Ball b) { pinger.Tell(Ball{b.left - 1}); }

class PongerWithSetup : public Ponger {
 public:
  using Ponger::Handle;
  void Handle(SetPinger s) { pinger = s.p; }
};

void PingPong(benchmark::State& state, uint32_t pong_shard) {
  constexpr int32_t kMessages = 200'000;
  if (pong_shard >= Shards()) {
    state.SkipWithError("needs 2+ shards (VELOQ_BENCH_SHARDS)");
    return;
  }
  RunIterations(state, kMessages, [pong_shard]() -> Task<absl::Status> {
    ActorRef<Pinger> ping = Spawn<Pinger>();
    ActorRef<PongerWithSetup> pong =
        co_await SpawnOn<PongerWithSetup>(pong_shard);
    (void)co_await pong.Ask(SetPinger{ping});
    ping.Tell(ActorRef<Ponger>(pong.address()));
    auto [promise, future] = MakePromise<void>();
    ping.Tell(Serve{ping, kMessages, std::move(promise)});
    absl::Status s = co_await future;
    ping.Stop();
    pong.Stop();
    co_return s;
  });
}

void BM_Veloq_PingPongSameShard(benchmark::State& state) { PingPong(state, 0); }
BENCHMARK(BM_Veloq_PingPongSameShard)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

void BM_Veloq_PingPongCrossShard(benchmark::State& state) {
  PingPong(state, 1);
}
BENCHMARK(BM_Veloq_PingPongCrossShard)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- Counting ---

struct Increment {};
struct CountQuery {};
class CounterActor : public Actor {
 public:
  void Handle(Increment) { ++n_; }
  int64_t Handle(CountQuery) const { return n_; }

 private:
  int64_t n_ = 0;
};

struct Produce {
  ActorRef<CounterActor> counter;
  int32_t n;
};
class Producer : public Actor {
 public:
  Task<int64_t> Handle(Produce p) {
    for (int32_t i = 0; i < p.n; ++i) p.counter.Tell(Increment{});
    absl::StatusOr<int64_t> n = co_await p.counter.Ask(CountQuery{});
    co_return n.ok() ? *n : -1;
  }
};

void Counting(benchmark::State& state, uint32_t counter_shard) {
  constexpr int32_t kIncrements = 1'000'000;
  RunIterations(state, kIncrements, [counter_shard]() -> Task<absl::Status> {
    ActorRef<Producer> producer = Spawn<Producer>();
    ActorRef<CounterActor> counter =
        co_await SpawnOn<CounterActor>(counter_shard);
    absl::StatusOr<int64_t> n =
        co_await producer.Ask(Produce{counter, kIncrements});
    producer.Stop();
    counter.Stop();
    if (!n.ok()) co_return n.status();
    if (*n != kIncrements) co_return absl::InternalError("wrong count");
    co_return absl::OkStatus();
  });
}

void BM_Veloq_Counting(benchmark::State& state) {
  Counting(state, std::min<uint32_t>(1, Shards() - 1));
}
BENCHMARK(BM_Veloq_Counting)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Veloq_CountingSameShard(benchmark::State& state) { Counting(state, 0); }
BENCHMARK(BM_Veloq_CountingSameShard)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- ThreadRing ---

class RingMember;
struct Token {
  int32_t hops_left;
};
struct Next {
  ActorRef<RingMember> next;
};
struct Finish {
  Promise<void> done;
};
class RingMember : public Actor {
 public:
  void Handle(Next n) { next_ = n.next; }
  void Handle(Finish f) { done_ = std::move(f.done); }
  void Handle(Token t) {
    if (t.hops_left == 0) {
      done_.Set(absl::OkStatus());
      return;
    }
    next_.Tell(Token{t.hops_left - 1});
  }

 private:
  ActorRef<RingMember> next_;
  Promise<void> done_;
};

void BM_Veloq_ThreadRing(benchmark::State& state) {
  constexpr int32_t kMembers = 100;
  constexpr int32_t kHops = 1'000'000;
  RunIterations(state, kHops, []() -> Task<absl::Status> {
    std::vector<ActorRef<RingMember>> ring;
    ring.reserve(kMembers);
    for (int32_t i = 0; i < kMembers; ++i) ring.push_back(Spawn<RingMember>());
    for (int32_t i = 0; i < kMembers; ++i) {
      ring[i].Tell(Next{ring[(i + 1) % kMembers]});
    }
    // The member that sees hops_left == 0 answers: hop k lands on member
    // k % kMembers.
    auto [promise, future] = MakePromise<void>();
    ring[kHops % kMembers].Tell(Finish{std::move(promise)});
    ring[0].Tell(Token{kHops});
    absl::Status s = co_await future;
    for (auto& m : ring) m.Stop();
    co_return s;
  });
}
BENCHMARK(BM_Veloq_ThreadRing)->Unit(benchmark::kMillisecond)->UseRealTime();

// --- ForkJoinCreation ---

// A shard's share of the fork: counts its workers' ends.
struct ForkState {
  int32_t left;
  Promise<void> done;
};
struct Work {};
class ForkWorker : public Actor {
 public:
  explicit ForkWorker(ForkState* fork) : fork_(fork) {}
  void Handle(Work) { Stop(); }

 protected:
  Task<void> OnStop() override {
    if (--fork_->left == 0) fork_->done.Set(absl::OkStatus());
    co_return;
  }

 private:
  ForkState* fork_;
};

Task<absl::Status> ForkHere(int32_t n) {
  auto [promise, future] = MakePromise<void>();
  ForkState fork{n, std::move(promise)};
  for (int32_t i = 0; i < n; ++i) Spawn<ForkWorker>(&fork).Tell(Work{});
  co_return co_await future;
}

void BM_Veloq_ForkJoinCreation(benchmark::State& state) {
  constexpr int32_t kWorkers = 100'000;
  RunIterations(state, kWorkers, []() -> Task<absl::Status> {
    // Shard s forks kWorkers / n workers, one more if s < kWorkers % n.
    auto fork = [] {
      const runtime::Shard* here = runtime::Shard::Current();
      const int32_t n = static_cast<int32_t>(here->shard_count());
      const int32_t s = static_cast<int32_t>(here->id());
      return ForkHere(kWorkers / n + (s < kWorkers % n ? 1 : 0));
    };
    std::vector<absl::Status> joined = co_await runtime::InvokeOnAll(fork);
    for (const absl::Status& s : joined) {
      if (!s.ok()) co_return s;
    }
    co_return absl::OkStatus();
  });
}
BENCHMARK(BM_Veloq_ForkJoinCreation)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// --- Big ---

class BigActor;
struct BigSetup {
  std::vector<ActorRef<BigActor>> peers;
  uint32_t self;
};
struct BigPing {
  ActorRef<BigActor> from;
};
struct BigPong {};
struct BigGo {};
// Shared by the workload's actors: how many have not finished yet.
struct BigDone {
  std::atomic<int32_t> left;
  Promise<void> done;
};

class BigActor : public Actor {
 public:
  BigActor(BigDone* done, int32_t pings) : done_(done), pings_(pings) {}
  void Handle(BigSetup s) {
    peers_ = std::move(s.peers);
    self_ = s.self;
    rng_.seed(s.self + 1);
  }
  void Handle(BigGo) { PingSomeone(); }
  void Handle(BigPing p) { p.from.Tell(BigPong{}); }
  void Handle(BigPong) {
    if (--pings_ > 0) {
      PingSomeone();
    } else if (done_->left.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      done_->done.Set(absl::OkStatus());
    }
  }

 private:
  void PingSomeone() {
    std::uniform_int_distribution<uint32_t> pick(0, peers_.size() - 2);
    uint32_t i = pick(rng_);
    if (i >= self_) ++i;  // never itself
    peers_[i].Tell(BigPing{peers_[self_]});
  }

  BigDone* done_;
  int32_t pings_;
  std::vector<ActorRef<BigActor>> peers_;
  uint32_t self_ = 0;
  std::minstd_rand rng_;
};

void BM_Veloq_Big(benchmark::State& state) {
  constexpr int32_t kActors = 120;
  constexpr int32_t kPings = 5'000;
  RunIterations(
      state, int64_t{kActors} * kPings * 2, []() -> Task<absl::Status> {
        auto [promise, future] = MakePromise<void>();
        BigDone done{kActors, std::move(promise)};
        std::vector<ActorRef<BigActor>> actors;
        for (int32_t i = 0; i < kActors; ++i) {
          actors.push_back(
              co_await SpawnOn<BigActor>(i % Shards(), &done, kPings));
        }
        for (int32_t i = 0; i < kActors; ++i) {
          actors[i].Tell(BigSetup{actors, static_cast<uint32_t>(i)});
        }
        for (auto& a : actors) a.Tell(BigGo{});
        absl::Status s = co_await future;
        for (auto& a : actors) a.Stop();
        co_return s;
      });
}
BENCHMARK(BM_Veloq_Big)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace veloq::actors
