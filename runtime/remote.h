#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "mesh/message.h"
#include "runtime/cancellation.h"
#include "runtime/internal/frame_allocator.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"

namespace veloq::runtime {

namespace internal {

// What a function sent to another shard produces: fn() may return Task<T>
// (run as a task there) or a plain T (called directly there).
template <typename F>
struct RemoteResult {
  using R = std::invoke_result_t<F&>;
  static constexpr bool kIsTask = false;
  using type = R;
};
template <typename F>
requires requires { typename std::invoke_result_t<F&>::promise_type; }
struct RemoteResult<F> {
  static constexpr bool kIsTask = true;
  using type = typename std::invoke_result_t<F&>::value_type;
};

struct Unit {};
template <typename T>
using ValueOrUnit = std::conditional_t<std::is_void_v<T>, Unit, T>;

// What running a submitted function produced: its value, or the exception
// it threw (rethrown where the result is taken).
template <typename T>
struct Outcome {
  std::optional<ValueOrUnit<T>> value;
#if defined(__cpp_exceptions)
  std::exception_ptr exception;
#endif

  // Calls fn() and captures what it produced.
  template <typename F>
  static Outcome Of(F& fn) {
    Outcome o;
#if defined(__cpp_exceptions)
    try {
#endif
      if constexpr (std::is_void_v<T>) {
        fn();
        o.value.emplace(Unit{});
      } else {
        o.value.emplace(fn());
      }
#if defined(__cpp_exceptions)
    } catch (...) {
      o.exception = std::current_exception();
    }
#endif
    return o;
  }

  // The value (moved out), or the exception rethrown.
  T Take() {
#if defined(__cpp_exceptions)
    if (exception) std::rethrow_exception(exception);
#endif
    if constexpr (!std::is_void_v<T>) return std::move(*value);
  }
};

// Awaits `task` and captures what it produced.
template <typename T>
Task<Outcome<T>> CaptureOutcome(Task<T> task) {
  Outcome<T> o;
#if defined(__cpp_exceptions)
  try {
#endif
    if constexpr (std::is_void_v<T>) {
      co_await std::move(task);
      o.value.emplace(Unit{});
    } else {
      o.value.emplace(co_await std::move(task));
    }
#if defined(__cpp_exceptions)
  } catch (...) {
    o.exception = std::current_exception();
  }
#endif
  co_return std::move(o);
}

// Shared state of a cross-shard join: the seeds' IDLE -> WAITING -> READY
// atomic state machine.
//   Producer (target shard): writes the result, then exchange(READY,
//   acq_rel). Only if the old state was WAITING does it send a wake message
//   to the owner shard; a result that is ready before anyone waits costs no
//   message.
//   Consumer (owner shard): records its waiter, then CAS IDLE -> WAITING
//   (acq_rel). A failed CAS means READY: it continues without suspending.
// The result's write happens-before the consumer reads it: through the
// exchange/CAS pair, or through the exchange, the mesh ring's release/acquire
// and the wake message.
// `waiter` and `alive` belong to the owner shard; `target_task` to the
// target shard. Reference-counted: the handle, the producer side, and each
// message in flight hold one; the last release destroys the state (and the
// result) on whichever thread that is, normally the owner.
template <typename T>
struct RemoteState {
  enum : uint8_t { kIdle, kWaiting, kReady };

  // From the shard's frame cache: no malloc per cross-shard call on a warm
  // shard. Freed by whichever shard drops the last reference; the cache
  // adopts blocks from other shards (see frame_allocator.h).
  static void* operator new(std::size_t n) { return AllocateFrame(n); }
  static void operator delete(void* p, std::size_t n) { FreeFrame(p, n); }

  std::atomic<uint8_t> state{kIdle};
  std::atomic<uint32_t> refs{1};
  Outcome<T> outcome;  // written on the target shard before READY
  uint32_t owner = 0;
  uint32_t target = 0;
  Waiter waiter;                      // owner shard only
  TaskHeader* target_task = nullptr;  // target shard only
  // A cancel that reached the target shard before the runner task started
  // (both messages in one drain): the runner cancels itself when it starts.
  bool cancel_pending = false;  // target shard only

  void Ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void Unref() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

