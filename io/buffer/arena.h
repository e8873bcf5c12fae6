#pragma once

#include <cstddef>

#include "absl/status/statusor.h"

namespace veloq::io {

// Arena is one anonymous memory mapping that pools carve buffers from:
// page aligned (4 KB, so every block is O_DIRECT ready), never moved,
// unmapped on destruction.
//
// With huge pages asked for it first tries MAP_HUGETLB (2 MB pages, size
// rounded up); when the system has none reserved it falls back to normal
// pages and says so in huge_pages().
//
// Thread safety: a value; the memory is the owner's to share.
class Arena {
 public:
  static constexpr size_t kPageSize = 4096;
  static constexpr size_t kHugePageSize = 2 << 20;

  // Maps at least `bytes` (rounded up to a page, or a huge page).
  static absl::StatusOr<Arena> Map(size_t bytes, bool huge_pages = false);

  Arena() = default;
  Arena(Arena&& o) noexcept;
  Arena& operator=(Arena&& o) noexcept;
  ~Arena();

  char* data() const { return data_; }
  size_t size() const { return size_; }
  bool huge_pages() const { return huge_; }
  bool Contains(const void* p) const {
    return p >= data_ && static_cast<const char*>(p) < data_ + size_;
  }

 private:
  Arena(char* data, size_t size, bool huge)
      : data_(data), size_(size), huge_(huge) {}
  char* data_ = nullptr;
  size_t size_ = 0;
  bool huge_ = false;
};

}  // namespace veloq::io
