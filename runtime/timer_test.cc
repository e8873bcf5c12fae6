#include "runtime/timer.h"

#include <map>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/internal/timer_queue.h"
#include "runtime/spawn.h"
#include "testing/test_runtime.h"

namespace veloq::runtime {
namespace {

using namespace std::chrono_literals;
using internal::TimerEntry;
using internal::TimerQueue;
using veloq::testing::RunOnRuntime;
using veloq::testing::TestRuntimeOptions;

TestRuntimeOptions Virtual() {
  TestRuntimeOptions o;
  o.shards = 1;
  o.virtual_clock = true;
  return o;
}

// --- TimerQueue against a model (std::set ordered by deadline, then seq). ---

struct Recorded {
  std::vector<int>* fired;
  int id;
};

TEST(TimerQueueTest, MatchesAModelUnderRandomInsertRemoveFire) {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE(seed);
    std::mt19937_64 rng(seed);
    TimerQueue q;
    std::vector<TimerEntry> entries(200);
    std::vector<int> fired;
    std::set<std::pair<int64_t, int>> model;  // (deadline, id)
    std::map<int, uint64_t> order;            // id -> insertion order
    uint64_t inserted = 0;
    int64_t now = 0;
    for (int step = 0; step < 5000; ++step) {
      const int id = static_cast<int>(rng() % entries.size());
      TimerEntry& e = entries[id];
      switch (rng() % 3) {
        case 0:
          if (!e.queued()) {
            const int64_t d = now + static_cast<int64_t>(rng() % 100);
            e.deadline = TimePoint(Duration(d));
            e.context = &fired;
            e.fire = [](TimerEntry* t) {
              auto* f = static_cast<std::vector<int>*>(t->context);
              f->push_back(static_cast<int>(t->seq));
            };
            q.Insert(&e);
            model.insert({d, id});
            order[id] = inserted++;
          }
          break;
        case 1:
          if (e.queued()) {
            model.erase({e.deadline.time_since_epoch().count(), id});
            q.Remove(&e);
            EXPECT_FALSE(e.queued());
          }
          break;
        case 2: {
          now += static_cast<int64_t>(rng() % 20);
          fired.clear();
          q.FireExpired(TimePoint(Duration(now)), 1000);
          // Expected: every model entry with deadline <= now, by deadline
          // then insertion order.
          std::vector<std::pair<std::pair<int64_t, uint64_t>, int>> due;
          for (auto it = model.begin();
               it != model.end() && it->first <= now;) {
            due.push_back({{it->first, order[it->second]}, it->second});
            it = model.erase(it);
          }
          std::sort(due.begin(), due.end());
          ASSERT_EQ(fired.size(), due.size());
          for (size_t i = 0; i < due.size(); ++i) {
            EXPECT_EQ(entries[due[i].second].seq,
                      static_cast<uint64_t>(fired[i]));
            EXPECT_FALSE(entries[due[i].second].queued());
          }
          break;
        }
      }
      ASSERT_EQ(q.size(), model.size());
      if (!model.empty()) {
        EXPECT_EQ(q.NextDeadline().time_since_epoch().count(),
                  model.begin()->first);
      }
    }
  }
}

TEST(TimerQueueTest, FireRespectsBudget) {
  TimerQueue q;
  std::vector<TimerEntry> es(10);
  int count = 0;
  for (auto& e : es) {
    e.deadline = TimePoint(Duration(5));
    e.context = &count;
    e.fire = [](TimerEntry* t) { ++*static_cast<int*>(t->context); };
    q.Insert(&e);
  }
  EXPECT_EQ(q.FireExpired(TimePoint(Duration(10)), 3), 3u);
  EXPECT_EQ(count, 3);
  EXPECT_EQ(q.size(), 7u);
}

// --- Sleep / PeriodicTimer on the virtual clock. ---

TEST(SleepTest, PastDeadlineCompletesAtOnce) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<bool> {
    const TimePoint t0 = Now();
    absl::Status s = co_await SleepUntil(t0 - 1s);
    co_return s.ok() && Now() == t0;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(*r);
}

TEST(SleepTest, AlreadyCancelledTaskDoesNotSleep) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<absl::Status> {
    auto h = Spawn([]() -> Task<absl::Status> {
      co_await Yield();
      co_return co_await Sleep(1h);
    }());
    h.Cancel();
    co_return co_await h;
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kCancelled);
}

TEST(PeriodicTimerTest, TicksAtMultiplesOfThePeriod) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<int64_t>> {
    const TimePoint start = Now();
    PeriodicTimer t(10ms);
    std::vector<int64_t> at;
    for (int i = 0; i < 5; ++i) {
      EXPECT_TRUE((co_await t.Tick()).ok());
      at.push_back((Now() - start) / 1ms);
    }
    co_return at;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int64_t>{10, 20, 30, 40, 50}));
}

TEST(PeriodicTimerTest, LateTicksFireOnceAndSkipMissedOnes) {
  auto r = RunOnRuntime(Virtual(), []() -> Task<std::vector<int64_t>> {
    Clock& clock = Shard::Current()->clock();
    const TimePoint start = Now();
    PeriodicTimer t(10ms);
    std::vector<int64_t> at;
    EXPECT_TRUE((co_await t.Tick()).ok());  // 10
    at.push_back((Now() - start) / 1ms);
    clock.Advance(35ms);                    // busy until 45: 20, 30, 40 due
    EXPECT_TRUE((co_await t.Tick()).ok());  // late: at once (45)
    at.push_back((Now() - start) / 1ms);
    EXPECT_TRUE((co_await t.Tick()).ok());  // realigned: 50
    at.push_back((Now() - start) / 1ms);
    EXPECT_EQ(t.missed(), 2u);  // 30 and 40 were skipped
    co_return at;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(*r, (std::vector<int64_t>{10, 45, 50}));
}

TEST(SleepTest, RealClockSleepsAtLeastTheDuration) {
  TestRuntimeOptions o;
  o.shards = 1;
  auto r = RunOnRuntime(o, []() -> Task<Duration> {
    const auto t0 = std::chrono::steady_clock::now();
    (void)co_await Sleep(20ms);
    co_return std::chrono::steady_clock::now() - t0;
  });
  ASSERT_TRUE(r.ok());
  EXPECT_GE(*r, 20ms);
}

}  // namespace
}  // namespace veloq::runtime
