#include "mesh/mesh.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <iterator>
#include <mutex>
#include <optional>
#include <random>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "mesh/message.h"

namespace veloq::mesh {
namespace {

#if defined(VELOQ_SANITIZER)
constexpr uint64_t kScale = 10;
#else
constexpr uint64_t kScale = 1;
#endif

// One delivered message: who sent it and its per-sender sequence number.
struct Delivery {
  uint32_t from;
  uint64_t seq;
  bool operator==(const Delivery&) const = default;
};

// Receiver-side log; only the receiving shard's thread appends.
using Log = std::vector<Delivery>;

Message Record(Log* log, uint32_t from, uint64_t seq) {
  return Message([log, from, seq] { log->push_back({from, seq}); });
}

// Counts live closures (and runs), to tell destroyed from leaked or run.
struct Tally {
  std::atomic<int> live{0};
  std::atomic<int> runs{0};
};

class Tracked {
 public:
  explicit Tracked(Tally* t) : tally_(t) { tally_->live.fetch_add(1); }
  Tracked(Tracked&& other) noexcept : tally_(other.tally_) {
    tally_->live.fetch_add(1);
  }
  Tracked& operator=(Tracked&&) = delete;
  ~Tracked() { tally_->live.fetch_sub(1); }
  void operator()() { tally_->runs.fetch_add(1); }

 private:
  Tally* tally_;
};

// Too big to be stored inline in a Message.
struct BoxedTracked {
  void operator()() { tracked(); }
  Tracked tracked;
  char pad[Message::kInlineSize] = {};
};

// A Waker that only counts; for single-threaded protocol tests.
class CountingWaker : public Waker {
 public:
  void Wake() override { wakes.fetch_add(1); }
  std::atomic<int> wakes{0};
};

// Bounds a loop that waits for messages, so that a lost message fails the
// test instead of hanging it.
class TickLimit {
 public:
  bool Next() { return ++ticks_ <= kMaxTicks; }

 private:
  static constexpr int kMaxTicks = 1'000'000;
  int ticks_ = 0;
};

// A level-triggered Waker for a thread that really blocks: Wake adds a token,
// Wait blocks until there is one and takes them all. A Wait that outlasts
// any plausible delay is a lost wake-up: it aborts rather than hang.
class BlockingWaker : public Waker {
 public:
  void Wake() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++tokens_;
    }
    cv_.notify_one();
  }
  void Wait() {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_for(lock, std::chrono::seconds(30),
                      [this] { return tokens_ > 0; })) {
      std::fprintf(stderr, "lost wake-up: a parked shard slept 30 s\n");
      std::abort();
    }
    tokens_ = 0;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int tokens_ = 0;  // guarded by mu_
};

Log Expected(uint32_t from, uint64_t first, uint64_t end) {
  Log log;
  for (uint64_t s = first; s < end; ++s) log.push_back({from, s});
  return log;
}

TEST(MeshTest, ShardCount) {
  Mesh mesh({.shards = 3, .ring_capacity = 4});
  EXPECT_EQ(mesh.shard_count(), 3u);
}

TEST(MeshTest, SendIsInvisibleUntilFlush) {
  Mesh mesh({.shards = 2, .ring_capacity = 8});
  Log log;
  for (uint64_t s = 0; s < 3; ++s) mesh.Send(0, 1, Record(&log, 0, s));
  EXPECT_FALSE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 100), 0u);
  EXPECT_TRUE(log.empty());

  mesh.Flush(0);
  EXPECT_TRUE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 100), 3u);
  EXPECT_EQ(log, Expected(0, 0, 3));
  EXPECT_FALSE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 100), 0u);
}

TEST(MeshTest, OverflowedSendIsInvisibleUntilFlush) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  Log log;
  for (uint64_t s = 0; s < 10; ++s) mesh.Send(0, 1, Record(&log, 0, s));
  EXPECT_FALSE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 100), 0u);
  mesh.Flush(0);
  EXPECT_EQ(mesh.Drain(1, 100), 4u);
  EXPECT_EQ(log, Expected(0, 0, 4));
}

TEST(MeshTest, FlushWithNothingStagedIsHarmless) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  mesh.Flush(0);
  mesh.Flush(1);
  EXPECT_FALSE(mesh.HasInbound(0));
  EXPECT_FALSE(mesh.HasInbound(1));
}

