// Proves that a warm shard creates, spawns and joins tasks without calling
// the global allocator: this binary counts every operator new.
#include "runtime/internal/frame_allocator.h"

#include <vector>

#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "testing/counting_allocator.h"
#include "testing/test_runtime.h"

namespace veloq::runtime {
namespace {

Task<int> Leaf(int x) { co_return x + 1; }

Task<int> Inner(int x) {
  int a = co_await Leaf(x);
  co_return co_await Leaf(a);
}

TEST(FrameAllocatorTest, ReusesBlocksBySizeClass) {
  internal::FrameAllocator a;
  internal::ScopedFrameAllocator scope(&a);
  void* p = internal::AllocateFrame(100);
  internal::FreeFrame(p, 100);
  void* q = internal::AllocateFrame(90);  // same 128-byte class
  EXPECT_EQ(p, q);
  internal::FreeFrame(q, 90);
  EXPECT_EQ(a.global_allocations(), 1u);
  EXPECT_EQ(a.allocations(), 2u);
}

TEST(FrameAllocatorTest, CachesFreedFramesUpToItsByteBound) {
  // Room for three 128-byte blocks (100-byte frames plus the header).
  internal::FrameAllocator a(3 * 128);
  internal::ScopedFrameAllocator scope(&a);
  std::vector<void*> frames;
  for (int i = 0; i < 5; ++i) frames.push_back(internal::AllocateFrame(100));
  EXPECT_EQ(a.global_allocations(), 5u);
  for (void* p : frames) internal::FreeFrame(p, 100);
  EXPECT_EQ(a.cached_bytes(), 3u * 128);  // two went back to the heap
  for (int i = 0; i < 5; ++i) frames[i] = internal::AllocateFrame(100);
  EXPECT_EQ(a.global_allocations(), 7u);  // three from the cache
  EXPECT_EQ(a.cached_bytes(), 0u);
  // Full: a block of any class goes back to the heap.
  internal::FreeFrame(frames[0], 100);
  internal::FreeFrame(frames[1], 100);
  internal::FreeFrame(frames[2], 100);
  EXPECT_EQ(a.cached_bytes(), 3u * 128);
  void* small = internal::AllocateFrame(10);
  internal::FreeFrame(small, 10);
  EXPECT_EQ(a.cached_bytes(), 3u * 128);
  internal::FreeFrame(frames[3], 100);
  internal::FreeFrame(frames[4], 100);
  EXPECT_EQ(a.cached_bytes(), 3u * 128);
}

// The bound is in bytes across classes: a small block fits the room a
// larger one would not.
TEST(FrameAllocatorTest, ClassesShareTheByteBound) {
  internal::FrameAllocator a(128 + 64);
  internal::ScopedFrameAllocator scope(&a);
  void* big1 = internal::AllocateFrame(100);  // 128-byte class
  void* big2 = internal::AllocateFrame(100);  // 128-byte class
  void* small = internal::AllocateFrame(10);  // 64-byte class
  internal::FreeFrame(big1, 100);
  internal::FreeFrame(big2, 100);  // 128 + 128 > 192: back to the heap
  EXPECT_EQ(a.cached_bytes(), 128u);
  internal::FreeFrame(small, 10);  // 128 + 64 fits
  EXPECT_EQ(a.cached_bytes(), 192u);
  EXPECT_EQ(internal::AllocateFrame(10), small);  // reused
  EXPECT_EQ(a.cached_bytes(), 128u);
  internal::FreeFrame(small, 10);
}

// A frame freed under another shard's allocator joins that cache, and
// each cache accounts only for what it holds.
TEST(FrameAllocatorTest, AFrameFreedElsewhereJoinsThatCache) {
  internal::FrameAllocator a;
  internal::FrameAllocator b;
  void* p;
  {
    internal::ScopedFrameAllocator scope(&a);
    p = internal::AllocateFrame(100);
  }
  {
    internal::ScopedFrameAllocator scope(&b);
    internal::FreeFrame(p, 100);
    EXPECT_EQ(b.cached_bytes(), 128u);
    EXPECT_EQ(internal::AllocateFrame(90), p);
    EXPECT_EQ(b.cached_bytes(), 0u);
    EXPECT_EQ(b.global_allocations(), 0u);
    internal::FreeFrame(p, 90);
  }
  EXPECT_EQ(a.cached_bytes(), 0u);
  EXPECT_EQ(a.global_allocations(), 1u);
}

TEST(FrameAllocatorTest, FramesAreSixteenByteAligned) {
  internal::FrameAllocator a;
  internal::ScopedFrameAllocator scope(&a);
  for (size_t n : {1u, 17u, 100u, 1000u, 5000u}) {
    void* p = internal::AllocateFrame(n);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(p) % 16, 0u) << n;
    internal::FreeFrame(p, n);
  }
}

TEST(FrameAllocatorTest, WorksWithoutAnInstalledAllocator) {
  void* p = internal::AllocateFrame(64);
  internal::FreeFrame(p, 64);
  void* big = internal::AllocateFrame(1 << 20);
  internal::FreeFrame(big, 1 << 20);
}

TEST(FrameAllocatorTest, WarmShardSpawnsAndJoinsWithoutMalloc) {
  veloq::testing::TestRuntimeOptions o;
  o.shards = 1;
  auto r = veloq::testing::RunOnRuntime(o, []() -> Task<uint64_t> {
    auto round = []() -> Task<int> {
      int sum = 0;
      for (int i = 0; i < 1000; ++i) {
        JoinHandle<int> h = Spawn(Inner(i));
        sum += co_await h;
        sum += co_await Inner(i);
      }
      co_return sum;
    };
    (void)co_await round();  // warm the frame cache and the run queue
    const uint64_t before = veloq::testing::AllocationCount();
    const int sum = co_await round();
    const uint64_t after = veloq::testing::AllocationCount();
    EXPECT_EQ(sum, 2 * (1000 * 999 / 2 + 2 * 1000));
    co_return after - before;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 0u) << "global allocations during 1000 warm spawn+join";
}

}  // namespace
}  // namespace veloq::runtime
