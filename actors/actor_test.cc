#include "actors/actor.h"

#include <malloc.h>

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "actors/actor_table.h"
#include "gtest/gtest.h"
#include "runtime/internal/frame_allocator.h"
#include "runtime/remote.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/eventually.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::Eventually;
using veloq::testing::Shards;

struct Add {
  int by = 1;
};
struct Get {};
struct Fail {};
struct Throw {};
struct SlowGet {
  runtime::Duration delay;
};
struct Note {
  int value;
};
struct Trace {};

class Counter : public Actor {
 public:
  void Handle(Add m) { n_ += m.by; }
  int Handle(Get) const { return n_; }
  absl::Status Handle(Fail) { return absl::InternalError("refused"); }
  int Handle(Throw) { throw std::runtime_error("boom"); }
  Task<int> Handle(SlowGet m) {
    (void)co_await runtime::Sleep(m.delay);
    co_return n_;
  }
  // Records each message's value, to check order and turn-taking.
  void Handle(Note m) { trace_.push_back(m.value); }
  std::vector<int> Handle(Trace) const { return trace_; }

 protected:
  void OnFailure(const absl::Status&) override { ++failures_seen; }

 public:
  static inline int failures_seen = 0;

 private:
  int n_ = 0;
  std::vector<int> trace_;
};

VELOQ_TEST_WITH(ActorTest, TellAndAskOnOneShard, Shards(1)) {
  ActorRef<Counter> c = Spawn<Counter>();
  for (int i = 0; i < 10; ++i) c.Tell(Add{2});
  absl::StatusOr<int> n = co_await c.Ask(Get{});
  CO_ASSERT_OK(n);
  EXPECT_EQ(*n, 20);
}

VELOQ_TEST_WITH(ActorTest, CrossShardMessagesArriveInOrder, Shards(2)) {
  ActorRef<Counter> c = co_await SpawnOn<Counter>(1);
  EXPECT_EQ(c.shard(), 1u);
  for (int i = 0; i < 5000; ++i) c.Tell(Note{i});
  absl::StatusOr<std::vector<int>> trace = co_await c.Ask(Trace{});
  CO_ASSERT_OK(trace);
  CO_ASSERT_EQ(trace->size(), 5000u);
  for (int i = 0; i < 5000; ++i) CO_ASSERT_EQ((*trace)[i], i);
}

// While a coroutine handler waits, the actor's other messages wait too.
VELOQ_TEST_WITH(ActorTest, TurnBasedWhileAHandlerIsSuspended, Shards(1)) {
  ActorRef<Counter> c = Spawn<Counter>();
  c.Tell(Add{5});
  auto slow = c.Ask(SlowGet{5ms});
  c.Tell(Add{1});  // must not run before SlowGet finishes
  absl::StatusOr<int> during = co_await std::move(slow);
  absl::StatusOr<int> after = co_await c.Ask(Get{});
  CO_ASSERT_OK(during);
  CO_ASSERT_OK(after);
  EXPECT_EQ(*during, 5);
  EXPECT_EQ(*after, 6);
}

VELOQ_TEST_WITH(ActorTest, AskDeadlineAndAskingAStoppedActor, Shards(2)) {
  ActorRef<Counter> c = co_await SpawnOn<Counter>(1);
  absl::StatusOr<int> late = co_await c.Ask(SlowGet{200ms}, 10ms);
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded);
  // Stop: the queued message still runs; later ones are refused.
  ActorRef<Counter> local = Spawn<Counter>();
  local.Tell(Add{3});
  auto before = local.Ask(Get{});
  co_await runtime::Yield();
  absl::StatusOr<int> v = co_await std::move(before);
  CO_ASSERT_OK(v);
  EXPECT_EQ(*v, 3);
  local.Stop();
  // Gone (`c` lives on shard 1): asks are refused from then on.
  auto gone = [] { return ActorTable::Current().live() == 0; };
  CO_ASSERT_OK(co_await Eventually(gone, 5s));
  absl::StatusOr<int> refused = co_await local.Ask(Get{});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
}

VELOQ_TEST_WITH(ActorTest, AFailingTurnFailsTheTurnNotTheActor, Shards(1)) {
  Counter::failures_seen = 0;
  ActorRef<Counter> c = Spawn<Counter>();
  absl::Status failed = co_await c.Ask(Fail{});
  EXPECT_EQ(failed, absl::InternalError("refused"));
  absl::StatusOr<int> threw = co_await c.Ask(Throw{});
  EXPECT_EQ(threw.status(), absl::InternalError("handler threw: boom"));
  c.Tell(Add{7});
  absl::StatusOr<int> n = co_await c.Ask(Get{});
  CO_ASSERT_OK(n);
  EXPECT_EQ(*n, 7);
  EXPECT_EQ(Counter::failures_seen, 2);
}

