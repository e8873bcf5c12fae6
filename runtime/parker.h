#pragma once

#include <cstddef>
#include <optional>

#include "absl/status/statusor.h"
#include "mesh/mesh.h"
#include "runtime/clock.h"

namespace veloq::runtime {

// Parker is how a shard sleeps when it has nothing to run, and where it
// collects I/O completions. The I/O driver (io/) implements it: it blocks in
// io_uring_enter / epoll_wait and turns completions into scheduled tasks.
// Until a driver is installed, EventfdParker blocks in poll(2) on an eventfd.
//
// Thread safety: Park and Poll only on the owning shard; Wake (from
// mesh::Waker) from any thread.
class Parker : public mesh::Waker {
 public:
  // Blocks until Wake(), an I/O completion, or `deadline` (none: no limit).
  // Spurious returns are allowed.
  virtual void Park(std::optional<TimePoint> deadline) = 0;

  // Processes up to `budget` ready completions without blocking; returns how
  // many. The shard calls it once per tick.
  virtual size_t Poll(size_t budget) { return 0; }

  // True when nothing but Wake() or the deadline could end a Park now: no
  // I/O in flight, nothing waiting to be submitted. The shard then sleeps in
  // a futex wait on its mesh park word instead of in Park
  // (mesh::Mesh::ParkMode::kFutex), a cheaper sleep and wake. Shard-local.
  virtual bool WaitsOnlyForWake() const { return false; }

  // Operations started and not yet completed (0 for a Parker without I/O).
  // The simulation scheduler polls shards with I/O in flight. Shard-local.
  virtual size_t InFlight() const { return 0; }

  // Called once on the owning shard after its last task is gone and before
  // the shard's thread exits: the driver cancels and drains what is still
  // in flight (on its own thread, as SINGLE_ISSUER requires).
  virtual void Shutdown() {}
};

// A Parker over an eventfd: Wake writes it, Park polls it. Level-triggered:
// a Wake before Park makes the next Park return at once. It has no I/O, so a
// shard that uses it always parks on its futex word instead
// (WaitsOnlyForWake); Park is there for callers that park it directly.
class EventfdParker final : public Parker {
 public:
  static absl::StatusOr<std::unique_ptr<EventfdParker>> Create();
  ~EventfdParker() override;

  void Park(std::optional<TimePoint> deadline) override;
  void Wake() override;
  bool WaitsOnlyForWake() const override { return true; }

 private:
  explicit EventfdParker(int fd) : fd_(fd) {}
  const int fd_;
};

}  // namespace veloq::runtime
