// Seeded stress test of the Mesh's notify-on-park protocol.
//
// Shard threads send random bursts to random peers and park on an eventfd
// with no timeout whenever they have nothing to do, so a lost wake-up leaves a
// shard asleep with messages in its rings: the run never reaches its total and
// a watchdog dumps every shard's state and aborts. An alien thread also posts
// a share of the messages. Every message carries (from, seq); each receiver
// checks that each sender's sequence arrives without gaps, duplicates or
// reordering, and at the end that every message sent was received exactly
// once.

#include <poll.h>
#include <sched.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "mesh/mesh.h"
#include "mesh/message.h"

namespace veloq::mesh {
namespace {

#if defined(VELOQ_SANITIZER)
constexpr uint64_t kScale = 10;
#else
constexpr uint64_t kScale = 1;
#endif

// Summed over every case below: 3 shard counts x 3 seeds x 240,000 = 2.16M
// messages in the default build (a tenth under sanitizers). Many short rounds
// rather than one long one: each round ends with every sender's last Flush
// and a shutdown, the moments where a lost wake-up cannot be covered up by a
// later message.
constexpr uint64_t kMessagesPerCase = 240'000 / kScale;
constexpr int kRoundsPerCase = 32;  // A fresh Mesh and fresh threads each.
constexpr auto kWatchdog = std::chrono::seconds(60);

// A level-triggered Waker on an eventfd: Wake adds 1 to the counter, Wait
// blocks in poll() with no timeout until it is non-zero, then reads (and so
// clears) it. Returns the value read, which is the number of Wakes since the
// last Wait.
class EventFdWaker : public Waker {
 public:
  EventFdWaker() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
    if (fd_ < 0) Fail("eventfd");
  }
  ~EventFdWaker() override { close(fd_); }
  EventFdWaker(const EventFdWaker&) = delete;
  EventFdWaker& operator=(const EventFdWaker&) = delete;

  void Wake() override {
    wakes_.fetch_add(1, std::memory_order_relaxed);
    const uint64_t one = 1;
    if (write(fd_, &one, sizeof(one)) != sizeof(one)) Fail("eventfd write");
  }

  uint64_t Wait() {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    for (;;) {
      const int r = poll(&p, 1, /*timeout=*/-1);
      if (r == 1) break;
      if (r < 0 && errno != EINTR) Fail("poll");
    }
    uint64_t value = 0;
    if (read(fd_, &value, sizeof(value)) != sizeof(value)) Fail("eventfd read");
    return value;
  }

  // Wake() calls so far.
  uint64_t wakes() const { return wakes_.load(std::memory_order_relaxed); }

  // Whether a Wake is waiting to be consumed by a Wait. Does not consume it.
  bool HasPendingWake() const {
    pollfd p{.fd = fd_, .events = POLLIN, .revents = 0};
    return poll(&p, 1, /*timeout=*/0) == 1;
  }

 private:
  [[noreturn]] static void Fail(const char* what) {
    std::perror(what);
    std::abort();
  }

  const int fd_;
  std::atomic<uint64_t> wakes_{0};
};

struct StressCase {
  uint32_t shards;
  uint64_t seed;
};

// Where a shard thread is, for the watchdog's dump.
enum class Phase : int { kStarting, kRunning, kParked, kParkedFutex, kExited };

const char* PhaseName(Phase p) {
  switch (p) {
    case Phase::kStarting:
      return "starting";
    case Phase::kRunning:
      return "running";
    case Phase::kParked:
      return "PARKED (blocked in poll)";
    case Phase::kParkedFutex:
      return "PARKED (blocked in a futex wait on the park word)";
    case Phase::kExited:
      return "exited";
  }
  return "?";
}

// A word derived from (from, seq), carried by each message to catch payloads
// corrupted or mixed up in transit.
uint64_t CheckWord(uint32_t from, uint64_t seq) {
  return (seq ^ from) * 0x9E3779B97F4A7C15u;
}

// Everything one shard owns. Plain fields are touched only by the shard's own
// thread (messages run on the receiver), and read by the test after join;
// atomics are also read by the watchdog.
struct Shard {
  EventFdWaker waker;
  uint64_t quota = 0;              // messages this shard must send
  std::vector<uint64_t> next_seq;  // per destination: next seq to send
  std::vector<uint64_t> expected;  // per sender (last: alien): next seq
  uint64_t received = 0;           // messages run here
  uint64_t bad_messages = 0;       // out-of-order, duplicate or corrupt
  std::string first_error;         // describes the first bad message
  uint64_t multi_wakes = 0;        // Waits that consumed more than one Wake
  uint64_t parks = 0;              // parks this thread did, both kinds
  uint64_t futex_parks = 0;        // of which in Mesh::WaitWhileParked
  bool stop = false;               // set by the final alien message