// --- Turns run in the mesh drain ---
// A message from another shard to an idle actor with a synchronous handler
// runs in the receiving shard's mesh drain instead of in a task
// (internal::DeliverFromMesh). What such a turn leaves behind must still be
// taken up by a task.

struct Countdown {
  int n;
};
struct Halt {};

class SelfTeller : public Actor {
 public:
  // Tells itself the next number: queued during this turn, run after it.
  void Handle(Countdown c) {
    trace_.push_back(c.n);
    if (c.n > 0) Self<SelfTeller>().Tell(Countdown{c.n - 1});
    trace_.push_back(-1);  // the end of this turn
  }
  void Handle(Halt) { Stop(); }
  std::vector<int> Handle(Trace) const { return trace_; }

 protected:
  Task<void> OnStop() override {
    ++stops;
    co_return;
  }

 public:
  static inline int stops = 0;

 private:
  std::vector<int> trace_;
};

VELOQ_TEST_WITH(ActorTest, AMeshTurnThatTellsItselfQueuesTheMessage,
                Shards(2)) {
  ActorRef<SelfTeller> a = co_await SpawnOn<SelfTeller>(1);
  a.Tell(Countdown{3});
  std::vector<int> trace;
  auto done = [&]() -> Task<bool> {
    absl::StatusOr<std::vector<int>> t = co_await a.Ask(Trace{});
    if (t.ok()) trace = *std::move(t);
    co_return trace.size() >= 8;
  };
  CO_ASSERT_OK(co_await Eventually(done, 5s));
  EXPECT_EQ(absl::StrJoin(trace, " "), "3 -1 2 -1 1 -1 0 -1");
}

VELOQ_TEST_WITH(ActorTest, AMeshTurnThatStopsTheActorStopsIt, Shards(2)) {
  SelfTeller::stops = 0;
  ActorRef<SelfTeller> a = co_await SpawnOn<SelfTeller>(1);
  absl::StatusOr<std::vector<int>> before = co_await a.Ask(Trace{});
  CO_ASSERT_OK(before);  // started and idle
  a.Tell(Halt{});
  auto gone = []() -> Task<bool> {
    co_return co_await runtime::SubmitTo(
        1, [] { return ActorTable::Current().live() == 0; });
  };
  CO_ASSERT_OK(co_await Eventually(gone, 5s));
  EXPECT_EQ(co_await runtime::SubmitTo(1, [] { return SelfTeller::stops; }), 1);
  absl::StatusOr<std::vector<int>> after = co_await a.Ask(Trace{});
  EXPECT_EQ(after.status().code(), absl::StatusCode::kFailedPrecondition);
}

// A message that arrives from another shard while a coroutine handler is
// suspended waits for it (the actor is not idle), and a coroutine handler
// for an idle actor runs in its task.
VELOQ_TEST_WITH(ActorTest, TurnBasedAcrossShards, Shards(2)) {
  ActorRef<Counter> c = co_await SpawnOn<Counter>(1);
  c.Tell(Add{5});
  auto slow = c.Ask(SlowGet{5ms});
  c.Tell(Add{1});  // must not run before SlowGet finishes
  absl::StatusOr<int> during = co_await std::move(slow);
  absl::StatusOr<int> after = co_await c.Ask(Get{});
  absl::StatusOr<int> idle_slow = co_await c.Ask(SlowGet{1ms});
  CO_ASSERT_OK(during);
  CO_ASSERT_OK(after);
  CO_ASSERT_OK(idle_slow);
  EXPECT_EQ(*during, 5);
  EXPECT_EQ(*after, 6);
  EXPECT_EQ(*idle_slow, 6);
}

#if defined(__cpp_exceptions)
// An exception from the failure handling of a turn run in the mesh drain
// stops the actor; it does not unwind into the drain (which would lose or
// rerun the messages around it) and the shard keeps serving.
class ThrowsOnFailure : public Actor {
 public:
  absl::Status Handle(Fail) { return absl::InternalError("refused"); }
  int Handle(Get) const { return 1; }

 protected:
  void OnFailure(const absl::Status&) override {
    throw std::runtime_error("in OnFailure");
  }
};

