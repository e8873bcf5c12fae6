// Mesh benchmarks, ours beside the physical limits, in one binary so that
// every ratio comes from one run on one machine:
//   bazel run -c opt //testing/perf:mesh_benchmark
// items_per_second is messages (one-way cases) or round trips per second.
// BM_MeshAllToAll runs one shard per core, or VELOQ_BENCH_SHARDS shards when
// that is set (testing/perf/bench_shards.h); the other cases use one or two
// shards or pinned threads. BM_RawSpscRingLineItems is the raw ring with
// the mesh's item shape (one 64-byte slot a message): how far 8-byte items
// (BM_RawSpscRing) are from what one message a line can reach.
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <thread>
#include <vector>

#include "benchmark/benchmark.h"
#include "io/driver.h"
#include "mesh/message.h"
#include "mesh/prefetch.h"
#include "mesh/spsc_ring.h"
#include "runtime/remote.h"
#include "runtime/runtime.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "testing/perf/bench_shards.h"
#include "testing/perf/pin.h"

namespace veloq {
namespace {

using namespace std::chrono_literals;
using runtime::Runtime;
using runtime::Shard;
using runtime::Task;

using testing::perf::Pin;
using testing::perf::ScopedPin;

// ---- Physical limits ----

// Two pinned threads bounce one cache line: the floor for any cross-core
// round trip.
void BM_CacheLineRoundTrip(benchmark::State& state) {
  alignas(128) std::atomic<uint64_t> line{0};
  std::atomic<bool> stop{false};
  std::thread echo([&] {
    Pin(1);
    uint64_t expect = 1;
    while (true) {
      uint64_t v;
      while ((v = line.load(std::memory_order_acquire)) != expect) {
        if (stop.load(std::memory_order_relaxed)) return;
      }
      line.store(v + 1, std::memory_order_release);
      expect = v + 2;
    }
  });
  ScopedPin pin(0);
  uint64_t v = 0;
  for (auto _ : state) {
    line.store(v + 1, std::memory_order_release);
    while (line.load(std::memory_order_acquire) != v + 2) {
    }
    v += 2;
  }
  stop.store(true);
  echo.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CacheLineRoundTrip)->UseRealTime();

// A minimal batched SPSC ring between two pinned threads: the producer
// stages kBatch items with put(slot, i), then publishes; the consumer takes
// what is published with take(slot, &sum). With kPrefetchWrite the producer
// also asks for each line 16 lines ahead (once the consumer has released
// it) before writing the line's first item, as SpscRing does.
template <typename Item, bool kPrefetchWrite = false, typename Put,
          typename Take>
void RawRing(benchmark::State& state, Put put, Take take) {
  constexpr size_t kCap = 1024;
  struct alignas(128) Index {
    std::atomic<uint64_t> v{0};
  };
  static Item slots[kCap];
  Index head, tail;
  std::atomic<bool> stop{false};
  std::thread consumer([&] {
    Pin(1);
    uint64_t h = 0, sum = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const uint64_t t = tail.v.load(std::memory_order_acquire);
      if (t == h) continue;
      for (; h != t; ++h) take(slots[h & (kCap - 1)], &sum);
      head.v.store(h, std::memory_order_release);
    }
    benchmark::DoNotOptimize(sum);
  });
  ScopedPin pin(0);
  uint64_t t = 0, cached_head = 0;
  constexpr uint64_t kBatch = 64;
  for (auto _ : state) {
    while (t + kBatch - cached_head > kCap) {
      cached_head = head.v.load(std::memory_order_acquire);
    }
    for (uint64_t i = 0; i < kBatch; ++i) {
      if constexpr (kPrefetchWrite) {
        constexpr uint64_t kPerLine = 64 / sizeof(Item);
        constexpr uint64_t kAhead = 16 * kPerLine;
        if ((t + i) % kPerLine == 0 && t + i + kAhead - cached_head < kCap) {
          mesh::PrefetchForWrite(&slots[(t + i + kAhead) & (kCap - 1)]);
        }
      }
      put(slots[(t + i) & (kCap - 1)], t + i);
    }
    t += kBatch;
    tail.v.store(t, std::memory_order_release);
  }
  while (head.v.load(std::memory_order_acquire) != t) {
  }
  stop.store(true);
  consumer.join();
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// 8-byte items, eight to a cache line: the raw limit of the hardware.
template <bool kPrefetchWrite>
void RawSpscRing(benchmark::State& state) {
  RawRing<uint64_t, kPrefetchWrite>(
      state, [](uint64_t& slot, uint64_t i) { slot = i; },
      [](const uint64_t& slot, uint64_t* sum) { *sum += slot; });
}
void BM_RawSpscRing(benchmark::State& state) { RawSpscRing<false>(state); }
BENCHMARK(BM_RawSpscRing)->UseRealTime();
// The same with write prefetch: the limit for a producer that uses it.
void BM_RawSpscRingPrefetchW(benchmark::State& state) {
  RawSpscRing<true>(state);
}
BENCHMARK(BM_RawSpscRingPrefetchW)->UseRealTime();

// Items shaped like the mesh's: one 64-byte slot each, the producer writing
// a function pointer and one word (a small closure), the consumer calling
// it. The limit for one Message per cache line, without the mesh's
// bookkeeping.
struct alignas(64) LineItem {
  void (*fn)(const LineItem&, uint64_t*);
  uint64_t word;
};
[[gnu::noinline]] void AddWord(const LineItem& item, uint64_t* sum) {
  *sum += item.word;
}
template <bool kPrefetchWrite>
void RawSpscRingLineItems(benchmark::State& state) {
  RawRing<LineItem, kPrefetchWrite>(
      state,
      [](LineItem& slot, uint64_t i) {
        slot.fn = &AddWord;
        slot.word = i;
      },
      [](const LineItem& slot, uint64_t* sum) { slot.fn(slot, sum); });
}
void BM_RawSpscRingLineItems(benchmark::State& state) {
  RawSpscRingLineItems<false>(state);
}
BENCHMARK(BM_RawSpscRingLineItems)->UseRealTime();
void BM_RawSpscRingLineItemsPrefetchW(benchmark::State& state) {
  RawSpscRingLineItems<true>(state);
}
BENCHMARK(BM_RawSpscRingLineItemsPrefetchW)->UseRealTime();

// Keeps the calling thread busy (no syscall, no yield) for `d`.
void BusyFor(std::chrono::nanoseconds d) {
  const auto end = std::chrono::steady_clock::now() + d;
  while (std::chrono::steady_clock::now() < end) {
  }
}

// Two threads ping-pong through eventfds, each blocking in read(2): the cost
// of waking a sleeping thread, both ways.
void BM_EventfdWakeRoundTrip(benchmark::State& state) {
  const int to_echo = eventfd(0, EFD_CLOEXEC);
  const int to_main = eventfd(0, EFD_CLOEXEC);
  std::thread echo([&] {
    Pin(1);
    uint64_t v;
    while (read(to_echo, &v, 8) == 8 && v != 2) {
      const uint64_t one = 1;
      if (write(to_main, &one, 8) != 8) return;
    }
  });
  ScopedPin pin(0);
  for (auto _ : state) {
    const uint64_t one = 1;
    uint64_t v;
    if (write(to_echo, &one, 8) != 8 || read(to_main, &v, 8) != 8) {
      state.SkipWithError("eventfd");
      break;
    }
  }
  const uint64_t two = 2;
  (void)!write(to_echo, &two, 8);
  echo.join();
  close(to_echo);
  close(to_main);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventfdWakeRoundTrip)->UseRealTime();

// One side asleep: the echo thread blocks in read(2) on an eventfd; the
// main thread keeps busy 100 us (long enough for the echo thread to be
// asleep), writes the eventfd, then spins on a cache line until the woken echo
// thread bumps it. One kernel wake-up and one line transfer: the floor for
// a request to a parked shard whose requester spins for the reply
// (BM_SubmitToRoundTripParked). Only the round trip is timed.
void BM_EventfdWakeRoundTripSpinningRequester(benchmark::State& state) {
  const int to_echo = eventfd(0, EFD_CLOEXEC);
  alignas(128) std::atomic<uint64_t> replies{0};
  std::thread echo([&] {
    Pin(1);
    uint64_t v;
    while (read(to_echo, &v, 8) == 8 && v == 1) {
      replies.fetch_add(1, std::memory_order_release);
    }
  });
  ScopedPin pin(0);
  uint64_t expect = 0;
  for (auto _ : state) {
    BusyFor(100us);
    const auto start = std::chrono::steady_clock::now();
    const uint64_t one = 1;
    if (write(to_echo, &one, 8) != 8) {
      state.SkipWithError("eventfd");
      break;
    }
    ++expect;
    while (replies.load(std::memory_order_acquire) != expect) {
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
            .count());
  }
  const uint64_t two = 2;
  (void)!write(to_echo, &two, 8);
  echo.join();
  close(to_echo);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventfdWakeRoundTripSpinningRequester)->UseManualTime();

// ---- Ours ----

std::unique_ptr<Runtime> TwoShards(runtime::Duration idle_spin) {
  return *Runtime::Builder().Shards(2).IdleSpin(idle_spin).Build();
}

// Shard 0 sends small messages to shard 1 (each bumps a counter there);
// published once per tick in batches.
void BM_MeshOneWay(benchmark::State& state) {
  auto rt = TwoShards(1s);
  (void)rt->Run([&state]() -> Task<void> {
    Shard* here = Shard::Current();
    // Touched on shard 1 only, on a line of its own (the coroutine frame's
    // other fields are written by shard 0 on every message).
    struct alignas(128) Counter {
      uint64_t n = 0;
    };
    auto received = std::make_unique<Counter>();
    uint64_t* counter = &received->n;
    uint64_t sent = 0;
    mesh::Mesh& mesh = here->mesh();
    for (auto _ : state) {
      here->Send(1, mesh::Message([counter] { ++*counter; }));
      // Backpressure: when the ring is full, let the tick end (and the
      // receiver catch up) instead of piling messages into overflow.
      ++sent;
      if (mesh.OverflowDepth(0, 1) > 0) co_await runtime::Yield();
    }
    // Wait until shard 1 has run every message.
    auto count = [counter] { return *counter; };
    while (co_await runtime::SpawnOn(1, count) < sent) {
    }
  });
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MeshOneWay)->UseRealTime();

// A read on a pipe that nobody writes until the end: an op in flight on
// the calling shard, as a server's shards have (accepts, receives).
Task<size_t> ReadOnePipeByte(int fd) {
  io::BufResult r = co_await io::Driver::Current()->Read(
      fd, io::FixedBuf::Heap(8), io::Driver::kNoOffset);
  co_return r.buf.size();
}

// How a round-trip case is set up.
struct RoundTripCase {
  runtime::Duration idle_spin = 50us;  // both shards
  bool spawn_on = false;               // SpawnOn instead of SubmitTo
  runtime::Runtime::ParkerFactory parkers = nullptr;
  bool io_in_flight = false;  // a pipe read pending on each shard
  // > 0: shard 0 keeps busy this long (BusyFor: no syscall, no yield)
  // before each request, so that shard 1, whose idle spin is shorter, is
  // parked when the request comes; only the round trip itself is timed
  // (UseManualTime).
  runtime::Duration gap{0};
};

// Shard 0 makes a request of shard 1 and awaits the reply, per iteration.
// Counter "target_parks": shard 1's parks per round trip (1: it slept
// between every two requests; 0: it never slept).
void RoundTrips(benchmark::State& state, RoundTripCase c) {
  runtime::Runtime::Builder b;
  b.Shards(2).IdleSpin(c.idle_spin);
  if (c.parkers) b.Parkers(std::move(c.parkers));
  auto rt = *b.Build();
  int pipes[2][2];
  if (c.io_in_flight && pipe(pipes[0]) != 0) {
    state.SkipWithError("pipe");
    return;
  }
  if (c.io_in_flight && pipe(pipes[1]) != 0) {
    close(pipes[0][0]);
    close(pipes[0][1]);
    state.SkipWithError("pipe");
    return;
  }
  uint64_t target_parks = 0;
  (void)rt->Run([&state, &c, &pipes, &target_parks]() -> Task<void> {
    uint64_t sum = 0;
    auto one = [] { return 1; };
    auto parks = [] { return Shard::Current()->stats().parks; };
    runtime::JoinHandle<size_t> here;
    runtime::RemoteJoinHandle<size_t> there_reader;
    if (c.io_in_flight) {
      here = runtime::Spawn(ReadOnePipeByte(pipes[0][0]));
      there_reader = runtime::SpawnOn(
          1, [fd = pipes[1][0]] { return ReadOnePipeByte(fd); });
      // Both reads are in the kernel before the first round trip.
      auto in_flight = [] { return io::Driver::Current()->in_flight(); };
      size_t there = 0;
      while (there == 0 || in_flight() == 0) {
        there = co_await runtime::SubmitTo(1, in_flight);
      }
    }
    const uint64_t parks_before = co_await runtime::SubmitTo(1, parks);
    if (c.gap.count() > 0) {
      for (auto _ : state) {
        BusyFor(c.gap);
        const auto start = std::chrono::steady_clock::now();
        sum += co_await runtime::SubmitTo(1, one);
        state.SetIterationTime(std::chrono::duration<double>(
                                   std::chrono::steady_clock::now() - start)
                                   .count());
      }
    } else if (c.spawn_on) {
      for (auto _ : state) sum += co_await runtime::SpawnOn(1, one);
    } else {
      for (auto _ : state) sum += co_await runtime::SubmitTo(1, one);
    }
    benchmark::DoNotOptimize(sum);
    target_parks = co_await runtime::SubmitTo(1, parks) - parks_before;
    if (c.io_in_flight) {
      for (auto& p : pipes) (void)!write(p[1], "x", 1);
      sum += co_await here;
      sum += co_await there_reader;
    }
  });
  if (c.io_in_flight) {
    for (auto& p : pipes) {
      close(p[0]);
      close(p[1]);
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["target_parks"] =
      static_cast<double>(target_parks) /
      static_cast<double>(std::max<int64_t>(state.iterations(), 1));
}

// SubmitTo + await, target shard busy polling (never parks).
void BM_SubmitToRoundTripSpinning(benchmark::State& state) {
  RoundTrips(state, {.idle_spin = 1s});
}
BENCHMARK(BM_SubmitToRoundTripSpinning)->UseRealTime();

// The same with io_uring drivers and a read in flight on each shard, as a
// server's shards have (sockets waiting for data): each idle poll also
// polls the driver for completions.
void BM_SubmitToRoundTripSpinningIoInFlight(benchmark::State& state) {
  RoundTrips(
      state,
      {.idle_spin = 1s, .parkers = io::DriverParkers(), .io_in_flight = true});
}
BENCHMARK(BM_SubmitToRoundTripSpinningIoInFlight)->UseRealTime();

// The same without IORING_SETUP_TASKRUN_FLAG: each of those polls is an
// io_uring_enter (io/uring_driver.h).
void BM_SubmitToRoundTripSpinningIoInFlightNoTaskrunFlag(
    benchmark::State& state) {
  io::DriverOptions o;
  o.taskrun_flag = false;
  RoundTrips(
      state,
      {.idle_spin = 1s, .parkers = io::DriverParkers(o), .io_in_flight = true});
}
BENCHMARK(BM_SubmitToRoundTripSpinningIoInFlightNoTaskrunFlag)->UseRealTime();

// A request to a parked shard, as a server's shards make them: both shards
// with the default idle spin (50 us) and io_uring drivers; shard 0 keeps
// busy 100 us between requests, so shard 1 has parked (in a futex wait on its
// mesh park word: no I/O in flight) when each request comes, and one futex
// wake gets it going (mesh/mesh.h). Shard 0, spinning after its send, sees
// the reply without a second wake-up. Only the round trip is timed.
void BM_SubmitToRoundTripParked(benchmark::State& state) {
  RoundTrips(state, {.parkers = io::DriverParkers(), .gap = 100us});
}
BENCHMARK(BM_SubmitToRoundTripParked)->UseManualTime();

// The same with a read in flight on each shard, as shards of a server have:
// shard 1 sleeps in io_uring_enter, and its wake-up is a ringless MSG_RING
// where the kernel has it (io/uring_driver.h).
void BM_SubmitToRoundTripParkedIoInFlight(benchmark::State& state) {
  RoundTrips(
      state,
      {.parkers = io::DriverParkers(), .io_in_flight = true, .gap = 100us});
}
BENCHMARK(BM_SubmitToRoundTripParkedIoInFlight)->UseManualTime();

// The same, waking through the eventfd the ring has a read armed on.
void BM_SubmitToRoundTripParkedIoInFlightEventfdWake(benchmark::State& state) {
  io::DriverOptions o;
  o.msg_ring_wake = false;
  RoundTrips(
      state,
      {.parkers = io::DriverParkers(o), .io_in_flight = true, .gap = 100us});
}
BENCHMARK(BM_SubmitToRoundTripParkedIoInFlightEventfdWake)->UseManualTime();

// SubmitTo + await with no idle spin at all: both shards park between
// requests, each sleeping in a futex wait (no I/O in flight), so a round
// trip is two wake-ups, as in BM_EventfdWakeRoundTrip.
void BM_SubmitToRoundTripBothParked(benchmark::State& state) {
  RoundTrips(state, {.idle_spin = 0ns, .parkers = io::DriverParkers()});
}
BENCHMARK(BM_SubmitToRoundTripBothParked)->UseRealTime();

// SpawnOn (cancellable, atomic join state) + await, target spinning.
void BM_SpawnOnRoundTripSpinning(benchmark::State& state) {
  RoundTrips(state, {.idle_spin = 1s, .spawn_on = true});
}
BENCHMARK(BM_SpawnOnRoundTripSpinning)->UseRealTime();

// Every shard sends to every other shard; items = messages delivered. The
// "shards" counter records the shard count.
void BM_MeshAllToAll(benchmark::State& state) {
  const uint32_t shards =
      testing::perf::BenchShards(std::thread::hardware_concurrency());
  auto rt = *Runtime::Builder().Shards(shards).IdleSpin(1s).Build();
  const uint32_t n = rt->shard_count();
  state.counters["shards"] = n;
  if (n < 2) {
    state.SkipWithError("needs 2+ shards (2+ cores, or VELOQ_BENCH_SHARDS)");
    return;
  }
  (void)rt->Run([&state, n]() -> Task<void> {
    // One counter per shard, each touched only by its own shard.
    struct alignas(128) Counter {
      uint64_t n = 0;
    };
    std::vector<Counter> delivered(n);
    Counter* counters = delivered.data();
    constexpr uint64_t per_shard = 1 << 20;
    uint64_t target = 0;  // deliveries expected so far
    for (auto _ : state) {
      auto blast = [counters, n]() -> Task<void> {
        Shard* here = Shard::Current();
        for (uint64_t i = 0; i < per_shard; ++i) {
          uint32_t to = static_cast<uint32_t>(i % (n - 1));
          if (to >= here->id()) ++to;
          uint64_t* c = &counters[to].n;
          here->Send(to, mesh::Message([c] { ++*c; }));
          if ((i & 63) == 63 && here->mesh().TotalOverflow(here->id()) > 0) {
            co_await runtime::Yield();
          }
        }
      };
      co_await runtime::InvokeOnAll(blast);
      auto total = [counters] {
        return counters[runtime::Shard::Current()->id()].n;
      };
      target += per_shard * n;
      while (true) {
        std::vector<uint64_t> per = co_await runtime::InvokeOnAll(total);
        uint64_t sum = 0;
        for (uint64_t v : per) sum += v;
        if (sum >= target) break;
      }
    }
    state.SetItemsProcessed(state.iterations() * per_shard * n);
  });
}
BENCHMARK(BM_MeshAllToAll)->UseRealTime()->Iterations(3);

}  // namespace
}  // namespace veloq

namespace veloq {
namespace {

// The Mesh alone on one thread (send a batch, flush, drain it): its
// instruction cost per message, with no cache line crossing cores.
void BM_MeshSendDrainOneThread(benchmark::State& state) {
  mesh::Mesh m(mesh::MeshOptions{2, 1024});
  uint64_t counter = 0;
  uint64_t* c = &counter;
  for (auto _ : state) {
    for (int i = 0; i < 256; ++i) m.Send(0, 1, mesh::Message([c] { ++*c; }));
    m.Flush(0);
    m.Drain(1, 256);
  }
  benchmark::DoNotOptimize(counter);
  state.SetItemsProcessed(state.iterations() * 256);
}
BENCHMARK(BM_MeshSendDrainOneThread)->UseRealTime();

}  // namespace
}  // namespace veloq

namespace veloq {
namespace {

// The Mesh alone between two pinned threads (no runtime): sender sends and
// flushes batches, receiver drains.
void BM_MeshTwoThreads(benchmark::State& state) {
  mesh::Mesh m(mesh::MeshOptions{2, 1024});
  struct alignas(128) Counter {
    uint64_t n = 0;
  };
  Counter received;
  uint64_t* c = &received.n;
  std::atomic<bool> stop{false};
  std::thread rx([&] {
    Pin(1);
    while (!stop.load(std::memory_order_relaxed)) m.Drain(1, 256);
    while (m.Drain(1, 256) > 0) {
    }
  });
  ScopedPin pin(0);
  uint64_t sent = 0;
  for (auto _ : state) {
    m.Send(0, 1, mesh::Message([c] { ++*c; }));
    if ((++sent & 63) == 0) {
      m.Flush(0);
      while (m.OverflowDepth(0, 1) > 0) m.Flush(0);
    }
  }
  while (m.OverflowDepth(0, 1) > 0) m.Flush(0);
  m.Flush(0);
  stop.store(true);
  rx.join();
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MeshTwoThreads)->UseRealTime();

}  // namespace
}  // namespace veloq
