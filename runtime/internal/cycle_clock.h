#pragma once

#include <cstdint>

#if defined(__x86_64__)
#include <x86intrin.h>
#endif

#include "runtime/clock.h"

namespace veloq::runtime::internal {

// A cheap monotonic counter for timing each task resume (the stall detector).
// On x86-64 it is the invariant TSC; elsewhere steady_clock nanoseconds.
// Thread-safe.
class CycleClock {
 public:
  static uint64_t Now() {
#if defined(__x86_64__)
    return __rdtsc();
#else
    return std::chrono::steady_clock::now().time_since_epoch().count();
#endif
  }
  // Counter ticks per nanosecond, measured once per process (~2 ms).
  static double TicksPerNanosecond();
  static uint64_t ToTicks(Duration d) {
    return static_cast<uint64_t>(static_cast<double>(d.count()) *
                                 TicksPerNanosecond());
  }
  static Duration ToDuration(uint64_t ticks) {
    return Duration(static_cast<int64_t>(static_cast<double>(ticks) /
                                         TicksPerNanosecond()));
  }
};

}  // namespace veloq::runtime::internal
