#include "mesh/spsc_ring.h"

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace veloq::mesh {
namespace {

// Sanitizer builds run the stress tests on fewer items to stay within a few
// seconds; the interleavings they check are the same.
#if defined(VELOQ_SANITIZER)
constexpr uint64_t kStressScale = 10;
#else
constexpr uint64_t kStressScale = 1;
#endif

// Counts live instances, to check that the ring destroys what it constructs.
struct Counted {
  static inline int live = 0;

  explicit Counted(int v) : value(v) { ++live; }
  Counted(Counted&& other) noexcept : value(other.value) { ++live; }
  Counted& operator=(Counted&&) = default;
  ~Counted() { --live; }

  int value;
};

std::vector<int> DrainWithTryPop(SpscRing<int>& ring) {
  std::vector<int> out;
  int v;
  while (ring.TryPop(v)) out.push_back(v);
  return out;
}

TEST(SpscRingTest, FifoOrderAndFullAndEmpty) {
  auto ring_owner = std::make_unique<SpscRing<int>>(8);
  auto& ring = *ring_owner;
  EXPECT_EQ(ring.Capacity(), 8u);
  EXPECT_TRUE(ring.EmptyApprox());
  int v = -1;
  EXPECT_FALSE(ring.TryPop(v));
  EXPECT_EQ(v, -1);

  for (int i = 0; i < 8; ++i) ASSERT_TRUE(ring.TryPush(int{i}));
  EXPECT_FALSE(ring.TryPush(8));
  EXPECT_FALSE(ring.TryEmplace(8));
  EXPECT_EQ(ring.SizeApprox(), 8u);
  EXPECT_EQ(ring.FreeSpaceApprox(), 0u);
  EXPECT_FALSE(ring.EmptyApprox());

  EXPECT_EQ(DrainWithTryPop(ring), (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7}));
  EXPECT_TRUE(ring.EmptyApprox());
  EXPECT_EQ(ring.SizeApprox(), 0u);
  EXPECT_EQ(ring.FreeSpaceApprox(), 8u);
}

TEST(SpscRingTest, CapacityOneHoldsOneItem) {
  auto ring_owner = std::make_unique<SpscRing<int>>(1);
  auto& ring = *ring_owner;
  ASSERT_TRUE(ring.TryPush(1));
  EXPECT_FALSE(ring.TryPush(2));
  int v = 0;
  ASSERT_TRUE(ring.TryPop(v));
  EXPECT_EQ(v, 1);
  ASSERT_TRUE(ring.TryPush(3));
  ASSERT_TRUE(ring.TryPop(v));
  EXPECT_EQ(v, 3);
}

TEST(SpscRingTest, RejectedPushLeavesMoveOnlyValueWithCaller) {
  auto ring_owner = std::make_unique<SpscRing<std::unique_ptr<int>>>(2);
  auto& ring = *ring_owner;
  ASSERT_TRUE(ring.TryPush(std::make_unique<int>(1)));
  ASSERT_TRUE(ring.TryEmplace(std::make_unique<int>(2)));

  auto p = std::make_unique<int>(42);
  EXPECT_FALSE(ring.TryPush(std::move(p)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);
  EXPECT_FALSE(ring.TryStage(std::move(p)));
  ASSERT_NE(p, nullptr);
  EXPECT_FALSE(ring.TryEmplace(std::move(p)));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(*p, 42);

  std::unique_ptr<int> out;
  ASSERT_TRUE(ring.TryPop(out));
  EXPECT_EQ(*out, 1);
  ASSERT_TRUE(ring.TryPush(std::move(p)));
  EXPECT_EQ(p, nullptr);
  ASSERT_TRUE(ring.TryPop(out));
  EXPECT_EQ(*out, 2);
  ASSERT_TRUE(ring.TryPop(out));
  EXPECT_EQ(*out, 42);
}

TEST(SpscRingTest, WrapsAroundOverManyLaps) {
  auto ring_owner = std::make_unique<SpscRing<uint64_t>>(4);
  auto& ring = *ring_owner;
  uint64_t pushed = 0;
  uint64_t popped = 0;
  // Varying fill levels move head and tail through every slot offset.
  for (int lap = 0; lap < 10'000; ++lap) {
    const int fill = 1 + lap % 4;
    for (int i = 0; i < fill; ++i)
      ASSERT_TRUE(ring.TryPush(uint64_t{pushed++}));
    ASSERT_EQ(ring.SizeApprox(), static_cast<size_t>(fill));
    for (int i = 0; i < fill; ++i) {
      uint64_t v;
      ASSERT_TRUE(ring.TryPop(v));
      ASSERT_EQ(v, popped++);
    }
  }
  EXPECT_EQ(pushed, popped);
  EXPECT_TRUE(ring.EmptyApprox());
}

TEST(SpscRingTest, StagedItemsAreInvisibleUntilPublish) {
  auto ring_owner = std::make_unique<SpscRing<int>>(8);
  auto& ring = *ring_owner;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(ring.TryStage(int{i}));
  EXPECT_EQ(ring.Staged(), 3u);
  EXPECT_EQ(ring.FreeSpaceApprox(), 5u);  // Staged items hold their slots.
  EXPECT_TRUE(ring.EmptyApprox());
  EXPECT_EQ(ring.SizeApprox(), 0u);
  int v = -1;
  EXPECT_FALSE(ring.TryPop(v));
  EXPECT_EQ(ring.PopBatch([](int&&) { FAIL() << "saw a staged item"; }, 8), 0u);

  ring.Publish();
  EXPECT_EQ(ring.Staged(), 0u);
  EXPECT_EQ(ring.SizeApprox(), 3u);
  ring.Publish();  // Nothing staged: no effect.
  EXPECT_EQ(ring.SizeApprox(), 3u);
  EXPECT_EQ(DrainWithTryPop(ring), (std::vector<int>{0, 1, 2}));
}

TEST(SpscRingTest, StagingStopsAtCapacity) {
  auto ring_owner = std::make_unique<SpscRing<int>>(4);
  auto& ring = *ring_owner;
  for (int i = 0; i < 4; ++i) ASSERT_TRUE(ring.TryStage(int{i}));
  EXPECT_FALSE(ring.TryStage(4));
  EXPECT_EQ(ring.Staged(), 4u);
  ring.Publish();
  EXPECT_EQ(DrainWithTryPop(ring), (std::vector<int>{0, 1, 2, 3}));
}

TEST(SpscRingTest, PushPublishesEarlierStagedItems) {
  auto ring_owner = std::make_unique<SpscRing<int>>(4);
  auto& ring = *ring_owner;
  ASSERT_TRUE(ring.TryStage(0));
  ASSERT_TRUE(ring.TryPush(1));
  EXPECT_EQ(ring.Staged(), 0u);
  EXPECT_EQ(ring.SizeApprox(), 2u);

  // A rejected push still publishes what was staged, so a producer retrying
  // TryPush cannot wait forever on its own unpublished items.
  ASSERT_TRUE(ring.TryStage(2));
  ASSERT_TRUE(ring.TryStage(3));
  EXPECT_FALSE(ring.TryPush(4));
  EXPECT_EQ(ring.Staged(), 0u);
  EXPECT_EQ(DrainWithTryPop(ring), (std::vector<int>{0, 1, 2, 3}));
}

TEST(SpscRingTest, PushBatchMovesWhatFitsAndLeavesTheRest) {
  auto ring_owner = std::make_unique<SpscRing<std::unique_ptr<int>>>(8);
  auto& ring = *ring_owner;
  ASSERT_TRUE(ring.TryPush(std::make_unique<int>(-1)));
  std::vector<std::unique_ptr<int>> items;
  for (int i = 0; i < 10; ++i) items.push_back(std::make_unique<int>(i));

  EXPECT_EQ(ring.PushBatch(items.data(), items.size()), 7u);
  EXPECT_EQ(ring.SizeApprox(), 8u);
  for (int i = 0; i < 7; ++i) EXPECT_EQ(items[i], nullptr) << i;
  for (int i = 7; i < 10; ++i) {
    ASSERT_NE(items[i], nullptr) << i;
    EXPECT_EQ(*items[i], i);
  }
  EXPECT_EQ(ring.PushBatch(items.data() + 7, 3), 0u);
  EXPECT_NE(items[7], nullptr);

  std::vector<int> seen;
  ring.PopBatch([&](std::unique_ptr<int>&& p) { seen.push_back(*p); }, 8);
  EXPECT_EQ(seen, (std::vector<int>{-1, 0, 1, 2, 3, 4, 5, 6}));
}

TEST(SpscRingTest, PopBatchRespectsMaxAndOrder) {
  auto ring_owner = std::make_unique<SpscRing<int>>(16);
  auto& ring = *ring_owner;
  std::vector<int> items = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
  ASSERT_EQ(ring.PushBatch(items.data(), items.size()), 10u);

  std::vector<int> seen;
  auto collect = [&](int&& v) { seen.push_back(v); };
  EXPECT_EQ(ring.PopBatch(collect, 0), 0u);
  EXPECT_EQ(ring.PopBatch(collect, 4), 4u);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3}));
  EXPECT_EQ(ring.SizeApprox(), 6u);
  EXPECT_EQ(ring.PopBatch(collect, 100), 6u);
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(ring.PopBatch(collect, 100), 0u);
  EXPECT_TRUE(ring.EmptyApprox());
}

