#include "io/buf_ring.h"

#include <liburing.h>
#include <sys/mman.h>

#include <bit>
#include <cerrno>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"
#include "io/driver.h"
#include "spdlog/spdlog.h"

namespace veloq::io {
namespace internal {

// The state behind a BufRing handle and its lent buffers.
//
// Invariant: every buffer is either in the ring (the kernel's, or the
// user-space stack) or lent out as exactly one FixedBuf; available_ counts
// the former.
class RingCore final : public BufOwner {
 public:
  RingCore(Driver* driver, std::vector<FixedBuf> bufs, size_t size)
      : driver_(driver), bufs_(std::move(bufs)), size_(size) {}

  absl::Status Init() {
    const uint32_t n = static_cast<uint32_t>(bufs_.size());
    group_ = driver_->NextBufGroup();
    const size_t bytes = n * sizeof(io_uring_buf);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
      return absl::ResourceExhaustedError(
          absl::StrCat("BufRing: mmap: ", std::strerror(errno)));
    }
    br_ = static_cast<io_uring_buf_ring*>(p);
    br_bytes_ = bytes;
    io_uring_buf_ring_init(br_);
    absl::Status s = driver_->RegisterBufRing(br_, n, group_);
    if (s.ok()) {
      mask_ = io_uring_buf_ring_mask(n);
      for (uint32_t i = 0; i < n; ++i) {
        AddToKernel(static_cast<uint16_t>(i), static_cast<int>(i));
      }
      io_uring_buf_ring_advance(br_, static_cast<int>(n));
    } else {
      // User-space mode: the driver lends buffers itself.
      ::munmap(br_, br_bytes_);
      br_ = nullptr;
      for (uint32_t i = n; i-- > 0;) free_.push_back(static_cast<uint16_t>(i));
    }
    available_ = n;
    return absl::OkStatus();
  }

  FixedBuf Lend(uint16_t bid, size_t len) {
    if (bid >= bufs_.size()) {
      Die(absl::StrCat("BufRing: the kernel returned buffer ", bid,
                       " of a ring of ", bufs_.size()));
    }
    --available_;
    Ref();
    FixedBuf b(bufs_[bid].data(), size_, this, bid, bufs_[bid].reg_index());
    b.set_size(std::min(len, size_));
    return b;
  }

  FixedBuf LendAny() {
    if (free_.empty()) return FixedBuf();
    const uint16_t bid = free_.back();
    free_.pop_back();
    return Lend(bid, 0);
  }

  void Close() {
    closed_ = true;
    if (br_ != nullptr) {
      driver_->UnregisterBufRing(group_);
      ::munmap(br_, br_bytes_);
      br_ = nullptr;
    }
    Unref();
  }

  uint16_t group() const { return group_; }
  size_t size() const { return size_; }
  uint32_t count() const { return static_cast<uint32_t>(bufs_.size()); }
  uint32_t available() const { return available_; }
  bool in_kernel() const { return br_ != nullptr; }
  const BufferRegistrar* registrar() const override { return driver_; }

 private:
  ~RingCore() override = default;

  // Writes entry `offset` past the ring's tail (published by advance).
  void AddToKernel(uint16_t bid, int offset) {
    io_uring_buf_ring_add(br_, bufs_[bid].data(), static_cast<unsigned>(size_),
                          bid, static_cast<int>(mask_), offset);
  }

  void FreeLocal(BlockRef b) override {
    const uint16_t bid = static_cast<uint16_t>(b.ctx);
    ++available_;
    if (!closed_) {
      if (br_ != nullptr) {
        AddToKernel(bid, 0);
        io_uring_buf_ring_advance(br_, 1);
      } else {
        free_.push_back(bid);
      }
    }
    Unref();
  }

  Driver* driver_;
  std::vector<FixedBuf> bufs_;  // the memory, from the pool
  size_t size_;
  uint16_t group_ = 0;
  io_uring_buf_ring* br_ = nullptr;  // kernel mode: the shared ring
  size_t br_bytes_ = 0;
  uint32_t mask_ = 0;
  std::vector<uint16_t> free_;  // user-space mode: free buffer ids
  uint32_t available_ = 0;
  bool closed_ = false;
};

}  // namespace internal

absl::StatusOr<BufRing> BufRing::Create(Driver& driver, BufPool& pool,
                                        uint32_t count, size_t size) {
  if (count == 0 || count > 32768 || !std::has_single_bit(count)) {
    return absl::InvalidArgumentError(
        "BufRing: count must be a power of two in [1, 32768]");
  }
  if (size == 0 || size > (1u << 31)) {
    return absl::InvalidArgumentError("BufRing: bad buffer size");
  }
  std::vector<FixedBuf> bufs;
  bufs.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    absl::StatusOr<FixedBuf> b = pool.TryAllocate(size);
    if (!b.ok()) return b.status();
    bufs.push_back(*std::move(b));
  }
  auto* core = new internal::RingCore(&driver, std::move(bufs), size);
  BufRing ring(core);
  absl::Status s = core->Init();
  if (!s.ok()) return s;
  return ring;
}

BufRing::BufRing(BufRing&& o) noexcept
    : core_(std::exchange(o.core_, nullptr)) {}

BufRing& BufRing::operator=(BufRing&& o) noexcept {
  if (this != &o) {
    if (core_ != nullptr) core_->Close();
    core_ = std::exchange(o.core_, nullptr);
  }
  return *this;
}

BufRing::~BufRing() {
  if (core_ != nullptr) core_->Close();
}

uint16_t BufRing::group() const { return core_->group(); }
size_t BufRing::buffer_size() const { return core_->size(); }
uint32_t BufRing::count() const { return core_->count(); }
uint32_t BufRing::available() const { return core_->available(); }
bool BufRing::in_kernel() const { return core_->in_kernel(); }
FixedBuf BufRing::Lend(uint16_t bid, size_t len) {
  return core_->Lend(bid, len);
}
FixedBuf BufRing::LendAny() { return core_->LendAny(); }

}  // namespace veloq::io
