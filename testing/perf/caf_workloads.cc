// CAF 0.17 side of the Savina-style actor benchmark (run with -c opt).
//
// The Veloq counterparts (BM_Veloq_*) live in the same binary, in
// testing/perf/actor_benchmark.cc, and run the same five workloads with the
// same parameters, so their items_per_second compare directly with these.
//
//   BM_Caf_PingPong          Two actors bounce one message 200,000 times
//                            (100,000 round trips). Items: messages.
//   BM_Caf_Counting          A producer sends 1,000,000 `increment` messages to
//                            a counter, then asks it (request/response) for the
//                            count and checks it. Items: increments.
//   BM_Caf_ThreadRing        100 actors in a ring pass one token 1,000,000
//                            hops; the token carries the hops left. Items:
//                            hops.
//   BM_Caf_ForkJoinCreation  100,000 actors are spawned; each is sent one
//                            message right after its spawn, handles it and
//                            quits. Items: actors.
//   BM_Caf_Big               120 actors each send 5,000 pings, one at a time,
//                            to uniformly random peers (never themselves); each
//                            ping is answered with a pong, and the next ping
//                            goes out when the pong comes in. Items: pings and
//                            pongs, 1,200,000.
//
// One iteration is one whole workload: from spawning its actors until the last
// of them has terminated, so no actor outlives its iteration. All cases share
// one caf::actor_system with the default config (CAF 0.17 gives its scheduler
// max(4, cores) worker threads), except that VELOQ_BENCH_SHARDS=N, when set,
// gives it N, as many as the Veloq side's shards (bench_shards.h); every case
// records the worker count in the "shards" counter.
//
// The benchmark thread waits with actor_system::await_all_actors_done: the
// BM_Caf_* cases run one at a time and are the system's only users, so "no
// actor running" is exactly "this iteration's workload is over". Messages
// that only set up or tear down a workload (handing out peers, stop waves,
// completion reports) are not counted as items; they are under 0.1% of any
// count.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <random>
#include <vector>

#include "benchmark/benchmark.h"
#include "caf/all.hpp"
#include "testing/perf/bench_shards.h"

