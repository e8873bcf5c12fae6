#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "io/buf_ring.h"
#include "io/buffer/fixed_buf.h"
#include "io/driver.h"
#include "io/net/socket_address.h"
#include "io/owned_fd.h"
#include "io/result.h"
#include "runtime/clock.h"
#include "runtime/task.h"

namespace veloq::io {

// A per-op deadline; nullopt: none.
using Deadline = std::optional<runtime::Duration>;

// What the multi-op helpers (ReadExact, WriteAll) yield: a Status, and the
// buffer back whatever happened.
class BufStatus {
 public:
  BufStatus(absl::Status s, FixedBuf b)
      : status(std::move(s)), buf(std::move(b)) {}
  BufStatus(BufStatus&&) noexcept = default;
  BufStatus& operator=(BufStatus&&) noexcept = default;
  absl::Status status;
  FixedBuf buf;
};

// Writes of at least this many bytes go out with zero-copy send
// (IORING_OP_SEND_ZC) on io_uring; smaller ones are copied, which is
// cheaper for them. Process-wide; 0 (the default) turns zero copy off:
// over loopback, where the kernel copies anyway, SEND_ZC was slower at
// every size net_benchmark measured (4 KB to 256 KB; docs/io.md). Turn it
// on for large sends through a real NIC, after measuring there.
void SetZeroCopyThreshold(size_t bytes);
size_t ZeroCopyThreshold();

// The Status for a failed socket op: ETIMEDOUT from a deadline is
// DeadlineExceeded; others as absl::ErrnoToStatus, with `what` in front.
absl::Status SocketError(Result r, absl::string_view what);

// Socket options shared by TCP and UDP sockets (setsockopt; immediate).
class SocketOptions {
 public:
  explicit SocketOptions(int fd) : fd_(fd) {}
  absl::Status SetNoDelay(bool on);  // TCP_NODELAY
  absl::StatusOr<bool> NoDelay() const;
  // SO_KEEPALIVE, and (when given) the idle time before the first probe.
  absl::Status SetKeepAlive(bool on,
                            std::optional<std::chrono::seconds> idle = {});
  absl::StatusOr<bool> KeepAlive() const;
  absl::Status SetReuseAddress(bool on);  // SO_REUSEADDR
  absl::Status SetReusePort(bool on);     // SO_REUSEPORT
  absl::Status SetTtl(int ttl);           // IP_TTL / IPV6_UNICAST_HOPS
  absl::StatusOr<int> Ttl() const;
  absl::Status SetSendBufferSize(int bytes);  // SO_SNDBUF
  absl::StatusOr<int> SendBufferSize() const;
  absl::Status SetRecvBufferSize(int bytes);  // SO_RCVBUF
  absl::StatusOr<int> RecvBufferSize() const;
  // SO_LINGER: nullopt turns it off; 0 s makes close reset the connection.
  absl::Status SetLinger(std::optional<std::chrono::seconds> linger);

 private:
  int fd_;
};

namespace internal {

// The I/O shared by TcpStream and its halves (fd not owned).
class StreamIo {
 public:
  explicit StreamIo(int fd) : fd_(fd) {}
  int fd() const { return fd_; }

  // One recv: bytes (0 at end of stream) or -errno; the buffer comes back
  // with size() = the end of what was read. A FixedBuf reads into its whole
  // capacity, a BufSlice into its range.
  Driver::BufOp Read(FixedBuf buf, Deadline deadline = {}) const {
    return Read(ReadSlice(std::move(buf)), deadline);
  }
  Driver::BufOp Read(BufSlice buf, Deadline deadline = {}) const;
  // One send (may be short): bytes or -errno. A FixedBuf sends
  // [0, size()), a BufSlice its range.
  Driver::BufOp Write(FixedBuf buf, Deadline deadline = {}) const {
    return Write(WriteSlice(std::move(buf)), deadline);
  }
  Driver::BufOp Write(BufSlice buf, Deadline deadline = {}) const;
  // Reads until buf.size() == n (REQUIRES: n <= capacity). End of stream
  // first: OutOfRange("end of stream after k of n bytes").
  // (Static: a coroutine must not keep a pointer to this temporary.)
  static runtime::Task<BufStatus> ReadExact(int fd, FixedBuf buf, size_t n,
                                            Deadline deadline = {});
  // Sends all of [0, size()), looping over short writes.
  static runtime::Task<BufStatus> WriteAll(int fd, FixedBuf buf,
                                           Deadline deadline = {});

