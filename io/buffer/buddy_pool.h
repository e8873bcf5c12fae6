#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "io/buffer/arena.h"
#include "io/buffer/backing_pool.h"

namespace veloq::io {

// BuddyPool: a binary buddy allocator over each arena, with per-order
// free-block caches in front of it (the seeds' two layers).
//
// - L1, the buddy system: an arena of min_block << max_order bytes; a
//   request takes the smallest power-of-two block that fits, splitting
//   larger ones; a freed block merges with its buddy while the buddy is
//   free, so freeing everything always leaves the whole arena as one block.
// - L0, the caches: for the small orders (< cached_orders) freed blocks go
//   onto a per-order stack (up to cache_depth) and the next request of that
//   order pops one in O(1), skipping split/merge churn. An allocation that
//   the buddy system cannot serve first flushes the caches (Trim) and
//   retries, so cached blocks never cause a spurious failure.
//
// Invariants (per arena): every min_block-sized unit belongs to exactly
// one block; a block's first unit records its state (free / cached /
// allocated) and order; a free block is in its order's free list at the
// position recorded for it; two free buddies of one order never coexist
// (they would have merged).
//
// Metadata lives outside the arena (the kernel may write the arena; we
// never write it). Thread safety: none (one shard).
class BuddyPool final : public BackingPool {
 public:
  struct Options {
    size_t arena_bytes = 32 << 20;  // rounded up to min_block << k
    size_t min_block = 4096;        // a power of two, >= 4096
    size_t max_arenas = 1;          // Grow() adds up to this many
    int cached_orders = 6;          // 4 KB .. 128 KB with min_block 4 KB
    size_t cache_depth = 64;        // blocks per order cache
    bool huge_pages = false;
  };

  static absl::StatusOr<std::unique_ptr<BuddyPool>> Create(
      const Options& options);

  std::optional<internal::BlockRef> Allocate(size_t size) override;
  void Free(internal::BlockRef b) override;
  absl::Status Grow() override;
  size_t region_count() const override { return arenas_.size(); }
  char* region_data(size_t i) const override { return arenas_[i].mem.data(); }
  size_t region_size(size_t i) const override { return arenas_[i].mem.size(); }
  void Trim() override;
  PoolUsage Usage() const override;

  int max_order() const { return max_order_; }
  // Largest free block in the buddy system (after Trim, all free memory).
  size_t LargestFreeBlock() const;

 private:
  enum : uint8_t {
    kOrderMask = 0x1f,
    kFree = 0x80,
    kCached = 0x40,
    kAllocated = 0x20,
  };
  struct ArenaState {
    Arena mem;
    std::vector<uint8_t> meta;                // per unit: state | order
    std::vector<uint32_t> pos;                // per unit: index in free list
    std::vector<std::vector<uint32_t>> free;  // per order: unit indices
  };

  explicit BuddyPool(const Options& o) : options_(o) {}
  std::optional<uint32_t> BuddyAlloc(ArenaState& a, int order);
  void BuddyFree(ArenaState& a, uint32_t unit, int order);
  void PushFree(ArenaState& a, uint32_t unit, int order);
  void RemoveFree(ArenaState& a, uint32_t unit, int order);
  int OrderFor(size_t size) const;
  internal::BlockRef MakeRef(size_t arena, uint32_t unit, int order) const;

  Options options_;
  int max_order_ = 0;
  int unit_shift_ = 12;
  std::vector<ArenaState> arenas_;
  // Per cached order: blocks freed but kept for reuse.
  std::vector<std::vector<internal::BlockRef>> cache_;
  size_t blocks_out_ = 0;
  size_t bytes_out_ = 0;
};

}  // namespace veloq::io