  // On the target shard, once: runs fn and publishes what it produced (its
  // value, or the exception it threw, rethrown to the awaiter).
  template <typename F>
  void RunAndComplete(F& fn) {
    outcome = Outcome<T>::Of(fn);
    Publish();
  }

  // On the target shard, once, after `outcome` is set.
  void Publish() {
    if (state.exchange(kReady, std::memory_order_acq_rel) == kWaiting) {
      Ref();
      Shard::Current()->Send(owner, mesh::Message([self = Owned(this)] {
                               if (self.get()->waiter)
                                 ScheduleLocal(self.get()->waiter);
                             }));
    }
  }

  // A counted reference that releases on destruction (so a message dropped
  // unrun at shutdown still releases its reference).
  class Owned {
   public:
    explicit Owned(RemoteState* s) : s_(s) {}
    Owned(Owned&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    Owned(const Owned&) = delete;
    Owned& operator=(const Owned&) = delete;
    Owned& operator=(Owned&&) = delete;
    ~Owned() {
      if (s_ != nullptr) s_->Unref();
    }
    RemoteState* get() const { return s_; }
    // Hands the reference to the caller.
    RemoteState* release() { return std::exchange(s_, nullptr); }

   private:
    RemoteState* s_;
  };
};

// The task that runs a submitted function on its target shard.
template <typename T, typename F>
Task<void> RemoteRunner(typename RemoteState<T>::Owned st, F fn) {
  // Clears target_task however the frame ends (also if it is destroyed
  // unfinished at shutdown), so a late cancel message finds nothing.
  class Registration {
   public:
    explicit Registration(RemoteState<T>* s) : s(s) {
      s->target_task = CurrentTask();
      if (s->cancel_pending) CancelTask(s->target_task);
    }
    ~Registration() { s->target_task = nullptr; }
    RemoteState<T>* const s;
  };
  Registration reg(st.get());
  reg.s->outcome = co_await CaptureOutcome(fn());
  reg.s->target_task = nullptr;
  reg.s->Publish();
}

}  // namespace internal

// RemoteJoinHandle<T> awaits a function running on another shard (SpawnOn).
// co_await yields its T. Cancel() cancels it there (cooperatively); a task
// cancelled while awaiting the handle cancels the remote work too and keeps
// waiting for its result. Destroying the handle detaches the work.
//
// Thread safety: shard-local to the shard that called SpawnOn.
template <typename T>
class [[nodiscard]] RemoteJoinHandle {
  using State = internal::RemoteState<T>;