VELOQ_TEST_WITH(ActorTest, AThrowingFailureHookStopsTheActorNotTheShard,
                Shards(2)) {
  ActorRef<ThrowsOnFailure> a = co_await SpawnOn<ThrowsOnFailure>(1);
  ActorRef<Counter> other = co_await SpawnOn<Counter>(1);
  absl::StatusOr<int> up = co_await a.Ask(Get{});
  CO_ASSERT_OK(up);  // started and idle: the next turn runs in the drain
  absl::Status failed = co_await a.Ask(Fail{});
  EXPECT_EQ(failed, absl::InternalError("refused"));
  other.Tell(Add{2});
  auto gone = [&]() -> Task<bool> {
    absl::StatusOr<int> r = co_await a.Ask(Get{});
    co_return r.status().code() == absl::StatusCode::kFailedPrecondition;
  };
  CO_ASSERT_OK(co_await Eventually(gone, 5s));
  absl::StatusOr<int> n = co_await other.Ask(Get{});
  CO_ASSERT_OK(n);
  EXPECT_EQ(*n, 2);
}
#endif

class Lifecycle : public Actor {
 public:
  explicit Lifecycle(std::vector<std::string>* log, bool fail_start = false)
      : log_(log), fail_start_(fail_start) {}
  void Handle(Note m) { log_->push_back("note " + std::to_string(m.value)); }

 protected:
  Task<absl::Status> OnStart() override {
    log_->push_back("start");
    if (fail_start_) co_return absl::UnavailableError("no backend");
    co_return absl::OkStatus();
  }
  Task<void> OnStop() override {
    log_->push_back("stop");
    co_return;
  }

 private:
  std::vector<std::string>* log_;
  bool fail_start_;
};

VELOQ_TEST_WITH(ActorTest, LifecycleHooksAndAFailedStart, Shards(1)) {
  std::vector<std::string> log;
  ActorRef<Lifecycle> a = Spawn<Lifecycle>(&log);
  a.Tell(Note{1});
  a.Tell(Note{2});
  auto noted = [&log] { return log.size() >= 3; };
  CO_ASSERT_OK(co_await Eventually(noted, 5s));
  a.Stop();
  auto stopped = [&log] { return log.size() >= 4; };
  CO_ASSERT_OK(co_await Eventually(stopped, 5s));
  ActorRef<Lifecycle> b = Spawn<Lifecycle>(&log, true);
  b.Tell(Note{3});  // refused: the start failed
  // Both gone (`b` with its failed start): nothing more can be logged.
  auto none_live = [] { return ActorTable::Current().live() == 0; };
  CO_ASSERT_OK(co_await Eventually(none_live, 5s));
  // A failed start runs no OnStop (as a failed constructor runs no
  // destructor).
  EXPECT_EQ(absl::StrJoin(log, ", "), "start, note 1, note 2, stop, start");
}

VELOQ_TEST_WITH(ActorTest, RegistryByName, Shards(1)) {
  ActorRef<Counter> c = Spawn<Counter>();
  EXPECT_TRUE(Register("counter", c).ok());
  EXPECT_EQ(Register("counter", c).code(), absl::StatusCode::kAlreadyExists);
  std::optional<ActorRef<Counter>> found = Lookup<Counter>("counter");
  EXPECT_TRUE(found.has_value() && *found == c);
  EXPECT_FALSE(Lookup<Lifecycle>("counter").has_value());  // wrong type
  EXPECT_FALSE(Lookup<Counter>("nobody").has_value());
  c.Stop();
  auto unregistered = [] { return !Lookup<Counter>("counter").has_value(); };
  CO_ASSERT_OK(co_await Eventually(unregistered, 5s));  // gone with it
}

VELOQ_TEST_WITH(ActorTest, SpawnBalancedPlacesOnSomeShard, Shards(2)) {
  for (int i = 0; i < 8; ++i) {
    ActorRef<Counter> c = co_await SpawnBalanced<Counter>();
    c.Tell(Add{1});
    absl::StatusOr<int> n = co_await c.Ask(Get{});
    CO_ASSERT_OK(n);
    EXPECT_EQ(*n, 1);
  }
}

// An idle actor's cost beyond its own fields: measured with the heap's own
// accounting over 20 000 actors (the target is <= 128 bytes; CAF's is
// about 496, Pony's about 268).
class Empty : public Actor {
 public:
  void Handle(Get) {}
};

