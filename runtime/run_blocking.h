#pragma once

#include <atomic>
#include <coroutine>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>

#include "mesh/message.h"
#include "runtime/internal/task_header.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"

namespace veloq::runtime {

namespace internal {

template <typename R>
struct BlockingState {
  std::atomic<uint32_t> refs{2};  // the awaiter and the job
  std::optional<std::conditional_t<std::is_void_v<R>, bool, R>> result;
  std::exception_ptr exception;  // what fn threw, rethrown to the caller
  Waiter waiter;  // the caller's shard only; cleared if the caller is gone

  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // The job's reference, released when whatever holds it is destroyed (run
  // or not), so shutdown at any point frees the state exactly once.
  class Ref {
   public:
    explicit Ref(BlockingState* s) : s_(s) {}
    Ref(Ref&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Ref(const Ref&) = delete;
    Ref& operator=(const Ref&) = delete;
    Ref& operator=(Ref&&) = delete;
    ~Ref() {
      if (s_ != nullptr) s_->Unref();
    }
    BlockingState* operator->() const { return s_; }

   private:
    BlockingState* s_;
  };
};

}  // namespace internal

// Awaitable returned by RunBlocking.
template <typename F>
class BlockingAwaiter {
  using R = std::invoke_result_t<F&>;
  using State = internal::BlockingState<R>;

 public:
  explicit BlockingAwaiter(F fn) : fn_(std::move(fn)) {}
  BlockingAwaiter(const BlockingAwaiter&) = delete;
  BlockingAwaiter& operator=(const BlockingAwaiter&) = delete;
  ~BlockingAwaiter() {
    if (state_ != nullptr) {
      state_->waiter = {};
      state_->Unref();
    }
  }

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    Shard* shard = Shard::Current();
    state_ = new State;
    state_->waiter = Waiter{h, internal::CurrentTask()};
    Runtime* rt = &shard->runtime();
    const uint32_t home = shard->id();
    shard->runtime().blocking_pool().Submit(
        mesh::Message([ref = typename State::Ref(state_), rt, home,
                       fn = std::move(fn_)]() mutable {
#if defined(__cpp_exceptions)
          try {
#endif
            if constexpr (std::is_void_v<R>) {
              fn();
              ref->result.emplace(true);
            } else {
              ref->result.emplace(fn());
            }
#if defined(__cpp_exceptions)
          } catch (...) {
            ref->exception = std::current_exception();
          }
#endif
          // Back to the caller's shard through its alien inbox, whatever
          // fn did: the caller must not wait for a result that never comes.
          rt->Post(home, mesh::Message([r = std::move(ref)] {
                     if (r->waiter) internal::ScheduleLocal(r->waiter);
                   }));
        }));
  }
  R await_resume() {
    if (state_->exception) std::rethrow_exception(state_->exception);
    if constexpr (!std::is_void_v<R>) return std::move(*state_->result);
  }

 private:
  F fn_;
  State* state_ = nullptr;
};

// Runs fn() on the runtime's blocking pool and resumes the caller on its own
// shard with fn's result. For blocking system calls and CPU-heavy work that
// would stall the shard.
//
// fn is moved to a pool thread, called and destroyed there; its result is
// moved back and out on the caller's shard. An exception fn throws is
// rethrown to the caller (co_await) on its shard. Not cancellable once
// submitted (a thread cannot be interrupted): the caller waits for fn to
// return. If the runtime shuts down first, the result is discarded safely.
// REQUIRES: on a shard.
template <typename F>
BlockingAwaiter<F> RunBlocking(F fn) {
  return BlockingAwaiter<F>(std::move(fn));
}

}  // namespace veloq::runtime