// Sends 1000 messages through a 4-slot ring in random bursts, flushing and
// draining with small random budgets in between; the receiver must see
// exactly 0..999 in order, whichever of ring or overflow each one took.
TEST(MeshTest, FifoAcrossOverflowWithSmallBudgets) {
  for (uint64_t seed : {1, 2, 3, 4, 5}) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    std::mt19937_64 rng(seed);
    Mesh mesh({.shards = 2, .ring_capacity = 4});
    Log log;
    constexpr uint64_t kMessages = 1000;
    uint64_t sent = 0;
    bool saw_overflow = false;
    TickLimit limit;
    while (log.size() < kMessages && limit.Next()) {
      const uint64_t burst = std::min<uint64_t>(rng() % 12, kMessages - sent);
      for (uint64_t i = 0; i < burst; ++i) {
        mesh.Send(0, 1, Record(&log, 0, sent++));
      }
      saw_overflow |= mesh.OverflowDepth(0, 1) > 0;
      mesh.Flush(0);
      mesh.Drain(1, 1 + rng() % 3);
    }
    EXPECT_TRUE(saw_overflow);
    EXPECT_EQ(log, Expected(0, 0, kMessages));
    EXPECT_EQ(mesh.TotalOverflow(0), 0u);
    // The last Drain may have taken the hot ring alone and left its has-data
    // bit set; one more Drain finds nothing and clears it.
    EXPECT_EQ(mesh.Drain(1, 100), 0u);
    EXPECT_FALSE(mesh.HasInbound(1));
  }
}

// Two senders into one receiver, and a third pair the other way: each
// (from, to) pair keeps its own order through overflow.
TEST(MeshTest, FifoPerPairWithSeveralSenders) {
  std::mt19937_64 rng(42);
  Mesh mesh({.shards = 3, .ring_capacity = 4});
  Log logs[3];
  uint64_t next[3][3] = {};
  constexpr uint64_t kPerPair = 500;
  const std::pair<uint32_t, uint32_t> pairs[] = {{0, 1}, {2, 1}, {1, 0}};
  auto delivered = [&] {
    return logs[0].size() + logs[1].size() + logs[2].size();
  };
  TickLimit limit;
  while (delivered() < kPerPair * std::size(pairs) && limit.Next()) {
    for (auto [from, to] : pairs) {
      for (uint64_t i = rng() % 8; i > 0 && next[from][to] < kPerPair; --i) {
        mesh.Send(from, to, Record(&logs[to], from, next[from][to]++));
      }
    }
    for (uint32_t s = 0; s < 3; ++s) mesh.Flush(s);
    for (uint32_t s = 0; s < 3; ++s) mesh.Drain(s, 1 + rng() % 4);
  }
  for (auto [from, to] : pairs) {
    Log got;
    for (const Delivery& d : logs[to]) {
      if (d.from == from) got.push_back(d);
    }
    EXPECT_EQ(got, Expected(from, 0, kPerPair)) << from << "->" << to;
  }
}

TEST(MeshTest, DrainRespectsBudgetAndLeavesTheRest) {
  Mesh mesh({.shards = 2, .ring_capacity = 16});
  Log log;
  for (uint64_t s = 0; s < 10; ++s) mesh.Send(0, 1, Record(&log, 0, s));
  mesh.Flush(0);

  EXPECT_EQ(mesh.Drain(1, 3), 3u);
  EXPECT_EQ(log, Expected(0, 0, 3));
  EXPECT_TRUE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 0), 0u);
  EXPECT_TRUE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 3), 3u);
  EXPECT_TRUE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 100), 4u);
  EXPECT_EQ(log, Expected(0, 0, 10));
  EXPECT_FALSE(mesh.HasInbound(1));
}

// The budget is shared by every sender's ring and the alien inbox; whatever
// is left over stays inbound, and ring messages run before alien ones.
TEST(MeshTest, DrainBudgetSpansSendersAndAlienInbox) {
  Mesh mesh({.shards = 3, .ring_capacity = 16});
  Log log;
  constexpr uint32_t kAlien = 99;
  for (uint64_t s = 0; s < 4; ++s) mesh.Send(0, 1, Record(&log, 0, s));
  for (uint64_t s = 0; s < 4; ++s) mesh.Send(2, 1, Record(&log, 2, s));
  for (uint64_t s = 0; s < 4; ++s) {
    mesh.PostFromAlien(1, Record(&log, kAlien, s));
  }
  mesh.Flush(0);
  mesh.Flush(2);

  size_t total = 0;
  TickLimit limit;
  while (mesh.HasInbound(1) && limit.Next()) {
    const size_t ran = mesh.Drain(1, 3);
    EXPECT_LE(ran, 3u);
    EXPECT_GT(ran, 0u);
    total += ran;
  }
  EXPECT_EQ(total, 12u);
  ASSERT_EQ(log.size(), 12u);
  // Alien messages come last, in posting order.
  EXPECT_EQ(Log(log.begin() + 8, log.end()), Expected(kAlien, 0, 4));
  for (uint32_t from : {0u, 2u}) {
    Log got;
    for (const Delivery& d : log) {
      if (d.from == from) got.push_back(d);
    }
    EXPECT_EQ(got, Expected(from, 0, 4));
  }
}

