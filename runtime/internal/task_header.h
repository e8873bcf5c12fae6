#pragma once

#include <coroutine>
#include <cstdint>

#include "runtime/source_location.h"

namespace veloq::runtime {

namespace internal {
struct TaskHeader;
}  // namespace internal

// A suspended coroutine and the spawned task it belongs to: what a shard's
// run queue holds and what every awaitable records before it suspends.
struct Waiter {
  std::coroutine_handle<> handle;
  internal::TaskHeader* task = nullptr;

  explicit operator bool() const { return static_cast<bool>(handle); }
};

namespace internal {

// Called when a task is cancelled while suspended on the awaitable that armed
// it (see runtime/cancellation.h). Runs on the task's shard.
class CancelHook {
 public:
  virtual void OnCancel() = 0;

 protected:
  ~CancelHook() = default;
};

// Bookkeeping of a spawned task, embedded in its root coroutine frame.
//
// Thread safety: shard-local; every field is touched only on the shard that
// spawned the task.
struct TaskHeader {
  enum Flags : uint32_t {
    kSpawned = 1,
    kDone = 2,
    kDetached = 4,
    kCancelled = 8,
  };

  // Live spawned tasks of a shard form an intrusive list (for shutdown,
  // cancellation of everything, and task dumps).
  TaskHeader* prev = nullptr;
  TaskHeader* next = nullptr;
  std::coroutine_handle<> self;  // the root frame
  Waiter joiner;                 // who awaits the JoinHandle, if anyone
  CancelHook* hook = nullptr;    // armed by the awaitable it is suspended on
  uint32_t flags = 0;
  // Set when the task is spawned (unset in a frame that is only awaited),
  // for task dumps, /debug/tasks and the stall report: where it was
  // spawned, its name, and when (internal::CycleClock ticks, read once per
  // shard tick).
  uint32_t spawn_line;
  const char* name;
  const char* spawn_file;
  uint64_t spawn_cycles;

  bool cancelled() const { return (flags & kCancelled) != 0; }
  bool done() const { return (flags & kDone) != 0; }
};

// The task the calling shard thread is running (null between tasks). Set by
// the shard before each resume; inline because every await reads it.
inline thread_local TaskHeader* tls_current_task = nullptr;
inline TaskHeader* CurrentTask() { return tls_current_task; }
inline void SetCurrentTask(TaskHeader* t) { tls_current_task = t; }

// Schedules `w` on the calling shard's run queue. REQUIRES: on a shard.
void ScheduleLocal(Waiter w);

// Marks a spawned task done when its root frame reaches final suspend:
// unlinks it, wakes its joiner, and destroys the frame if it was detached.
// Defined in spawn.cc.
void CompleteSpawned(TaskHeader* t);

// Requests cancellation of `t` (idempotent): sets the flag and fires the hook
// it is suspended on, if any. Runs on t's shard.
void CancelTask(TaskHeader* t);

}  // namespace internal
}  // namespace veloq::runtime