  std::atomic<Phase> phase{Phase::kStarting};
  std::atomic<uint64_t> sent_now{0};
  std::atomic<uint64_t> received_now{0};
  std::atomic<uint64_t> parks_now{0};
  std::atomic<uint64_t> overflow_now{0};

  void Receive(uint32_t from, uint64_t seq, uint64_t check) {
    ++received;
    const uint64_t want = expected[from]++;
    if (seq != want || check != CheckWord(from, seq)) {
      if (bad_messages++ == 0) {
        first_error = "from " + std::to_string(from) + ": got seq " +
                      std::to_string(seq) + ", expected " +
                      std::to_string(want);
      }
      expected[from] = seq + 1;  // Report each gap once, not every message.
    }
  }
};

// The two payload shapes: one fits a Message inline, the other is boxed.
struct SmallPayload {
  void operator()() { to->Receive(from, seq, check); }
  Shard* to;
  uint32_t from;
  uint64_t seq;
  uint64_t check;
};

struct BigPayload {
  void operator()() { to->Receive(from, seq, words[7]); }
  Shard* to;
  uint32_t from;
  uint64_t seq;
  std::array<uint64_t, 8> words;
};
static_assert(sizeof(SmallPayload) <= Message::kInlineSize);
static_assert(sizeof(BigPayload) > Message::kInlineSize);

// One round: a fresh Mesh and one thread per shard.
class Round {
 public:
  Round(const StressCase& c, int round, uint32_t ring_capacity)
      : c_(c),
        round_(round),
        mesh_({.shards = c.shards, .ring_capacity = ring_capacity}),
        shards_(c.shards) {
    std::mt19937_64 rng(c.seed * 1'000'003 + round);
    for (uint32_t i = 0; i < c.shards; ++i) {
      shards_[i] = std::make_unique<Shard>();
      shards_[i]->next_seq.assign(c.shards, 0);
      shards_[i]->expected.assign(c.shards + 1, 0);
      mesh_.SetWaker(i, &shards_[i]->waker);
    }
    // Uneven quotas, some zero: pure receivers park whenever they run dry,
    // and senders finish at different times, each ending with a last Flush
    // that must wake its peers.
    std::vector<uint64_t> weights(c.shards);
    uint64_t weight_sum = 0;
    for (uint64_t& w : weights) weight_sum += (w = rng() % 4);
    if (weight_sum == 0) weight_sum = weights[0] = 1;
    total_ = kMessagesPerCase / kRoundsPerCase;
    // Up to ~6% from the alien thread, which stops early in some rounds and
    // late in others.
    alien_quota_ = total_ * (rng() % 7) / 100;
    alien_next_seq_.assign(c.shards, 0);
    const uint64_t total = total_ - alien_quota_;
    uint64_t assigned = 0;
    for (uint32_t i = 0; i < c.shards; ++i) {
      shards_[i]->quota = total * weights[i] / weight_sum;
      assigned += shards_[i]->quota;
    }
    for (uint32_t i = 0; assigned < total; i = (i + 1) % c.shards) {
      if (weights[i] != 0) {
        ++shards_[i]->quota;
        ++assigned;
      }
    }
  }

  void Run() {
    std::vector<std::thread> threads;
    for (uint32_t i = 0; i < c_.shards; ++i) {
      threads.emplace_back([this, i] { ShardLoop(i); });
    }
    threads.emplace_back([this] { AlienLoop(); });
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (!cv_.wait_for(lock, kWatchdog,
                        [this] { return exited_ == c_.shards + 1; })) {
        lock.unlock();
        DumpAndAbort();
      }
    }
    for (std::thread& t : threads) t.join();
  }

