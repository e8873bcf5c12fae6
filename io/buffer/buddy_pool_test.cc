#include "io/buffer/buddy_pool.h"

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace veloq::io {
namespace {

std::unique_ptr<BuddyPool> MakePool(size_t arena = 1 << 20,
                                    size_t max_arenas = 1, int cached = 6) {
  BuddyPool::Options o;
  o.arena_bytes = arena;
  o.max_arenas = max_arenas;
  o.cached_orders = cached;
  absl::StatusOr<std::unique_ptr<BuddyPool>> p = BuddyPool::Create(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

TEST(BuddyPoolTest, BlocksArePowerOfTwoPagesAlignedAndDisjoint) {
  auto pool = MakePool();
  EXPECT_EQ(pool->max_order(), 8);  // 1 MB / 4 KB = 256 units
  std::vector<internal::BlockRef> out;
  for (size_t size : {1, 4096, 4097, 12000, 65536, 100000}) {
    std::optional<internal::BlockRef> b = pool->Allocate(size);
    ASSERT_TRUE(b.has_value()) << size;
    EXPECT_GE(b->capacity, size);
    EXPECT_EQ(b->capacity & (b->capacity - 1), 0u);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data) % 4096, 0u);
    out.push_back(*b);
  }
  for (size_t i = 0; i < out.size(); ++i) {
    for (size_t j = i + 1; j < out.size(); ++j) {
      const bool disjoint = out[i].data + out[i].capacity <= out[j].data ||
                            out[j].data + out[j].capacity <= out[i].data;
      EXPECT_TRUE(disjoint) << i << " overlaps " << j;
    }
  }
  EXPECT_EQ(pool->Usage().blocks_out, out.size());
  for (const auto& b : out) pool->Free(b);
  EXPECT_EQ(pool->Usage().blocks_out, 0u);
}

TEST(BuddyPoolTest, WholeArenaThenNothing) {
  auto pool = MakePool(1 << 20);
  std::optional<internal::BlockRef> all = pool->Allocate(1 << 20);
  ASSERT_TRUE(all.has_value());
  EXPECT_FALSE(pool->Allocate(4096).has_value());
  EXPECT_FALSE(pool->Allocate(2 << 20).has_value());  // larger than an arena
  pool->Free(*all);
  EXPECT_TRUE(pool->Allocate(4096).has_value());
}

TEST(BuddyPoolTest, CachedBlocksAreReusedFirst) {
  auto pool = MakePool();
  std::optional<internal::BlockRef> a = pool->Allocate(4096);
  ASSERT_TRUE(a.has_value());
  pool->Free(*a);
  std::optional<internal::BlockRef> b = pool->Allocate(4096);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(a->data, b->data);
  pool->Free(*b);
}

TEST(BuddyPoolTest, CachedBlocksNeverCauseAFalseExhaustion) {
  auto pool = MakePool(1 << 20);
  // Fill the arena with 4 KB blocks, free them all into the cache (more
  // than the cache holds; the rest merge), then ask for the whole arena.
  std::vector<internal::BlockRef> out;
  while (std::optional<internal::BlockRef> b = pool->Allocate(4096)) {
    out.push_back(*b);
  }
  EXPECT_EQ(out.size(), 256u);
  for (const auto& b : out) pool->Free(b);
  std::optional<internal::BlockRef> all = pool->Allocate(1 << 20);
  ASSERT_TRUE(all.has_value());
  pool->Free(*all);
}

TEST(BuddyPoolTest, GrowAddsARegionUpToTheLimit) {
  auto pool = MakePool(1 << 20, 2);
  ASSERT_TRUE(pool->Allocate(1 << 20).has_value());
  EXPECT_FALSE(pool->Allocate(4096).has_value());
  ASSERT_TRUE(pool->Grow().ok());
  EXPECT_EQ(pool->region_count(), 2u);
  std::optional<internal::BlockRef> b = pool->Allocate(4096);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(pool->RegionOf(*b), 1);
  EXPECT_EQ(pool->Grow().code(), absl::StatusCode::kResourceExhausted);
}

// The fragmentation test: a long random mix of sizes and frees; after
// freeing everything, the largest free block is the whole arena (buddies
// always merge back).
TEST(BuddyPoolTest, RandomMixFreesBackToOneBlock) {
  for (int cached : {0, 6}) {
    auto pool = MakePool(8 << 20, 1, cached);
    std::mt19937_64 rng(42 + cached);
    std::vector<internal::BlockRef> live;
    size_t failures = 0;
    for (int step = 0; step < 200000; ++step) {
      if (!live.empty() && (rng() % 100 < 48 || live.size() > 3000)) {
        const size_t i = rng() % live.size();
        pool->Free(live[i]);
        live[i] = live.back();
        live.pop_back();
        continue;
      }
      const size_t size = 1 + rng() % (rng() % 8 == 0 ? (1 << 20) : 65536);
      if (std::optional<internal::BlockRef> b = pool->Allocate(size)) {
        // Touch both ends: a block must be usable memory.
        b->data[0] = 1;
        b->data[b->capacity - 1] = 2;
        live.push_back(*b);
      } else {
        ++failures;
      }
    }
    for (const auto& b : live) pool->Free(b);
    pool->Trim();
    EXPECT_EQ(pool->LargestFreeBlock(), size_t{8} << 20) << cached;
    EXPECT_EQ(pool->Usage().blocks_out, 0u);
    std::printf("cached_orders=%d: %zu of 200000 steps found no block\n",
                cached, failures);
  }
}

TEST(BuddyPoolDeathTest, DoubleFreeAborts) {
  auto pool = MakePool();
  std::optional<internal::BlockRef> b = pool->Allocate(4096);
  ASSERT_TRUE(b.has_value());
  pool->Free(*b);
  EXPECT_DEATH(pool->Free(*b), "double free");
}

TEST(BuddyPoolDeathTest, ForeignPointerAborts) {
  auto pool = MakePool();
  std::optional<internal::BlockRef> b = pool->Allocate(8192);
  ASSERT_TRUE(b.has_value());
  internal::BlockRef inside = *b;
  inside.data += 4096;  // inside a block, not its start
  EXPECT_DEATH(pool->Free(inside), "never handed out");
  static char elsewhere[4096];
  internal::BlockRef foreign{elsewhere, 4096, 0};
  EXPECT_DEATH(pool->Free(foreign), "never handed out");
}

TEST(BuddyPoolTest, OptionsAreChecked) {
  BuddyPool::Options o;
  o.min_block = 1000;
  EXPECT_FALSE(BuddyPool::Create(o).ok());
  o.min_block = 4096;
  o.max_arenas = 0;
  EXPECT_FALSE(BuddyPool::Create(o).ok());
}

}  // namespace
}  // namespace veloq::io
