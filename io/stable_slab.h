#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>
#include <vector>

namespace veloq::io {

// StableSlab<T> stores T in fixed-size pages that are never moved or freed
// while the slab lives, so an entry's address is stable for as long as it is
// in use (the kernel and a completion may refer to it). Freed entries go on a
// free list and are reused.
//
// Handles carry a generation: every Remove bumps the entry's generation, so a
// handle to a removed (and possibly reused) entry no longer resolves. This is
// how a late completion for a recycled slot is recognised and ignored. A
// handle packs into 64 bits (the io_uring user_data): generation << 32 |
// index.
//
// Thread safety: thread-compatible (one owner; the driver's shard).
// Invariants: an index is either on the free list or in use, never both;
// Get(h) is non-null iff h's entry is in use with h's generation.
template <typename T, size_t kPageSize = 256>
class StableSlab {
 public:
  struct Handle {
    uint32_t index = 0;
    uint32_t generation = 0;

    uint64_t Pack() const {
      return (static_cast<uint64_t>(generation) << 32) | index;
    }
    static Handle Unpack(uint64_t v) {
      return Handle{static_cast<uint32_t>(v), static_cast<uint32_t>(v >> 32)};
    }
    friend bool operator==(Handle a, Handle b) {
      return a.index == b.index && a.generation == b.generation;
    }
  };

  StableSlab() = default;
  StableSlab(const StableSlab&) = delete;
  StableSlab& operator=(const StableSlab&) = delete;
  ~StableSlab() {
    for (size_t p = 0; p < pages_.size(); ++p) {
      for (size_t i = 0; i < kPageSize; ++i) {
        Entry& e = pages_[p][i];
        if (e.in_use) std::launder(reinterpret_cast<T*>(e.storage))->~T();
      }
    }
  }

  // Constructs a T in a free entry (growing by a page if none is free).
  template <typename... A>
  Handle Insert(A&&... args) {
    if (free_ == kNone) Grow();
    const uint32_t index = free_;
    Entry& e = At(index);
    free_ = e.next_free;
    ::new (static_cast<void*>(e.storage)) T(std::forward<A>(args)...);
    e.in_use = true;
    ++size_;
    return Handle{index, e.generation};
  }

  // Insert that also returns the new entry's address.
  template <typename... A>
  T* Emplace(Handle* h, A&&... args) {
    *h = Insert(std::forward<A>(args)...);
    return std::launder(reinterpret_cast<T*>(At(h->index).storage));
  }

  // The entry for `h`, or null if it was removed (stale handle).
  T* Get(Handle h) {
    if (h.index >= pages_.size() * kPageSize) return nullptr;
    Entry& e = At(h.index);
    if (!e.in_use || e.generation != h.generation) return nullptr;
    return std::launder(reinterpret_cast<T*>(e.storage));
  }

  // Destroys the entry for `h`. REQUIRES: Get(h) != nullptr.
  void Remove(Handle h) {
    Entry& e = At(h.index);
    if (!e.in_use || e.generation != h.generation) {
      std::fprintf(stderr, "StableSlab: Remove of a stale handle %u/%u\n",
                   h.index, h.generation);
      std::abort();
    }
    std::launder(reinterpret_cast<T*>(e.storage))->~T();
    e.in_use = false;
    ++e.generation;
    e.next_free = free_;
    free_ = h.index;
    --size_;
  }

  size_t size() const { return size_; }
  size_t capacity() const { return pages_.size() * kPageSize; }

 private:
  static constexpr uint32_t kNone = ~uint32_t{0};

  struct Entry {
    alignas(T) unsigned char storage[sizeof(T)];
    uint32_t generation = 0;
    uint32_t next_free = kNone;
    bool in_use = false;
  };

  Entry& At(uint32_t index) {
    return pages_[index / kPageSize][index % kPageSize];
  }

  void Grow() {
    const uint32_t base = static_cast<uint32_t>(pages_.size() * kPageSize);
    pages_.push_back(std::make_unique<Entry[]>(kPageSize));
    // Link the new page's entries in index order.
    for (size_t i = kPageSize; i-- > 0;) {
      pages_.back()[i].next_free = free_;
      free_ = base + static_cast<uint32_t>(i);
    }
  }

  std::vector<std::unique_ptr<Entry[]>> pages_;  // pages never move
  uint32_t free_ = kNone;
  size_t size_ = 0;
};

}  // namespace veloq::io