 public:
  RemoteJoinHandle() = default;
  explicit RemoteJoinHandle(State* s) : s_(s) {}
  RemoteJoinHandle(RemoteJoinHandle&& o) noexcept
      : s_(std::exchange(o.s_, nullptr)) {}
  RemoteJoinHandle& operator=(RemoteJoinHandle&& o) noexcept {
    if (this != &o) {
      Release();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~RemoteJoinHandle() { Release(); }

  bool ready() const {
    return s_->state.load(std::memory_order_acquire) == State::kReady;
  }
  uint32_t shard() const { return s_->target; }

  // Asks the remote work to stop. Thread: the owner shard.
  void Cancel() {
    s_->Ref();
    Shard::Current()->Send(s_->target,
                           mesh::Message([st = typename State::Owned(s_)] {
                             if (st.get()->target_task != nullptr) {
                               internal::CancelTask(st.get()->target_task);
                             } else {
                               // Not started yet (or already done).
                               st.get()->cancel_pending = true;
                             }
                           }));
  }

  class Awaiter : private CancellationHook {
   public:
    explicit Awaiter(RemoteJoinHandle& h) : h_(h) {}
    ~Awaiter() { h_.s_->waiter = {}; }
    bool await_ready() const { return h_.ready(); }
    bool await_suspend(std::coroutine_handle<> c) {
      State* s = h_.s_;
      s->waiter = Waiter{c, internal::CurrentTask()};
      uint8_t expected = State::kIdle;
      if (!s->state.compare_exchange_strong(expected, State::kWaiting,
                                            std::memory_order_acq_rel)) {
        s->waiter = {};
        return false;  // became READY
      }
      if (!Arm()) h_.Cancel();
      return true;
    }
    T await_resume() {
      Disarm();
      return h_.s_->outcome.Take();
    }

   private:
    void Cancelled() override { h_.Cancel(); }
    RemoteJoinHandle& h_;
  };

  Awaiter operator co_await() & { return Awaiter(*this); }
  Awaiter operator co_await() && { return Awaiter(*this); }

 private:
  void Release() {
    if (s_ != nullptr) {
      s_->waiter = {};
      std::exchange(s_, nullptr)->Unref();
    }
  }
  State* s_ = nullptr;
};

// Runs `fn` on shard `shard` and returns a handle to await its result.
// `fn()` may return Task<T> (run there as a task) or T (called there).
//
// Where things live: `fn` is moved into a mesh message here, moved out,
// called and destroyed on `shard`; the Task it returns runs and is destroyed
// on `shard`; the result is moved into shared state on `shard` and moved out
// (then destroyed) here when awaited. Never blocks; the message leaves with
// this shard's batch at the end of the tick. If shard == the current shard,
// fn runs now and its task is spawned here. REQUIRES: on a shard.
template <typename Fn, typename F = std::decay_t<Fn>>
auto SpawnOn(uint32_t shard, Fn&& fn_in)
    -> RemoteJoinHandle<typename internal::RemoteResult<F>::type> {
  using Info = internal::RemoteResult<F>;
  using T = typename Info::type;
  using State = internal::RemoteState<T>;
  Shard* here = Shard::Current();
  auto* st = new State;
  st->owner = here->id();
  st->target = shard;
  st->Ref();  // the runner's reference
  here->Send(shard, mesh::Message([owned = typename State::Owned(st),
                                   fn = F(std::forward<Fn>(fn_in))]() mutable {
               if constexpr (Info::kIsTask) {
                 Spawn(
                     internal::RemoteRunner<T>(std::move(owned), std::move(fn)),
                     "spawn_on")
                     .Detach();
               } else {
                 // A plain function runs right here in the message handler: no
                 // task, no frame. It cannot be cancelled (it never suspends).
                 owned.get()->RunAndComplete(fn);
               }
             }));
  return RemoteJoinHandle<T>(st);
}

// Picks a shard by power of two choices: two distinct random shards, the one
// with the lower published load (Shard::load). REQUIRES: on a shard.
uint32_t PickBalancedShard();

// SpawnOn(PickBalancedShard(), fn).
template <typename F>
auto SpawnBalanced(F fn) {
  return SpawnOn(PickBalancedShard(), std::move(fn));
}

// Suspends while this shard's overflow towards `shard` exceeds the runtime's
// MeshOverflowLimit (backpressure), re-checking every tick. OK, or
// CancelledError if cancelled while waiting.
Task<absl::Status> WaitForMeshCapacity(uint32_t shard);

namespace internal {

// The awaiter of one SubmitTo call, registered in its shard's ReplyTable
// while the request is out.
template <typename T>
class ReplyAwaiter {
 public:
  ReplyAwaiter() = default;
  ReplyAwaiter(const ReplyAwaiter&) = delete;
  ReplyAwaiter& operator=(const ReplyAwaiter&) = delete;
  ~ReplyAwaiter() {
    if (registered_) Shard::Current()->replies().Remove(ticket_);
  }

  // On the owner shard, from the reply message.
  void Deliver(Outcome<T>&& o) {
    outcome_ = std::move(o);
    Shard::Current()->replies().Remove(ticket_);
    registered_ = false;
    ScheduleLocal(waiter_);
  }

 protected:
  ReplyTable::Ticket Register(std::coroutine_handle<> h) {
    waiter_ = Waiter{h, CurrentTask()};
    ticket_ = Shard::Current()->replies().Add(this);
    registered_ = true;
    return ticket_;
  }
  T Take() { return outcome_.Take(); }

 private:
  Outcome<T> outcome_;
  Waiter waiter_;
  ReplyTable::Ticket ticket_{};
  bool registered_ = false;
};

// Sends `o` back to shard `home` for the awaiter behind `ticket`. On the
// target shard.
template <typename T>
void Reply(uint32_t home, ReplyTable::Ticket ticket, Outcome<T>&& o) {
  Shard::Current()->Send(
      home, mesh::Message([ticket, o = std::move(o)]() mutable {
        void* a = Shard::Current()->replies().Find(ticket);
        if (a != nullptr)
          static_cast<ReplyAwaiter<T>*>(a)->Deliver(std::move(o));
      }));
}

// Runs a Task-returning function on the target and replies with its result.
template <typename T, typename F>
Task<void> SubmitRunner(F fn, uint32_t home, ReplyTable::Ticket ticket) {
  Reply<T>(home, ticket, co_await CaptureOutcome(fn()));
}

template <typename T, typename F>
class SubmitAwaiter : public ReplyAwaiter<T> {
 public:
  SubmitAwaiter(uint32_t shard, F fn) : shard_(shard), fn_(std::move(fn)) {}

  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    const ReplyTable::Ticket ticket = this->Register(h);
    Shard* here = Shard::Current();
    const uint32_t home = here->id();
    here->Send(
        shard_, mesh::Message([fn = std::move(fn_), home, ticket]() mutable {
          if constexpr (RemoteResult<F>::kIsTask) {
            Spawn(SubmitRunner<T>(std::move(fn), home, ticket), "submit_to")
                .Detach();
          } else {
            Reply<T>(home, ticket, Outcome<T>::Of(fn));
          }
        }));
  }
  T await_resume() { return this->Take(); }

 private:
  const uint32_t shard_;
  F fn_;
};

}  // namespace internal

// Runs `fn` on shard `shard` and yields its result: the request rides the
// mesh there and the result rides the reverse ring back, straight into this
// awaiter (no shared state, no reference counts). `fn()` may return T or
// Task<T>; exceptions it throws are rethrown here.
//
// Backpressure: first waits (yielding each tick) while this shard's overflow
// towards `shard` exceeds the runtime's MeshOverflowLimit.
//
// Where things live: `fn` is moved into a mesh message here, moved out,
// called and destroyed on `shard` (a Task it returns runs and is destroyed
// there); the result is moved into the reply message there and moved out
// here. Not cancellable once sent (the awaiting task waits for the reply);
// for cancellable remote work use SpawnOn. If this frame is destroyed at
// shutdown first, the late reply is dropped. REQUIRES: on a shard.
template <typename Fn, typename F = std::decay_t<Fn>>
auto SubmitTo(uint32_t shard, Fn&& fn)
    -> Task<typename internal::RemoteResult<F>::type> {
  using T = typename internal::RemoteResult<F>::type;
  F f(std::forward<Fn>(fn));
  Shard* here = Shard::Current();
  if (shard == here->id()) {
    if constexpr (internal::RemoteResult<F>::kIsTask) {
      co_return co_await f();
    } else {
      co_return f();
    }
  }
  if (here->mesh().OverflowDepth(here->id(), shard) >
      here->options().mesh_overflow_limit) {
    (void)co_await WaitForMeshCapacity(shard);
  }
  co_return co_await internal::SubmitAwaiter<T, F>(shard, std::move(f));
}

// Runs a copy of `fn` on every shard (this one included) and waits for all.
// For fn returning T (or Task<T>) yields the results indexed by shard id.
template <typename F>
auto InvokeOnAll(F fn) {
  using T = typename internal::RemoteResult<F>::type;
  return
      [](F f)
          -> Task<std::conditional_t<std::is_void_v<T>, void, std::vector<T>>> {
        const uint32_t n = Shard::Current()->shard_count();
        std::vector<RemoteJoinHandle<T>> handles;
        handles.reserve(n);
        for (uint32_t s = 0; s < n; ++s) handles.push_back(SpawnOn(s, f));
        if constexpr (std::is_void_v<T>) {
          for (auto& h : handles) co_await h;
        } else {
          std::vector<T> out;
          out.reserve(n);
          for (auto& h : handles) out.push_back(co_await h);
          co_return out;
        }
      }(std::move(fn));
}

// Runs `mapper` on every shard and folds the results in shard order:
// acc = reducer(std::move(acc), result_of_shard_i).
template <typename F, typename Acc, typename Reducer>
Task<Acc> MapReduce(F mapper, Acc initial, Reducer reducer) {
  const uint32_t n = Shard::Current()->shard_count();
  using T = typename internal::RemoteResult<F>::type;
  std::vector<RemoteJoinHandle<T>> handles;
  handles.reserve(n);
  for (uint32_t s = 0; s < n; ++s) handles.push_back(SpawnOn(s, mapper));
  Acc acc = std::move(initial);
  for (auto& h : handles) acc = reducer(std::move(acc), co_await h);
  co_return acc;
}

}  // namespace veloq::runtime