TEST(MeshTest, AlienInboxDrainsInOrderAcrossBudgets) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  Log log;
  for (uint64_t s = 0; s < 7; ++s) mesh.PostFromAlien(0, Record(&log, 9, s));
  EXPECT_TRUE(mesh.HasInbound(0));
  EXPECT_EQ(mesh.Drain(0, 2), 2u);
  EXPECT_TRUE(mesh.HasInbound(0));
  // Posted while a batch is half drained: runs after the rest of the batch.
  mesh.PostFromAlien(0, Record(&log, 9, 7));
  EXPECT_EQ(mesh.Drain(0, 4), 4u);
  size_t rest = 0;
  TickLimit limit;
  while (mesh.HasInbound(0) && limit.Next()) rest += mesh.Drain(0, 4);
  EXPECT_EQ(rest, 2u);
  EXPECT_EQ(log, Expected(9, 0, 8));
}

TEST(MeshTest, OverflowDepthShrinksAsReceiverFreesSpaceAndSenderFlushes) {
  Mesh mesh({.shards = 3, .ring_capacity = 4});
  Log log1;
  Log log2;
  for (uint64_t s = 0; s < 10; ++s) mesh.Send(0, 1, Record(&log1, 0, s));
  for (uint64_t s = 0; s < 5; ++s) mesh.Send(0, 2, Record(&log2, 0, s));
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 6u);
  EXPECT_EQ(mesh.OverflowDepth(0, 2), 1u);
  EXPECT_EQ(mesh.TotalOverflow(0), 7u);
  EXPECT_EQ(mesh.TotalOverflow(1), 0u);

  // Nothing drained yet: Flush cannot move anything.
  mesh.Flush(0);
  EXPECT_EQ(mesh.TotalOverflow(0), 7u);

  // Freeing space is not enough; the sender's next Flush moves overflow.
  EXPECT_EQ(mesh.Drain(1, 2), 2u);
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 6u);
  mesh.Flush(0);
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 4u);
  EXPECT_EQ(mesh.TotalOverflow(0), 5u);

  EXPECT_EQ(mesh.Drain(2, 100), 4u);
  mesh.Flush(0);
  EXPECT_EQ(mesh.OverflowDepth(0, 2), 0u);
  EXPECT_EQ(mesh.TotalOverflow(0), 4u);

  // A new Send queues behind the existing overflow.
  mesh.Send(0, 1, Record(&log1, 0, 10));
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 5u);

  TickLimit limit;
  while (
      (mesh.TotalOverflow(0) > 0 || mesh.HasInbound(1) || mesh.HasInbound(2)) &&
      limit.Next()) {
    mesh.Drain(1, 3);
    mesh.Drain(2, 3);
    mesh.Flush(0);
  }
  EXPECT_EQ(log1, Expected(0, 0, 11));
  EXPECT_EQ(log2, Expected(0, 0, 5));
}

// Once anything is in overflow, a later Send must not jump into the ring
// even when the receiver has freed space before the sender's next Flush.
TEST(MeshTest, SendQueuesBehindOverflowWhenRingHasRoom) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  Log log;
  for (uint64_t s = 0; s < 6; ++s) mesh.Send(0, 1, Record(&log, 0, s));
  mesh.Flush(0);
  EXPECT_EQ(mesh.Drain(1, 4), 4u);  // The ring is now empty, overflow is 2.
  mesh.Send(0, 1, Record(&log, 0, 6));
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 3u);
  mesh.Flush(0);
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 0u);
  EXPECT_EQ(mesh.Drain(1, 100), 3u);
  EXPECT_EQ(log, Expected(0, 0, 7));
}

TEST(MeshTest, LongBurstMovesOverflowIntoFreedSpaceWithoutAFlush) {
  // A sender in one long tick (no Flush) that keeps sending into a full
  // ring: every publish_batch overflowed messages it moves what the
  // receiver has freed and publishes it, so the receiver is not starved
  // until the burst ends.
  Mesh mesh({.shards = 2, .ring_capacity = 8, .publish_batch = 4});
  Log log;
  uint64_t seq = 0;
  for (int i = 0; i < 8; ++i) mesh.Send(0, 1, Record(&log, 0, seq++));
  // Published by Send itself, 4 at a time.
  EXPECT_EQ(mesh.Drain(1, 100), 8u);
  for (int i = 0; i < 8; ++i) mesh.Send(0, 1, Record(&log, 0, seq++));
  // The ring is full again; the next 4 wait in overflow, and the 4th finds
  // no free space yet.
  for (int i = 0; i < 4; ++i) mesh.Send(0, 1, Record(&log, 0, seq++));
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 4u);
  EXPECT_EQ(mesh.Drain(1, 100), 8u);  // frees the whole ring
  for (int i = 0; i < 4; ++i) mesh.Send(0, 1, Record(&log, 0, seq++));
  // The 8th overflowed message moved all 8 into the freed ring.
  EXPECT_EQ(mesh.OverflowDepth(0, 1), 0u);
  EXPECT_TRUE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.Drain(1, 100), 8u);
  mesh.Flush(0);
  EXPECT_EQ(mesh.Drain(1, 100), 0u);
  EXPECT_EQ(log, Expected(0, 0, seq));
}

