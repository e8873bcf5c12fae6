#pragma once

#include <coroutine>

#include "absl/status/status.h"
#include "runtime/cancellation.h"
#include "runtime/clock.h"
#include "runtime/internal/task_header.h"
#include "runtime/internal/timer_queue.h"

namespace veloq::runtime {

// The current shard's clock (virtual if the runtime was built with one).
// REQUIRES: on a shard.
TimePoint Now();

namespace internal {

// Awaiter shared by Sleep, SleepUntil and PeriodicTimer::Tick: a timer entry
// in the shard's queue plus a cancellation hook. Destroying it while
// suspended (shutdown) unlinks the timer.
class SleepAwaiter : private CancellationHook {
 public:
  explicit SleepAwaiter(TimePoint deadline) { entry_.deadline = deadline; }
  ~SleepAwaiter();
  SleepAwaiter(const SleepAwaiter&) = delete;
  SleepAwaiter& operator=(const SleepAwaiter&) = delete;

  bool await_ready() const;
  bool await_suspend(std::coroutine_handle<> h);
  absl::Status await_resume();

 private:
  static void Fire(TimerEntry* e);
  void Cancelled() override;

  TimerEntry entry_;
  Waiter waiter_;
  bool cancelled_ = false;
};

}  // namespace internal

// Suspends the current task until `deadline` on the shard's clock. Returns
// OK, or CancelledError if the task is cancelled first (at once if it
// already was). REQUIRES: on a shard.
inline internal::SleepAwaiter SleepUntil(TimePoint deadline) {
  return internal::SleepAwaiter(deadline);
}

// Sleep(d) is SleepUntil(Now() + d).
internal::SleepAwaiter Sleep(Duration d);

// PeriodicTimer ticks every `period` from its creation: the n-th Tick()
// completes at start + n * period. A tick that is late (the shard was busy)
// completes at once, and missed ticks are skipped rather than bunched: the
// next deadline is the first multiple of `period` after now.
//
// Thread safety: shard-local.
class PeriodicTimer {
 public:
  explicit PeriodicTimer(Duration period);

  // Completes at the next tick; OK or CancelledError.
  internal::SleepAwaiter Tick();

  Duration period() const { return period_; }
  // Ticks skipped so far because the shard was late.
  uint64_t missed() const { return missed_; }

 private:
  const Duration period_;
  TimePoint next_;
  uint64_t missed_ = 0;
};

}  // namespace veloq::runtime