 private:
  int fd_;
};

}  // namespace internal

class TcpReadHalf;
class TcpWriteHalf;

// RecvStream receives into buffers the kernel picks from a BufRing, so an
// idle connection holds no buffer: on io_uring one multishot receive
// (re-armed when the kernel ends it), on epoll one selecting read per
// call. Next() yields a BufResult: bytes (the data in buf, a ring buffer
// that goes back to the ring when dropped), 0 at end of stream, -ENOBUFS
// while every ring buffer is held by the application, or -errno.
// One task at a time; the socket and the ring must outlive it.
class RecvStream {
 public:
  RecvStream(int fd, BufRing& ring) : fd_(fd), ring_(&ring) {}
  runtime::Task<BufResult> Next();

 private:
  int fd_;
  BufRing* ring_;
  Driver::Multishot ms_;
  bool ended_ = false;  // end of stream seen
};

// TcpStream is a connected TCP socket on the calling shard's driver.
//
// Reads and writes take a FixedBuf (or a BufSlice) by value and give it
// back with the result (Proactor style: the kernel owns the buffer while
// the op is in flight). Every op takes an optional deadline; a deadline
// that passes yields -ETIMEDOUT (DeadlineExceeded from the helpers).
// Errors: the peer resetting the connection is -ECONNRESET; writing after
// the peer closed is -EPIPE (never SIGPIPE); end of stream is a read of 0.
//
// One reader and one writer may run at once (two tasks); Split() makes
// that explicit. Closing is in the background (OwnedFd).
//
// Affinity: the shard whose driver runs its ops (the calling shard); a
// stream may move to another shard between ops.
class TcpStream {
 public:
  // Connects to `addr` (IPv4 or IPv6) within `timeout` (none: the
  // kernel's). Refused: Unavailable; timed out: DeadlineExceeded.
  static runtime::Task<absl::StatusOr<TcpStream>> Connect(
      SocketAddress addr, Deadline timeout = {});
  // Adopts a connected socket (made nonblocking here).
  static absl::StatusOr<TcpStream> FromFd(int fd);

  TcpStream(TcpStream&&) noexcept = default;
  TcpStream& operator=(TcpStream&&) noexcept = default;

  Driver::BufOp Read(FixedBuf buf, Deadline d = {}) const {
    return io().Read(std::move(buf), d);
  }
  Driver::BufOp Read(BufSlice buf, Deadline d = {}) const {
    return io().Read(std::move(buf), d);
  }
  Driver::BufOp Write(FixedBuf buf, Deadline d = {}) const {
    return io().Write(std::move(buf), d);
  }
  Driver::BufOp Write(BufSlice buf, Deadline d = {}) const {
    return io().Write(std::move(buf), d);
  }
  runtime::Task<BufStatus> ReadExact(FixedBuf buf, size_t n,
                                     Deadline d = {}) const {
    return internal::StreamIo::ReadExact(fd(), std::move(buf), n, d);
  }
  runtime::Task<BufStatus> WriteAll(FixedBuf buf, Deadline d = {}) const {
    return internal::StreamIo::WriteAll(fd(), std::move(buf), d);
  }
  // shutdown(2): SHUT_RD, SHUT_WR or SHUT_RDWR.
  absl::Status Shutdown(int how) const;

  absl::StatusOr<SocketAddress> LocalAddress() const;
  absl::StatusOr<SocketAddress> PeerAddress() const;
  SocketOptions options() const { return SocketOptions(fd()); }
  int fd() const { return fd_->get(); }
  // Gives up the socket (e.g. to hand it to another shard); the stream is
  // left empty. REQUIRES: not split.
  int ReleaseFd() { return fd_->Release(); }

  // Receiving through a provided-buffer ring (see RecvStream).
  RecvStream Receiver(BufRing& ring) const { return RecvStream(fd(), ring); }

  // Two handles on the one socket, for a reading task and a writing task;
  // the socket closes when both are gone.
  std::pair<TcpReadHalf, TcpWriteHalf> Split() &&;

