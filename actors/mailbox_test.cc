// Bounded mailboxes (Send waits, Tell/Ask refused when full) and the
// shutdown drain (queued messages run before anything is cancelled).

#include <atomic>
#include <string>
#include <vector>

#include "actors/actor.h"
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

TEST(BoundedMailboxTest, SendWaitsForRoomAndKeepsOrder) {
  for (uint32_t shard : {0u, 1u}) {
    auto r = RunOnRuntime(Shards(2), [shard]() -> Task<std::string> {
      ActorRef<SlowSink> sink = co_await SpawnOn<SlowSink>(shard);
      for (int i = 0; i < 20; ++i) {
        absl::Status s = co_await sink.Send(Item{i});
        if (!s.ok()) co_return s.ToString();
      }
      // (An Ask into a full mailbox is refused: let it drain first.)
      (void)co_await runtime::Sleep(20ms);
      std::vector<int> seen = *co_await sink.Ask(Seen{});
      uint32_t max_queued = *co_await sink.Ask(MaxQueued{});
      std::string out;
      for (int v : seen) out += std::to_string(v) + " ";
      co_return out + (max_queued <= 2 ? "bounded" : "over");
    });
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_TRUE(
        r->starts_with("0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 "))
        << *r;
    EXPECT_TRUE(r->ends_with("bounded")) << *r;
  }
}

TEST(BoundedMailboxTest, ManySendersWaitInOrder) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::vector<int>> {
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
    for (auto& h : senders) {
      if (!(co_await h).ok()) co_return std::vector<int>{};
    }
    (void)co_await runtime::Sleep(20ms);
    co_return *co_await sink.Ask(Seen{});
  });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 20u);
  // Per sender, in order.
  for (int s = 0; s < 4; ++s) {
    int last = -1;
    for (int v : *r) {
      if (v / 100 != s) continue;
      EXPECT_GT(v, last);
      last = v;
    }
    EXPECT_EQ(last, s * 100 + 4);
  }
}

TEST(BoundedMailboxTest, TellAndAskAreRefusedWhenFull) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    ActorRef<SlowSink> sink = Spawn<SlowSink>();
    const uint64_t dead_before = ActorTable::Current().dead_letters();
    for (int i = 0; i < 5; ++i) sink.Tell(Item{i});  // 2 fit
    absl::Status ask = (co_await sink.Ask(Seen{})).status();
    const uint64_t dead = ActorTable::Current().dead_letters() - dead_before;
    (void)co_await runtime::Sleep(5ms);
    std::vector<int> seen = *co_await sink.Ask(Seen{});
    co_return ask.ToString() + " dead=" + std::to_string(dead) +
        " seen=" + std::to_string(seen.size());
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "RESOURCE_EXHAUSTED: mailbox full dead=4 seen=2");
}

TEST(BoundedMailboxTest, BlockedSendersHearWhenTheActorStops) {
  auto r = RunOnRuntime(Shards(1), []() -> Task<std::string> {
    ActorRef<SlowSink> sink = Spawn<SlowSink>();
    sink.Tell(Item{0});
    sink.Tell(Item{1});
    auto blocked =
        runtime::Spawn([](ActorRef<SlowSink> to) -> Task<absl::Status> {
          co_return co_await to.Send(Item{2});
        }(sink));
    (void)co_await runtime::Sleep(0ms);
    sink.Stop(absl::InternalError("gone"));
    absl::Status s = co_await blocked;
    absl::Status after = co_await sink.Send(Item{3});
    co_return s.ToString() + " / " + after.ToString();
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            "FAILED_PRECONDITION: actor stopped / FAILED_PRECONDITION: actor "
            "stopped");
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
