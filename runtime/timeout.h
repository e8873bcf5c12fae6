#pragma once

#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "runtime/clock.h"
#include "runtime/internal/status_or.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::runtime {

// Runs `task` with a deadline `d` from now. If it finishes in time, yields
// its result (as Status / StatusOr, see StatusOrFor). Otherwise cancels it,
// waits for it to wind down (cancellation is cooperative: a task that never
// awaits anything cancellable delays this), discards its result and yields
// DeadlineExceededError. The task runs as a child task on this shard;
// cancelling the caller cancels it.
template <typename T>
Task<internal::StatusOrFor_t<T>> WithTimeout(Duration d, Task<T> task) {
  JoinHandle<T> h = Spawn(std::move(task), "with_timeout");
  const bool finished = co_await h.JoinUntil(Now() + d);
  if (!finished) {
    h.Cancel();
    if constexpr (std::is_void_v<T>) {
      co_await h;
    } else {
      (void)co_await h;  // discarded: the deadline decided
    }
    co_return absl::DeadlineExceededError("deadline exceeded");
  }
  if constexpr (std::is_void_v<T>) {
    co_await h;
    co_return absl::OkStatus();
  } else {
    co_return co_await h;
  }
}

}  // namespace veloq::runtime