TEST(MeshTest, PollInboundSeesHotRingsAndIsFalseWhenAllAreDrained) {
  // Six senders, more than a receiver keeps hot: every message still
  // arrives once, in order per sender, and an idle receiver polls false.
  constexpr uint32_t kShards = 7;
  Mesh mesh({.shards = kShards, .ring_capacity = 8});
  Log log;
  std::vector<uint64_t> next(kShards, 0);
  for (int round = 0; round < 20; ++round) {
    for (uint32_t from = 1; from < kShards; ++from) {
      if ((round + from) % 3 == 0) continue;  // a changing subset sends
      for (int i = 0; i < 3; ++i) {
        mesh.Send(from, 0, Record(&log, from, next[from]++));
      }
      mesh.Flush(from);
    }
    EXPECT_TRUE(mesh.PollInbound(0));
    while (mesh.Drain(0, 2) > 0) {
    }
    EXPECT_FALSE(mesh.PollInbound(0));
    EXPECT_FALSE(mesh.HasInbound(0));
  }
  for (uint32_t from = 1; from < kShards; ++from) {
    Log mine;
    std::copy_if(log.begin(), log.end(), std::back_inserter(mine),
                 [from](const Delivery& d) { return d.from == from; });
    EXPECT_EQ(mine, Expected(from, 0, next[from])) << "from " << from;
  }
}

TEST(MeshTest, AHotOnlyDrainIsNotAComplete) {
  // Shutdown asks "did a drain with budget to spare empty the inbox?"; a
  // Drain that took only a hot ring must not answer yes while another
  // sender's ring still holds messages.
  Mesh mesh({.shards = 3, .ring_capacity = 8});
  Log log;
  mesh.Send(1, 0, Record(&log, 1, 0));
  mesh.Flush(1);
  EXPECT_EQ(mesh.Drain(0, 100), 1u);  // ring 1 -> 0 is hot from now on
  EXPECT_TRUE(mesh.LastDrainWasComplete(0));
  mesh.Send(2, 0, Record(&log, 2, 0));
  mesh.Flush(2);
  mesh.Send(1, 0, Record(&log, 1, 1));
  mesh.Flush(1);
  EXPECT_EQ(mesh.Drain(0, 100), 1u);  // the hot ring alone
  EXPECT_FALSE(mesh.LastDrainWasComplete(0));
  EXPECT_TRUE(mesh.HasInbound(0));
  EXPECT_EQ(mesh.Drain(0, 100), 1u);  // reads the mask: sender 2's message
  EXPECT_TRUE(mesh.LastDrainWasComplete(0));
  EXPECT_EQ(log, (Log{{1, 0}, {1, 1}, {2, 0}}));
}

TEST(MeshTest, PostFromAlienFromAnotherThread) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  Log log;
  constexpr uint64_t kMessages = 20'000 / kScale;
  std::atomic<bool> posted_all{false};
  std::thread alien([&] {
    for (uint64_t s = 0; s < kMessages; ++s) {
      mesh.PostFromAlien(1, Record(&log, 7, s));
    }
    posted_all.store(true, std::memory_order_release);
  });
  // Shard 1 drains concurrently with the posts, until everything posted has
  // been drained.
  std::mt19937_64 rng(11);
  while (log.size() < kMessages) {
    if (mesh.Drain(1, 1 + rng() % 16) > 0) continue;
    if (posted_all.load(std::memory_order_acquire) && !mesh.HasInbound(1)) {
      break;
    }
    std::this_thread::yield();
  }
  alien.join();
  EXPECT_EQ(log, Expected(7, 0, kMessages));
  EXPECT_FALSE(mesh.HasInbound(1));
  EXPECT_EQ(mesh.GetStats(1).received, kMessages);
}

// Every undelivered message, wherever it waits, is destroyed unrun.
TEST(MeshTest, DestructorDestroysUndeliveredMessagesWithoutRunningThem) {
  Tally tally;
  {
    Mesh mesh({.shards = 3, .ring_capacity = 4});
    // Published in a ring, and then some in overflow.
    for (int i = 0; i < 7; ++i) mesh.Send(0, 1, Message(Tracked(&tally)));
    mesh.Flush(0);
    // Staged, never flushed.
    for (int i = 0; i < 3; ++i) mesh.Send(0, 2, Message(Tracked(&tally)));
    // Partly drained: one ran, the rest are in the ring.
    for (int i = 0; i < 3; ++i) mesh.Send(1, 2, Message(Tracked(&tally)));
    mesh.Flush(1);
    // Alien: one batch half drained, plus more posted after it.
    for (int i = 0; i < 3; ++i) mesh.PostFromAlien(0, Message(Tracked(&tally)));
    EXPECT_EQ(mesh.Drain(0, 1), 1u);
    mesh.PostFromAlien(0, Message(Tracked(&tally)));
    EXPECT_EQ(mesh.Drain(2, 1), 1u);
    // Boxed messages too.
    mesh.PostFromAlien(1, Message(BoxedTracked{Tracked(&tally)}));
    EXPECT_EQ(tally.runs.load(), 2);
    EXPECT_EQ(tally.live.load(), 7 + 3 + 2 + 3 + 1);
  }
  EXPECT_EQ(tally.runs.load(), 2);
  EXPECT_EQ(tally.live.load(), 0);
}

