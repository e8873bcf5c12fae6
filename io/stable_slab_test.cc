#include "io/stable_slab.h"

#include <map>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace veloq::io {
namespace {

TEST(StableSlabTest, InsertGetRemove) {
  StableSlab<int, 4> slab;
  auto a = slab.Insert(1);
  auto b = slab.Insert(2);
  ASSERT_NE(slab.Get(a), nullptr);
  EXPECT_EQ(*slab.Get(a), 1);
  EXPECT_EQ(*slab.Get(b), 2);
  EXPECT_EQ(slab.size(), 2u);
  slab.Remove(a);
  EXPECT_EQ(slab.Get(a), nullptr);
  EXPECT_EQ(slab.size(), 1u);
}

using Slab4 = StableSlab<int, 4>;

TEST(StableSlabTest, StaleHandleOfAReusedSlotDoesNotResolve) {
  Slab4 slab;
  auto a = slab.Insert(1);
  slab.Remove(a);
  auto b = slab.Insert(2);
  EXPECT_EQ(a.index, b.index);  // the slot was reused
  EXPECT_NE(a.generation, b.generation);
  EXPECT_EQ(slab.Get(a), nullptr);
  EXPECT_EQ(*slab.Get(b), 2);
  // Round trip through user_data.
  EXPECT_TRUE(Slab4::Handle::Unpack(b.Pack()) == b);
  EXPECT_EQ(slab.Get(Slab4::Handle::Unpack(a.Pack())), nullptr);
}

TEST(StableSlabTest, EntriesNeverMoveAsTheSlabGrows) {
  StableSlab<int, 4> slab;
  std::vector<std::pair<StableSlab<int, 4>::Handle, int*>> seen;
  for (int i = 0; i < 1000; ++i) {
    auto h = slab.Insert(i);
    seen.push_back({h, slab.Get(h)});
  }
  for (int i = 0; i < 1000; ++i) {
    EXPECT_EQ(slab.Get(seen[i].first), seen[i].second);
    EXPECT_EQ(*seen[i].second, i);
  }
  EXPECT_GE(slab.capacity(), 1000u);
}

TEST(StableSlabTest, DestroysLiveEntries) {
  auto counter = std::make_shared<int>(0);
  {
    StableSlab<std::shared_ptr<int>, 4> slab;
    for (int i = 0; i < 10; ++i) slab.Insert(counter);
    EXPECT_EQ(counter.use_count(), 11);
    auto h = slab.Insert(counter);
    slab.Remove(h);
    EXPECT_EQ(counter.use_count(), 11);
  }
  EXPECT_EQ(counter.use_count(), 1);
}

TEST(StableSlabTest, MatchesAModelUnderRandomUse) {
  std::mt19937_64 rng(7);
  StableSlab<uint64_t, 8> slab;
  std::map<uint64_t, uint64_t> live;  // packed handle -> value
  std::vector<uint64_t> removed;
  for (int step = 0; step < 20000; ++step) {
    if (live.empty() || rng() % 3 != 0) {
      const uint64_t v = rng();
      auto h = slab.Insert(v);
      ASSERT_EQ(live.count(h.Pack()), 0u);
      live[h.Pack()] = v;
    } else {
      auto it = live.begin();
      std::advance(it, rng() % live.size());
      slab.Remove(StableSlab<uint64_t, 8>::Handle::Unpack(it->first));
      removed.push_back(it->first);
      live.erase(it);
    }
    ASSERT_EQ(slab.size(), live.size());
  }
  for (auto& [packed, v] : live) {
    auto* p = slab.Get(StableSlab<uint64_t, 8>::Handle::Unpack(packed));
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, v);
  }
  for (uint64_t packed : removed) {
    EXPECT_EQ(slab.Get(StableSlab<uint64_t, 8>::Handle::Unpack(packed)),
              nullptr);
  }
}

TEST(StableSlabDeathTest, RemovingAStaleHandleAborts) {
  StableSlab<int, 4> slab;
  auto a = slab.Insert(1);
  slab.Remove(a);
  EXPECT_DEATH(slab.Remove(a), "stale handle");
}

}  // namespace
}  // namespace veloq::io
