#include "io/buffer/buf_pool.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "runtime/remote.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Task;

HybridPool::Options Small(size_t per_class = 2, size_t max_arenas = 1) {
  HybridPool::Options o;
  o.slots = {per_class, 0, 0, 0, 0};
  o.max_arenas = max_arenas;
  return o;
}

// Records what a pool asks of its registrar.
class FakeRegistrar : public BufferRegistrar {
 public:
  absl::StatusOr<int> RegisterBuffer(char* data, size_t size) override {
    if (refuse) return absl::ResourceExhaustedError("memlock");
    regions.push_back({data, size});
    return next++;
  }
  void UnregisterBuffer(int index) override { unregistered.push_back(index); }

  bool refuse = false;
  int next = 7;
  std::vector<std::pair<char*, size_t>> regions;
  std::vector<int> unregistered;
};

TEST(BufPoolTest, AllocatesUntilExhaustedThenSaysSo) {
  absl::StatusOr<BufPool> pool =
      BufPool::Hybrid(Small(2), nullptr, {.grow = false});
  ASSERT_TRUE(pool.ok()) << pool.status();
  absl::StatusOr<FixedBuf> a = pool->TryAllocate(10);
  absl::StatusOr<FixedBuf> b = pool->TryAllocate(10);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->capacity(), 4096u);
  EXPECT_EQ(a->size(), 0u);
  absl::StatusOr<FixedBuf> c = pool->TryAllocate(10);
  EXPECT_EQ(c.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(pool->stats().usage.blocks_out, 2u);
  EXPECT_EQ(pool->stats().exhausted, 1u);
  a->Reset();
  EXPECT_TRUE(pool->TryAllocate(10).ok());  // freed, then reused and freed
  EXPECT_EQ(pool->stats().usage.blocks_out, 1u);
}

TEST(BufPoolTest, CopyUsesAPoolBlockAndFallsBackToTheHeap) {
  FakeRegistrar reg;
  absl::StatusOr<BufPool> pool =
      BufPool::Hybrid(Small(1), &reg, {.grow = false});
  ASSERT_TRUE(pool.ok());
  FixedBuf a = pool->Copy("+OK\r\n");
  EXPECT_EQ(a.view(), "+OK\r\n");
  EXPECT_EQ(a.reg_index(), 7);  // a registered pool block
  EXPECT_EQ(pool->stats().usage.blocks_out, 1u);
  FixedBuf b = pool->Copy("second");  // the pool is empty now
  EXPECT_EQ(b.view(), "second");
  EXPECT_EQ(b.reg_index(), -1);  // from the heap
  EXPECT_EQ(pool->stats().usage.blocks_out, 1u);
  const std::string big(100 << 10, 'x');  // past the largest class
  a.Reset();
  FixedBuf c = pool->Copy(big);
  EXPECT_EQ(c.view(), big);
}

// The per-class cache in front of the backing pool (on in opt builds).
TEST(BufPoolTest, CacheReusesFreedBlocks) {
  FakeRegistrar reg;
  absl::StatusOr<BufPool> pool =
      BufPool::Hybrid(Small(2), &reg, {.grow = false, .cache_depth = 4});
  ASSERT_TRUE(pool.ok());
  FixedBuf a = pool->Allocate(10);
  FixedBuf b = pool->Allocate(10);
  ASSERT_TRUE(a.valid() && b.valid());
  EXPECT_FALSE(pool->Allocate(10).valid());
  char* pa = a.data();
  a.Reset();
  EXPECT_EQ(pool->stats().usage.blocks_out, 1u);  // cached counts as free
  FixedBuf again = pool->Allocate(10);
  EXPECT_EQ(again.data(), pa);
  EXPECT_EQ(again.reg_index(), 7);  // the registration survives the cache
  EXPECT_EQ(again.capacity(), 4096u);
  EXPECT_EQ(again.size(), 0u);
}

TEST(BufPoolTest, CachedBlocksAreFlushedWhenTheBackingNeedsThem) {
  absl::StatusOr<BufPool> pool =
      BufPool::Buddy({.arena_bytes = 64 << 10, .cached_orders = 0}, nullptr,
                     {.grow = false, .cache_depth = 64});
  ASSERT_TRUE(pool.ok());
  std::vector<FixedBuf> small;
  for (int i = 0; i < 16; ++i) small.push_back(pool->Allocate(4096));
  EXPECT_FALSE(pool->Allocate(4096).valid());
  small.clear();  // all sixteen sit in the cache
  FixedBuf whole = pool->Allocate(64 << 10);
  EXPECT_TRUE(whole.valid());  // the cache was flushed and the blocks merged
}

