// Bounded mailboxes (Send waits, Tell/Ask refused when full) and the
// shutdown drain (queued messages run before anything is cancelled).

#include <atomic>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/eventually.h"
#include "testing/test_runtime.h"

namespace veloq::actors {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::Eventually;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;
using veloq::testing::TestRuntimeOptions;

struct Item {
  int value;
};
struct Seen {};
struct MaxQueued {};

// Takes a while per message; records order and the deepest queue it saw.
class SlowSink : public Actor {
 public:
  SlowSink() { SetMailboxCapacity(2); }
  Task<void> Handle(Item m) {
    max_queued_ = std::max(max_queued_, mailbox_size());
    (void)co_await runtime::Sleep(200us);
    seen_.push_back(m.value);
  }
  std::vector<int> Handle(Seen) const { return seen_; }
  uint32_t Handle(MaxQueued) const { return max_queued_; }

 private:
  std::vector<int> seen_;
  uint32_t max_queued_ = 0;
};

// What `sink` has handled, once that is at least `n` items. (It asks until
// then: an Ask into a full mailbox is refused.)
Task<absl::StatusOr<std::vector<int>>> SeenOnceHandled(ActorRef<SlowSink> sink,
                                                       size_t n) {
  std::vector<int> seen;
  auto handled_n = [&]() -> Task<bool> {
    absl::StatusOr<std::vector<int>> s = co_await sink.Ask(Seen{});
    if (s.ok()) seen = *std::move(s);
    co_return seen.size() >= n;
  };
  absl::Status waited = co_await Eventually(handled_n, 5s);
  if (!waited.ok()) co_return waited;
  co_return seen;
}

// Sends 20 items to a SlowSink on `shard`: each Send waits for room, the
// items are handled in order, and the mailbox never holds more than 2.
Task<void> SendWaitsForRoomAndKeepsOrder(uint32_t shard) {
  ActorRef<SlowSink> sink = co_await SpawnOn<SlowSink>(shard);
  for (int i = 0; i < 20; ++i) {
    absl::Status s = co_await sink.Send(Item{i});
    CO_ASSERT_OK(s);
  }
  absl::StatusOr<std::vector<int>> seen = co_await SeenOnceHandled(sink, 20);
  CO_ASSERT_OK(seen);
  EXPECT_EQ(absl::StrJoin(*seen, " "),
            "0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19");
  absl::StatusOr<uint32_t> max_queued = co_await sink.Ask(MaxQueued{});
  CO_ASSERT_OK(max_queued);
  EXPECT_LE(*max_queued, 2u);
}

VELOQ_TEST_WITH(BoundedMailboxTest, SendWaitsForRoomAndKeepsOrderOnOneShard,
                Shards(2)) {
  co_await SendWaitsForRoomAndKeepsOrder(0);
}

VELOQ_TEST_WITH(BoundedMailboxTest, SendWaitsForRoomAndKeepsOrderAcrossShards,
                Shards(2)) {
  co_await SendWaitsForRoomAndKeepsOrder(1);
}

VELOQ_TEST_WITH(BoundedMailboxTest, ManySendersWaitInOrder, Shards(2)) {
  ActorRef<SlowSink> sink = co_await SpawnOn<SlowSink>(1);
  // Four senders on shard 0, five items each, all at once.
  std::vector<runtime::JoinHandle<absl::Status>> senders;
  for (int s = 0; s < 4; ++s) {
    senders.push_back(runtime::Spawn(
        [](ActorRef<SlowSink> to, int base) -> Task<absl::Status> {
          for (int i = 0; i < 5; ++i) {
            absl::Status st = co_await to.Send(Item{base + i});
            if (!st.ok()) co_return st;
          }
          co_return absl::OkStatus();
        }(sink, s * 100)));
  }
  for (auto& h : senders) CO_ASSERT_OK(co_await h);
  absl::StatusOr<std::vector<int>> seen = co_await SeenOnceHandled(sink, 20);
  CO_ASSERT_OK(seen);
  CO_ASSERT_EQ(seen->size(), 20u);
  // Per sender, in order.
  for (int s = 0; s < 4; ++s) {
    int last = -1;
    for (int v : *seen) {
      if (v / 100 != s) continue;
      EXPECT_GT(v, last);
      last = v;
    }
    EXPECT_EQ(last, s * 100 + 4);
  }
}

VELOQ_TEST_WITH(BoundedMailboxTest, TellAndAskAreRefusedWhenFull, Shards(1)) {
  ActorRef<SlowSink> sink = Spawn<SlowSink>();
  const uint64_t dead_before = ActorTable::Current().dead_letters();
  for (int i = 0; i < 5; ++i) sink.Tell(Item{i});  // 2 fit
  absl::StatusOr<std::vector<int>> refused = co_await sink.Ask(Seen{});
  EXPECT_EQ(refused.status(), absl::ResourceExhaustedError("mailbox full"));
  // The three Tells and the Ask that did not fit.
  EXPECT_EQ(ActorTable::Current().dead_letters() - dead_before, 4u);
  // The two that fit are handled (and only they: the answer comes after
  // everything queued before it).
  absl::StatusOr<std::vector<int>> seen = co_await SeenOnceHandled(sink, 2);
  CO_ASSERT_OK(seen);
  EXPECT_EQ(seen->size(), 2u);
}

VELOQ_TEST_WITH(BoundedMailboxTest, BlockedSendersHearWhenTheActorStops,
                Shards(1)) {
  ActorRef<SlowSink> sink = Spawn<SlowSink>();
  sink.Tell(Item{0});
  sink.Tell(Item{1});
  auto blocked =
      runtime::Spawn([](ActorRef<SlowSink> to) -> Task<absl::Status> {
        co_return co_await to.Send(Item{2});
      }(sink));
  (void)co_await runtime::Sleep(0ms);  // (lets the sender block)
  sink.Stop(absl::InternalError("gone"));
  absl::Status s = co_await blocked;
  absl::Status after = co_await sink.Send(Item{3});
  EXPECT_EQ(s, absl::FailedPreconditionError("actor stopped"));
  EXPECT_EQ(after, absl::FailedPreconditionError("actor stopped"));
}

// --- shutdown drain ---

std::atomic<int> handled{0};
std::atomic<int> stopped{0};

struct Work {};
class Busy : public Actor {
 public:
  Task<void> Handle(Work) {
    co_await runtime::Yield();
    handled.fetch_add(1, std::memory_order_relaxed);
  }

