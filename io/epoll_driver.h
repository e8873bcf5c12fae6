#pragma once

#include <sys/epoll.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "io/driver.h"
#include "runtime/internal/timer_queue.h"

namespace veloq::io {

// EpollDriver is the portable backend of Driver, for kernels or sandboxes
// without io_uring (seccomp in containers, kernel.io_uring_disabled, old
// kernels). It emulates completion on readiness:
//
// - Reads and writes on pipes, sockets and other pollable fds wait for
//   EPOLLIN/EPOLLOUT (level-triggered, FIFO per fd and direction), then run
//   the syscall on the shard and complete with its result.
// - Regular files are not pollable (epoll_ctl says EPERM): their reads and
//   writes run on the runtime's blocking pool and complete back on the
//   shard. Those cannot be cancelled or timed out once started.
// - Timeouts and per-op deadlines live in the driver's own timer heap.
// - Park() is epoll_pwait2 with the earliest deadline; Wake() writes an
//   eventfd in the epoll set.
//
// Thread safety: as Driver.
class EpollDriver final : public Driver {
 public:
  static absl::StatusOr<std::unique_ptr<EpollDriver>> Create();
  ~EpollDriver() override;

  const char* backend_name() const override { return "epoll"; }
  std::string Describe() const override;

  // runtime::Parker
  void Park(std::optional<runtime::TimePoint> deadline) override;
  size_t Poll(size_t budget) override;
  void Wake() override;
  void Shutdown() override;

 private:
  EpollDriver() = default;

  void StartOp(Handle h, internal::OpSlot& slot) override;
  void CancelOp(Handle h, internal::OpSlot& slot) override;

  struct FdWaiters {
    std::deque<Handle> readers;
    std::deque<Handle> writers;
    uint32_t events = 0;  // what epoll watches for this fd now
  };

  // Returns false if `fd` cannot be polled (a regular file: EPERM).
  bool HasWaiters(int fd, bool write) const;
  bool Watch(int fd, Handle h, bool write, int* error);
  void UpdateInterest(int fd, FdWaiters& w);
  void Unwatch(Handle h, const internal::OpSlot& slot);
  void OnReady(int fd, uint32_t events);
  // Runs the read/write of `h` now; false if it would block (EAGAIN).
  bool TryIo(Handle h, internal::OpSlot& slot);
  void RunOnBlockingPool(Handle h, internal::OpSlot& slot);
  size_t Dispatch(int n);
  static void OnTimer(runtime::internal::TimerEntry* e);

  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  absl::flat_hash_map<int, FdWaiters> fds_;
  runtime::internal::TimerQueue timers_;
  // Ops running on the blocking pool (they write into their slot's buffer).
  std::atomic<uint32_t> pool_ops_{0};
  static constexpr int kMaxEvents = 64;
  epoll_event* events_ = nullptr;
};

}  // namespace veloq::io
