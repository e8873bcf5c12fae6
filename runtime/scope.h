#pragma once

#include <coroutine>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "runtime/cancellation.h"
#include "runtime/internal/status_or.h"
#include "runtime/spawn.h"
#include "runtime/task.h"

namespace veloq::runtime {

// TaskScope is structured concurrency on one shard: children spawned into it
// run as tasks of their own, and Join() waits for all of them. The first
// child that fails (returns a non-OK Status or StatusOr) cancels its siblings
// and its error is what Join() returns. Cancelling the task that joins
// cancels the children. Children may spawn into the same scope.
//
//   TaskScope scope;
//   scope.Spawn(FetchA());
//   scope.Spawn(FetchB());
//   absl::Status s = co_await scope.Join();
//
// Or, so that the join cannot be forgotten, WithScope (below).
//
// Thread safety: shard-local. REQUIRES: Join() has completed (or no child
// was spawned) before the scope is destroyed; destroying a scope with
// running children aborts, since they would report to freed memory.
class TaskScope {
 public:
  TaskScope() = default;
  TaskScope(const TaskScope&) = delete;
  TaskScope& operator=(const TaskScope&) = delete;
  ~TaskScope();

  // Spawns `task` into the scope. T is absl::Status, absl::StatusOr<U>, void
  // or any value (void and values count as success).
  template <typename T>
  void Spawn(Task<T> task, const char* name = "scope_child",
             SourceLocation where = SourceLocation::Current()) {
    ++outstanding_;
    JoinHandle<void> h =
        runtime::Spawn(Child(this, std::move(task)), name, where);
    children_.push_back(h.internal_header());
    h.Detach();
    if (cancelled_) internal::CancelTask(children_.back());
  }

  // Cancels every child still running (cooperatively).
  void Cancel();

  // Waits for every child; yields the first failure, or OK.
  class JoinAwaiter : private CancellationHook {
   public:
    explicit JoinAwaiter(TaskScope& s) : s_(s) {}
    ~JoinAwaiter() { s_.joiner_ = {}; }
    bool await_ready() const { return s_.outstanding_ == 0; }
    bool await_suspend(std::coroutine_handle<> h) {
      s_.joiner_ = Waiter{h, internal::CurrentTask()};
      if (!Arm()) s_.Cancel();
      return true;
    }
    absl::Status await_resume() {
      Disarm();
      return s_.first_error_;
    }

   private:
    void Cancelled() override { s_.Cancel(); }
    TaskScope& s_;
  };
  JoinAwaiter Join() { return JoinAwaiter(*this); }

  size_t outstanding() const { return outstanding_; }

 private:
  template <typename T>
  static Task<void> Child(TaskScope* scope, Task<T> task) {
    internal::TaskHeader* self = internal::CurrentTask();
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      scope->ChildDone(self, absl::OkStatus());
    } else {
      T r = co_await std::move(task);
      scope->ChildDone(self, internal::StatusOf(r));
    }
  }

  void ChildDone(internal::TaskHeader* child, absl::Status s);

  std::vector<internal::TaskHeader*> children_;  // running children
  size_t outstanding_ = 0;
  absl::Status first_error_;
  bool cancelled_ = false;
  Waiter joiner_;
};

// Runs body(scope) and then joins the scope: yields the body's error if it
// failed (its children are then cancelled), else the first child error, else
// OK. `body` is a callable taking TaskScope& and returning Task<Status>.
template <typename F>
Task<absl::Status> WithScope(F body) {
  TaskScope scope;
  absl::Status s = co_await body(scope);
  if (!s.ok()) scope.Cancel();
  absl::Status children = co_await scope.Join();
  co_return s.ok() ? children : s;
}

}  // namespace veloq::runtime
