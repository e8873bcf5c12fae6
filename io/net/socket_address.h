#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace veloq::io {

// SocketAddress is an IPv4 or IPv6 address and port (a sockaddr_storage
// that knows its length). A value; any thread.
class SocketAddress {
 public:
  SocketAddress() = default;
  // "127.0.0.1:8080", "[::1]:8080", "0.0.0.0:0"; InvalidArgument otherwise.
  static absl::StatusOr<SocketAddress> Parse(absl::string_view text);
  // `host` is a numeric IPv4 or IPv6 address (no name lookup).
  static absl::StatusOr<SocketAddress> FromHostPort(absl::string_view host,
                                                    uint16_t port);
  static SocketAddress Loopback4(uint16_t port);
  static SocketAddress Loopback6(uint16_t port);
  static SocketAddress Any4(uint16_t port);
  static SocketAddress Any6(uint16_t port);
  // From what the kernel filled in (accept, recvfrom, getsockname).
  static SocketAddress FromRaw(const sockaddr_storage& s, socklen_t len);

  int family() const { return storage_.ss_family; }
  bool is_v6() const { return family() == AF_INET6; }
  uint16_t port() const;
  const sockaddr* raw() const {
    return reinterpret_cast<const sockaddr*>(&storage_);
  }
  socklen_t length() const { return length_; }
  // "127.0.0.1:8080" / "[::1]:8080".
  std::string ToString() const;

  friend bool operator==(const SocketAddress& a, const SocketAddress& b) {
    return a.ToString() == b.ToString();
  }

 private:
  sockaddr_storage storage_{};
  socklen_t length_ = 0;
};

}  // namespace veloq::io