TEST(MeshTest, StatsCountSentAndReceived) {
  Mesh mesh({.shards = 3, .ring_capacity = 4});
  Log log;
  for (uint64_t s = 0; s < 6; ++s) mesh.Send(0, 1, Record(&log, 0, s));
  for (uint64_t s = 0; s < 2; ++s) mesh.Send(0, 2, Record(&log, 0, s));
  for (uint64_t s = 0; s < 3; ++s) mesh.Send(2, 1, Record(&log, 2, s));
  mesh.PostFromAlien(1, Record(&log, 9, 0));
  // Overflowed and unflushed messages count as sent.
  EXPECT_EQ(mesh.GetStats(0).sent, 8u);
  EXPECT_EQ(mesh.GetStats(2).sent, 3u);
  EXPECT_EQ(mesh.GetStats(1).sent, 0u);
  for (uint32_t s = 0; s < 3; ++s) EXPECT_EQ(mesh.GetStats(s).received, 0u);

  TickLimit limit;
  while (
      (mesh.TotalOverflow(0) > 0 || mesh.HasInbound(1) || mesh.HasInbound(2)) &&
      limit.Next()) {
    mesh.Flush(0);
    mesh.Flush(2);
    mesh.Drain(1, 2);
    mesh.Drain(2, 2);
  }
  EXPECT_EQ(mesh.GetStats(1).received, 6u + 3u + 1u);
  EXPECT_EQ(mesh.GetStats(2).received, 2u);
  EXPECT_EQ(mesh.GetStats(0).received, 0u);
  EXPECT_EQ(mesh.GetStats(0).sent, 8u);
  for (uint32_t s = 0; s < 3; ++s) {
    EXPECT_EQ(mesh.GetStats(s).parks, 0u);
    EXPECT_EQ(mesh.GetStats(s).wakes, 0u);
  }
}

#if defined(__cpp_exceptions)
// A closure that throws in a Drain is reported and destroyed; the messages
// behind it in the same batch still run, in order, and none runs twice (the
// ring's head moved past the one that threw).
TEST(MeshTest, AThrowingMessageDoesNotStopTheDrain) {
  static int reported = 0;
  reported = 0;
  SetMessageExceptionHandler([](std::exception_ptr) { ++reported; });
  struct Restore {
    ~Restore() { SetMessageExceptionHandler(nullptr); }
  } restore;
  Mesh mesh({.shards = 2, .ring_capacity = 8});
  Log log;
  mesh.Send(0, 1, Record(&log, 0, 0));
  mesh.Send(0, 1, Message([] { throw std::runtime_error("boom"); }));
  mesh.Send(0, 1, Record(&log, 0, 1));
  mesh.Flush(0);
  EXPECT_EQ(mesh.Drain(1, 10), 3u);
  EXPECT_EQ(mesh.Drain(1, 10), 0u);
  EXPECT_EQ(log, Expected(0, 0, 2));
  EXPECT_EQ(reported, 1);
}
#endif

// ---- Parking protocol, single-threaded. ----

class MeshParkTest : public testing::Test {
 protected:
  MeshParkTest() : mesh_({.shards = 3, .ring_capacity = 4}) {
    for (uint32_t s = 0; s < 3; ++s) mesh_.SetWaker(s, &wakers_[s]);
  }

  Mesh mesh_;
  CountingWaker wakers_[3];
  Log log_;
};

TEST_F(MeshParkTest, IdleShardMayPark) {
  ASSERT_TRUE(mesh_.PrepareToPark(1));
  mesh_.FinishPark(1);
  EXPECT_EQ(mesh_.GetStats(1).parks, 1u);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
}

TEST_F(MeshParkTest, FlushedDataPreventsPark) {
  mesh_.Send(0, 1, Record(&log_, 0, 0));
  mesh_.Flush(0);
  EXPECT_FALSE(mesh_.PrepareToPark(1));
  EXPECT_EQ(mesh_.Drain(1, 10), 1u);
  EXPECT_TRUE(mesh_.PrepareToPark(1));
  mesh_.FinishPark(1);
  EXPECT_EQ(mesh_.GetStats(1).parks, 1u);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
}

