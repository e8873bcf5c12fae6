#pragma once

#include <sys/resource.h>

namespace veloq::testing {

// CPU time (user + system) the whole process has used so far, in seconds.
// For tests that check idle shards sleep.
inline double ProcessCpuSeconds() {
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

}  // namespace veloq::testing