  void Check() {
    uint64_t sent = 0;
    uint64_t received = 0;
    for (uint32_t i = 0; i < c_.shards; ++i) {
      SCOPED_TRACE(testing::Message() << "shard " << i);
      const Shard& s = *shards_[i];
      EXPECT_EQ(s.bad_messages, 0u) << s.first_error;
      EXPECT_EQ(s.multi_wakes, 0u) << "a Wait consumed more than one Wake";
      for (uint32_t from = 0; from < c_.shards; ++from) {
        EXPECT_EQ(s.expected[from], shards_[from]->next_seq[i])
            << "messages " << from << " -> " << i;
      }
      EXPECT_EQ(s.expected[c_.shards], alien_next_seq_[i])
          << "alien messages -> " << i;
      // Nothing left to run. A has-data bit may remain whose messages a
      // hot-only Drain already took (Mesh::HasInbound); one more Drain
      // (the threads are joined) finds nothing and clears it.
      EXPECT_EQ(mesh_.Drain(i, 1 << 20), 0u);
      EXPECT_FALSE(mesh_.HasInbound(i));
      EXPECT_EQ(mesh_.TotalOverflow(i), 0u);
      const Mesh::Stats stats = mesh_.GetStats(i);
      EXPECT_EQ(stats.sent, s.quota);
      EXPECT_EQ(stats.received, s.received + 1);  // +1: the stop message.
      EXPECT_EQ(stats.parks, s.parks);
      // One Wake per park in the Waker's wait, none for a futex park, and
      // none left over: a Wake only ever goes to a shard that is PARKED in
      // its Waker's wait and therefore waiting for it.
      EXPECT_EQ(s.waker.wakes(), s.parks - s.futex_parks);
      EXPECT_FALSE(s.waker.HasPendingWake());
      sent += stats.sent;
      received += s.received;
      shard_wakes_ += stats.wakes;
      parks_ += s.parks;
      futex_parks_ += s.futex_parks;
    }
    EXPECT_EQ(sent + alien_quota_, total_);
    EXPECT_EQ(received, total_);
    EXPECT_EQ(received_total_.load(), total_);
  }

  // Over the round: Wake() calls made by shards (as opposed to those made by
  // PostFromAlien), and parks.
  uint64_t shard_wakes() const { return shard_wakes_; }
  uint64_t parks() const { return parks_; }
  uint64_t futex_parks() const { return futex_parks_; }

 private:
  // Spin or yield for a random while, to vary the interleavings.
  static void Jitter(std::mt19937_64& rng) {
    const uint64_t r = rng() % 64;
    if (r < 4) {
      sched_yield();
    } else if (r < 12) {
      for (uint64_t k = rng() % 2000; k > 0; --k) {
        std::atomic_signal_fence(std::memory_order_seq_cst);
      }
    }
  }

  void Send(uint32_t from, std::mt19937_64& rng) {
    Shard& me = *shards_[from];
    uint32_t to = static_cast<uint32_t>(rng() % (c_.shards - 1));
    if (to >= from) ++to;
    const uint64_t seq = me.next_seq[to]++;
    Shard* dest = shards_[to].get();
    const uint64_t check = CheckWord(from, seq);
    if (rng() % 16 == 0) {
      BigPayload p{dest, from, seq, {}};
      p.words[7] = check;
      mesh_.Send(from, to, Message(p));
    } else {
      mesh_.Send(from, to, Message(SmallPayload{dest, from, seq, check}));
    }
  }

  // The last message anyone receives ends the round: a stop message goes to
  // every shard through its alien inbox, whose wake-up the protocol covers
  // like any other. Only the thread whose count reaches the total posts.
  void AddReceived(uint64_t n) {
    if (n == 0) return;
    if (received_total_.fetch_add(n, std::memory_order_acq_rel) + n != total_) {
      return;
    }
    for (uint32_t i = 0; i < c_.shards; ++i) {
      Shard* s = shards_[i].get();
      mesh_.PostFromAlien(i, Message([s] { s->stop = true; }));
    }
  }

