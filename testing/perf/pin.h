// Pinning benchmark threads to CPUs, for the cases that measure two pinned
// threads against each other (the physical limits of mesh_benchmark and
// actor_benchmark).
#pragma once

#include <pthread.h>
#include <sched.h>

#include <thread>

namespace veloq::testing::perf {

// Pins the calling thread to CPU `cpu` (modulo the CPU count).
inline void Pin(int cpu) {
  const unsigned n = std::thread::hardware_concurrency();
  if (n == 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu % n, &set);
  pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

// Pins the calling thread for one scope and restores its affinity after,
// so that runtimes built by later benchmark cases still see every CPU.
class ScopedPin {
 public:
  explicit ScopedPin(int cpu) {
    pthread_getaffinity_np(pthread_self(), sizeof(saved_), &saved_);
    Pin(cpu);
  }
  ~ScopedPin() {
    pthread_setaffinity_np(pthread_self(), sizeof(saved_), &saved_);
  }
  ScopedPin(const ScopedPin&) = delete;
  ScopedPin& operator=(const ScopedPin&) = delete;

 private:
  cpu_set_t saved_;
};

}  // namespace veloq::testing::perf
