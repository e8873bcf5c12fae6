#include "io/buffer/hybrid_pool.h"

#include <cstdint>
#include <vector>

#include "gtest/gtest.h"

namespace veloq::io {
namespace {

std::unique_ptr<HybridPool> MakePool(std::array<size_t, 5> slots,
                                     size_t max_arenas = 1,
                                     bool heap_fallback = true) {
  HybridPool::Options o;
  o.slots = slots;
  o.max_arenas = max_arenas;
  o.heap_fallback = heap_fallback;
  absl::StatusOr<std::unique_ptr<HybridPool>> p = HybridPool::Create(o);
  EXPECT_TRUE(p.ok()) << p.status();
  return *std::move(p);
}

TEST(HybridPoolTest, OneRegionCarvedIntoClasses) {
  auto pool = MakePool({4, 2, 2, 1, 1});
  ASSERT_EQ(pool->region_count(), 1u);
  EXPECT_EQ(pool->region_size(0),
            4 * 4096u + 2 * 8192u + 2 * 16384u + 32768u + 65536u);
  std::optional<internal::BlockRef> small = pool->Allocate(100);
  std::optional<internal::BlockRef> mid = pool->Allocate(10000);
  std::optional<internal::BlockRef> big = pool->Allocate(65536);
  ASSERT_TRUE(small && mid && big);
  EXPECT_EQ(small->capacity, 4096u);
  EXPECT_EQ(mid->capacity, 16384u);
  EXPECT_EQ(big->capacity, 65536u);
  for (const auto* b : {&*small, &*mid, &*big}) {
    EXPECT_EQ(reinterpret_cast<uintptr_t>(b->data) % 4096, 0u);
    EXPECT_EQ(pool->RegionOf(*b), 0);
    EXPECT_GE(b->data, pool->region_data(0));
    EXPECT_LE(b->data + b->capacity,
              pool->region_data(0) + pool->region_size(0));
  }
  pool->Free(*small);
  pool->Free(*mid);
  pool->Free(*big);
  EXPECT_EQ(pool->Usage().blocks_out, 0u);
}

TEST(HybridPoolTest, FullClassBorrowsFromALargerOne) {
  auto pool = MakePool({1, 1, 0, 0, 0});
  std::optional<internal::BlockRef> a = pool->Allocate(4096);
  std::optional<internal::BlockRef> b = pool->Allocate(4096);
  ASSERT_TRUE(a && b);
  EXPECT_EQ(b->capacity, 8192u);
  EXPECT_FALSE(pool->Allocate(4096).has_value());
  pool->Free(*a);
  pool->Free(*b);
}

TEST(HybridPoolTest, LargeRequestsFallBackToTheHeapUnregistered) {
  auto pool = MakePool({1, 0, 0, 0, 0});
  std::optional<internal::BlockRef> huge = pool->Allocate(1 << 20);
  ASSERT_TRUE(huge.has_value());
  EXPECT_EQ(pool->RegionOf(*huge), -1);
  EXPECT_EQ(reinterpret_cast<uintptr_t>(huge->data) % 4096, 0u);
  EXPECT_EQ(pool->Usage().heap_blocks_out, 1u);
  pool->Free(*huge);
  EXPECT_EQ(pool->Usage().heap_blocks_out, 0u);

  auto strict = MakePool({1, 0, 0, 0, 0}, 1, /*heap_fallback=*/false);
  EXPECT_FALSE(strict->Allocate(1 << 20).has_value());
}

TEST(HybridPoolTest, GrowAddsAnArenaWithTheSameLayout) {
  auto pool = MakePool({1, 0, 0, 0, 0}, 2);
  std::optional<internal::BlockRef> a = pool->Allocate(1);
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(pool->Allocate(1).has_value());
  ASSERT_TRUE(pool->Grow().ok());
  std::optional<internal::BlockRef> b = pool->Allocate(1);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(pool->RegionOf(*b), 1);
  EXPECT_FALSE(pool->Grow().ok());
  pool->Free(*a);
  pool->Free(*b);
}

TEST(HybridPoolTest, HugePagesFallBackCleanly) {
  HybridPool::Options o;
  o.slots = {1, 0, 0, 0, 0};
  o.huge_pages = true;
  absl::StatusOr<std::unique_ptr<HybridPool>> p = HybridPool::Create(o);
  ASSERT_TRUE(p.ok()) << p.status();
  std::optional<internal::BlockRef> b = (*p)->Allocate(1);
  ASSERT_TRUE(b.has_value());
  b->data[0] = 1;  // usable, whichever pages backed it
  (*p)->Free(*b);
}

TEST(HybridPoolDeathTest, DoubleFreeAborts) {
  auto pool = MakePool({2, 0, 0, 0, 0});
  std::optional<internal::BlockRef> b = pool->Allocate(1);
  ASSERT_TRUE(b.has_value());
  pool->Free(*b);
  EXPECT_DEATH(pool->Free(*b), "double free");
}

TEST(HybridPoolDeathTest, ForeignPointerAborts) {
  auto pool = MakePool({2, 0, 0, 0, 0});
  std::optional<internal::BlockRef> b = pool->Allocate(1);
  ASSERT_TRUE(b.has_value());
  internal::BlockRef off = *b;
  off.data += 64;
  EXPECT_DEATH(pool->Free(off), "never handed out");
}

}  // namespace
}  // namespace veloq::io