  // Posts alien_quota_ messages in random bursts to random shards, then exits.
  void AlienLoop() {
    std::mt19937_64 rng((c_.seed * 1'000'003 + round_) * 64);
    const uint32_t alien = c_.shards;
    uint64_t posted = 0;
    while (posted < alien_quota_) {
      const uint32_t to = static_cast<uint32_t>(rng() % c_.shards);
      for (uint64_t k = 1 + rng() % 8; k > 0 && posted < alien_quota_; --k) {
        const uint64_t seq = alien_next_seq_[to]++;
        mesh_.PostFromAlien(to,
                            Message(SmallPayload{shards_[to].get(), alien, seq,
                                                 CheckWord(alien, seq)}));
        ++posted;
      }
      alien_posted_.store(posted, std::memory_order_relaxed);
      Jitter(rng);
    }
    Exited();
  }

  void Exited() {
    std::lock_guard<std::mutex> lock(mu_);
    if (++exited_ == c_.shards + 1) cv_.notify_one();
  }

  void ShardLoop(uint32_t i) {
    Shard& me = *shards_[i];
    std::mt19937_64 rng((c_.seed * 1'000'003 + round_) * 64 + i + 1);
    static constexpr size_t kBudgets[] = {1, 3, 16, 64, 1024};
    static constexpr uint64_t kBursts[] = {0, 1, 4, 16, 64, 300};
    uint64_t sent = 0;
    me.phase.store(Phase::kRunning);
    while (!me.stop) {
      const uint64_t before = me.received;
      const size_t ran = mesh_.Drain(i, kBudgets[rng() % std::size(kBudgets)]);
      AddReceived(me.received - before);
      me.received_now.store(me.received, std::memory_order_relaxed);
      if (me.stop) break;

      uint64_t burst =
          std::min(me.quota - sent, kBursts[rng() % std::size(kBursts)]);
      const uint64_t sent_this_tick = burst;
      for (; burst > 0; --burst) {
        Send(i, rng);
        ++sent;
        if (rng() % 32 == 0) mesh_.Flush(i);  // Sometimes mid-burst.
      }
      me.sent_now.store(sent, std::memory_order_relaxed);
      Jitter(rng);
      mesh_.Flush(i);
      const size_t overflow = mesh_.TotalOverflow(i);
      me.overflow_now.store(overflow, std::memory_order_relaxed);

      if (sent_this_tick > 0 || sent < me.quota) continue;
      // Parking with overflow is allowed: PrepareToPark refuses while a
      // ring has room, and a receiver that frees space wakes us.
      // Mostly park only after an empty Drain, as a runtime would; sometimes
      // try right after a busy one, when messages left over by the budget
      // (or a half-run alien batch) must make PrepareToPark refuse.
      if (ran > 0 && rng() % 4 != 0) continue;
      // Either way of sleeping, at random: in the Waker's wait (a driver
      // with I/O in flight) or in a futex wait on the park word.
      const bool futex = rng() % 2 == 0;
      if (mesh_.PrepareToPark(
              i, futex ? Mesh::ParkMode::kFutex : Mesh::ParkMode::kWaker)) {
        ++me.parks;
        me.parks_now.store(me.parks, std::memory_order_relaxed);
        if (futex) {
          ++me.futex_parks;
          me.phase.store(Phase::kParkedFutex);
          // No deadline: it returns once a sender woke this shard (or
          // early, for a late wake meant for an earlier park; the loop then
          // goes on as after any wake).
          mesh_.WaitWhileParked(i, std::nullopt);
        } else {
          me.phase.store(Phase::kParked);
          if (me.waker.Wait() != 1) ++me.multi_wakes;
        }
        me.phase.store(Phase::kRunning);
        mesh_.FinishPark(i);
      }
    }
    me.phase.store(Phase::kExited);
    Exited();
  }

