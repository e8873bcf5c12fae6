#include "io/net/tcp.h"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>

#include "absl/strings/str_cat.h"

namespace veloq::io {
namespace {

absl::Status Errno(absl::string_view what) {
  return absl::ErrnoToStatus(errno, what);
}

absl::Status SetInt(int fd, int level, int name, int value,
                    absl::string_view what) {
  if (::setsockopt(fd, level, name, &value, sizeof(value)) != 0) {
    return Errno(what);
  }
  return absl::OkStatus();
}

absl::StatusOr<int> GetInt(int fd, int level, int name,
                           absl::string_view what) {
  int value = 0;
  socklen_t len = sizeof(value);
  if (::getsockopt(fd, level, name, &value, &len) != 0) return Errno(what);
  return value;
}

int Family(int fd) {
  sockaddr_storage s{};
  socklen_t len = sizeof(s);
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len) != 0) {
    return AF_INET;
  }
  return s.ss_family;
}

absl::StatusOr<SocketAddress> Name(int fd, bool peer) {
  sockaddr_storage s{};
  socklen_t len = sizeof(s);
  const int rc = peer
                     ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&s), &len)
                     : ::getsockname(fd, reinterpret_cast<sockaddr*>(&s), &len);
  if (rc != 0) return Errno(peer ? "getpeername" : "getsockname");
  return SocketAddress::FromRaw(s, len);
}

}  // namespace

namespace {
// Off: on loopback SEND_ZC lost at every size measured (docs/io.md).
std::atomic<size_t> zero_copy_threshold{0};
}  // namespace

void SetZeroCopyThreshold(size_t bytes) {
  zero_copy_threshold.store(bytes, std::memory_order_relaxed);
}
size_t ZeroCopyThreshold() {
  return zero_copy_threshold.load(std::memory_order_relaxed);
}

absl::Status SocketError(Result r, absl::string_view what) {
  if (r.ok()) return absl::OkStatus();
  if (r.error() == ETIMEDOUT) {
    return absl::DeadlineExceededError(
        absl::StrCat(what, ": deadline exceeded"));
  }
  return absl::ErrnoToStatus(r.error(), what);
}

// --- SocketOptions ---