VELOQ_TEST_WITH(ActorTest, IdleActorFootprint, Shards(1)) {
  constexpr int kActors = 20000;
  std::vector<ActorRef<Empty>> refs;
  refs.reserve(kActors);
  Spawn<Empty>();  // warm the table and the frame cache
  (void)co_await runtime::Sleep(1ms);
  // Freed task frames the shard keeps for reuse are in the heap's count but
  // belong to no actor: taken out of both readings.
  const runtime::internal::FrameAllocator* frames =
      runtime::internal::FrameAllocator::Current();
  CO_ASSERT_NE(frames, nullptr);
  const int64_t heap_before = static_cast<int64_t>(mallinfo2().uordblks);
  const int64_t cache_before = static_cast<int64_t>(frames->cached_bytes());
  // In batches, so the start turns' task frames are recycled by the
  // shard's frame cache instead of all being live at once.
  for (int i = 0; i < kActors; ++i) {
    refs.push_back(Spawn<Empty>());
    if (i % 64 == 63) (void)co_await runtime::Sleep(0ms);
  }
  // Every OnStart turn has run. (A fixed wait, not Eventually: polling would
  // allocate while the heap is being measured.)
  (void)co_await runtime::Sleep(5ms);
  const int64_t heap_after = static_cast<int64_t>(mallinfo2().uordblks);
  const int64_t cache_after = static_cast<int64_t>(frames->cached_bytes());
  if (heap_after == heap_before) {
    // A sanitizer's allocator: glibc's counters do not see its blocks.
    std::printf("idle actor: not measurable with this allocator\n");
    co_return;
  }
  const double per_actor = static_cast<double>((heap_after - cache_after) -
                                               (heap_before - cache_before)) /
                           kActors;
  std::printf("idle actor: %.1f bytes each (sizeof(Actor) = %zu)\n", per_actor,
              sizeof(Actor));
  EXPECT_LE(per_actor, 128.0);
}

}  // namespace
}  // namespace veloq::actors

namespace veloq::actors {
namespace {

struct Tick {};
struct Once {
  std::string tag;
};
struct Count {};
struct StartTicking {
  runtime::Duration period;
};
struct CancelTicking {};

class Ticker : public Actor {
 public:
  void Handle(StartTicking s) { id_ = SendEvery<Ticker>(s.period, Tick{}); }
  bool Handle(CancelTicking) { return CancelTimer(id_); }
  void Handle(Tick) { ++ticks_; }
  void Handle(Once o) { once_ += o.tag; }
  std::pair<int, std::string> Handle(Count) const { return {ticks_, once_}; }

 protected:
  Task<absl::Status> OnStart() override {
    SendAfter<Ticker>(3ms, Once{"a"});
    SendAfter<Ticker>(1h, Once{"never"});  // cancelled with the actor
    co_return absl::OkStatus();
  }

 private:
  TimerId id_ = 0;
  int ticks_ = 0;
  std::string once_;
};

VELOQ_TEST_WITH(ActorTimerTest, SendAfterSendEveryAndCancellation, Shards(1)) {
  ActorRef<Ticker> t = Spawn<Ticker>();
  t.Tell(StartTicking{1ms});
  // Some ticks, and the one-shot from OnStart (after 3 ms), arrive.
  auto ticked = [&t]() -> Task<bool> {
    absl::StatusOr<std::pair<int, std::string>> n = co_await t.Ask(Count{});
    co_return n.ok() && n->first >= 5 && n->second == "a";
  };
  CO_ASSERT_OK(co_await Eventually(ticked, 5s));
  absl::StatusOr<bool> cancelled = co_await t.Ask(CancelTicking{});
  CO_ASSERT_OK(cancelled);
  EXPECT_TRUE(*cancelled);
  absl::StatusOr<std::pair<int, std::string>> after_cancel =
      co_await t.Ask(Count{});
  CO_ASSERT_OK(after_cancel);
  EXPECT_GE(after_cancel->first, 5);
  EXPECT_EQ(after_cancel->second, "a");
  // Cancelled: no more ticks.
  (void)co_await runtime::Sleep(5ms);
  absl::StatusOr<std::pair<int, std::string>> later = co_await t.Ask(Count{});
  CO_ASSERT_OK(later);
  EXPECT_EQ(later->first, after_cancel->first);
  absl::StatusOr<bool> again = co_await t.Ask(CancelTicking{});
  CO_ASSERT_OK(again);
  EXPECT_FALSE(*again);  // already cancelled
  // The one-hour timer goes with the actor.
  t.Stop();
  auto gone = [] { return ActorTable::Current().live() == 0; };
  CO_ASSERT_OK(co_await Eventually(gone, 5s));
}

}  // namespace
}  // namespace veloq::actors
