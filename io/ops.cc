// The op vtables (see internal::OpVTable in io/driver.h).
#include <fcntl.h>
#include <liburing.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
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

// --- Sockets. Readiness backends call these on nonblocking sockets (and
// add MSG_DONTWAIT), so -EAGAIN means "wait for readiness". ---

sockaddr* Addr(OpSlot& s) {
  return reinterpret_cast<sockaddr*>(&s.extra->addr);
}

void PrepAccept(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_accept(sqe, s.fd, Addr(s), &s.extra->addrlen,
                       static_cast<int>(s.op_flags));
}
int32_t RunAccept(OpSlot& s) {
  return ResultOf(::accept4(s.fd, Addr(s), &s.extra->addrlen,
                            static_cast<int>(s.op_flags)));
}

void PrepConnect(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_connect(sqe, s.fd, Addr(s), s.extra->addrlen);
}
// First call: connect(); in progress -> wait for EPOLLOUT; then SO_ERROR
// says how it went (backend_data[3] remembers which call this is).
int32_t RunConnect(OpSlot& s) {
  if (s.backend_data[3] == 0) {
    if (::connect(s.fd, Addr(s), s.extra->addrlen) == 0) return 0;
    if (errno != EINPROGRESS) return -errno;
    s.backend_data[3] = 1;
    return -EAGAIN;
  }
  int err = 0;
  socklen_t len = sizeof(err);
  if (::getsockopt(s.fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) return -errno;
  return err == 0 ? 0 : -err;
}

void PrepRecv(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_recv(sqe, s.fd, s.data(), s.length,
                     static_cast<int>(s.op_flags));
}
int32_t RunRecv(OpSlot& s) {
  return ResultOf(::recv(s.fd, s.data(), s.length,
                         static_cast<int>(s.op_flags) | MSG_DONTWAIT));
}

void PrepSend(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_send(sqe, s.fd, s.data(), s.length,
                     static_cast<int>(s.op_flags));
}
int32_t RunSend(OpSlot& s) {
  return ResultOf(::send(s.fd, s.data(), s.length,
                         static_cast<int>(s.op_flags) | MSG_DONTWAIT));
}

// The msghdr lives in the op's extra (stable while the op runs).
msghdr* Msg(OpSlot& s, bool receive) {
  OpExtra& x = *s.extra;
  x.iov = iovec{s.data(), s.length};
  x.msg = msghdr{};
  x.msg.msg_iov = &x.iov;
  x.msg.msg_iovlen = 1;
  if (receive) {
    x.msg.msg_name = &x.addr;
    x.msg.msg_namelen = sizeof(x.addr);
  } else if (x.addrlen > 0) {
    x.msg.msg_name = &x.addr;
    x.msg.msg_namelen = x.addrlen;
  }
  return &x.msg;
}

void PrepSendMsg(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_sendmsg(sqe, s.fd, Msg(s, false), s.op_flags);
}
int32_t RunSendMsg(OpSlot& s) {
  return ResultOf(::sendmsg(s.fd, Msg(s, false),
                            static_cast<int>(s.op_flags) | MSG_DONTWAIT));
}

void PrepRecvMsg(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_recvmsg(sqe, s.fd, Msg(s, true), s.op_flags);
}
int32_t RunRecvMsg(OpSlot& s) {
  return ResultOf(::recvmsg(s.fd, Msg(s, true),
                            static_cast<int>(s.op_flags) | MSG_DONTWAIT));
}

void PrepShutdown(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_shutdown(sqe, s.fd, static_cast<int>(s.op_flags));
}
int32_t RunShutdown(OpSlot& s) {
  return ResultOf(::shutdown(s.fd, static_cast<int>(s.op_flags)));
}

void PrepClose(io_uring_sqe* sqe, OpSlot& s) { io_uring_prep_close(sqe, s.fd); }
int32_t RunClose(OpSlot& s) { return ResultOf(::close(s.fd)); }

// SEND_ZC; registered buffers skip the page pinning too.
void PrepSendZc(io_uring_sqe* sqe, OpSlot& s) {
  if (s.buf_index >= 0) {
    io_uring_prep_send_zc_fixed(sqe, s.fd, s.data(), s.length,
                                static_cast<int>(s.op_flags), 0,
                                static_cast<unsigned>(s.buf_index));
  } else {
    io_uring_prep_send_zc(sqe, s.fd, s.data(), s.length,
                          static_cast<int>(s.op_flags), 0);
  }
}

// Multishot ops exist only on io_uring (Driver::SupportsMultishot).
void PrepAcceptMulti(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_multishot_accept(sqe, s.fd, nullptr, nullptr,
                                 static_cast<int>(s.op_flags));
}
void PrepRecvMulti(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_recv_multishot(sqe, s.fd, nullptr, 0, 0);
  sqe->flags |= IOSQE_BUFFER_SELECT;
  sqe->buf_group = s.ring->group();
}
int32_t RunUnsupported(OpSlot&) { return -EOPNOTSUPP; }

// --- Files and directories (the blocking pool on readiness backends). ---

void PrepOpenAt(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_openat(sqe, AT_FDCWD, s.extra->path.c_str(),
                       static_cast<int>(s.op_flags), s.mode);
}
int32_t RunOpenAt(OpSlot& s) {
  return ResultOf(::openat(AT_FDCWD, s.extra->path.c_str(),
                           static_cast<int>(s.op_flags), s.mode));
}

void PrepFsync(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_fsync(sqe, s.fd, s.op_flags != 0 ? IORING_FSYNC_DATASYNC : 0);
}
int32_t RunFsync(OpSlot& s) {
  return ResultOf(s.op_flags != 0 ? ::fdatasync(s.fd) : ::fsync(s.fd));
}

void PrepFallocate(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_fallocate(sqe, s.fd, static_cast<int>(s.mode), s.offset,
                          s.len2);
}
int32_t RunFallocate(OpSlot& s) {
  return ResultOf(::fallocate(s.fd, static_cast<int>(s.mode),
                              static_cast<off_t>(s.offset),
                              static_cast<off_t>(s.len2)));
}

int StatxDir(const OpSlot& s) {
  return s.extra->path.empty() ? s.fd : AT_FDCWD;
}
void PrepStatx(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_statx(sqe, StatxDir(s), s.extra->path.c_str(),
                      static_cast<int>(s.op_flags), s.mode, &s.extra->stx);
}
int32_t RunStatx(OpSlot& s) {
  return ResultOf(::statx(StatxDir(s), s.extra->path.c_str(),
                          static_cast<int>(s.op_flags), s.mode, &s.extra->stx));
}

void PrepRenameAt(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_renameat(sqe, AT_FDCWD, s.extra->path.c_str(), AT_FDCWD,
                         s.extra->path2.c_str(), 0);
}
int32_t RunRenameAt(OpSlot& s) {
  return ResultOf(::renameat(AT_FDCWD, s.extra->path.c_str(), AT_FDCWD,
                             s.extra->path2.c_str()));
}

void PrepUnlinkAt(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_unlinkat(sqe, AT_FDCWD, s.extra->path.c_str(),
                         static_cast<int>(s.op_flags));
}
int32_t RunUnlinkAt(OpSlot& s) {
  return ResultOf(::unlinkat(AT_FDCWD, s.extra->path.c_str(),
                             static_cast<int>(s.op_flags)));
}

void PrepMkdirAt(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_mkdirat(sqe, AT_FDCWD, s.extra->path.c_str(), s.mode);
}
int32_t RunMkdirAt(OpSlot& s) {
  return ResultOf(::mkdirat(AT_FDCWD, s.extra->path.c_str(), s.mode));
}

void PrepReadv(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_readv(sqe, s.fd, s.extra->iovs.data(),
                      static_cast<unsigned>(s.extra->iovs.size()), s.offset);
}
int32_t RunReadv(OpSlot& s) {
  const int n = static_cast<int>(s.extra->iovs.size());
  return ResultOf(Positional(s) ? ::preadv(s.fd, s.extra->iovs.data(), n,
                                           static_cast<off_t>(s.offset))
                                : ::readv(s.fd, s.extra->iovs.data(), n));
}

void PrepWritev(io_uring_sqe* sqe, OpSlot& s) {
  io_uring_prep_writev(sqe, s.fd, s.extra->iovs.data(),
                       static_cast<unsigned>(s.extra->iovs.size()), s.offset);
}
int32_t RunWritev(OpSlot& s) {
  const int n = static_cast<int>(s.extra->iovs.size());
  return ResultOf(Positional(s) ? ::pwritev(s.fd, s.extra->iovs.data(), n,
                                            static_cast<off_t>(s.offset))
                                : ::writev(s.fd, s.extra->iovs.data(), n));
}

constexpr OpVTable kOps[] = {
    // kind, prep, wait_events, run, blocking, try_first
    {OpInfo::Kind::kNop, &PrepNop, 0, &RunNop},
    {OpInfo::Kind::kRead, &PrepRead, EPOLLIN, &RunRead},
    {OpInfo::Kind::kWrite, &PrepWrite, EPOLLOUT, &RunWrite},
    {OpInfo::Kind::kTimeout, &PrepTimeout, 0, &RunTimeout},
    {OpInfo::Kind::kReadSelect, &PrepReadSelect, EPOLLIN, &RunReadSelect},
    {OpInfo::Kind::kAccept, &PrepAccept, EPOLLIN, &RunAccept, false, true},
    {OpInfo::Kind::kConnect, &PrepConnect, EPOLLOUT, &RunConnect, false, true},
    {OpInfo::Kind::kRecv, &PrepRecv, EPOLLIN, &RunRecv, false, true},
    {OpInfo::Kind::kSend, &PrepSend, EPOLLOUT, &RunSend, false, true},
    {OpInfo::Kind::kSendMsg, &PrepSendMsg, EPOLLOUT, &RunSendMsg, false, true},
    {OpInfo::Kind::kRecvMsg, &PrepRecvMsg, EPOLLIN, &RunRecvMsg, false, true},
    {OpInfo::Kind::kShutdown, &PrepShutdown, 0, &RunShutdown},
    {OpInfo::Kind::kClose, &PrepClose, 0, &RunClose},
    {OpInfo::Kind::kOpenAt, &PrepOpenAt, 0, &RunOpenAt, true},
    {OpInfo::Kind::kFsync, &PrepFsync, 0, &RunFsync, true},
    {OpInfo::Kind::kFallocate, &PrepFallocate, 0, &RunFallocate, true},
    {OpInfo::Kind::kStatx, &PrepStatx, 0, &RunStatx, true},
    {OpInfo::Kind::kRenameAt, &PrepRenameAt, 0, &RunRenameAt, true},
    {OpInfo::Kind::kUnlinkAt, &PrepUnlinkAt, 0, &RunUnlinkAt, true},
    {OpInfo::Kind::kMkdirAt, &PrepMkdirAt, 0, &RunMkdirAt, true},
    {OpInfo::Kind::kReadv, &PrepReadv, EPOLLIN, &RunReadv},
    {OpInfo::Kind::kWritev, &PrepWritev, EPOLLOUT, &RunWritev},
    {OpInfo::Kind::kSendZc, &PrepSendZc, EPOLLOUT, &RunSend, false, true},
    {OpInfo::Kind::kAcceptMulti, &PrepAcceptMulti, 0, &RunUnsupported},
    {OpInfo::Kind::kRecvMulti, &PrepRecvMulti, 0, &RunUnsupported},
};

static_assert(sizeof(kOps) / sizeof(kOps[0]) ==
              static_cast<size_t>(OpInfo::Kind::kRecvMulti) + 1);
static_assert([] {
  for (size_t i = 0; i < sizeof(kOps) / sizeof(kOps[0]); ++i) {
    if (static_cast<size_t>(kOps[i].kind) != i) return false;
  }
  return true;
}());

}  // namespace

const OpVTable& OpsFor(OpInfo::Kind kind) {
  return kOps[static_cast<int>(kind)];
}

}  // namespace veloq::io::internal