TEST(SpscRingTest, PopBatchReleasesItemsBeforeAThrow) {
  auto ring_owner = std::make_unique<SpscRing<int>>(8);
  auto& ring = *ring_owner;
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.TryPush(int{i}));
  std::vector<int> seen;
  EXPECT_THROW(ring.PopBatch(
                   [&](int&& v) {
                     if (v == 2) throw 2;
                     seen.push_back(v);
                   },
                   8),
               int);
  EXPECT_EQ(seen, (std::vector<int>{0, 1}));
  EXPECT_EQ(DrainWithTryPop(ring), (std::vector<int>{2, 3, 4}));
}

TEST(SpscRingTest, ElementsAreDestroyedWhenPoppedAndByTheDestructor) {
  ASSERT_EQ(Counted::live, 0);
  {
    auto ring_owner = std::make_unique<SpscRing<Counted>>(8);
    auto& ring = *ring_owner;
    for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.TryEmplace(i));
    EXPECT_EQ(Counted::live, 5);

    Counted out(-1);
    ASSERT_TRUE(ring.TryPop(out));
    EXPECT_EQ(out.value, 0);
    EXPECT_EQ(Counted::live, 5);  // 4 in the ring, plus out.
    EXPECT_EQ(ring.PopBatch([](Counted&&) {}, 2), 2u);
    EXPECT_EQ(Counted::live, 3);

    ASSERT_TRUE(ring.TryStage(Counted(5)));  // Staged, never published.
    EXPECT_EQ(Counted::live, 4);
  }
  EXPECT_EQ(Counted::live, 0);
}

