#pragma once

#include <algorithm>
#include <chrono>
#include <concepts>
#include <cstdlib>
#include <type_traits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/clock.h"
#include "runtime/source_location.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::testing {

namespace internal {

template <typename F>
constexpr bool kIsAsyncCondition =
    std::same_as<std::invoke_result_t<F&>, runtime::Task<bool>>;

// What Eventually polls: a callable returning bool or runtime::Task<bool>.
template <typename F>
concept Condition = std::convertible_to < std::invoke_result_t<F&>,
bool > || kIsAsyncCondition<F>;

inline absl::Status ConditionStillFalse(runtime::Duration deadline,
                                        const SourceLocation& where) {
  return absl::DeadlineExceededError(absl::StrCat(
      "Eventually: condition still false after ",
      std::chrono::duration_cast<std::chrono::milliseconds>(deadline).count(),
      " ms (", where.file_name(), ":", where.line(), ")"));
}

}  // namespace internal

// Eventually awaits until `condition()` holds, for a test that waits on
// something it cannot be told about (a counter another shard bumps, a
// connection that closes):
//
//   bool done = false;
//   ...  // something sets `done` later
//   auto is_done = [&done] { return done; };
//   absl::Status s = co_await Eventually(is_done, 1s);
//   EXPECT_TRUE(s.ok()) << s;
//
// `condition` returns bool, or runtime::Task<bool> (then it is co_awaited
// each time, e.g. to ask an actor). It is checked at once, then after every
// `poll` of runtime time (runtime::Sleep, so under a virtual clock time
// jumps while only timers are left), and one last time at the deadline.
//
// Returns OK as soon as it holds; DeadlineExceeded("Eventually: condition
// still false after N ms (file:line)") once `deadline` of runtime time
// (runtime::Now()) has passed, naming the call site; or CancelledError if the
// awaiting task is cancelled.
//
// Where things run: `condition` is moved into the returned task and called
// only there, on the shard that awaits it, never concurrently with itself;
// it lives until the task ends, so it may capture the test's locals by
// reference. With g++ 12, bind a lambda that owns resources to a local
// before passing it (docs/build.md, "Compiler notes").
//
// REQUIRES: on a shard; poll > 0.
template <internal::Condition F>
runtime::Task<absl::Status> Eventually(
    F condition, runtime::Duration deadline,
    runtime::Duration poll = std::chrono::milliseconds(1),
    SourceLocation where = SourceLocation::Current()) {
  if (poll.count() <= 0) std::abort();  // would never let time pass
  const runtime::TimePoint end = runtime::Now() + deadline;
  for (;;) {
    bool holds;
    if constexpr (internal::kIsAsyncCondition<F>) {
      holds = co_await condition();
    } else {
      holds = static_cast<bool>(condition());
    }
    if (holds) co_return absl::OkStatus();
    const runtime::TimePoint now = runtime::Now();
    if (now >= end) co_return internal::ConditionStillFalse(deadline, where);
    const runtime::Duration nap = std::min<runtime::Duration>(poll, end - now);
    absl::Status slept = co_await runtime::Sleep(nap);
    if (!slept.ok()) co_return slept;
  }
}

}  // namespace veloq::testing