absl::Status SocketOptions::SetNoDelay(bool on) {
  return SetInt(fd_, IPPROTO_TCP, TCP_NODELAY, on, "TCP_NODELAY");
}
absl::StatusOr<bool> SocketOptions::NoDelay() const {
  absl::StatusOr<int> v = GetInt(fd_, IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY");
  if (!v.ok()) return v.status();
  return *v != 0;
}
absl::Status SocketOptions::SetKeepAlive(
    bool on, std::optional<std::chrono::seconds> idle) {
  absl::Status s = SetInt(fd_, SOL_SOCKET, SO_KEEPALIVE, on, "SO_KEEPALIVE");
  if (!s.ok() || !on || !idle.has_value()) return s;
  return SetInt(fd_, IPPROTO_TCP, TCP_KEEPIDLE, static_cast<int>(idle->count()),
                "TCP_KEEPIDLE");
}
absl::StatusOr<bool> SocketOptions::KeepAlive() const {
  absl::StatusOr<int> v = GetInt(fd_, SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE");
  if (!v.ok()) return v.status();
  return *v != 0;
}
absl::Status SocketOptions::SetReuseAddress(bool on) {
  return SetInt(fd_, SOL_SOCKET, SO_REUSEADDR, on, "SO_REUSEADDR");
}
absl::Status SocketOptions::SetReusePort(bool on) {
  return SetInt(fd_, SOL_SOCKET, SO_REUSEPORT, on, "SO_REUSEPORT");
}
absl::Status SocketOptions::SetTtl(int ttl) {
  if (Family(fd_) == AF_INET6) {
    return SetInt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, ttl,
                  "IPV6_UNICAST_HOPS");
  }
  return SetInt(fd_, IPPROTO_IP, IP_TTL, ttl, "IP_TTL");
}
absl::StatusOr<int> SocketOptions::Ttl() const {
  if (Family(fd_) == AF_INET6) {
    return GetInt(fd_, IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS");
  }
  return GetInt(fd_, IPPROTO_IP, IP_TTL, "IP_TTL");
}
absl::Status SocketOptions::SetSendBufferSize(int bytes) {
  return SetInt(fd_, SOL_SOCKET, SO_SNDBUF, bytes, "SO_SNDBUF");
}
absl::StatusOr<int> SocketOptions::SendBufferSize() const {
  return GetInt(fd_, SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF");
}
absl::Status SocketOptions::SetRecvBufferSize(int bytes) {
  return SetInt(fd_, SOL_SOCKET, SO_RCVBUF, bytes, "SO_RCVBUF");
}
absl::StatusOr<int> SocketOptions::RecvBufferSize() const {
  return GetInt(fd_, SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF");
}
absl::Status SocketOptions::SetLinger(
    std::optional<std::chrono::seconds> linger) {
  ::linger l{};
  l.l_onoff = linger.has_value() ? 1 : 0;
  l.l_linger = linger.has_value() ? static_cast<int>(linger->count()) : 0;
  if (::setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof(l)) != 0) {
    return Errno("SO_LINGER");
  }
  return absl::OkStatus();
}

// --- StreamIo ---

namespace internal {

Driver::BufOp StreamIo::Read(BufSlice buf, Deadline deadline) const {
  return Driver::CurrentOrDie().Recv(fd_, std::move(buf), 0, deadline);
}

Driver::BufOp StreamIo::Write(BufSlice buf, Deadline deadline) const {
  const size_t threshold = ZeroCopyThreshold();
  if (threshold != 0 && buf.size() >= threshold) {
    return Driver::CurrentOrDie().SendZc(fd_, std::move(buf), deadline);
  }
  return Driver::CurrentOrDie().Send(fd_, std::move(buf), 0, deadline);
}

runtime::Task<BufStatus> StreamIo::ReadExact(int fd, FixedBuf buf, size_t n,
                                             Deadline deadline) {
  const StreamIo io(fd);
  if (n > buf.capacity()) {
    co_return BufStatus(
        absl::InvalidArgumentError(absl::StrCat(
            "ReadExact: ", n, " bytes into a buffer of ", buf.capacity())),
        std::move(buf));
  }
  while (buf.size() < n) {
    const size_t have = buf.size();
    BufResult r = co_await io.Read(BufSlice(std::move(buf), have, n), deadline);
    buf = std::move(r.buf);
    if (!r.res.ok())
      co_return BufStatus(SocketError(r.res, "read"), std::move(buf));
    if (r.res.value() == 0) {
      buf.set_size(have);
      co_return BufStatus(
          absl::OutOfRangeError(
              absl::StrCat("end of stream after ", have, " of ", n, " bytes")),
          std::move(buf));
    }
  }
  co_return BufStatus(absl::OkStatus(), std::move(buf));
}

runtime::Task<BufStatus> StreamIo::WriteAll(int fd, FixedBuf buf,
                                            Deadline deadline) {
  const StreamIo io(fd);
  size_t done = 0;
  const size_t n = buf.size();
  while (done < n) {
    BufResult r =
        co_await io.Write(BufSlice(std::move(buf), done, n), deadline);
    buf = std::move(r.buf);
    if (!r.res.ok()) {
      co_return BufStatus(SocketError(r.res, "write"), std::move(buf));
    }
    done += static_cast<size_t>(r.res.value());
  }
  co_return BufStatus(absl::OkStatus(), std::move(buf));
}

}  // namespace internal

// --- TcpStream ---

runtime::Task<absl::StatusOr<TcpStream>> TcpStream::Connect(SocketAddress addr,
                                                            Deadline timeout) {
  const int fd =
      ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) co_return Errno("socket");
  OwnedFd owned(fd);
  Driver::XOp op =
      Driver::CurrentOrDie().Connect(fd, addr.raw(), addr.length());
  if (timeout) op.Deadline(*timeout);
  Driver::XResult r = co_await op;
  if (!r.res.ok()) {
    co_return SocketError(r.res, absl::StrCat("connect to ", addr.ToString()));
  }
  co_return TcpStream(std::move(owned));
}

absl::StatusOr<TcpStream> TcpStream::FromFd(int fd) {
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0) {
    return Errno("fcntl(O_NONBLOCK)");
  }
  return TcpStream(OwnedFd(fd));
}

absl::Status TcpStream::Shutdown(int how) const {
  if (::shutdown(fd(), how) != 0) return Errno("shutdown");
  return absl::OkStatus();
}

absl::Status TcpWriteHalf::ShutdownWrite() const {
  if (::shutdown(fd(), SHUT_WR) != 0) return Errno("shutdown");
  return absl::OkStatus();
}

absl::StatusOr<SocketAddress> TcpStream::LocalAddress() const {
  return Name(fd(), false);
}
absl::StatusOr<SocketAddress> TcpStream::PeerAddress() const {
  return Name(fd(), true);
}

std::pair<TcpReadHalf, TcpWriteHalf> TcpStream::Split() && {
  return {TcpReadHalf(fd_), TcpWriteHalf(std::move(fd_))};
}

// --- TcpListener ---

absl::StatusOr<TcpListener> TcpListener::Bind(const SocketAddress& addr,
                                              const Options& options) {
  const int fd =
      ::socket(addr.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return Errno("socket");
  OwnedFd owned(fd);
  SocketOptions o(fd);
  if (options.reuse_address) {
    if (absl::Status s = o.SetReuseAddress(true); !s.ok()) return s;
  }
  if (options.reuse_port) {
    if (absl::Status s = o.SetReusePort(true); !s.ok()) return s;
  }
  if (addr.is_v6()) {
    if (absl::Status s = SetInt(fd, IPPROTO_IPV6, IPV6_V6ONLY, options.v6_only,
                                "IPV6_V6ONLY");
        !s.ok()) {
      return s;
    }
  }
  if (::bind(fd, addr.raw(), addr.length()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", addr.ToString()));
  }
  if (::listen(fd, options.backlog) != 0) return Errno("listen");
  return TcpListener(std::move(owned));
}

runtime::Task<absl::StatusOr<std::pair<TcpStream, SocketAddress>>>
TcpListener::Accept(Deadline deadline) const {
  Driver::XOp op = Driver::CurrentOrDie().Accept(fd_.get());
  if (deadline) op.Deadline(*deadline);
  Driver::XResult r = co_await op;
  if (!r.res.ok()) co_return SocketError(r.res, "accept");
  co_return std::make_pair(
      TcpStream(OwnedFd(r.res.value())),
      SocketAddress::FromRaw(r.extra->addr, r.extra->addrlen));
}

runtime::Task<absl::StatusOr<TcpStream>> AcceptStream::Next() {
  Driver& d = Driver::CurrentOrDie();
  if (!d.SupportsMultishot()) {
    Driver::XOp op = d.Accept(fd_);
    Driver::XResult r = co_await op;
    if (!r.res.ok()) co_return SocketError(r.res, "accept");
    co_return TcpStream(OwnedFd(r.res.value()));
  }
  for (;;) {
    if (!ms_.active()) ms_ = d.AcceptMultishot(fd_);
    std::optional<Driver::Shot> shot = co_await ms_.Next();
    if (!shot.has_value()) {
      if (runtime::IsCancelled()) co_return runtime::CancelledStatus();
      ms_ = Driver::Multishot();  // the kernel ended it: re-arm
      continue;
    }
    if (!shot->res.ok()) {
      if (shot->res.error() == ECANCELED && runtime::IsCancelled()) {
        co_return runtime::CancelledStatus();
      }
      co_return SocketError(shot->res, "accept");
    }
    co_return TcpStream(OwnedFd(shot->res.value()));
  }
}

runtime::Task<BufResult> RecvStream::Next() {
  Driver& d = Driver::CurrentOrDie();
  if (ended_) co_return BufResult(Result(0), FixedBuf());
  if (!d.SupportsMultishot()) {
    BufResult r = co_await d.ReadSelect(fd_, *ring_);
    if (r.res.ok() && r.res.value() == 0) ended_ = true;
    co_return r;
  }
  for (;;) {
    if (!ms_.active()) {
      if (ring_->available() == 0) {
        co_return BufResult(Result(-ENOBUFS), FixedBuf());
      }
      ms_ = d.RecvMultishot(fd_, *ring_);
    }
    std::optional<Driver::Shot> shot = co_await ms_.Next();
    if (!shot.has_value()) {
      if (runtime::IsCancelled()) {
        co_return BufResult(Result(-ECANCELED), FixedBuf());
      }
      ms_ = Driver::Multishot();  // ended (ring ran dry, CQ full): re-arm
      continue;
    }
    if (shot->res.error() == ENOBUFS) continue;  // re-armed above
    if (shot->res.ok() && shot->res.value() == 0) {
      ended_ = true;
      ms_ = Driver::Multishot();
    }
    co_return BufResult(shot->res, std::move(shot->buf));
  }
}

absl::StatusOr<SocketAddress> TcpListener::LocalAddress() const {
  return Name(fd_.get(), false);
}

}  // namespace veloq::io