TEST(SpscRingTest, LineSizedElementsGetLineAlignedSlots) {
  struct Line {
    unsigned char bytes[64];
  };
  for (int i = 0; i < 8; ++i) {
    SpscRing<Line> ring(16);
    ASSERT_TRUE(ring.TryPush(Line{}));
    uintptr_t at = 0;
    ring.ConsumeBatch(
        [&at](Line* slot) {
          at = reinterpret_cast<uintptr_t>(slot);
          std::destroy_at(slot);
        },
        1);
    EXPECT_EQ(at % 64, 0u) << "a 64-byte element must not span two lines";
  }
}

TEST(SpscRingDeathTest, CapacityMustBeAPowerOfTwo) {
  EXPECT_DEATH({ SpscRing<int> ring(0); }, "capacity 0 is not a power of 2");
  EXPECT_DEATH({ SpscRing<int> ring(3); }, "capacity 3 is not a power of 2");
  EXPECT_DEATH({ SpscRing<int> ring(96); }, "capacity 96 is not a power of 2");
}

// ---- Two-thread stress. ----

struct StressCase {
  uint64_t items;
  size_t capacity;
  uint64_t seed;
};

uint64_t ValueOf(uint64_t v) { return v; }
uint64_t ValueOf(const std::unique_ptr<uint64_t>& p) {
  return p == nullptr ? ~uint64_t{0} : *p;
}

template <class T>
T Make(uint64_t i) {
  if constexpr (std::is_same_v<T, uint64_t>) {
    return i;
  } else {
    return std::make_unique<uint64_t>(i);
  }
}

