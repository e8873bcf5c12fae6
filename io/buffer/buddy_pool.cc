#include "io/buffer/buddy_pool.h"

#include <bit>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace veloq::io {

void PoolMisuse(const char* pool, const char* what, const void* p) {
  internal::Die(fmt::format("{}: {} (block {})", pool, what, p));
}

absl::StatusOr<std::unique_ptr<BuddyPool>> BuddyPool::Create(
    const Options& options) {
  if (options.min_block < Arena::kPageSize ||
      !std::has_single_bit(options.min_block)) {
    return absl::InvalidArgumentError(
        "BuddyPool: min_block must be a power of two >= 4096");
  }
  if (options.max_arenas == 0 || options.max_arenas > kMaxRegions) {
    return absl::InvalidArgumentError("BuddyPool: max_arenas out of range");
  }
  auto pool = std::unique_ptr<BuddyPool>(new BuddyPool(options));
  pool->unit_shift_ = std::countr_zero(options.min_block);
  const size_t units = std::max<size_t>(
      1, (options.arena_bytes + options.min_block - 1) / options.min_block);
  pool->max_order_ = static_cast<int>(std::bit_width(std::bit_ceil(units)) - 1);
  if (pool->max_order_ > kOrderMask ||
      (options.min_block << pool->max_order_) > kMaxArenaBytes) {
    return absl::InvalidArgumentError(
        "BuddyPool: arena over 1 GiB (io_uring's limit for one registered "
        "buffer)");
  }
  pool->cache_.resize(
      std::clamp(options.cached_orders, 0, pool->max_order_ + 1));
  absl::Status s = pool->Grow();
  if (!s.ok()) return s;
  return pool;
}

absl::Status BuddyPool::Grow() {
  if (arenas_.size() >= options_.max_arenas) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "BuddyPool: at its limit of ", options_.max_arenas, " arenas"));
  }
  const size_t units = size_t{1} << max_order_;
  absl::StatusOr<Arena> mem =
      Arena::Map(units << unit_shift_, options_.huge_pages);
  if (!mem.ok()) return mem.status();
  ArenaState a;
  a.mem = *std::move(mem);
  a.meta.assign(units, 0);
  a.pos.assign(units, 0);
  a.free.resize(max_order_ + 1);
  PushFree(a, 0, max_order_);
  arenas_.push_back(std::move(a));
  return absl::OkStatus();
}

int BuddyPool::OrderFor(size_t size) const {
  const size_t units =
      std::max<size_t>(1, (size + options_.min_block - 1) >> unit_shift_);
  return static_cast<int>(std::bit_width(std::bit_ceil(units)) - 1);
}

internal::BlockRef BuddyPool::MakeRef(size_t arena, uint32_t unit,
                                      int order) const {
  return internal::BlockRef{
      arenas_[arena].mem.data() + (size_t{unit} << unit_shift_),
      static_cast<uint32_t>(options_.min_block << order),
      Tag(static_cast<uint32_t>(arena), static_cast<uint32_t>(order))};
}

void BuddyPool::PushFree(ArenaState& a, uint32_t unit, int order) {
  a.meta[unit] = kFree | static_cast<uint8_t>(order);
  a.pos[unit] = static_cast<uint32_t>(a.free[order].size());
  a.free[order].push_back(unit);
}

void BuddyPool::RemoveFree(ArenaState& a, uint32_t unit, int order) {
  std::vector<uint32_t>& list = a.free[order];
  const uint32_t at = a.pos[unit];
  const uint32_t last = list.back();
  list[at] = last;
  a.pos[last] = at;
  list.pop_back();
  a.meta[unit] = 0;
}

std::optional<uint32_t> BuddyPool::BuddyAlloc(ArenaState& a, int order) {
  int o = order;
  while (o <= max_order_ && a.free[o].empty()) ++o;
  if (o > max_order_) return std::nullopt;
  const uint32_t unit = a.free[o].back();
  RemoveFree(a, unit, o);
  // Split down to the order asked for; the upper halves become free.
  while (o > order) {
    --o;
    PushFree(a, unit + (uint32_t{1} << o), o);
  }
  a.meta[unit] = kAllocated | static_cast<uint8_t>(order);
  return unit;
}

