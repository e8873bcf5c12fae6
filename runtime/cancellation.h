#pragma once

#include "absl/status/status.h"
#include "runtime/internal/task_header.h"

namespace veloq::runtime {

// Cancellation in Veloq is cooperative. Cancelling a task (JoinHandle::Cancel,
// a failing TaskScope sibling, WithTimeout, runtime shutdown) sets its
// cancelled flag and wakes the awaitable it is suspended on: a Sleep returns
// CancelledError, an I/O op is cancelled in the kernel, a join cancels the
// task being joined. From then on every cancellable await in that task
// returns CancelledError at once, so the task unwinds by returning the error
// it gets. Code that runs long without awaiting checks IsCancelled().

// Whether the calling task has been asked to stop. False outside tasks.
bool IsCancelled();

// The status cancellable awaits return after cancellation.
absl::Status CancelledStatus();

// A handle on the current task's cancellation, for code that wants to poll
// it. Valid only inside the task that created it, for the task's life.
class CancellationToken {
 public:
  // The token of the calling task.
  static CancellationToken Current();

  bool IsCancelled() const { return task_ != nullptr && task_->cancelled(); }

 private:
  explicit CancellationToken(internal::TaskHeader* t) : task_(t) {}
  internal::TaskHeader* task_;
};

// CancellationHook is what a cancellable awaitable embeds: the hook through
// which cancellation reaches an operation in flight (the I/O driver cancels
// its kernel op here; a timer removes itself and resumes its waiter).
//
// Usage, from await_suspend: `if (!hook.Arm()) return false;` (the task is
// already cancelled: complete with CancelledStatus() instead of suspending);
// the resume path calls Disarm() (the destructor does too). OnCancel runs on
// the task's shard at most once per Arm and must arrange for the awaiter to
// be resumed promptly; it must not resume it inline.
//
// Thread safety: shard-local.
class CancellationHook : private internal::CancelHook {
 public:
  CancellationHook() = default;
  CancellationHook(const CancellationHook&) = delete;
  CancellationHook& operator=(const CancellationHook&) = delete;

  // Arms the hook on the calling task. Returns false if the task is already
  // cancelled (nothing is armed) or if there is no current task (nothing to
  // cancel: returns true and arms nothing).
  bool Arm() {
    internal::TaskHeader* t = internal::CurrentTask();
    if (t == nullptr) return true;
    if (t->cancelled()) return false;
    task_ = t;
    t->hook = this;
    return true;
  }
  void Disarm() {
    if (task_ != nullptr) {
      if (task_->hook == this) task_->hook = nullptr;
      task_ = nullptr;
    }
  }
  bool armed() const { return task_ != nullptr; }

 protected:
  ~CancellationHook() { Disarm(); }
  virtual void Cancelled() = 0;

 private:
  void OnCancel() final;
  internal::TaskHeader* task_ = nullptr;
};

}  // namespace veloq::runtime
