#include "runtime/internal/cycle_clock.h"

namespace veloq::runtime::internal {
namespace {

double Calibrate() {
#if defined(__x86_64__)
  using std::chrono::steady_clock;
  const auto t0 = steady_clock::now();
  const uint64_t c0 = CycleClock::Now();
  auto t1 = t0;
  while (t1 - t0 < std::chrono::milliseconds(2)) t1 = steady_clock::now();
  const uint64_t c1 = CycleClock::Now();
  const double ns = static_cast<double>((t1 - t0).count());
  const double ticks = static_cast<double>(c1 - c0);
  return ticks > 0 ? ticks / ns : 1.0;
#else
  return 1.0;
#endif
}

}  // namespace

double CycleClock::TicksPerNanosecond() {
  static const double ratio = Calibrate();
  return ratio;
}

}  // namespace veloq::runtime::internal