TEST_F(MeshParkTest, DataLeftByBudgetPreventsPark) {
  for (uint64_t s = 0; s < 3; ++s) mesh_.Send(0, 1, Record(&log_, 0, s));
  mesh_.Flush(0);
  EXPECT_EQ(mesh_.Drain(1, 1), 1u);
  EXPECT_FALSE(mesh_.PrepareToPark(1));
  EXPECT_EQ(mesh_.Drain(1, 10), 2u);
  EXPECT_TRUE(mesh_.PrepareToPark(1));
  mesh_.FinishPark(1);
}

TEST_F(MeshParkTest, AlienMessagePreventsPark) {
  mesh_.PostFromAlien(1, Record(&log_, 9, 0));
  EXPECT_FALSE(mesh_.PrepareToPark(1));
  EXPECT_EQ(mesh_.Drain(1, 10), 1u);
  EXPECT_TRUE(mesh_.PrepareToPark(1));
  mesh_.FinishPark(1);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
}

TEST_F(MeshParkTest, HalfDrainedAlienBatchPreventsPark) {
  for (uint64_t s = 0; s < 3; ++s) mesh_.PostFromAlien(1, Record(&log_, 9, s));
  EXPECT_EQ(mesh_.Drain(1, 1), 1u);
  EXPECT_FALSE(mesh_.PrepareToPark(1));
  EXPECT_EQ(mesh_.Drain(1, 10), 2u);
  EXPECT_TRUE(mesh_.PrepareToPark(1));
  mesh_.FinishPark(1);
}

// The receiver parks; the sender's Flush must wake it exactly once, and
// further flushes before the receiver runs again must not wake it again.
TEST_F(MeshParkTest, FlushWakesParkedReceiverOnce) {
  ASSERT_TRUE(mesh_.PrepareToPark(1));
  mesh_.Send(0, 1, Record(&log_, 0, 0));
  EXPECT_EQ(wakers_[1].wakes.load(), 0);  // Send alone publishes nothing.
  mesh_.Flush(0);
  EXPECT_EQ(wakers_[1].wakes.load(), 1);
  EXPECT_EQ(mesh_.GetStats(0).wakes, 1u);
  mesh_.Send(0, 1, Record(&log_, 0, 1));
  mesh_.Flush(0);
  mesh_.Send(2, 1, Record(&log_, 2, 0));
  mesh_.Flush(2);
  EXPECT_EQ(wakers_[1].wakes.load(), 1);
  mesh_.FinishPark(1);
  EXPECT_EQ(mesh_.Drain(1, 10), 3u);
  EXPECT_EQ(wakers_[0].wakes.load(), 0);
  EXPECT_EQ(wakers_[2].wakes.load(), 0);
}

TEST_F(MeshParkTest, FlushToRunningReceiverDoesNotWake) {
  mesh_.Send(0, 1, Record(&log_, 0, 0));
  mesh_.Flush(0);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
  EXPECT_EQ(mesh_.GetStats(0).wakes, 0u);
}

TEST_F(MeshParkTest, FlushOfOverflowOnlyWakesParkedReceiver) {
  for (uint64_t s = 0; s < 6; ++s) mesh_.Send(0, 1, Record(&log_, 0, s));
  mesh_.Flush(0);
  EXPECT_EQ(mesh_.Drain(1, 100), 4u);
  ASSERT_TRUE(mesh_.PrepareToPark(1));
  // Nothing new was sent; the Flush that moves overflow must still wake.
  mesh_.Flush(0);
  EXPECT_EQ(wakers_[1].wakes.load(), 1);
  mesh_.FinishPark(1);
  EXPECT_EQ(mesh_.Drain(1, 100), 2u);
  EXPECT_EQ(log_, Expected(0, 0, 6));
}

// A sender whose overflow could move (its ring has room) must not park.
TEST_F(MeshParkTest, SenderWithMovableOverflowDoesNotPark) {
  for (uint64_t s = 0; s < 6; ++s) mesh_.Send(0, 1, Record(&log_, 0, s));
  mesh_.Flush(0);                    // 4 in the ring, 2 in overflow
  EXPECT_EQ(mesh_.Drain(1, 1), 1u);  // one slot frees
  EXPECT_FALSE(mesh_.PrepareToPark(0));
  mesh_.Flush(0);
  EXPECT_EQ(mesh_.OverflowDepth(0, 1), 1u);
}

// A sender parked with overflow behind a full ring is woken by the receiver
// that frees space, so the overflow is never stranded.
TEST_F(MeshParkTest, ReceiverFreeingSpaceWakesParkedSender) {
  for (uint64_t s = 0; s < 6; ++s) mesh_.Send(0, 1, Record(&log_, 0, s));
  mesh_.Flush(0);  // ring full, 2 in overflow
  ASSERT_TRUE(mesh_.PrepareToPark(0));
  EXPECT_EQ(wakers_[0].wakes.load(), 0);
  EXPECT_EQ(mesh_.Drain(1, 100), 4u);
  EXPECT_EQ(wakers_[0].wakes.load(), 1);
  mesh_.FinishPark(0);
  mesh_.Flush(0);
  EXPECT_EQ(mesh_.Drain(1, 100), 2u);
  EXPECT_EQ(log_, Expected(0, 0, 6));
  // No more wakes once nothing is wanted.
  mesh_.Send(0, 1, Record(&log_, 0, 6));
  mesh_.Flush(0);
  EXPECT_EQ(mesh_.Drain(1, 100), 1u);
  EXPECT_EQ(wakers_[0].wakes.load(), 1);
}

