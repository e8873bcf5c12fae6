#include "io/buffer/hybrid_pool.h"

#include <bit>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace veloq::io {

absl::StatusOr<std::unique_ptr<HybridPool>> HybridPool::Create(
    const Options& options) {
  if (options.max_arenas == 0 || options.max_arenas > kMaxRegions) {
    return absl::InvalidArgumentError("HybridPool: max_arenas out of range");
  }
  auto pool = std::unique_ptr<HybridPool>(new HybridPool(options));
  for (int c = 0; c < kClasses; ++c) {
    pool->arena_bytes_ += options.slots[c] * (kMinClass << c);
  }
  if (pool->arena_bytes_ == 0 || pool->arena_bytes_ > kMaxArenaBytes) {
    return absl::InvalidArgumentError(
        "HybridPool: the slots must add up to between 4 KB and 1 GiB");
  }
  absl::Status s = pool->Grow();
  if (!s.ok()) return s;
  return pool;
}

absl::Status HybridPool::Grow() {
  if (arenas_.size() >= options_.max_arenas) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "HybridPool: at its limit of ", options_.max_arenas, " arenas"));
  }
  absl::StatusOr<Arena> mem = Arena::Map(arena_bytes_, options_.huge_pages);
  if (!mem.ok()) return mem.status();
  ArenaState a;
  a.mem = *std::move(mem);
  size_t offset = 0;
  for (int c = 0; c < kClasses; ++c) {
    a.base[c] = offset;
    offset += options_.slots[c] * (kMinClass << c);
    a.out[c].assign(options_.slots[c], 0);
    a.free[c].reserve(options_.slots[c]);
    // Pushed in reverse so the lowest addresses go out first.
    for (size_t i = options_.slots[c]; i-- > 0;) {
      a.free[c].push_back(static_cast<uint32_t>(i));
    }
  }
  arenas_.push_back(std::move(a));
  return absl::OkStatus();
}

std::optional<internal::BlockRef> HybridPool::Allocate(size_t size) {
  if (size > kMaxClass) {
    if (!options_.heap_fallback) return std::nullopt;
    const size_t cap =
        (size + Arena::kPageSize - 1) / Arena::kPageSize * Arena::kPageSize;
    // A block's capacity is a uint32: rounding up to a page must not reach
    // 2^32 (it would wrap to an empty block).
    if (cap >= (size_t{1} << 32)) return std::nullopt;
    char* p = static_cast<char*>(std::aligned_alloc(Arena::kPageSize, cap));
    if (p == nullptr) return std::nullopt;
    ++blocks_out_;
    ++heap_out_;
    bytes_out_ += cap;
    return internal::BlockRef{p, static_cast<uint32_t>(cap), kHeapCtx};
  }
  // The smallest class that fits: ceil(log2(size)) - 12, at least 0.
  const int first =
      size <= kMinClass ? 0 : std::bit_width(size - 1) - kMinShift;
  for (int c = first; c < kClasses; ++c) {
    for (size_t i = 0; i < arenas_.size(); ++i) {
      ArenaState& a = arenas_[i];
      if (a.free[c].empty()) continue;
      const uint32_t slot = a.free[c].back();
      a.free[c].pop_back();
      a.out[c][slot] = 1;
      const size_t cap = kMinClass << c;
      ++blocks_out_;
      bytes_out_ += cap;
      return internal::BlockRef{a.mem.data() + a.base[c] + slot * cap,
                                static_cast<uint32_t>(cap),
                                Tag(static_cast<uint32_t>(i), c)};
    }
  }
  return std::nullopt;
}

void HybridPool::Free(internal::BlockRef b) {
  if (b.ctx == kHeapCtx) {
    --blocks_out_;
    --heap_out_;
    bytes_out_ -= b.capacity;
    std::free(b.data);
    return;
  }
  const size_t arena = b.ctx >> 16;
  const int c = static_cast<int>(b.ctx & 0xff);
  if (arena >= arenas_.size() || c >= kClasses ||
      !arenas_[arena].mem.Contains(b.data) || b.capacity != kMinClass << c) {
    PoolMisuse("HybridPool", "free of a pointer this pool never handed out",
               b.data);
  }
  ArenaState& a = arenas_[arena];
  const size_t offset = b.data - a.mem.data();
  const size_t cap = kMinClass << c;
  const int shift = kMinShift + c;  // slots are powers of two: no division
  if (offset < a.base[c] || ((offset - a.base[c]) & (cap - 1)) != 0 ||
      ((offset - a.base[c]) >> shift) >= options_.slots[c]) {
    PoolMisuse("HybridPool", "free of a pointer this pool never handed out",
               b.data);
  }
  const size_t slot = (offset - a.base[c]) >> shift;
  if (a.out[c][slot] == 0) PoolMisuse("HybridPool", "double free", b.data);
  a.out[c][slot] = 0;
  a.free[c].push_back(static_cast<uint32_t>(slot));
  --blocks_out_;
  bytes_out_ -= cap;
}

PoolUsage HybridPool::Usage() const {
  PoolUsage u;
  u.arenas = arenas_.size();
  u.arena_bytes = arenas_.size() * arena_bytes_;
  u.blocks_out = blocks_out_;
  u.bytes_out = bytes_out_;
  u.heap_blocks_out = heap_out_;
  for (const ArenaState& a : arenas_) {
    for (int c = kClasses - 1; c >= 0; --c) {
      if (!a.free[c].empty()) {
        u.largest_free = std::max(u.largest_free, kMinClass << c);
        break;
      }
    }
  }
  return u;
}

}  // namespace veloq::io
