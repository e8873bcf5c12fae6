#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/statusor.h"
#include "io/buffer/arena.h"
#include "io/buffer/backing_pool.h"

namespace veloq::io {

// HybridPool: one contiguous arena carved into size-class slabs, 4 KB to
// 64 KB (the seeds' unified arena), so the whole pool registers with the
// kernel as a single region. Layout of each arena:
//   [ 4 KB slots ][ 8 KB slots ][ 16 KB slots ][ 32 KB slots ][ 64 KB slots ]
// A request takes a slot of the smallest class that fits, or of a larger
// class when that one is empty; requests over 64 KB come from the heap
// (heap_fallback), page aligned and unregistered.
//
// Invariants: each slot is either on its class's free stack or handed out,
// never both (one state byte per slot, checked on every free).
//
// Thread safety: none (one shard).
class HybridPool final : public BackingPool {
 public:
  static constexpr int kClasses = 5;
  static constexpr size_t kMinClass = 4096;
  static constexpr int kMinShift = 12;
  static constexpr size_t kMaxClass = kMinClass << (kClasses - 1);

  struct Options {
    // Slots per class in one arena: 4, 8, 16, 32, 64 KB. Default: 7 MB.
    std::array<size_t, kClasses> slots = {512, 128, 64, 32, 32};
    size_t max_arenas = 1;      // Grow() adds up to this many
    bool heap_fallback = true;  // serve > 64 KB from the heap
    bool huge_pages = false;
  };

  static absl::StatusOr<std::unique_ptr<HybridPool>> Create(
      const Options& options);

  std::optional<internal::BlockRef> Allocate(size_t size) override;
  void Free(internal::BlockRef b) override;
  absl::Status Grow() override;
  size_t region_count() const override { return arenas_.size(); }
  char* region_data(size_t i) const override { return arenas_[i].mem.data(); }
  size_t region_size(size_t i) const override { return arenas_[i].mem.size(); }
  PoolUsage Usage() const override;

 private:
  static constexpr uint32_t kHeapCtx = kNoRegion << 16;
  struct ArenaState {
    Arena mem;
    std::array<size_t, kClasses> base{};               // offset of each slab
    std::array<std::vector<uint32_t>, kClasses> free;  // free slot indices
    std::array<std::vector<uint8_t>, kClasses> out;    // 1: handed out
  };

  explicit HybridPool(const Options& o) : options_(o) {}

  Options options_;
  size_t arena_bytes_ = 0;
  std::vector<ArenaState> arenas_;
  size_t blocks_out_ = 0;
  size_t bytes_out_ = 0;
  size_t heap_out_ = 0;
};

}  // namespace veloq::io