TEST_F(MeshParkTest, PostFromAlienWakesParkedShardOnce) {
  ASSERT_TRUE(mesh_.PrepareToPark(2));
  mesh_.PostFromAlien(2, Record(&log_, 9, 0));
  mesh_.PostFromAlien(2, Record(&log_, 9, 1));
  EXPECT_EQ(wakers_[2].wakes.load(), 1);
  mesh_.FinishPark(2);
  EXPECT_EQ(mesh_.Drain(2, 10), 2u);
  // Alien wakes are not charged to any shard.
  for (uint32_t s = 0; s < 3; ++s) EXPECT_EQ(mesh_.GetStats(s).wakes, 0u);
}

TEST_F(MeshParkTest, NotifyWakesOnlyAParkedShard) {
  mesh_.Notify(1);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
  ASSERT_TRUE(mesh_.PrepareToPark(1));
  mesh_.Notify(1);
  mesh_.Notify(1);
  EXPECT_EQ(wakers_[1].wakes.load(), 1);
  mesh_.FinishPark(1);
  // Woken without data: it may park again, and be woken again.
  ASSERT_TRUE(mesh_.PrepareToPark(1));
  mesh_.Notify(1);
  EXPECT_EQ(wakers_[1].wakes.load(), 2);
  mesh_.FinishPark(1);
  EXPECT_EQ(mesh_.GetStats(1).parks, 2u);
}

// A futex park: the sender's Flush wakes it without calling the Waker, once,
// and a wait that starts after the wake returns at once.
TEST_F(MeshParkTest, FutexParkIsWokenWithoutTheWaker) {
  ASSERT_TRUE(mesh_.PrepareToPark(1, Mesh::ParkMode::kFutex));
  mesh_.Send(0, 1, Record(&log_, 0, 0));
  mesh_.Flush(0);
  mesh_.Send(2, 1, Record(&log_, 2, 0));
  mesh_.Flush(2);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
  EXPECT_EQ(mesh_.GetStats(0).wakes, 1u);  // the futex wake is a wake
  EXPECT_EQ(mesh_.GetStats(2).wakes, 0u);  // one wake per park
  // Already woken: the wait returns at once (the two-thread tests below
  // and the park stress test cover the race itself).
  mesh_.WaitWhileParked(1, std::nullopt);
  mesh_.FinishPark(1);
  EXPECT_EQ(mesh_.Drain(1, 10), 2u);
  EXPECT_EQ(mesh_.GetStats(1).parks, 1u);
}

TEST_F(MeshParkTest, FutexParkDataPreventsParkLikeAnyOther) {
  mesh_.PostFromAlien(1, Record(&log_, 9, 0));
  EXPECT_FALSE(mesh_.PrepareToPark(1, Mesh::ParkMode::kFutex));
  EXPECT_EQ(mesh_.Drain(1, 10), 1u);
  ASSERT_TRUE(mesh_.PrepareToPark(1, Mesh::ParkMode::kFutex));
  mesh_.Notify(1);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
  mesh_.WaitWhileParked(1, std::nullopt);
  mesh_.FinishPark(1);
}

TEST_F(MeshParkTest, FutexParkEndsAtTheDeadline) {
  ASSERT_TRUE(mesh_.PrepareToPark(1, Mesh::ParkMode::kFutex));
  const auto start = std::chrono::steady_clock::now();
  mesh_.WaitWhileParked(1, start + std::chrono::milliseconds(20));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(20));
  mesh_.FinishPark(1);
  // A deadline already past does not block either.
  ASSERT_TRUE(mesh_.PrepareToPark(1, Mesh::ParkMode::kFutex));
  mesh_.WaitWhileParked(1, start);
  mesh_.FinishPark(1);
  EXPECT_EQ(wakers_[1].wakes.load(), 0);
}

// ---- Two threads. ----