namespace veloq {
namespace {

using count_atom = caf::atom_constant<caf::atom("count")>;
using done_atom = caf::atom_constant<caf::atom("done")>;
using increment_atom = caf::atom_constant<caf::atom("increment")>;
using next_atom = caf::atom_constant<caf::atom("next")>;
using peers_atom = caf::atom_constant<caf::atom("peers")>;
using ping_atom = caf::atom_constant<caf::atom("ping")>;
using pong_atom = caf::atom_constant<caf::atom("pong")>;
using stop_atom = caf::atom_constant<caf::atom("stop")>;
using token_atom = caf::atom_constant<caf::atom("token")>;
using work_atom = caf::atom_constant<caf::atom("work")>;

// The system is created on first use (System below) and deliberately never
// destroyed: CAF 0.17.6's ~actor_system corrupts the heap when it runs from
// exit()'s static destructors (a function-local `static caf::actor_system`
// aborts at exit even in an otherwise empty program), while one destroyed
// before main returns is fine. Every workload ends with all its actors
// terminated, so at exit the scheduler's threads are idle. Its config lives as
// long: the system keeps a reference to it.
caf::actor_system& MakeSystem() {
  auto* config = new caf::actor_system_config;
  if (const uint32_t threads = testing::perf::BenchShards(0); threads > 0) {
    config->set("scheduler.max-threads", size_t{threads});
  }
  return *new caf::actor_system(*config);
}

// The shared system; records its scheduler's worker count in the case's
// "shards" counter, beside the Veloq cases' shard count.
caf::actor_system& System(benchmark::State& state) {
  static caf::actor_system& system = MakeSystem();
  state.counters["shards"] = system.scheduler().num_workers();
  return system;
}

// ---------------------------------------------------------------------------
// ThreadRing, and PingPong as its two-member case.

struct RingMemberState {
  caf::actor next;
};

// Forwards the token to `next` while hops remain. The member that receives the
// token with no hops left starts a stop wave: `(stop, n)` tells its receiver to
// quit and to pass the wave on to n more members, so every member quits once
// and no message is left in flight.
caf::behavior RingMember(caf::stateful_actor<RingMemberState>* self,
                         int32_t members) {
  auto stop = [self](int32_t members_left) {
    if (members_left > 0) {
      self->send(self->state.next, stop_atom::value, members_left - 1);
    }
    self->quit();
  };
  return {
      [self](next_atom, const caf::actor& next) { self->state.next = next; },
      [self, stop, members](token_atom, int32_t hops_left) {
        if (hops_left > 0) {
          self->send(self->state.next, token_atom::value, hops_left - 1);
        } else {
          stop(members - 1);
        }
      },
      [stop](stop_atom, int32_t members_left) { stop(members_left); },
  };
}

// Runs a ring of `members` actors whose token is delivered `hops` times in
// all; the benchmark thread injects the first delivery.
void RunRing(benchmark::State& state, int32_t members, int32_t hops) {
  caf::actor_system& system = System(state);
  for (auto _ : state) {
    std::vector<caf::actor> ring;
    ring.reserve(members);
    for (int32_t i = 0; i < members; ++i) {
      ring.push_back(system.spawn(RingMember, members));
    }
    // Every `next` is enqueued before the token exists, so no member sees the
    // token before it knows where to pass it.
    for (int32_t i = 0; i < members; ++i) {
      caf::anon_send(ring[i], next_atom::value, ring[(i + 1) % members]);
    }
    caf::anon_send(ring[0], token_atom::value, hops - 1);
    system.await_all_actors_done();
  }
  state.SetItemsProcessed(state.iterations() * hops);
}

void BM_Caf_PingPong(benchmark::State& state) {
  RunRing(state, /*members=*/2, /*hops=*/200'000);
}
BENCHMARK(BM_Caf_PingPong)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_Caf_ThreadRing(benchmark::State& state) {
  RunRing(state, /*members=*/100, /*hops=*/1'000'000);
}
BENCHMARK(BM_Caf_ThreadRing)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------
// Counting.

struct CounterState {
  int64_t count = 0;
};

caf::behavior Counter(caf::stateful_actor<CounterState>* self) {
  return {
      [self](increment_atom) { ++self->state.count; },
      [self](count_atom) { return self->state.count; },
      [self](stop_atom) { self->quit(); },
  };
}

// Sends `increments` increments to `counter`, then asks for its count, stores
// the answer in `*observed`, stops the counter and quits. The pending request
// keeps the producer alive although it has no behavior of its own.
caf::behavior Producer(caf::event_based_actor* self, caf::actor counter,
                       int32_t increments, int64_t* observed) {
  for (int32_t i = 0; i < increments; ++i) {
    self->send(counter, increment_atom::value);
  }
  self->request(counter, caf::infinite, count_atom::value)
      .then([self, counter, observed](int64_t count) {
        *observed = count;
        self->send(counter, stop_atom::value);
        self->quit();
      });
  return {};
}

void BM_Caf_Counting(benchmark::State& state) {
  constexpr int32_t kIncrements = 1'000'000;
  caf::actor_system& system = System(state);
  for (auto _ : state) {
    int64_t observed = -1;
    caf::actor counter = system.spawn(Counter);
    system.spawn(Producer, counter, kIncrements, &observed);
    system.await_all_actors_done();
    if (observed != kIncrements) {
      state.SkipWithError("counter lost or duplicated increments");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kIncrements);
}
BENCHMARK(BM_Caf_Counting)->Unit(benchmark::kMillisecond)->UseRealTime();

// ---------------------------------------------------------------------------
// ForkJoinCreation.

caf::behavior ForkJoinWorker(caf::event_based_actor* self,
                             std::atomic<int32_t>* handled) {
  return {
      [self, handled](work_atom) {
        handled->fetch_add(1, std::memory_order_relaxed);
        self->quit();
      },
  };
}

void BM_Caf_ForkJoinCreation(benchmark::State& state) {
  constexpr int32_t kWorkers = 100'000;
  caf::actor_system& system = System(state);
  for (auto _ : state) {
    std::atomic<int32_t> handled{0};
    // The benchmark thread forks, as Savina's driver does. Forking from inside
    // an actor is 10-20x slower on CAF 0.17: every spawn lands in that worker's
    // work-stealing deque, and the idle workers spin on its lock to steal the
    // new actors one at a time.
    for (int32_t i = 0; i < kWorkers; ++i) {
      caf::anon_send(system.spawn(ForkJoinWorker, &handled), work_atom::value);
    }
    system.await_all_actors_done();
    if (handled.load(std::memory_order_relaxed) != kWorkers) {
      state.SkipWithError("a worker did not handle exactly one message");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * kWorkers);
}
BENCHMARK(BM_Caf_ForkJoinCreation)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

// ---------------------------------------------------------------------------
// Big.

struct BigWorkerState {
  std::vector<caf::actor> peers;
  std::minstd_rand rng;
  int32_t pongs_left = 0;
};

// Starts pinging when it learns its peers, and reports `done` to `sink` after
// its last pong. It keeps answering pings until the sink says `stop`, which
// comes only when every worker is done, so no ping or pong is in flight then.
caf::behavior BigWorker(caf::stateful_actor<BigWorkerState>* self,
                        int32_t index, int32_t pings, caf::actor sink) {
  self->state.rng.seed(static_cast<uint32_t>(index) + 1);
  auto send_ping = [self, index] {
    BigWorkerState& s = self->state;
    std::uniform_int_distribution<int32_t> pick(
        0, static_cast<int32_t>(s.peers.size()) - 2);
    int32_t peer = pick(s.rng);
    if (peer >= index) ++peer;
    self->send(s.peers[peer], ping_atom::value);
  };
  return {
      [self, pings, send_ping](peers_atom,
                               const std::vector<caf::actor>& peers) {
        self->state.peers = peers;
        self->state.pongs_left = pings;
        send_ping();
      },
      [self](ping_atom) {
        self->send(caf::actor_cast<caf::actor>(self->current_sender()),
                   pong_atom::value);
      },
      [self, sink, send_ping](pong_atom) {
        if (--self->state.pongs_left > 0) {
          send_ping();
        } else {
          self->send(sink, done_atom::value);
        }
      },
      [self](stop_atom) { self->quit(); },
  };
}

struct BigSinkState {
  std::vector<caf::actor> workers;
  size_t running = 0;
};

// Counts `done` reports and stops every worker after the last one.
caf::behavior BigSink(caf::stateful_actor<BigSinkState>* self) {
  return {
      [self](peers_atom, const std::vector<caf::actor>& workers) {
        self->state.workers = workers;
        self->state.running = workers.size();
      },
      [self](done_atom) {
        if (--self->state.running > 0) return;
        for (const caf::actor& worker : self->state.workers) {
          self->send(worker, stop_atom::value);
        }
        self->quit();
      },
  };
}

void BM_Caf_Big(benchmark::State& state) {
  constexpr int32_t kWorkers = 120;
  constexpr int32_t kPings = 5'000;
  caf::actor_system& system = System(state);
  for (auto _ : state) {
    caf::actor sink = system.spawn(BigSink);
    std::vector<caf::actor> workers;
    workers.reserve(kWorkers);
    for (int32_t i = 0; i < kWorkers; ++i) {
      workers.push_back(system.spawn(BigWorker, i, kPings, sink));
    }
    // The sink learns the workers before any of them can finish.
    caf::anon_send(sink, peers_atom::value, workers);
    for (const caf::actor& worker : workers) {
      caf::anon_send(worker, peers_atom::value, workers);
    }
    system.await_all_actors_done();
  }
  state.SetItemsProcessed(state.iterations() * kWorkers * kPings * 2);
}
BENCHMARK(BM_Caf_Big)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace veloq
