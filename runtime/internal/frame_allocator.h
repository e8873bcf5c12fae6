#pragma once

#include <cstddef>
#include <cstdint>

namespace veloq::runtime::internal {

// FrameAllocator caches coroutine frames by size class for one thread, so a
// warm shard creates and destroys tasks without calling the global allocator.
//
// Thread safety: shard-local. Each shard thread installs its own allocator
// (ScopedFrameAllocator); AllocateFrame/FreeFrame use the calling thread's.
// Every block is its own global allocation of a size class, with a 16-byte
// header holding the class, so any thread's allocator may adopt a block that
// another made: a frame freed on a different shard simply joins that shard's
// cache, and one freed where no allocator is installed goes back to the
// global allocator. No block is ever shared between two caches.
//
// Under AddressSanitizer cached blocks are poisoned, so a use after free of
// a frame is still reported.
class FrameAllocator {
 public:
  static constexpr size_t kGranule = 64;
  static constexpr size_t kClasses = 32;  // frames up to 2 KiB are cached
  static constexpr size_t kHeader = 16;

  // The default bound on cached memory: enough for a burst of ~100,000 live
  // frames of a few hundred bytes (a shard spawning 50,000 actors at once
  // holds two frames each until they run), which glibc's malloc would
  // otherwise serve from its slow path (~3x slower actor creation,
  // measured by BM_Veloq_ForkJoinCreation).
  static constexpr size_t kDefaultMaxCachedBytes = size_t{64} << 20;

  // `max_cached_bytes` bounds the memory of freed frames kept for reuse, all
  // classes together: what a shard keeps after a burst (the global
  // allocator would keep it too, in its own free lists). Frees past it go
  // back to the global allocator.
  explicit FrameAllocator(size_t max_cached_bytes = kDefaultMaxCachedBytes);
  ~FrameAllocator();

  FrameAllocator(const FrameAllocator&) = delete;
  FrameAllocator& operator=(const FrameAllocator&) = delete;

  // Blocks taken from the global allocator (misses) over this allocator's
  // life; a warm shard's count stops moving.
  uint64_t global_allocations() const { return global_allocations_; }
  uint64_t allocations() const { return allocations_; }
  // Bytes of freed frames held for reuse (<= the bound).
  size_t cached_bytes() const { return cached_bytes_; }

  static FrameAllocator* Current();

 private:
  friend class ScopedFrameAllocator;
  friend void* AllocateFrame(size_t);
  friend void FreeFrame(void*, size_t);

  struct FreeBlock {
    FreeBlock* next;
  };

  void* Allocate(size_t cls);
  void Free(void* block, size_t cls);

  FreeBlock* free_[kClasses] = {};
  size_t cached_bytes_ = 0;
  const size_t max_cached_bytes_;
  uint64_t global_allocations_ = 0;
  uint64_t allocations_ = 0;
};

// Installs an allocator as the calling thread's for the guard's life.
class ScopedFrameAllocator {
 public:
  explicit ScopedFrameAllocator(FrameAllocator* a);
  ~ScopedFrameAllocator();

 private:
  FrameAllocator* previous_;
};

// Allocation entry points used by every Task's promise.
void* AllocateFrame(size_t size);
void FreeFrame(void* frame, size_t size);

}  // namespace veloq::runtime::internal