  [[noreturn]] void DumpAndAbort() {
    std::fprintf(stderr,
                 "\npark_stress_test: WATCHDOG: round %d of case (shards=%u, "
                 "seed=%llu) did not finish in %llds; received %llu of %llu. "
                 "Likely a lost wake-up.\n",
                 round_, c_.shards, static_cast<unsigned long long>(c_.seed),
                 static_cast<long long>(kWatchdog.count()),
                 static_cast<unsigned long long>(received_total_.load()),
                 static_cast<unsigned long long>(total_));
    std::fprintf(stderr, "  alien thread: posted %llu of %llu\n",
                 static_cast<unsigned long long>(alien_posted_.load()),
                 static_cast<unsigned long long>(alien_quota_));
    for (uint32_t i = 0; i < c_.shards; ++i) {
      const Shard& s = *shards_[i];
      // HasInbound and GetStats from another thread: stale, diagnostics only.
      const Mesh::Stats stats = mesh_.GetStats(i);
      std::fprintf(
          stderr,
          "  shard %u: %s, quota %llu, sent %llu, received %llu, parks %llu, "
          "overflow %llu, has_inbound %d, wakes_made %llu\n",
          i, PhaseName(s.phase.load()),
          static_cast<unsigned long long>(s.quota),
          static_cast<unsigned long long>(s.sent_now.load()),
          static_cast<unsigned long long>(s.received_now.load()),
          static_cast<unsigned long long>(s.parks_now.load()),
          static_cast<unsigned long long>(s.overflow_now.load()),
          mesh_.HasInbound(i) ? 1 : 0,
          static_cast<unsigned long long>(stats.wakes));
    }
    std::fflush(stderr);
    std::abort();
  }

  const StressCase c_;
  const int round_;
  Mesh mesh_;
  std::vector<std::unique_ptr<Shard>> shards_;
  uint64_t total_ = 0;        // messages in the round, alien ones included
  uint64_t alien_quota_ = 0;  // of which the alien thread posts these
  std::vector<uint64_t> alien_next_seq_;  // per shard; alien thread only
  std::atomic<uint64_t> alien_posted_{0};
  std::atomic<uint64_t> received_total_{0};

  std::mutex mu_;
  std::condition_variable cv_;
  uint32_t exited_ = 0;  // threads done, alien included; guarded by mu_

  uint64_t shard_wakes_ = 0;
  uint64_t futex_parks_ = 0;
  uint64_t parks_ = 0;
};

class MeshParkStressTest : public testing::TestWithParam<StressCase> {};

TEST_P(MeshParkStressTest, NoLostWakeUpsNoLostMessages) {
  const StressCase c = GetParam();
  SCOPED_TRACE(testing::Message()
               << "shards " << c.shards << " seed " << c.seed);
  // Small rings push bursts through the overflow path; large ones do not.
  static constexpr uint32_t kCapacities[] = {4, 64, 1024};
  uint64_t parks = 0;
  uint64_t futex_parks = 0;
  uint64_t shard_wakes = 0;
  for (int round = 0; round < kRoundsPerCase; ++round) {
    const uint32_t capacity =
        kCapacities[(c.seed + round) % std::size(kCapacities)];
    SCOPED_TRACE(testing::Message()
                 << "round " << round << " ring_capacity " << capacity);
    Round r(c, round, capacity);
    r.Run();
    r.Check();
    parks += r.parks();
    futex_parks += r.futex_parks();
    shard_wakes += r.shard_wakes();
  }
  // Every park ends with exactly one wake (a Wake() call, checked per shard
  // in Check, or a futex wake), made by a shard's Flush or by a
  // PostFromAlien.
  EXPECT_LE(shard_wakes, parks);
  // The protocol must actually have been exercised, both ways of sleeping.
  EXPECT_GT(parks, 0u);
  EXPECT_GT(futex_parks, 0u);
  EXPECT_LT(futex_parks, parks);
  std::printf(
      "shards %u seed %llu: %llu parks (%llu on the futex), %llu wakes by "
      "shards\n",
      c.shards, static_cast<unsigned long long>(c.seed),
      static_cast<unsigned long long>(parks),
      static_cast<unsigned long long>(futex_parks),
      static_cast<unsigned long long>(shard_wakes));
}

std::vector<StressCase> AllCases() {
  std::vector<StressCase> cases;
  for (uint32_t shards : {2u, 3u, 4u}) {
    for (uint64_t seed : {1u, 2u, 3u}) cases.push_back({shards, seed});
  }
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Seeded, MeshParkStressTest,
                         testing::ValuesIn(AllCases()),
                         [](const testing::TestParamInfo<StressCase>& info) {
                           return "Shards" + std::to_string(info.param.shards) +
                                  "Seed" + std::to_string(info.param.seed);
                         });

}  // namespace
}  // namespace veloq::mesh
