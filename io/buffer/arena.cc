#include "io/buffer/arena.h"

#include <sys/mman.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/log.h"

namespace veloq::io {
namespace {

size_t RoundUp(size_t n, size_t to) { return (n + to - 1) / to * to; }

}  // namespace

absl::StatusOr<Arena> Arena::Map(size_t bytes, bool huge_pages) {
  if (bytes == 0) return absl::InvalidArgumentError("Arena: zero size");
  if (huge_pages) {
    const size_t size = RoundUp(bytes, kHugePageSize);
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_HUGETLB, -1, 0);
    if (p != MAP_FAILED) return Arena(static_cast<char*>(p), size, true);
    static std::atomic<bool> logged{false};
    if (!logged.exchange(true)) {
      log::Info(log::Module::kIo, "arena: no huge pages ({}); using 4 KB pages",
                std::strerror(errno));
    }
  }
  const size_t size = RoundUp(bytes, kPageSize);
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "arena: mmap of ", size, " bytes: ", std::strerror(errno)));
  }
  return Arena(static_cast<char*>(p), size, false);
}

Arena::Arena(Arena&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)),
      size_(std::exchange(o.size_, 0)),
      huge_(o.huge_) {}

Arena& Arena::operator=(Arena&& o) noexcept {
  if (this != &o) {
    if (data_ != nullptr) ::munmap(data_, size_);
    data_ = std::exchange(o.data_, nullptr);
    size_ = std::exchange(o.size_, 0);
    huge_ = o.huge_;
  }
  return *this;
}

Arena::~Arena() {
  if (data_ != nullptr) ::munmap(data_, size_);
}

}  // namespace veloq::io