// A producer floods a 4-slot ring in random bursts; the consumer drains with
// small budgets and really blocks whenever it finds nothing. Order must be
// exact, nothing lost, and the consumer must never sleep through a Flush.
TEST(MeshTwoThreadTest, ProducerAndParkingConsumerThroughOverflow) {
  for (uint64_t seed : {1, 2, 3}) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    Mesh mesh({.shards = 2, .ring_capacity = 4});
    BlockingWaker wakers[2];
    mesh.SetWaker(0, &wakers[0]);
    mesh.SetWaker(1, &wakers[1]);
    constexpr uint64_t kMessages = 100'000 / kScale;
    Log log;
    log.reserve(kMessages);

    std::thread producer([&] {
      std::mt19937_64 rng(seed);
      uint64_t sent = 0;
      while (sent < kMessages || mesh.TotalOverflow(0) > 0) {
        for (uint64_t i = rng() % 16; i > 0 && sent < kMessages; --i) {
          mesh.Send(0, 1, Record(&log, 0, sent++));
        }
        mesh.Flush(0);
        if (rng() % 8 == 0) std::this_thread::yield();
      }
    });

    std::mt19937_64 rng(seed + 100);
    uint64_t parks = 0;
    while (log.size() < kMessages) {
      if (mesh.Drain(1, 1 + rng() % 8) > 0) continue;
      if (mesh.PrepareToPark(1)) {
        ++parks;
        wakers[1].Wait();
        mesh.FinishPark(1);
      }
    }
    producer.join();
    EXPECT_EQ(log, Expected(0, 0, kMessages));
    EXPECT_EQ(mesh.GetStats(1).parks, parks);
    // Exactly one wake per park: the consumer always finished parked time.
    EXPECT_EQ(mesh.GetStats(0).wakes, parks);
    EXPECT_EQ(mesh.GetStats(0).sent, kMessages);
    EXPECT_EQ(mesh.GetStats(1).received, kMessages);
  }
}

// Ping-pong: each side parks until the other answers, so every round trip
// depends on a wake-up from Flush reaching a parked (or parking) shard.
// Two shard threads bounce one message kRounds times; a shard that finds
// nothing parks through `park(self)` (which returns once it may run again).
// Returns the messages each shard ran.
constexpr uint64_t kPingPongRounds = 20'000 / kScale;

template <typename Park>
std::array<uint64_t, 2> PingPong(Mesh& mesh, Park park) {
  std::array<uint64_t, 2> seen = {0, 0};  // Each written only by its shard.
  auto shard = [&](uint32_t self) {
    const uint32_t peer = 1 - self;
    if (self == 0) {
      mesh.Send(0, 1, Message([&seen] { ++seen[1]; }));
      mesh.Flush(0);
    }
    while (seen[self] < kPingPongRounds) {
      const uint64_t before = seen[self];
      mesh.Drain(self, 16);
      if (seen[self] > before) {
        // Shard 1 answers every ping; shard 0 pings until the last round.
        if (self == 1 || seen[self] < kPingPongRounds) {
          mesh.Send(self, peer, Message([&seen, peer] { ++seen[peer]; }));
          mesh.Flush(self);
        }
        continue;
      }
      park(self);
    }
  };
  std::thread other(shard, 1);
  shard(0);
  other.join();
  return seen;
}

TEST(MeshTwoThreadTest, PingPongWithParking) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  BlockingWaker wakers[2];
  mesh.SetWaker(0, &wakers[0]);
  mesh.SetWaker(1, &wakers[1]);
  const std::array<uint64_t, 2> seen = PingPong(mesh, [&](uint32_t self) {
    if (mesh.PrepareToPark(self)) {
      wakers[self].Wait();
      mesh.FinishPark(self);
    }
  });
  EXPECT_EQ(seen[0], kPingPongRounds);
  EXPECT_EQ(seen[1], kPingPongRounds);
  EXPECT_EQ(mesh.GetStats(0).sent, kPingPongRounds);
  EXPECT_EQ(mesh.GetStats(1).sent, kPingPongRounds);
}

// The same with both shards sleeping in futex waits on their park words
// (ParkMode::kFutex), as a shard with no I/O in flight does. The Wakers
// must never be called; a lost futex wake would hang (the test's timeout).
TEST(MeshTwoThreadTest, PingPongWithFutexParking) {
  Mesh mesh({.shards = 2, .ring_capacity = 4});
  CountingWaker wakers[2];
  mesh.SetWaker(0, &wakers[0]);
  mesh.SetWaker(1, &wakers[1]);
  uint64_t parks[2] = {0, 0};  // Each written only by its own shard.
  const std::array<uint64_t, 2> seen = PingPong(mesh, [&](uint32_t self) {
    if (mesh.PrepareToPark(self, Mesh::ParkMode::kFutex)) {
      ++parks[self];
      mesh.WaitWhileParked(self, std::nullopt);
      mesh.FinishPark(self);
    }
  });
  EXPECT_EQ(seen[0], kPingPongRounds);
  EXPECT_EQ(seen[1], kPingPongRounds);
  EXPECT_GT(parks[0] + parks[1], 0u);
  EXPECT_EQ(wakers[0].wakes.load(), 0);
  EXPECT_EQ(wakers[1].wakes.load(), 0);
  // At most one futex wake per park (fewer where a late wake meant for an
  // earlier park ended one early, a spurious return).
  EXPECT_LE(mesh.GetStats(1).wakes, parks[0]);
  EXPECT_LE(mesh.GetStats(0).wakes, parks[1]);
}

}  // namespace
}  // namespace veloq::mesh
