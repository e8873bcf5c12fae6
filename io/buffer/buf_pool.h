#pragma once

#include <bit>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "io/buffer/backing_pool.h"
#include "io/buffer/buddy_pool.h"
#include "io/buffer/fixed_buf.h"
#include "io/buffer/hybrid_pool.h"
#include "runtime/cancellation.h"
#include "runtime/internal/task_header.h"

namespace veloq::io {

struct BufPoolOptions {
  // What Acquire does when no block is free and the pool cannot grow:
  // wait for one to be freed (backpressure) or fail with ResourceExhausted.
  enum class WhenExhausted : uint8_t { kWait, kFail };
  WhenExhausted when_exhausted = WhenExhausted::kWait;
  // Grow by an arena (up to the backing pool's max_arenas) before waiting
  // or failing.
  bool grow = true;
  // Freed blocks of each size class (4 KB..64 KB) kept in front of the
  // backing pool, per class, for O(1) reuse without a virtual call. The
  // backing pool's double-free and foreign-pointer checks run when blocks
  // reach it, so debug builds (no NDEBUG) keep no cache and check every
  // free; opt builds cache 64 per class.
#ifdef NDEBUG
  uint32_t cache_depth = 64;
#else
  uint32_t cache_depth = 0;
#endif
};

struct BufPoolStats {
  PoolUsage usage;
  size_t registered_regions = 0;  // regions the kernel knows
  uint64_t allocations = 0;
  uint64_t exhausted = 0;     // requests that found nothing free
  uint64_t grows = 0;         // arenas added after creation
  uint64_t remote_frees = 0;  // blocks that came home over the mesh
  size_t waiters = 0;         // Acquire calls waiting for a free block
};

namespace internal {
class PoolCore;
}  // namespace internal

// BufPool is a shard's source of FixedBufs (the seeds' RegisteredPool): a
// BackingPool (how memory is carved: BuddyPool or HybridPool) joined to a
// BufferRegistrar (how the driver registers it with the kernel). Every
// region is registered when it is added, and each FixedBuf carries its
// region's index, so io_uring ops on it use the fixed-buffer opcodes
// (READ_FIXED / WRITE_FIXED) without the caller asking. A registrar that
// refuses (epoll, a memlock limit) leaves the pool working unregistered.
//
// Exhaustion never crashes: TryAllocate returns ResourceExhausted;
// Acquire grows the pool when allowed and then waits for a free block or
// fails, as BufPoolOptions says. Waiters are served in order.
//
// Lifetime: buffers may outlive the BufPool handle (the memory stays until
// the last one is freed). The registrar must outlive the handle: destroying
// the handle unregisters the memory (buffers still out then take the plain
// path).
//
// Affinity: owned by the shard that created it; allocate there. Buffers
// can be freed anywhere (they go home). The shard's driver owns a default
// pool: Driver::buffers().
class BufPool {
 public:
  // `registrar` may be null (no registration); not owned.
  static absl::StatusOr<BufPool> Create(std::unique_ptr<BackingPool> backing,
                                        BufferRegistrar* registrar,
                                        const BufPoolOptions& options = {});
  static absl::StatusOr<BufPool> Hybrid(const HybridPool::Options& o,
                                        BufferRegistrar* registrar,
                                        const BufPoolOptions& options = {});
  static absl::StatusOr<BufPool> Buddy(const BuddyPool::Options& o,
                                       BufferRegistrar* registrar,
                                       const BufPoolOptions& options = {});

  BufPool(BufPool&& o) noexcept;
  BufPool& operator=(BufPool&& o) noexcept;
  ~BufPool();

  // A buffer of at least `size` bytes (size() == 0), growing the pool if
  // allowed; ResourceExhausted if none is free. Never waits.
  absl::StatusOr<FixedBuf> TryAllocate(size_t size);
  // The same without the Status: an empty FixedBuf when none is free (the
  // cheapest call, for hot paths that handle exhaustion themselves).
  FixedBuf Allocate(size_t size);
  // A buffer holding a copy of `s`: a pool block when one is free, else a
  // heap one (FixedBuf::Copy), so never empty. REQUIRES: s.size() < 4 GiB
  // (a buffer's limit; FixedBuf::Copy aborts past it). For replies built in a
  // std::string: the pool's blocks are cached per size class, where a heap
  // buffer costs a page-aligned malloc and free per write.
  FixedBuf Copy(absl::string_view s);

  class AcquireAwaiter;
  // co_await: StatusOr<FixedBuf>; waits for a free block (kWait) or fails
  // (kFail) when exhausted; CancelledError if the task is cancelled while
  // waiting.
  AcquireAwaiter Acquire(size_t size);

  BufPoolStats stats() const;
  // Returns cached free blocks to the backing allocator.
  void Trim();
  BackingPool& backing();

  class AcquireAwaiter : private runtime::CancellationHook {
   public:
    AcquireAwaiter(AcquireAwaiter&&) = delete;
    ~AcquireAwaiter();
    bool await_ready();
    bool await_suspend(std::coroutine_handle<> h);
    absl::StatusOr<FixedBuf> await_resume();

