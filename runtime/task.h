#pragma once

#include <coroutine>
#include <cstdlib>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "runtime/internal/frame_allocator.h"
#include "runtime/internal/task_header.h"

namespace veloq::runtime {

template <typename T = void>
class Task;

namespace internal {

// State of a Task awaited inline (co_await task) rather than spawned.
enum class InlineState : uint8_t {
  kIdle,           // not started
  kStarted,        // running inside its parent's await_suspend
  kParentWaiting,  // suspended; the parent is suspended on it
  kDone,           // completed
};

// What every Task's promise shares: frame allocation from the shard's frame
// cache, lazy start, and the completion protocol.
//
// Completion protocol (why not plain symmetric transfer): the parent starts
// the child from await_suspend and, if the child finished synchronously,
// returns false and continues without suspending. Only a child that really
// suspended resumes its parent from final_suspend. This keeps the stack flat
// for long loops of synchronously-completing awaits at every optimisation
// level; symmetric transfer alone relies on a tail call that g++ does not
// make at -O0.
class PromiseBase {
 public:
  static void* operator new(std::size_t n) { return AllocateFrame(n); }
  static void operator delete(void* p, std::size_t n) { FreeFrame(p, n); }

  std::suspend_always initial_suspend() noexcept { return {}; }

  struct FinalAwaiter {
    bool await_ready() const noexcept { return false; }
    template <typename P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
      PromiseBase& p = h.promise();
      if (p.header_.flags & TaskHeader::kSpawned) {
        CompleteSpawned(&p.header_);
        return std::noop_coroutine();
      }
      if (p.state_ == InlineState::kParentWaiting) {
        p.state_ = InlineState::kDone;
        return p.continuation_;
      }
      p.state_ = InlineState::kDone;
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  FinalAwaiter final_suspend() noexcept { return {}; }

  void unhandled_exception() noexcept {
#if defined(__cpp_exceptions)
    exception_ = std::current_exception();
#else
    std::abort();
#endif
  }

  TaskHeader& header() { return header_; }
  bool done() const {
    return state_ == InlineState::kDone || (header_.flags & TaskHeader::kDone);
  }

 protected:
  void RethrowIfFailed() {
#if defined(__cpp_exceptions)
    if (exception_) std::rethrow_exception(std::exchange(exception_, nullptr));
#endif
  }

 private:
  template <typename>
  friend class veloq::runtime::Task;
  friend bool StartInline(std::coroutine_handle<> child, PromiseBase& p,
                          std::coroutine_handle<> parent);

  std::coroutine_handle<> continuation_;
  InlineState state_ = InlineState::kIdle;
  TaskHeader header_;
#if defined(__cpp_exceptions)
  std::exception_ptr exception_;
#endif
};

// Runs `child` inside its parent's await_suspend. Returns true if the parent
// must suspend (the child suspended), false if the child already finished.
inline bool StartInline(std::coroutine_handle<> child, PromiseBase& p,
                        std::coroutine_handle<> parent) {
  if (p.state_ != InlineState::kIdle) std::abort();  // awaited twice
  p.continuation_ = parent;
  p.state_ = InlineState::kStarted;
  child.resume();
  if (p.state_ == InlineState::kDone) return false;
  p.state_ = InlineState::kParentWaiting;
  return true;
}

template <typename T>
class TaskPromise : public PromiseBase {
 public:
  Task<T> get_return_object() noexcept;

  template <typename U = T,
            typename = std::enable_if_t<std::is_constructible_v<T, U&&>>>
  void return_value(U&& v) {
    value_.emplace(std::forward<U>(v));
  }

  T TakeValue() {
    RethrowIfFailed();
    return std::move(*value_);
  }

 private:
  std::optional<T> value_;
};

template <>
class TaskPromise<void> : public PromiseBase {
 public:
  Task<void> get_return_object() noexcept;
  void return_void() noexcept {}
  void TakeValue() { RethrowIfFailed(); }
};

}  // namespace internal

// Task<T> is a lazily started coroutine producing a T.
//
// A Task does nothing until it is awaited (co_await runs it inline, in the
// awaiting task, on the same shard) or spawned (runtime/spawn.h makes it a
// task of its own). It is move-only and owns its frame until spawned.
// Errors travel in T: return absl::Status or absl::StatusOr<U>; exceptions,
// where enabled, are rethrown to the awaiter, but none are needed.
//
// Frames come from the shard's frame cache (runtime/internal/
// frame_allocator.h): a warm shard creates tasks without calling malloc.
//
// Thread safety: shard-local. A Task is created, run and destroyed on one
// shard; to run work elsewhere, send a function that creates the Task there
// (SpawnOn).
template <typename T>
class [[nodiscard]] Task {
 public:
  using promise_type = internal::TaskPromise<T>;
  using value_type = T;
  using Handle = std::coroutine_handle<promise_type>;

  Task() = default;
  Task(Task&& other) noexcept : handle_(std::exchange(other.handle_, {})) {}
  Task& operator=(Task&& other) noexcept {
    if (this != &other) {
      Reset();
      handle_ = std::exchange(other.handle_, {});
    }
    return *this;
  }
  Task(const Task&) = delete;
  Task& operator=(const Task&) = delete;
  ~Task() { Reset(); }

  explicit operator bool() const { return static_cast<bool>(handle_); }

  // Awaiting a Task runs it inline and yields its result.
  bool await_ready() const noexcept { return false; }
  bool await_suspend(std::coroutine_handle<> parent) {
    return internal::StartInline(handle_, handle_.promise(), parent);
  }
  T await_resume() { return handle_.promise().TakeValue(); }

  // Gives up ownership of the frame (used by Spawn).
  Handle Release() { return std::exchange(handle_, {}); }

 private:
  friend class internal::TaskPromise<T>;
  explicit Task(Handle h) : handle_(h) {}

  void Reset() {
    if (handle_) std::exchange(handle_, {}).destroy();
  }

  Handle handle_;
};

namespace internal {

template <typename T>
Task<T> TaskPromise<T>::get_return_object() noexcept {
  return Task<T>(Task<T>::Handle::from_promise(*this));
}

inline Task<void> TaskPromise<void>::get_return_object() noexcept {
  return Task<void>(Task<void>::Handle::from_promise(*this));
}

}  // namespace internal
}  // namespace veloq::runtime
