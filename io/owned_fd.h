#pragma once

#include <utility>

namespace veloq::io {

// OwnedFd owns a file descriptor and closes it when destroyed, without
// blocking the shard: on a shard with a driver the close is an I/O op run
// by a detached task; elsewhere (or while the runtime stops) close(2).
// Move-only. Thread safety: a value.
class OwnedFd {
 public:
  OwnedFd() = default;
  explicit OwnedFd(int fd) : fd_(fd) {}
  OwnedFd(OwnedFd&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}
  OwnedFd& operator=(OwnedFd&& o) noexcept {
    if (this != &o) {
      Reset();
      fd_ = std::exchange(o.fd_, -1);
    }
    return *this;
  }
  ~OwnedFd() { Reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership.
  int Release() { return std::exchange(fd_, -1); }
  // Closes now (in the background on a shard).
  void Reset();

 private:
  int fd_ = -1;
};

}  // namespace veloq::io
