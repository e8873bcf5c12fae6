#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace veloq::runtime {

using Duration = std::chrono::nanoseconds;
using TimePoint = std::chrono::steady_clock::time_point;

// Clock is where a runtime reads time. The real clock is steady_clock. The
// virtual clock only moves when told to, or when a shard has nothing to run
// but timers: then it jumps to the earliest deadline instead of sleeping, so
// timer tests run instantly and deterministically (see Runtime::Builder).
//
// Thread safety: thread-safe.
class Clock {
 public:
  static Clock& Real();

  explicit Clock(bool is_virtual) : virtual_(is_virtual) {}

  TimePoint Now() const {
    if (!virtual_) return std::chrono::steady_clock::now();
    return TimePoint(Duration(now_ns_.load(std::memory_order_acquire)));
  }
  bool is_virtual() const { return virtual_; }

  // Virtual clock only: moves time forward to `t` (never backwards).
  void AdvanceTo(TimePoint t) {
    const int64_t target = t.time_since_epoch().count();
    int64_t cur = now_ns_.load(std::memory_order_relaxed);
    while (cur < target && !now_ns_.compare_exchange_weak(
                               cur, target, std::memory_order_acq_rel)) {
    }
  }
  void Advance(Duration d) { AdvanceTo(Now() + d); }

 private:
  const bool virtual_;
  // Virtual time starts at an arbitrary non-zero point.
  std::atomic<int64_t> now_ns_{int64_t{1} << 40};
};

// The time from now (steady clock) until `deadline`, as a timespec-like
// struct {tv_sec, tv_nsec} (timespec, __kernel_timespec); zero if past.
template <typename Timespec>
Timespec TimespecUntil(TimePoint deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  const int64_t ns = left.count() > 0 ? left.count() : 0;
  Timespec ts{};
  ts.tv_sec = ns / 1'000'000'000;
  ts.tv_nsec = ns % 1'000'000'000;
  return ts;
}

}  // namespace veloq::runtime