 protected:
  Task<void> OnStop() override {
    stopped.fetch_add(1, std::memory_order_relaxed);
    co_return;
  }
};

TEST(ShutdownTest, QueuedMessagesRunBeforeTheRuntimeStops) {
  handled = 0;
  stopped = 0;
  auto r = RunOnRuntime(Shards(2), []() -> Task<int> {
    ActorRef<Busy> a = co_await SpawnOn<Busy>(1);
    ActorRef<Busy> b = Spawn<Busy>();
    for (int i = 0; i < 1000; ++i) {
      a.Tell(Work{});
      b.Tell(Work{});
    }
    co_return 0;  // the root ends with ~2000 messages queued
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(handled.load(), 2000);
  EXPECT_EQ(stopped.load(), 2);
}

struct Hang {};
struct Ping {};
class Stuck : public Actor {
 public:
  Task<void> Handle(Hang) { (void)co_await runtime::Sleep(1h); }
  int Handle(Ping) { return 1; }
};

TEST(ShutdownTest, AStuckHandlerDoesNotHangShutdownAndAsksGetErrors) {
  TestRuntimeOptions o = Shards(2);
  o.shutdown_grace = 100ms;
  absl::Status pending_answer;
  auto r = RunOnRuntime(o, [&pending_answer]() -> Task<int> {
    ActorRef<Stuck> s = co_await SpawnOn<Stuck>(1);
    s.Tell(Hang{});
    // An ask queued behind the stuck turn, awaited by a task that outlives
    // the root (it is cancelled at shutdown, or answered with an error).
    runtime::Spawn([](ActorRef<Stuck> s, absl::Status* out) -> Task<void> {
      *out = (co_await s.Ask(Ping{})).status();
    }(s, &pending_answer))
        .Detach();
    (void)co_await runtime::Sleep(1ms);
    co_return 0;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_FALSE(pending_answer.ok());
}

}  // namespace
}  // namespace veloq::actors