   private:
    friend class BufPool;
    friend class internal::PoolCore;
    AcquireAwaiter(internal::PoolCore* core, size_t size)
        : core_(core), size_(size) {}
    void Cancelled() override;

    internal::PoolCore* core_;
    size_t size_;
    absl::StatusOr<FixedBuf> result_{absl::UnknownError("not done")};
    runtime::Waiter waiter_;
    bool queued_ = false;
  };

 private:
  explicit BufPool(internal::PoolCore* core) : core_(core) {}
  internal::PoolCore* core_;
};

namespace internal {

// The shared state behind a BufPool handle and the buffers it handed out.
// The hot paths (a cached block out, a block back into the cache) are
// inline; everything else is in buf_pool.cc.
class PoolCore final : public BufOwner {
 public:
  static constexpr int kClasses = 5;  // 4 KB << c
  static constexpr int kMinShift = 12;

  PoolCore(std::unique_ptr<BackingPool> backing, BufferRegistrar* registrar,
           const BufPoolOptions& options);

  const BufferRegistrar* registrar() const override { return registrar_; }

  // A buffer of at least `size` bytes, or empty: cache, backing pool, a
  // flush of the cache, growth, in that order.
  FixedBuf Allocate(size_t size) {
    if (size <= (size_t{1} << (kMinShift + kClasses - 1))) {
      const int c = ClassOf(size);
      if (cached_[c] > 0) {
        ++allocations_;
        Ref();
        return FixedBuf(cache_[c * options_.cache_depth + --cached_[c]]);
      }
    }
    return AllocateSlow(size);
  }
  absl::Status ExhaustedError(size_t size);

  void Enqueue(BufPool::AcquireAwaiter* a) { waiters_.push_back(a); }
  void Dequeue(BufPool::AcquireAwaiter* a);
  // The handle is gone: unregister, fail waiters, drop its reference.
  void Close();
  // Empties the cache into the backing pool.
  void Trim();
  BufPoolStats stats() const;
  BackingPool& backing() { return *backing_; }
  const BufPoolOptions& options() const { return options_; }

 private:
  ~PoolCore() override;

  static int ClassOf(size_t size) {
    return size <= (size_t{1} << kMinShift)
               ? 0
               : static_cast<int>(std::bit_width(size - 1)) - kMinShift;
  }
  FixedBuf AllocateSlow(size_t size);
  int RegIndexOf(BlockRef b) const {
    const int region = BackingPool::RegionOf(b);
    return region >= 0 && static_cast<size_t>(region) < reg_index_.size()
               ? reg_index_[region]
               : -1;
  }
  FixedBuf Hand(const BlockRef& b);
  void RegisterRegion(size_t i);
  void FreeToBacking(BlockRef b);

  void FreeLocal(BlockRef b) override {
    const size_t cap = b.capacity;
    // Exact class sizes only (heap fallbacks and buddy blocks over 64 KB go
    // straight back), and only when nobody waits.
    if (waiters_.empty() && (cap & (cap - 1)) == 0 &&
        cap >= (size_t{1} << kMinShift) &&
        cap <= (size_t{1} << (kMinShift + kClasses - 1))) {
      const int c = std::countr_zero(cap) - kMinShift;
      if (cached_[c] < options_.cache_depth && !closed_) {
        cache_[c * options_.cache_depth + cached_[c]++] = BufImage{
            b.data, this, cap,
            uint64_t{static_cast<uint32_t>(RegIndexOf(b))} << 32 | b.ctx};
        Unref();
        return;
      }
    }
    FreeToBacking(b);
  }

  std::unique_ptr<BackingPool> backing_;
  BufferRegistrar* registrar_;
  BufPoolOptions options_;
  std::vector<int> reg_index_;  // per region: kernel index, or -1
  std::deque<BufPool::AcquireAwaiter*> waiters_;
  // Per class, cache_depth slots; cached_[c] of them in use.
  std::unique_ptr<BufImage[]> cache_;
  uint32_t cached_[kClasses] = {};
  uint64_t allocations_ = 0;
  uint64_t exhausted_ = 0;
  uint64_t grows_ = 0;
  bool closed_ = false;
  bool logged_refusal_ = false;
};

}  // namespace internal

inline FixedBuf BufPool::Allocate(size_t size) { return core_->Allocate(size); }

inline FixedBuf BufPool::Copy(absl::string_view s) {
  FixedBuf b = core_->Allocate(s.size());
  if (!b.valid() || b.capacity() < s.size()) [[unlikely]] {
    return FixedBuf::Copy(s);
  }
  b.Assign(s);
  return b;
}

inline absl::StatusOr<FixedBuf> BufPool::TryAllocate(size_t size) {
  FixedBuf b = core_->Allocate(size);
  if (b.valid()) [[likely]] {
    return b;
  }
  return core_->ExhaustedError(size);
}

}  // namespace veloq::io
