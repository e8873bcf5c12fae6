#include "io/net/udp.h"

#include <sys/socket.h>

#include <cerrno>

#include "absl/strings/str_cat.h"

namespace veloq::io {
absl::StatusOr<UdpSocket> UdpSocket::Bind(const SocketAddress& addr,
                                          const Options& options) {
  const int fd =
      ::socket(addr.family(), SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::ErrnoToStatus(errno, "socket");
  OwnedFd owned(fd);
  SocketOptions o(fd);
  if (options.reuse_address) {
    if (absl::Status s = o.SetReuseAddress(true); !s.ok()) return s;
  }
  if (options.reuse_port) {
    if (absl::Status s = o.SetReusePort(true); !s.ok()) return s;
  }
  if (::bind(fd, addr.raw(), addr.length()) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("bind ", addr.ToString()));
  }
  return UdpSocket(std::move(owned));
}

runtime::Task<BufResult> UdpSocket::SendTo(FixedBuf buf, SocketAddress to,
                                           Deadline deadline) const {
  Driver::XOp op = Driver::CurrentOrDie().SendTo(
      fd_.get(), WriteSlice(std::move(buf)), to.raw(), to.length());
  if (deadline) op.Deadline(*deadline);
  Driver::XResult r = co_await op;
  co_return BufResult(r.res, std::move(r.buf));
}

runtime::Task<Datagram> UdpSocket::RecvFrom(FixedBuf buf,
                                            Deadline deadline) const {
  Driver::XOp op =
      Driver::CurrentOrDie().RecvFrom(fd_.get(), ReadSlice(std::move(buf)));
  if (deadline) op.Deadline(*deadline);
  Driver::XResult r = co_await op;
  SocketAddress from;
  if (r.res.ok() && r.extra != nullptr) {
    from = SocketAddress::FromRaw(r.extra->addr, r.extra->addrlen);
  }
  co_return Datagram(r.res, std::move(r.buf), from);
}

absl::Status UdpSocket::Connect(const SocketAddress& peer) {
  if (::connect(fd_.get(), peer.raw(), peer.length()) != 0) {
    return absl::ErrnoToStatus(errno,
                               absl::StrCat("connect ", peer.ToString()));
  }
  return absl::OkStatus();
}

Driver::BufOp UdpSocket::Send(FixedBuf buf, Deadline d) const {
  return Driver::CurrentOrDie().Send(fd_.get(), WriteSlice(std::move(buf)), 0,
                                     d);
}

Driver::BufOp UdpSocket::Recv(FixedBuf buf, Deadline d) const {
  return Driver::CurrentOrDie().Recv(fd_.get(), ReadSlice(std::move(buf)), 0,
                                     d);
}

absl::StatusOr<SocketAddress> UdpSocket::LocalAddress() const {
  sockaddr_storage s{};
  socklen_t len = sizeof(s);
  if (::getsockname(fd_.get(), reinterpret_cast<sockaddr*>(&s), &len) != 0) {
    return absl::ErrnoToStatus(errno, "getsockname");
  }
  return SocketAddress::FromRaw(s, len);
}

absl::Status UdpSocket::SetBroadcast(bool on) {
  const int v = on ? 1 : 0;
  if (::setsockopt(fd_.get(), SOL_SOCKET, SO_BROADCAST, &v, sizeof(v)) != 0) {
    return absl::ErrnoToStatus(errno, "SO_BROADCAST");
  }
  return absl::OkStatus();
}

}  // namespace veloq::io
