#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>

#include "absl/status/status.h"
#include "io/buffer/fixed_buf.h"

namespace veloq::io {

// How much of a pool is in use.
struct PoolUsage {
  size_t arenas = 0;           // regions mapped
  size_t arena_bytes = 0;      // bytes mapped
  size_t blocks_out = 0;       // blocks handed out (arena and heap)
  size_t bytes_out = 0;        // their capacity
  size_t heap_blocks_out = 0;  // of which fall back to the heap (unregistered)
  size_t largest_free = 0;     // largest block an allocation could get now
};

// BackingPool is how buffer memory is carved (the seeds' split: it knows
// nothing of the kernel; BufPool adds registration). Blocks are 4 KB
// aligned and lie inside one region (an Arena), except heap fallbacks.
//
// Misuse is caught, always (one byte of metadata per block): freeing a block
// twice, or a pointer the pool never handed out, aborts with a message that
// says which.
//
// Thread safety: none; a pool belongs to one shard (BufPool sees to it).
class BackingPool {
 public:
  // The largest arena: io_uring registers at most 1 GiB as one buffer.
  static constexpr size_t kMaxArenaBytes = size_t{1} << 30;

  virtual ~BackingPool() = default;

  // A block of at least `size` bytes, or nullopt when the arenas have none
  // free (Grow may add one).
  virtual std::optional<internal::BlockRef> Allocate(size_t size) = 0;
  // REQUIRES: `b` came from Allocate and is not yet freed (else aborts).
  virtual void Free(internal::BlockRef b) = 0;
  // Adds an arena (a new region).
  virtual absl::Status Grow() = 0;
  // Regions, in the order they were added; stable.
  virtual size_t region_count() const = 0;
  virtual char* region_data(size_t i) const = 0;
  virtual size_t region_size(size_t i) const = 0;
  // Every pool tags its blocks with their region in the upper 16 bits of
  // ctx (kNoRegion: not in an arena), its own data in the lower 16.
  static constexpr uint32_t kNoRegion = 0xffff;
  static constexpr size_t kMaxRegions = kNoRegion;
  static uint32_t Tag(uint32_t region, uint32_t own) {
    return region << 16 | own;
  }
  // The region `b` lies in, or -1 (a heap fallback).
  static int RegionOf(const internal::BlockRef& b) {
    const uint32_t r = b.ctx >> 16;
    return r == kNoRegion ? -1 : static_cast<int>(r);
  }
  // Returns cached free blocks to the underlying allocator.
  virtual void Trim() {}
  virtual PoolUsage Usage() const = 0;
};

// Aborts with `what` and the block (the clear message for pool misuse).
[[noreturn]] void PoolMisuse(const char* pool, const char* what, const void* p);

}  // namespace veloq::io