TEST(BufPoolTest, FreedBlocksGoToWaitersBeforeTheCache) {
  auto r = testing::RunOnRuntime({.shards = 1}, []() -> Task<int> {
    absl::StatusOr<BufPool> pool =
        BufPool::Hybrid(Small(1), nullptr, {.grow = false, .cache_depth = 4});
    FixedBuf held = pool->Allocate(1);
    auto waiter = runtime::Spawn([](BufPool* p) -> Task<size_t> {
      absl::StatusOr<FixedBuf> b = co_await p->Acquire(1);
      co_return b.ok() ? b->capacity() : 0;
    }(&*pool));
    (void)co_await runtime::Sleep(1ms);
    held.Reset();
    co_return static_cast<int>(co_await waiter);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 4096);
}

TEST(BufPoolTest, GrowsByAnArenaAndRegistersIt) {
  FakeRegistrar reg;
  absl::StatusOr<BufPool> pool = BufPool::Hybrid(Small(1, 2), &reg);
  ASSERT_TRUE(pool.ok());
  ASSERT_EQ(reg.regions.size(), 1u);
  absl::StatusOr<FixedBuf> a = pool->TryAllocate(1);
  absl::StatusOr<FixedBuf> b = pool->TryAllocate(1);  // grows
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(reg.regions.size(), 2u);
  EXPECT_EQ(a->reg_index(), 7);
  EXPECT_EQ(b->reg_index(), 8);
  EXPECT_TRUE(a->RegisteredWith(&reg));
  FakeRegistrar other;
  EXPECT_FALSE(a->RegisteredWith(&other));
  EXPECT_EQ(pool->stats().grows, 1u);
  EXPECT_EQ(pool->stats().registered_regions, 2u);
  EXPECT_FALSE(pool->TryAllocate(1).ok());  // at max_arenas
}

TEST(BufPoolTest, ARefusingRegistrarLeavesThePoolWorking) {
  FakeRegistrar reg;
  reg.refuse = true;
  absl::StatusOr<BufPool> pool = BufPool::Hybrid(Small(), &reg);
  ASSERT_TRUE(pool.ok());
  absl::StatusOr<FixedBuf> a = pool->TryAllocate(1);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->reg_index(), -1);
  EXPECT_FALSE(a->RegisteredWith(&reg));
}

TEST(BufPoolTest, BuffersOutliveTheirPoolHandle) {
  FakeRegistrar reg;
  FixedBuf kept;
  {
    absl::StatusOr<BufPool> pool =
        BufPool::Buddy({.arena_bytes = 1 << 20}, &reg);
    ASSERT_TRUE(pool.ok());
    absl::StatusOr<FixedBuf> b = pool->TryAllocate(5000);
    ASSERT_TRUE(b.ok());
    EXPECT_EQ(b->capacity(), 8192u);
    kept = *std::move(b);
    kept.Assign("still here");
  }
  // The handle unregistered its memory; the buffer is still good.
  EXPECT_EQ(reg.unregistered, std::vector<int>{7});
  EXPECT_EQ(kept.reg_index(), 7);
  EXPECT_FALSE(kept.RegisteredWith(&reg));
  EXPECT_EQ(kept.view(), "still here");
  kept.Reset();  // the last reference: the arena goes now (ASan checks)
}

