#pragma once

#include <cstddef>
#include <cstdint>

#include "absl/status/statusor.h"
#include "io/buffer/buf_pool.h"
#include "io/buffer/fixed_buf.h"

struct io_uring_buf_ring;

namespace veloq::io {

class Driver;

// BufRing is a group of equal receive buffers that the kernel picks from
// when data arrives (io_uring provided-buffer rings,
// IORING_REGISTER_PBUF_RING), so a connection waiting for data ties up no
// buffer: Driver::ReadSelect, and multishot receive in io/net.
//
// The buffers are carved from a BufPool (registered memory), held by the
// ring and lent out: the FixedBuf an op yields is one of them, with the
// bytes received, and goes back into the ring when destroyed (wherever
// that happens: it goes home like any FixedBuf). When every buffer is lent
// out, selecting ops fail with -ENOBUFS until one comes back.
//
// Backends: with io_uring the ring is shared with the kernel (the entries
// live in memory we map and register); the epoll driver, or a kernel
// without the feature, keeps the free buffers on a user-space stack and
// lends one when a selecting op starts. Same API, same results.
//
// Lifetime: the BufRing handle must not outlive its driver; lent buffers
// may outlive the handle (they are then freed to the pool).
//
// Thread safety: shard-local (the driver's shard).
class BufRing {
 public:
  // `count` buffers (a power of two, <= 32768) of `size` bytes each.
  static absl::StatusOr<BufRing> Create(Driver& driver, BufPool& pool,
                                        uint32_t count, size_t size);
  BufRing(BufRing&& o) noexcept;
  BufRing& operator=(BufRing&& o) noexcept;
  ~BufRing();

  // The buffer group id (io_uring's bgid).
  uint16_t group() const;
  size_t buffer_size() const;
  uint32_t count() const;
  // Buffers in the ring now (not lent out).
  uint32_t available() const;
  // Whether the kernel selects buffers (a registered pbuf ring).
  bool in_kernel() const;

  // Lends buffer `bid` holding `len` bytes (the kernel wrote it).
  FixedBuf Lend(uint16_t bid, size_t len);
  // Lends some free buffer (user-space mode); empty if none.
  FixedBuf LendAny();

 private:
  explicit BufRing(internal::RingCore* core) : core_(core) {}
  internal::RingCore* core_;
};

}  // namespace veloq::io
