#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/runtime.h"
#include "runtime/task.h"

namespace veloq::testing {

// Options for running a coroutine test body on a real runtime.
struct TestRuntimeOptions {
  uint32_t shards = 2;
  bool virtual_clock = false;
  // The test fails (rather than hangs) if the body has not finished by then:
  // the runtime's state is printed, the root task is cancelled, and if it
  // still does not finish within another `deadline`, the process aborts.
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(2)};
  runtime::Duration stall_threshold = std::chrono::milliseconds(100);
  size_t blocking_threads = 2;
  // The shards' Parkers (I/O drivers); empty: the runtime's default.
  runtime::Runtime::ParkerFactory parkers;
};

// Default options with `n` shards: RunOnRuntime(Shards(2), ...).
inline TestRuntimeOptions Shards(uint32_t n) {
  TestRuntimeOptions o;
  o.shards = n;
  return o;
}

namespace internal {

// Starts a watchdog thread for `rt` that fires at the deadline; stopped by
// destroying the returned guard.
class Watchdog {
 public:
  Watchdog(runtime::Runtime* rt, std::chrono::milliseconds deadline);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const;

 private:
  struct State;
  State* state_;
};

// A printable summary of every shard (stats, no shard cooperation needed).
std::string DescribeRuntime(runtime::Runtime& rt);

}  // namespace internal

// Runs `body` (a callable returning runtime::Task<T>) as the root task of a
// fresh runtime built from `options`, and returns its result as
// StatusOrFor<T>. If the deadline fires, the result is DeadlineExceeded and a
// gtest failure is recorded with the runtime's state.
template <typename F>
auto RunOnRuntime(TestRuntimeOptions options, F&& body)
    -> runtime::internal::StatusOrFor_t<
        typename std::invoke_result_t<F&>::value_type> {
  using R = runtime::internal::StatusOrFor_t<
      typename std::invoke_result_t<F&>::value_type>;
  auto rt = runtime::Runtime::Builder()
                .Shards(options.shards)
                .Pin(false)
                .VirtualClock(options.virtual_clock)
                .ShutdownGrace(options.shutdown_grace)
                .StallThreshold(options.stall_threshold)
                .BlockingThreads(options.blocking_threads)
                .Parkers(options.parkers)
                .Build();
  if (!rt.ok()) return R(rt.status());
  internal::Watchdog watchdog(rt->get(), options.deadline);
  R result = (*rt)->Run(std::forward<F>(body));
  if (watchdog.fired()) {
    return R(absl::DeadlineExceededError("test deadline exceeded"));
  }
  return result;
}

}  // namespace veloq::testing
