#pragma once

#include <coroutine>
#include <cstdlib>
#include <utility>

#include "runtime/cancellation.h"
#include "runtime/clock.h"
#include "runtime/internal/task_header.h"
#include "runtime/internal/timer_queue.h"
#include "runtime/task.h"

namespace veloq::runtime {

namespace internal {
// The current shard's timer queue (runtime/shard.h is not included here).
void InsertTimer(TimerEntry* e);
void RemoveTimer(TimerEntry* e);

// Registers a freshly released task frame as a spawned task of the current
// shard and schedules it. REQUIRES: on a shard.
void StartSpawned(TaskHeader& h, std::coroutine_handle<> frame,
                  const char* name, SourceLocation where);
}  // namespace internal

// JoinHandle<T> refers to a task spawned on the current shard (Spawn).
//
// co_await handle yields the task's T once it finishes. Destroying the handle
// (or Detach) lets the task run on by itself; it is destroyed when it
// finishes. Cancel() asks the task to stop (cooperatively, see
// runtime/cancellation.h); it still finishes with whatever it returns.
// A task awaiting a JoinHandle that is itself cancelled cancels the joined
// task and keeps waiting for it, so cancellation flows down the join tree.
//
// Thread safety: shard-local (the local join path: no atomics). For tasks on
// other shards see RemoteJoinHandle (runtime/remote.h).
template <typename T>
class [[nodiscard]] JoinHandle {
 public:
  using Handle = std::coroutine_handle<internal::TaskPromise<T>>;

  JoinHandle() = default;
  explicit JoinHandle(Handle h) : handle_(h) {}
  JoinHandle(JoinHandle&& o) noexcept : handle_(std::exchange(o.handle_, {})) {}
  JoinHandle& operator=(JoinHandle&& o) noexcept {
    if (this != &o) {
      Detach();
      handle_ = std::exchange(o.handle_, {});
    }
    return *this;
  }
  JoinHandle(const JoinHandle&) = delete;
  JoinHandle& operator=(const JoinHandle&) = delete;
  ~JoinHandle() { Detach(); }

  explicit operator bool() const { return static_cast<bool>(handle_); }
  bool done() const { return header().done(); }

  // The task's bookkeeping, for runtime internals (TaskScope).
  internal::TaskHeader* internal_header() const { return &header(); }

  // Requests cooperative cancellation of the task. No-op once it is done.
  void Cancel() { internal::CancelTask(&header()); }

  // Lets the task finish on its own; the handle becomes empty.
  void Detach() {
    if (!handle_) return;
    internal::TaskHeader& h = header();
    if (h.done()) {
      handle_.destroy();
    } else {
      h.flags |= internal::TaskHeader::kDetached;
    }
    handle_ = {};
  }

  class Awaiter : private CancellationHook {
   public:
    explicit Awaiter(JoinHandle& j) : join_(j) {}
    ~Awaiter() {
      internal::TaskHeader& h = join_.header();
      if (h.joiner.handle == self_.handle) h.joiner = {};
    }
    bool await_ready() const noexcept { return join_.done(); }
    bool await_suspend(std::coroutine_handle<> h) {
      self_ = Waiter{h, internal::CurrentTask()};
      join_.header().joiner = self_;
      // If we are already cancelled, pass it on and still wait.
      if (!Arm()) join_.Cancel();
      return true;
    }
    T await_resume() {
      Disarm();
      T* tag = nullptr;
      return Take(tag);
    }

   private:
    void Cancelled() override { join_.Cancel(); }
    template <typename U>
    U Take(U*) {
      return join_.handle_.promise().TakeValue();
    }
    void Take(void*) { join_.handle_.promise().TakeValue(); }

    JoinHandle& join_;
    Waiter self_;
  };

  // REQUIRES: non-empty; at most one awaiter at a time.
  Awaiter operator co_await() & { return Awaiter(*this); }
  Awaiter operator co_await() && { return Awaiter(*this); }

  // Waits until the task is done or `deadline` passes, whichever is first;
  // yields true if it is done (then co_await *this completes at once). Does
  // not consume the result. Cancelling the waiting task cancels this task.
  class UntilAwaiter : private CancellationHook {
   public:
    UntilAwaiter(JoinHandle& j, TimePoint deadline) : join_(j) {
      entry_.deadline = deadline;
      entry_.fire = &UntilAwaiter::Fire;
      entry_.context = this;
    }
    ~UntilAwaiter() {
      internal::RemoveTimer(&entry_);
      internal::TaskHeader& h = join_.header();
      if (self_.handle && h.joiner.handle == self_.handle) h.joiner = {};
    }
    bool await_ready() const noexcept { return join_.done(); }
    bool await_suspend(std::coroutine_handle<> h) {
      self_ = Waiter{h, internal::CurrentTask()};
      join_.header().joiner = self_;
      internal::InsertTimer(&entry_);
      if (!Arm()) join_.Cancel();
      return true;
    }
    bool await_resume() {
      Disarm();
      internal::RemoveTimer(&entry_);
      return join_.done();
    }

   private:
    static void Fire(internal::TimerEntry* e) {
      auto* self = static_cast<UntilAwaiter*>(e->context);
      internal::TaskHeader& h = self->join_.header();
      // If the slot no longer holds us, the task finished and already
      // scheduled us; scheduling again would resume twice.
      if (h.joiner.handle == self->self_.handle) {
        h.joiner = {};
        internal::ScheduleLocal(self->self_);
      }
    }
    void Cancelled() override { join_.Cancel(); }

    JoinHandle& join_;
    Waiter self_;
    internal::TimerEntry entry_;
  };
  UntilAwaiter JoinUntil(TimePoint deadline) {
    return UntilAwaiter(*this, deadline);
  }

 private:
  internal::TaskHeader& header() const { return handle_.promise().header(); }
  Handle handle_;
};

// Spawns `task` as a task of its own on the current shard; it starts on the
// shard's next tick, after the tasks already runnable. REQUIRES: called on a
// shard. `name` (a string literal) and the spawn site are kept in debug
// builds for stall reports and task dumps.
template <typename T>
JoinHandle<T> Spawn(Task<T> task, const char* name = "",
                    SourceLocation where = SourceLocation::Current()) {
  auto h = task.Release();
  internal::StartSpawned(h.promise().header(), h, name, where);
  return JoinHandle<T>(h);
}

// Suspends the current task and requeues it behind every runnable task.
// Never cancellable (it always resumes on the next tick).
struct Yield {
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    internal::ScheduleLocal(Waiter{h, internal::CurrentTask()});
  }
  void await_resume() const noexcept {}
};

}  // namespace veloq::runtime