void BuddyPool::BuddyFree(ArenaState& a, uint32_t unit, int order) {
  while (order < max_order_) {
    const uint32_t buddy = unit ^ (uint32_t{1} << order);
    if (a.meta[buddy] != (kFree | order)) break;
    RemoveFree(a, buddy, order);
    a.meta[unit] = 0;
    unit = std::min(unit, buddy);
    ++order;
  }
  PushFree(a, unit, order);
}

std::optional<internal::BlockRef> BuddyPool::Allocate(size_t size) {
  const int order = OrderFor(size);
  if (order > max_order_) return std::nullopt;
  if (order < static_cast<int>(cache_.size()) && !cache_[order].empty()) {
    internal::BlockRef b = cache_[order].back();
    cache_[order].pop_back();
    ArenaState& a = arenas_[b.ctx >> 16];
    a.meta[(b.data - a.mem.data()) >> unit_shift_] =
        kAllocated | static_cast<uint8_t>(order);
    ++blocks_out_;
    bytes_out_ += b.capacity;
    return b;
  }
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (size_t i = 0; i < arenas_.size(); ++i) {
      if (std::optional<uint32_t> unit = BuddyAlloc(arenas_[i], order)) {
        ++blocks_out_;
        bytes_out_ += options_.min_block << order;
        return MakeRef(i, *unit, order);
      }
    }
    Trim();  // cached blocks may merge into what the request needs
  }
  return std::nullopt;
}

void BuddyPool::Free(internal::BlockRef b) {
  const size_t arena = b.ctx >> 16;
  const int order = static_cast<int>(b.ctx & 0xffff);
  if (arena >= arenas_.size() || !arenas_[arena].mem.Contains(b.data) ||
      order > max_order_) {
    PoolMisuse("BuddyPool", "free of a pointer this pool never handed out",
               b.data);
  }
  ArenaState& a = arenas_[arena];
  const size_t offset = b.data - a.mem.data();
  const uint32_t unit = static_cast<uint32_t>(offset >> unit_shift_);
  const uint8_t m = a.meta[unit];
  if ((offset & (options_.min_block - 1)) != 0 || (m & kOrderMask) != order ||
      b.capacity != options_.min_block << order) {
    PoolMisuse("BuddyPool", "free of a pointer this pool never handed out",
               b.data);
  }
  if (m & (kFree | kCached)) PoolMisuse("BuddyPool", "double free", b.data);
  if (!(m & kAllocated)) {
    PoolMisuse("BuddyPool", "free of a pointer this pool never handed out",
               b.data);
  }
  --blocks_out_;
  bytes_out_ -= b.capacity;
  if (order < static_cast<int>(cache_.size()) &&
      cache_[order].size() < options_.cache_depth) {
    a.meta[unit] = kCached | static_cast<uint8_t>(order);
    cache_[order].push_back(b);
    return;
  }
  BuddyFree(a, unit, order);
}

void BuddyPool::Trim() {
  for (size_t order = 0; order < cache_.size(); ++order) {
    for (const internal::BlockRef& b : cache_[order]) {
      ArenaState& a = arenas_[b.ctx >> 16];
      BuddyFree(a,
                static_cast<uint32_t>((b.data - a.mem.data()) >> unit_shift_),
                static_cast<int>(order));
    }
    cache_[order].clear();
  }
}

size_t BuddyPool::LargestFreeBlock() const {
  size_t best = 0;
  for (const ArenaState& a : arenas_) {
    for (int o = max_order_; o >= 0; --o) {
      if (!a.free[o].empty()) {
        best = std::max(best, options_.min_block << o);
        break;
      }
    }
  }
  for (size_t o = 0; o < cache_.size(); ++o) {
    if (!cache_[o].empty()) best = std::max(best, options_.min_block << o);
  }
  return best;
}

PoolUsage BuddyPool::Usage() const {
  PoolUsage u;
  u.arenas = arenas_.size();
  for (const ArenaState& a : arenas_) u.arena_bytes += a.mem.size();
  u.blocks_out = blocks_out_;
  u.bytes_out = bytes_out_;
  u.largest_free = LargestFreeBlock();
  return u;
}

}  // namespace veloq::io
