#pragma once

#include <utility>

#include "absl/status/statusor.h"
#include "io/buffer/fixed_buf.h"
#include "io/driver.h"
#include "io/net/socket_address.h"
#include "io/net/tcp.h"
#include "io/owned_fd.h"
#include "runtime/task.h"

namespace veloq::io {

// What RecvFrom yields: the datagram (in buf, size() = its length), who
// sent it, or an error; the buffer comes back either way.
class Datagram {
 public:
  Datagram(Result r, FixedBuf b, SocketAddress from)
      : res(r), buf(std::move(b)), from(from) {}
  Datagram(Datagram&&) noexcept = default;
  Datagram& operator=(Datagram&&) noexcept = default;
  Result res;
  FixedBuf buf;
  SocketAddress from;
};

// UdpSocket is a datagram socket on the calling shard's driver (IPv4 or
// IPv6). SendTo / RecvFrom take a FixedBuf by value and give it back; a
// connected socket (Connect) also has Send / Recv. Every op takes an
// optional deadline (-ETIMEDOUT).
//
// Affinity: as TcpStream.
class UdpSocket {
 public:
  struct Options {
    bool reuse_address = false;
    bool reuse_port = false;
  };
  static absl::StatusOr<UdpSocket> Bind(const SocketAddress& addr,
                                        const Options& options);
  static absl::StatusOr<UdpSocket> Bind(const SocketAddress& addr) {
    return Bind(addr, Options());
  }

  UdpSocket(UdpSocket&&) noexcept = default;
  UdpSocket& operator=(UdpSocket&&) noexcept = default;

  // Sends [0, size()) as one datagram to `to`: bytes or -errno.
  runtime::Task<BufResult> SendTo(FixedBuf buf, SocketAddress to,
                                  Deadline deadline = {}) const;
  // The next datagram (truncated to the buffer's capacity).
  runtime::Task<Datagram> RecvFrom(FixedBuf buf, Deadline deadline = {}) const;

  // Sets the default peer: Send / Recv use it, and datagrams from others
  // are dropped by the kernel.
  absl::Status Connect(const SocketAddress& peer);
  Driver::BufOp Send(FixedBuf buf, Deadline d = {}) const;
  Driver::BufOp Recv(FixedBuf buf, Deadline d = {}) const;

  absl::StatusOr<SocketAddress> LocalAddress() const;
  SocketOptions options() const { return SocketOptions(fd_.get()); }
  // SO_BROADCAST.
  absl::Status SetBroadcast(bool on);
  int fd() const { return fd_.get(); }

 private:
  explicit UdpSocket(OwnedFd fd) : fd_(std::move(fd)) {}
  OwnedFd fd_;
};

}  // namespace veloq::io