TEST(BufPoolTest, AcquireWaitsForAFreeBlock) {
  auto r = testing::RunOnRuntime({.shards = 1}, []() -> Task<int> {
    absl::StatusOr<BufPool> pool =
        BufPool::Hybrid(Small(1), nullptr, {.grow = false});
    absl::StatusOr<FixedBuf> held = pool->TryAllocate(1);
    auto waiter = runtime::Spawn([](BufPool* p) -> Task<size_t> {
      absl::StatusOr<FixedBuf> b = co_await p->Acquire(100);
      co_return b.ok() ? b->capacity() : 0;
    }(&*pool));
    (void)co_await runtime::Sleep(2ms);
    const size_t waiting = pool->stats().waiters;
    held->Reset();  // hands the block straight to the waiter
    const size_t got = co_await waiter;
    co_return static_cast<int>(waiting * 10000 + got);
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 10000 + 4096);
}

TEST(BufPoolTest, AcquireFailsWhenTheOptionsSaySo) {
  auto r = testing::RunOnRuntime({.shards = 1}, []() -> Task<absl::Status> {
    absl::StatusOr<BufPool> pool =
        BufPool::Hybrid(Small(1), nullptr,
                        {.when_exhausted = BufPoolOptions::WhenExhausted::kFail,
                         .grow = false});
    absl::StatusOr<FixedBuf> held = pool->TryAllocate(1);
    absl::StatusOr<FixedBuf> b = co_await pool->Acquire(1);
    co_return b.status();
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kResourceExhausted);
}

TEST(BufPoolTest, AWaitingAcquireIsCancellable) {
  auto r = testing::RunOnRuntime({.shards = 1}, []() -> Task<absl::Status> {
    absl::StatusOr<BufPool> pool =
        BufPool::Hybrid(Small(1), nullptr, {.grow = false});
    absl::StatusOr<FixedBuf> held = pool->TryAllocate(1);
    auto waiter = runtime::Spawn([](BufPool* p) -> Task<absl::Status> {
      absl::StatusOr<FixedBuf> b = co_await p->Acquire(1);
      co_return b.status();
    }(&*pool));
    (void)co_await runtime::Sleep(1ms);
    waiter.Cancel();
    absl::Status s = co_await waiter;
    if (pool->stats().waiters != 0) co_return absl::InternalError("queued");
    co_return s;
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kCancelled);
}

TEST(BufPoolTest, DestroyingThePoolFailsItsWaiters) {
  auto r = testing::RunOnRuntime({.shards = 1}, []() -> Task<absl::Status> {
    auto pool = std::make_unique<BufPool>(
        *BufPool::Hybrid(Small(1), nullptr, {.grow = false}));
    absl::StatusOr<FixedBuf> held = pool->TryAllocate(1);
    auto waiter = runtime::Spawn([](BufPool* p) -> Task<absl::Status> {
      absl::StatusOr<FixedBuf> b = co_await p->Acquire(1);
      co_return b.status();
    }(&*pool));
    (void)co_await runtime::Sleep(1ms);
    pool.reset();
    co_return co_await waiter;
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kFailedPrecondition);
}

// Buffers freed on another shard, and on a thread outside the runtime, go
// home over the mesh and are freed by their owner (no lock; TSan checks).
TEST(BufPoolTest, ForeignFreesGoHome) {
  constexpr int kBuffers = 2000;
  auto r = testing::RunOnRuntime({.shards = 2}, []() -> Task<absl::Status> {
    absl::StatusOr<BufPool> pool =
        BufPool::Hybrid(Small(kBuffers), nullptr, {.grow = false});
    for (int round = 0; round < 2; ++round) {
      std::vector<FixedBuf> bufs;
      for (int i = 0; i < kBuffers; ++i) {
        absl::StatusOr<FixedBuf> b = pool->TryAllocate(1);
        if (!b.ok()) co_return b.status();
        b->Assign("x");
        bufs.push_back(*std::move(b));
      }
      if (round == 0) {
        // Destroyed on shard 1.
        auto fn = [bufs = std::move(bufs)]() mutable {
          size_t n = 0;
          for (FixedBuf& b : bufs) n += b.size();
          bufs.clear();
          return n;
        };
        if (co_await runtime::SpawnOn(1, std::move(fn)) != kBuffers) {
          co_return absl::InternalError("lost data");
        }
      } else {
        // Destroyed on a plain thread.
        std::thread t([bufs = std::move(bufs)]() mutable { bufs.clear(); });
        t.join();
      }
      for (int i = 0; i < 1000 && pool->stats().usage.blocks_out != 0; ++i) {
        (void)co_await runtime::Sleep(1ms);
      }
      if (pool->stats().usage.blocks_out != 0) {
        co_return absl::InternalError("buffers did not come home");
      }
    }
    if (pool->stats().remote_frees != 2 * kBuffers) {
      co_return absl::InternalError("not counted as remote frees");
    }
    co_return absl::OkStatus();
  });
  EXPECT_TRUE(r.ok()) << r;
}

// A buffer on its way home when the runtime stops is freed at teardown.
TEST(BufPoolTest, BuffersInFlightHomeAtShutdownAreFreed) {
  auto r = testing::RunOnRuntime({.shards = 2}, []() -> Task<int> {
    static BufPool* pool = nullptr;
    auto p = std::make_unique<BufPool>(*BufPool::Hybrid(Small(64), nullptr));
    pool = p.get();
    std::vector<FixedBuf> bufs;
    for (int i = 0; i < 64; ++i) bufs.push_back(*pool->TryAllocate(1));
    auto fn = [bufs = std::move(bufs)]() mutable { bufs.clear(); };
    co_await runtime::SpawnOn(1, std::move(fn));
    co_return 0;  // the handle dies with the frame; the core when all are home
  });
  ASSERT_TRUE(r.ok());
}

TEST(BufPoolDeathTest, FreeingAnOffRuntimePoolsBufferElsewhereAborts) {
  absl::StatusOr<BufPool> pool = BufPool::Hybrid(Small(), nullptr);
  absl::StatusOr<FixedBuf> b = pool->TryAllocate(1);
  ASSERT_TRUE(b.ok());
  EXPECT_DEATH(
      {
        std::thread t([b = *std::move(b)]() mutable { b.Reset(); });
        t.join();
      },
      "cannot go home");
}

}  // namespace
}  // namespace veloq::io