 private:
  friend class TcpListener;
  friend class AcceptStream;
  explicit TcpStream(OwnedFd fd)
      : fd_(std::make_shared<OwnedFd>(std::move(fd))) {}
  internal::StreamIo io() const { return internal::StreamIo(fd()); }
  std::shared_ptr<OwnedFd> fd_;
};

class TcpReadHalf {
 public:
  Driver::BufOp Read(FixedBuf buf, Deadline d = {}) const {
    return internal::StreamIo(fd_->get()).Read(std::move(buf), d);
  }
  Driver::BufOp Read(BufSlice buf, Deadline d = {}) const {
    return internal::StreamIo(fd_->get()).Read(std::move(buf), d);
  }
  runtime::Task<BufStatus> ReadExact(FixedBuf buf, size_t n,
                                     Deadline d = {}) const {
    return internal::StreamIo::ReadExact(fd_->get(), std::move(buf), n, d);
  }
  int fd() const { return fd_->get(); }

 private:
  friend class TcpStream;
  explicit TcpReadHalf(std::shared_ptr<OwnedFd> fd) : fd_(std::move(fd)) {}
  std::shared_ptr<OwnedFd> fd_;
};

class TcpWriteHalf {
 public:
  Driver::BufOp Write(FixedBuf buf, Deadline d = {}) const {
    return internal::StreamIo(fd_->get()).Write(std::move(buf), d);
  }
  Driver::BufOp Write(BufSlice buf, Deadline d = {}) const {
    return internal::StreamIo(fd_->get()).Write(std::move(buf), d);
  }
  runtime::Task<BufStatus> WriteAll(FixedBuf buf, Deadline d = {}) const {
    return internal::StreamIo::WriteAll(fd_->get(), std::move(buf), d);
  }
  // shutdown(SHUT_WR): the peer reads end of stream.
  absl::Status ShutdownWrite() const;
  int fd() const { return fd_->get(); }

 private:
  friend class TcpStream;
  explicit TcpWriteHalf(std::shared_ptr<OwnedFd> fd) : fd_(std::move(fd)) {}
  std::shared_ptr<OwnedFd> fd_;
};

// AcceptStream yields connection after connection from a listener: one
// multishot accept on io_uring (re-armed whenever the kernel ends it), one
// accept per call on epoll. One task at a time; the listener must outlive
// it.
class AcceptStream {
 public:
  explicit AcceptStream(int fd) : fd_(fd) {}
  runtime::Task<absl::StatusOr<TcpStream>> Next();

 private:
  int fd_;
  Driver::Multishot ms_;
};

// TcpListener is a listening TCP socket on the calling shard's driver.
//
// For connections spread over shards, either bind one listener per shard
// with reuse_port (the kernel balances), or accept on one shard and hand
// each connection to another (io/net/server.h does both).
class TcpListener {
 public:
  struct Options {
    int backlog = 1024;
    bool reuse_address = true;  // SO_REUSEADDR
    bool reuse_port = false;    // SO_REUSEPORT: one listener per shard
    bool v6_only = false;       // IPV6_V6ONLY for [::] listeners
  };
  // socket + bind + listen (immediate). Port 0 picks a free port (see
  // LocalAddress).
  static absl::StatusOr<TcpListener> Bind(const SocketAddress& addr,
                                          const Options& options);
  static absl::StatusOr<TcpListener> Bind(const SocketAddress& addr) {
    return Bind(addr, Options());
  }

  TcpListener(TcpListener&&) noexcept = default;
  TcpListener& operator=(TcpListener&&) noexcept = default;

  // The next connection, and its peer's address; never blocks the shard.
  runtime::Task<absl::StatusOr<std::pair<TcpStream, SocketAddress>>> Accept(
      Deadline deadline = {}) const;
  // Connections one after another (multishot on io_uring).
  AcceptStream Incoming() const { return AcceptStream(fd_.get()); }
  absl::StatusOr<SocketAddress> LocalAddress() const;
  SocketOptions options() const { return SocketOptions(fd_.get()); }
  int fd() const { return fd_.get(); }

 private:
  explicit TcpListener(OwnedFd fd) : fd_(std::move(fd)) {}
  OwnedFd fd_;
};

}  // namespace veloq::io
