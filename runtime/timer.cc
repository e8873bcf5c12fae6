#include "runtime/timer.h"

#include "runtime/shard.h"

namespace veloq::runtime {

TimePoint Now() { return Shard::Current()->Now(); }

internal::SleepAwaiter Sleep(Duration d) {
  return internal::SleepAwaiter(Now() + d);
}

namespace internal {

SleepAwaiter::~SleepAwaiter() {
  if (entry_.queued()) Shard::Current()->timers().Remove(&entry_);
}

bool SleepAwaiter::await_ready() const {
  return !IsCancelled() && entry_.deadline <= Now();
}

bool SleepAwaiter::await_suspend(std::coroutine_handle<> h) {
  if (!Arm()) {
    cancelled_ = true;
    return false;
  }
  waiter_ = Waiter{h, CurrentTask()};
  entry_.fire = &SleepAwaiter::Fire;
  entry_.context = this;
  Shard::Current()->timers().Insert(&entry_);
  return true;
}

absl::Status SleepAwaiter::await_resume() {
  Disarm();
  return cancelled_ ? CancelledStatus() : absl::OkStatus();
}

void SleepAwaiter::Fire(TimerEntry* e) {
  SleepAwaiter* self = static_cast<SleepAwaiter*>(e->context);
  self->Disarm();
  ScheduleLocal(self->waiter_);
}

void SleepAwaiter::Cancelled() {
  cancelled_ = true;
  Shard::Current()->timers().Remove(&entry_);
  ScheduleLocal(waiter_);
}

}  // namespace internal

PeriodicTimer::PeriodicTimer(Duration period)
    : period_(period), next_(Now() + period) {}

internal::SleepAwaiter PeriodicTimer::Tick() {
  const TimePoint deadline = next_;
  const TimePoint now = Now();
  next_ += period_;
  if (next_ <= now) {
    const auto behind = (now - next_) / period_ + 1;
    missed_ += static_cast<uint64_t>(behind);
    next_ += behind * period_;
  }
  return internal::SleepAwaiter(deadline);
}

}  // namespace veloq::runtime
