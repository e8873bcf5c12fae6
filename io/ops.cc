// The op vtables (see internal::OpVTable in io/driver.h).
#include <liburing.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

#include "io/driver.h"

namespace veloq::io::internal {
namespace {

int32_t ResultOf(ssize_t n) { return n < 0 ? -errno : static_cast<int32_t>(n); }

bool Positional(const OpSlot& s) { return s.offset != Driver::kNoOffset; }

void PrepNop(io_uring_sqe* sqe, OpSlot&) { io_uring_prep_nop(sqe); }
int32_t RunNop(OpSlot&) { return 0; }

// Registered buffers (from the shard's pools) take the fixed opcodes: the
// kernel skips pinning the pages on every op.
void PrepRead(io_uring_sqe* sqe, OpSlot& s) {
  if (s.buf_index >= 0) {
    io_uring_prep_read_fixed(sqe, s.fd, s.data(),
                             static_cast<unsigned>(s.length), s.offset,
                             s.buf_index);
  } else {
    io_uring_prep_read(sqe, s.fd, s.data(), static_cast<unsigned>(s.length),
                       s.offset);
  }
}
int32_t RunRead(OpSlot& s) {
  return ResultOf(Positional(s) ? ::pread(s.fd, s.data(), s.length,
                                          static_cast<off_t>(s.offset))
                                : ::read(s.fd, s.data(), s.length));
}

void PrepWrite(io_uring_sqe* sqe, OpSlot& s) {
  if (s.buf_index >= 0) {
    io_uring_prep_write_fixed(sqe, s.fd, s.data(),
                              static_cast<unsigned>(s.length), s.offset,
                              s.buf_index);
  } else {
    io_uring_prep_write(sqe, s.fd, s.data(), static_cast<unsigned>(s.length),
                        s.offset);
  }
}
int32_t RunWrite(OpSlot& s) {
  return ResultOf(Positional(s) ? ::pwrite(s.fd, s.data(), s.length,
                                           static_cast<off_t>(s.offset))
                                : ::write(s.fd, s.data(), s.length));
}

// io_uring picks the buffer from the ring's group when data arrives.
void PrepReadSelect(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_read(sqe, s.fd, nullptr, static_cast<unsigned>(s.length),
                     s.offset);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = s.ring->group();
}
// Readiness backends lend the buffer at start and run kRead instead.
int32_t RunReadSelect(OpSlot&) { return -EINVAL; }

// The io_uring backend keeps the op's timespec in backend_data (stable).
void PrepTimeout(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_timeout(
      sqe, reinterpret_cast<__kernel_timespec*>(s.backend_data), 0, 0);
}
// Readiness backends run timeouts on their timer heap, never through run.
int32_t RunTimeout(OpSlot&) { return -ETIME; }

constexpr OpVTable kOps[] = {
    {OpInfo::Kind::kNop, &PrepNop, 0, &RunNop},
    {OpInfo::Kind::kRead, &PrepRead, EPOLLIN, &RunRead},
    {OpInfo::Kind::kWrite, &PrepWrite, EPOLLOUT, &RunWrite},
    {OpInfo::Kind::kTimeout, &PrepTimeout, 0, &RunTimeout},
    {OpInfo::Kind::kReadSelect, &PrepReadSelect, EPOLLIN, &RunReadSelect},
};

}  // namespace

const OpVTable& OpsFor(OpInfo::Kind kind) {
  return kOps[static_cast<int>(kind)];
}

}  // namespace veloq::io::internal
