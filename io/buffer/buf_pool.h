#pragma once

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
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
}

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

}  // namespace veloq::io