// The producer pushes Make<T>(0 .. items-1), switching at random (seeded)
// between TryPush, TryEmplace, PushBatch and staged bursts; the consumer
// switches between TryPop and PopBatch and checks it sees exactly 0, 1, 2, ...
// A third thread polls SizeApprox, which must stay within [0, capacity].
template <class T>
void RunStress(const StressCase& c) {
  auto ring_owner = std::make_unique<SpscRing<T>>(c.capacity);
  auto& ring = *ring_owner;
  std::atomic<bool> done{false};

  std::thread producer([&] {
    std::mt19937_64 rng(c.seed);
    std::vector<T> batch;
    uint64_t next = 0;
    while (next < c.items) {
      const uint64_t burst = std::min<uint64_t>(1 + rng() % 64, c.items - next);
      switch (rng() % 4) {
        case 0:
          for (uint64_t i = 0; i < burst; ++i) {
            T v = Make<T>(next++);
            // A rejected push must leave v intact for the retry.
            while (!ring.TryPush(std::move(v))) std::this_thread::yield();
          }
          break;
        case 1:
          for (uint64_t i = 0; i < burst; ++i) {
            T v = Make<T>(next++);
            while (!ring.TryEmplace(std::move(v))) std::this_thread::yield();
          }
          break;
        case 2: {
          batch.clear();
          for (uint64_t i = 0; i < burst; ++i) batch.push_back(Make<T>(next++));
          for (size_t sent = 0; sent < batch.size();) {
            const size_t k =
                ring.PushBatch(batch.data() + sent, batch.size() - sent);
            if (k == 0) std::this_thread::yield();
            sent += k;
          }
          break;
        }
        default:
          for (uint64_t i = 0; i < burst; ++i) {
            T v = Make<T>(next++);
            while (!ring.TryStage(std::move(v))) {
              ring.Publish();
              std::this_thread::yield();
            }
          }
          ring.Publish();
          break;
      }
    }
  });

  uint64_t expected = 0;
  uint64_t bad_index = ~uint64_t{0};
  uint64_t bad_value = 0;
  auto check = [&](T&& v) {
    const uint64_t got = ValueOf(v);
    if (got != expected && bad_index == ~uint64_t{0}) {
      bad_index = expected;
      bad_value = got;
    }
    ++expected;
  };
  std::thread consumer([&] {
    std::mt19937_64 rng(c.seed * 0x9E3779B97F4A7C15u + 1);
    while (expected < c.items) {
      size_t got = 0;
      if (rng() % 2 == 0) {
        T v{};
        for (uint64_t i = rng() % 64; i > 0 && ring.TryPop(v); --i) {
          check(std::move(v));
          ++got;
        }
      } else {
        got = ring.PopBatch(check, 1 + rng() % 64);
      }
      if (got == 0) std::this_thread::yield();
    }
    done.store(true, std::memory_order_relaxed);
  });

  size_t max_size_seen = 0;
  while (!done.load(std::memory_order_relaxed)) {
    max_size_seen = std::max(max_size_seen, ring.SizeApprox());
    std::this_thread::yield();  // Leave the cores to the two sides.
  }
  producer.join();
  consumer.join();

  EXPECT_EQ(bad_index, ~uint64_t{0})
      << "item " << bad_index << " was " << bad_value;
  EXPECT_EQ(expected, c.items);
  EXPECT_LE(max_size_seen, c.capacity);
  EXPECT_TRUE(ring.EmptyApprox());
  EXPECT_EQ(ring.SizeApprox(), 0u);
}

TEST(SpscRingStressTest, TenMillionSequentialIntegers) {
  RunStress<uint64_t>({10'000'000 / kStressScale, 1024, 1});
}

TEST(SpscRingStressTest, SmallRingsUnderContention) {
  for (uint64_t seed : {2, 3, 4}) {
    for (size_t capacity : {1, 2, 8}) {
      SCOPED_TRACE(testing::Message()
                   << "seed " << seed << " capacity " << capacity);
      RunStress<uint64_t>({50'000 / kStressScale, capacity, seed});
    }
  }
}

TEST(SpscRingStressTest, MoveOnlyPayload) {
  for (uint64_t seed : {5, 6}) {
    SCOPED_TRACE(testing::Message() << "seed " << seed);
    RunStress<std::unique_ptr<uint64_t>>({1'000'000 / kStressScale, 256, seed});
  }
}

}  // namespace
}  // namespace veloq::mesh
