#pragma once

#include <concepts>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/internal/frame_allocator.h"
#include "runtime/remote.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::actors {

class Actor;
template <typename A>
class ActorRef;

namespace internal {

// A message in a mailbox: a node with a small vtable (how to run it on its
// actor, or how to refuse it), allocated from the shard's frame cache.
struct Envelope;
struct EnvelopeVTable {
  // Runs a message whose handler completes at once (no Task).
  void (*run)(Actor* actor, Envelope* e);
  // Runs a message whose handler is a coroutine; null for sync handlers.
  runtime::Task<void> (*run_async)(Actor* actor, Envelope* e);
  // The actor is gone or stopping: answer an ask with `why`, then free.
  void (*refuse)(Envelope* e, const absl::Status& why);
};

struct Envelope {
  Envelope* next = nullptr;
  const EnvelopeVTable* vt = nullptr;
};

// The FIFO of an actor's messages (intrusive; shard-local).
class Mailbox {
 public:
  bool empty() const { return head_ == nullptr; }
  uint32_t size() const { return size_; }
  void Push(Envelope* e) {
    e->next = nullptr;
    if (tail_ == nullptr) {
      head_ = e;
    } else {
      tail_->next = e;
    }
    tail_ = e;
    ++size_;
  }
  // Moves every message of `from` to the back of this mailbox.
  void Splice(Mailbox& from) {
    while (Envelope* e = from.Pop()) Push(e);
  }
  Envelope* Pop() {
    Envelope* e = head_;
    if (e == nullptr) return nullptr;
    head_ = e->next;
    if (head_ == nullptr) tail_ = nullptr;
    --size_;
    return e;
  }

 private:
  Envelope* head_ = nullptr;
  Envelope* tail_ = nullptr;
  uint32_t size_ = 0;
};

// The result of asking: what a caller awaits for a handler returning R.
template <typename R>
struct AskValue {
  using type = R;
};
template <typename R>
struct AskValue<runtime::Task<R>> {
  using type = R;
};
template <typename R>
using AskValue_t = typename AskValue<R>::type;
// void -> Status, Status -> Status, StatusOr<X> -> StatusOr<X>, X ->
// StatusOr<X>.
template <typename R>
using AskResult_t = runtime::internal::StatusOrFor_t<AskValue_t<R>>;

template <typename R>
constexpr bool kIsTask = false;
template <typename R>
constexpr bool kIsTask<runtime::Task<R>> = true;

// Where an actor lives: shard, slot in the shard's table, generation of the
// slot (a stopped actor's slot is reused with a new generation, so stale
// references are recognised). A restarted actor keeps its address.
struct ActorAddress {
  uint32_t shard = 0;
  uint32_t index = 0;
  uint32_t generation = 0;
  friend bool operator==(const ActorAddress&, const ActorAddress&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const ActorAddress& a) {
    return H::combine(std::move(h), a.shard, a.index, a.generation);
  }
};

// An armed actor timer (Actor::SendAfter / SendEvery): an entry on the
// shard's timer queue and the message to deliver, in its actor's list.
struct ActorTimer {
  runtime::internal::TimerEntry entry;
  Actor* actor = nullptr;
  uint64_t id = 0;
  runtime::Duration period{0};  // 0: once
  ActorTimer* prev = nullptr;
  ActorTimer* next = nullptr;
  // Builds the envelope for one firing; frees the timer.
  Envelope* (*make)(ActorTimer* t) = nullptr;
  void (*destroy)(ActorTimer* t) = nullptr;
};

// Someone told of an actor's end: a monitor (gets Down) or a link (gets
// ExitSignal on a failure; both ends of a link hold one).
struct Watcher {
  ActorAddress addr;
  bool link = false;
};

// A sender waiting for room in a bounded mailbox (ActorRef::Send): the
// message, and the acknowledgement its sender awaits.
struct BlockedSend {
  Envelope* envelope;
  runtime::internal::RemoteState<absl::Status>* ack;
};

// What only some actors need, allocated on first use so that an idle actor
// stays small: timers, supervision, watchers, a mailbox bound, the reason
// of a failure stop.
struct ActorExtras {
  ActorTimer* timers = nullptr;  // armed timers (a list)
  // Supervision: a child knows its parent and how to make a fresh instance
  // of itself; a parent knows its children (all on its shard) and when it
  // restarted them (for the restart budget).
  std::optional<ActorAddress> parent;
  std::function<std::unique_ptr<Actor>()> factory;
  std::vector<ActorAddress> children;
  std::vector<runtime::TimePoint> restarts;
  std::vector<Watcher> watchers;
  uint32_t capacity = 0;  // mailbox bound; 0: unbounded
  std::deque<BlockedSend> blocked;
  absl::Status exit_reason;  // why the actor stops (OK: a normal stop)
  uint64_t restart_count = 0;
};

// Delivers `e` to the actor at `addr` on the calling shard (which must be
// addr.shard), or refuses it if the actor is gone.
void DeliverLocal(const ActorAddress& addr, Envelope* e);
// Delivers `e`, which arrived from another shard over the mesh, like
// DeliverLocal; an idle actor (started, no turn running or queued) whose
// handler for it is synchronous runs it at once, in the mesh drain, instead
// of in a task of its own. (The drain runs one message at a time and never
// inside a turn, so such turns do not nest.)
void DeliverFromMesh(const ActorAddress& addr, Envelope* e);
// Stops the actor at `addr` on the calling shard, if it is there.
void StopLocal(const ActorAddress& addr, absl::Status reason);
// Delivers `e` to the actor at `addr` (on the calling shard) once its
// mailbox has room, then answers `ack` (whose reference it takes): OK, or
// FailedPrecondition if the actor is gone or stops first.
void DeliverWhenRoom(const ActorAddress& addr, Envelope* e,
                     runtime::internal::RemoteState<absl::Status>* ack);

#if defined(__cpp_exceptions)
// Internal("handler threw: <what>").
absl::Status StatusOfException(std::exception_ptr e);
#endif

}  // namespace internal

using ActorAddress = internal::ActorAddress;

// A monitored actor ended (Actor::Monitor). `reason` is OK for a normal
// stop, the failure otherwise; NotFound if it was gone before the monitor
// was set up.
struct Down {
  ActorAddress actor;
  absl::Status reason;
};

// A linked actor failed (Actor::Link). Normal stops are not signalled.
struct ExitSignal {
  ActorAddress actor;
  absl::Status reason;
};

// What a supervisor does with a failed child (SupervisorStrategy::decide).
enum class Directive {
  kResume,    // keep the instance and go on with the next message
  kRestart,   // a fresh instance, same address, same mailbox
  kStop,      // stop the child with the failure as its reason
  kEscalate,  // stop the child and fail the supervisor itself
};

// How a parent treats its failing children (Actor::supervisor_strategy).
struct SupervisorStrategy {
  enum class Kind {
    kOneForOne,  // act on the failed child only
    kAllForOne,  // a restart restarts every child of the parent
  };
  Kind kind = Kind::kOneForOne;
  // Restart budget: more than `max_restarts` restarts within `within`
  // stop the child and escalate the failure to the parent's own parent.
  int max_restarts = 3;
  runtime::Duration within = std::chrono::seconds(5);
  // The decision per failure; null: always kRestart.
  std::function<Directive(const absl::Status&)> decide;
};

// Actor is the base class users subclass. Messages are plain types; an
// actor handles message type M by declaring a member
//
//   R Handle(M msg);
//
// where R is void, a value, absl::Status / absl::StatusOr<X> (an error fails
// the turn), or runtime::Task<...> of those (a coroutine that may await I/O
// and other actors). Sending a type the actor has no Handle for does not
// compile (ActorRef::Tell / Ask / Send check it).
//
// Turn-based: an actor runs one message at a time, in arrival order. While
// a coroutine handler is suspended (awaiting I/O, an ask...), the actor's
// other messages wait in its mailbox: no handler of the same actor runs
// concurrently, so its fields need no locking and see no interleaving.
// (Reentrancy, if wanted, is explicit: handle the message by spawning a
// task that does the waiting and tells the actor the result.)
//
// Lifecycle: OnStart runs as the actor's first turn. Stop() lets the
// messages already queued run, then OnStop runs and the actor is
// destroyed; messages that arrive after Stop() are refused (an ask gets
// FailedPrecondition "actor stopped"). Stop(reason) with an error stops it
// as failed: what is queued is refused (asks get Aborted with the reason).
//
// Failures. A failing turn (a handler's error Status, an exception when
// exceptions are on, or a failing OnStart) calls OnFailure(status) — a
// hook, logging by default — and then:
//  - a child (SpawnChild) is handled by its parent's supervisor_strategy():
//    resume, restart (OnStop on the old instance, a fresh one from the
//    spawn arguments takes its place: same address, same mailbox, OnStart
//    again), stop, or escalate; past the restart budget the failure
//    escalates. Children live on their parent's shard.
//  - an actor without a parent goes on with its next message (a failing
//    OnStart, or a failure escalated to it, stops it with that reason).
// The shard never fails.
//
// Monitors and links work across shards. Monitor(ref): when that actor
// ends, this one gets OnDown(Down) as a turn. Link(ref): when either fails,
// the other gets OnLinkFailed(ExitSignal) as a turn — by default it stops
// with that failure, so a failure takes the linked group down (override
// OnLinkFailed to "trap" it instead).
//
// Bounded mailbox: SetMailboxCapacity(n) in the constructor. A full
// mailbox makes `co_await ref.Send(m)` wait (in order) until there is
// room; Tell is refused (a dead letter, logged) and Ask answers
// ResourceExhausted. Timers and notifications are never refused.
//
// Shutdown: when the runtime stops, every actor is stopped (its queued
// messages run, then OnStop) before any task is cancelled; the shard
// waits for that up to its shutdown grace. What is still queued after
// that is refused: asks get Cancelled("runtime stopped").
//
// Affinity: an actor lives on one shard and runs only there; talk to it
// through an ActorRef from anywhere in the runtime. Every protected
// member below is for the actor's own turns (shard-local).
class Actor {
 public:
  Actor() = default;
  Actor(const Actor&) = delete;
  Actor& operator=(const Actor&) = delete;
  virtual ~Actor();

  // The shard this actor lives on, and its address.
  uint32_t shard() const { return address_.shard; }
  ActorAddress address() const { return address_; }
  // A reference to this actor (REQUIRES: Self<A>() with this actor's type).
  template <typename A>
  ActorRef<A> Self() const;

  // Asks the actor to stop. With an OK reason (the default) the messages
  // already queued run first; with an error it stops as failed: what is
  // queued is refused and watchers see the reason.
  void Stop(absl::Status reason = absl::OkStatus());
  bool stopping() const { return stopping_; }
  // Messages waiting.
  uint32_t mailbox_size() const { return mailbox_.size(); }
  // Times this actor was restarted by its supervisor.
  uint64_t restart_count() const {
    return extras_ != nullptr ? extras_->restart_count : 0;
  }

  using TimerId = uint64_t;

 protected:
  // Timers, cancelled with the actor: deliver `msg` to this actor after `d`
  // (SendAfter) or every `period` (SendEvery, a copy each time), as an
  // ordinary message in its mailbox. A is the actor's own type:
  // `SendEvery<Ticker>(1s, Tick{})`.
  template <typename A, typename M>
  TimerId SendAfter(runtime::Duration d, M msg);
  template <typename A, typename M>
  TimerId SendEvery(runtime::Duration period, M msg);
  // False if it already fired (once) or was cancelled.
  bool CancelTimer(TimerId id);

  // Starts a child of type C on this shard, supervised by this actor. The
  // arguments are kept (copied) to build fresh instances on restarts. A
  // child stops when its parent stops.
  template <typename C, typename... Args>
  ActorRef<C> SpawnChild(Args... args);
  // The strategy for this actor's children (default: one-for-one, always
  // restart, at most 3 restarts in 5 s).
  virtual SupervisorStrategy supervisor_strategy() const { return {}; }

  // Monitors: OnDown(Down) when `target` ends (at once if it is gone).
  // Demonitor: no more Down from it (one already sent may still come).
  template <typename T>
  void Monitor(const ActorRef<T>& target) {
    AddWatch(target.address(), /*link=*/false);
  }
  template <typename T>
  void Demonitor(const ActorRef<T>& target) {
    RemoveWatch(target.address(), /*link=*/false);
  }
  // Links (both ways): when either fails, the other gets OnLinkFailed.
  // Linking to an actor that is gone signals NotFound at once.
  template <typename T>
  void Link(const ActorRef<T>& other) {
    AddWatch(other.address(), /*link=*/true);
  }
  template <typename T>
  void Unlink(const ActorRef<T>& other) {
    RemoveWatch(other.address(), /*link=*/true);
  }

  // Bounds the mailbox (0: unbounded, the default); call it in the
  // constructor.
  void SetMailboxCapacity(uint32_t capacity);

  virtual runtime::Task<absl::Status> OnStart() { co_return absl::OkStatus(); }
  virtual runtime::Task<void> OnStop() { co_return; }
  virtual void OnFailure(const absl::Status& status);
  virtual void OnDown(const Down& down) {}
  virtual void OnLinkFailed(const ExitSignal& exit);

 private:
  friend class ActorTable;
  friend void internal::DeliverFromMesh(const internal::ActorAddress&,
                                        internal::Envelope*);
  friend void internal::DeliverLocal(const internal::ActorAddress&,
                                     internal::Envelope*);
  template <typename A, typename M, bool kAsk>
  friend struct MessageEnvelope;
  friend struct SystemTurn;

  // Why a failure reached the supervision logic.
  enum class FailureKind { kTurn, kStart, kEscalated };

  internal::ActorExtras& extras();
  // Queues `e`; `bounded`: refuse it if the mailbox is full.
  void EnqueueEnvelope(internal::Envelope* e, bool bounded);
  void EnsureDrainTask();
  // Runs `e`'s synchronous turn now if the actor is idle (see
  // DeliverFromMesh); false, leaving `e` alone, if it is not.
  bool TryRunNow(internal::Envelope* e);
  bool IsMailboxFull() const {
    return extras_ != nullptr && extras_->capacity != 0 &&
           mailbox_.size() >= extras_->capacity;
  }
  // Lets blocked senders in while there is room.
  void AdmitBlockedSends();
  static runtime::Task<void> DrainTask(Actor* a);
  static runtime::Task<Actor*> RestartInstance(Actor* a);
  static runtime::Task<void> FinishStop(Actor* a);
  void HandleFailure(const absl::Status& s, FailureKind kind);
  void ScheduleRestart();
  void AddWatch(ActorAddress target, bool link);
  void RemoveWatch(ActorAddress target, bool link);
  ActorAddress AdoptChild(std::unique_ptr<Actor> child,
                          std::function<std::unique_ptr<Actor>()> factory);
  // Stops the children (normally) and forgets them.
  void StopChildren();
  // Records a restart in this parent's budget; false if it is spent.
  bool TakeRestartBudget(const SupervisorStrategy& s);
  absl::Status exit_reason() const {
    return extras_ != nullptr ? extras_->exit_reason : absl::OkStatus();
  }
  template <typename A, typename M>
  TimerId StartTimer(runtime::Duration first, runtime::Duration period, M msg);
  void ArmTimer(internal::ActorTimer* t, runtime::Duration after);
  // Timer ids are unique per shard (kept out of the actor: every byte of
  // an idle actor counts).
  static TimerId NextTimerId();
  static void FireTimer(runtime::internal::TimerEntry* e);
  void UnlinkTimer(internal::ActorTimer* t);
  // Cancels every timer (on_queue: they are still on the shard's queue).
  void CancelTimers(bool on_queue);

  // 56 bytes with the vtable pointer.
  internal::Mailbox mailbox_;                // 24
  internal::ActorExtras* extras_ = nullptr;  // 8: owned, lazily made
  ActorAddress address_;                     // 12
  bool running_ : 1 = false;                 // a DrainTask owns the actor
  bool stopping_ : 1 = false;
  bool started_ : 1 = false;  // OnStart was called
  bool restart_pending_ : 1 = false;
  bool start_failed_ : 1 = false;
};

// The envelope for message M to actor type A: Tell (kAsk = false) or Ask
// (the reply goes back through a RemoteState, on whichever shard asked).
template <typename A, typename M, bool kAsk>
struct MessageEnvelope final : internal::Envelope {
  using R = decltype(std::declval<A&>().Handle(std::declval<M>()));
  using Result = internal::AskResult_t<R>;
  using State = runtime::internal::RemoteState<Result>;

  static void* operator new(size_t n) {
    return runtime::internal::AllocateFrame(n);
  }
  static void operator delete(void* p, size_t n) {
    runtime::internal::FreeFrame(p, n);
  }

  struct NoReply {
    explicit NoReply(std::nullptr_t) {}
  };
  using Reply = std::conditional_t<kAsk, typename State::Owned, NoReply>;

  explicit MessageEnvelope(M m, Reply r = Reply(nullptr))
      : msg(std::move(m)), reply(std::move(r)) {
    vt = &kVTable;
  }

  M msg;
  Reply reply;

  // What the handler's value becomes for the asker, and whether the turn
  // failed.
  template <typename V>
  static Result ToResult(V&& v, absl::Status* failure) {
    using D = std::decay_t<V>;
    if constexpr (std::is_same_v<D, absl::Status>) {
      *failure = v;
      return Result(std::forward<V>(v));
    } else if constexpr (requires {
                           v.status();
                           v.ok();
                         }) {
      *failure = v.status();
      return Result(std::forward<V>(v));
    } else {
      return Result(std::forward<V>(v));
    }
  }

  void Answer(Result r) {
    if constexpr (kAsk) {
      State* s = reply.get();
      s->outcome.value.emplace(std::move(r));
      s->Publish();
    }
  }

  static void Run(Actor* actor, internal::Envelope* base) {
    if constexpr (internal::kIsTask<R>) {
      return;  // never called: coroutine handlers run through RunAsync
    } else {
      RunSync(actor, base);
    }
  }

  static void RunSync(Actor* actor, internal::Envelope* base) {
    auto* e = static_cast<MessageEnvelope*>(base);
    A& a = static_cast<A&>(*actor);
    absl::Status failure;
#if defined(__cpp_exceptions)
    try {
#endif
      if constexpr (std::is_void_v<R>) {
        a.Handle(std::move(e->msg));
        e->Answer(absl::OkStatus());
      } else {
        Result r = ToResult(a.Handle(std::move(e->msg)), &failure);
        e->Answer(std::move(r));
      }
#if defined(__cpp_exceptions)
    } catch (...) {
      failure = internal::StatusOfException(std::current_exception());
      e->Answer(Result(failure));
    }
#endif
    delete e;
    if (!failure.ok()) actor->HandleFailure(failure, Actor::FailureKind::kTurn);
  }

  static runtime::Task<void> RunAsync(Actor* actor, internal::Envelope* base) {
    if constexpr (!internal::kIsTask<R>) {
      co_return;  // never called: sync handlers run through Run
    } else {
      co_await RunTask(actor, base);
    }
  }

  static runtime::Task<void> RunTask(Actor* actor, internal::Envelope* base) {
    auto* e = static_cast<MessageEnvelope*>(base);
    A& a = static_cast<A&>(*actor);
    absl::Status failure;
    using V = internal::AskValue_t<R>;
#if defined(__cpp_exceptions)
    try {
#endif
      if constexpr (std::is_void_v<V>) {
        co_await a.Handle(std::move(e->msg));
        e->Answer(absl::OkStatus());
      } else {
        V v = co_await a.Handle(std::move(e->msg));
        e->Answer(ToResult(std::move(v), &failure));
      }
#if defined(__cpp_exceptions)
    } catch (...) {
      failure = internal::StatusOfException(std::current_exception());
      e->Answer(Result(failure));
    }
#endif
    delete e;
    if (!failure.ok()) actor->HandleFailure(failure, Actor::FailureKind::kTurn);
  }

  static void Refuse(internal::Envelope* base, const absl::Status& why) {
    auto* e = static_cast<MessageEnvelope*>(base);
    e->Answer(Result(why));
    delete e;
  }

  static constexpr internal::EnvelopeVTable kVTable = {
      &Run, internal::kIsTask<R> ? &RunAsync : nullptr, &Refuse};
};

// AskHandle<R> awaits an actor's answer (R: a Status or StatusOr). It
// owns one reference to the reply state; the answer is moved out on
// co_await. The waiting side follows runtime::RemoteState's protocol
// (IDLE -> WAITING -> READY); a deadline simply stops waiting: the waiter
// is cleared on this shard, so a late answer wakes nobody.
// Shard-local to the asking shard.
template <typename R>
class [[nodiscard]] AskHandle {
  using State = runtime::internal::RemoteState<R>;

 public:
  AskHandle(State* s, std::optional<runtime::Duration> deadline)
      : s_(s), deadline_(deadline) {}
  AskHandle(AskHandle&& o) noexcept
      : s_(std::exchange(o.s_, nullptr)), deadline_(o.deadline_) {}
  AskHandle& operator=(AskHandle&&) = delete;
  ~AskHandle() {
    if (s_ != nullptr) {
      s_->waiter = {};
      s_->Unref();
    }
  }

  class Awaiter : private runtime::CancellationHook {
   public:
    explicit Awaiter(AskHandle& h) : h_(h) {}
    Awaiter(Awaiter&&) = delete;
    ~Awaiter() {
      Disarm();
      if (timer_.queued()) runtime::internal::RemoveTimer(&timer_);
      h_.s_->waiter = {};
    }
    bool await_ready() const {
      return h_.s_->state.load(std::memory_order_acquire) == State::kReady;
    }
    bool await_suspend(std::coroutine_handle<> c) {
      State* s = h_.s_;
      if (!Arm()) {
        status_ = runtime::CancelledStatus();
        return false;
      }
      s->waiter = runtime::Waiter{c, runtime::internal::CurrentTask()};
      uint8_t expected = State::kIdle;
      if (!s->state.compare_exchange_strong(expected, State::kWaiting,
                                            std::memory_order_acq_rel)) {
        s->waiter = {};
        Disarm();
        return false;  // answered already
      }
      if (h_.deadline_) {
        timer_.deadline = runtime::Now() + *h_.deadline_;
        timer_.context = this;
        timer_.fire = &OnDeadline;
        runtime::internal::InsertTimer(&timer_);
      }
      return true;
    }
    R await_resume() {
      Disarm();
      if (timer_.queued()) runtime::internal::RemoveTimer(&timer_);
      if (!status_.ok()) return R(status_);
      return h_.s_->outcome.Take();
    }

   private:
    static void OnDeadline(runtime::internal::TimerEntry* t) {
      auto* self = static_cast<Awaiter*>(t->context);
      self->GiveUp(absl::DeadlineExceededError("ask: deadline exceeded"));
    }
    void Cancelled() override { GiveUp(runtime::CancelledStatus()); }
    void GiveUp(absl::Status why) {
      State* s = h_.s_;
      if (!s->waiter) return;  // already woken
      // Answered: its wake-up is on the way (or here); let it resume us.
      if (s->state.load(std::memory_order_acquire) == State::kReady) return;
      runtime::Waiter w = std::exchange(s->waiter, {});
      status_ = std::move(why);
      runtime::internal::ScheduleLocal(w);
    }

    AskHandle& h_;
    runtime::internal::TimerEntry timer_;
    absl::Status status_;
  };

  Awaiter operator co_await() & { return Awaiter(*this); }
  Awaiter operator co_await() && { return Awaiter(*this); }

 private:
  State* s_;
  std::optional<runtime::Duration> deadline_;
};

// Whether actor type A can handle message type M.
template <typename A, typename M>
concept Handles = std::derived_from<A, Actor> && requires(A& a, M m) {
  a.Handle(std::move(m));
};

template <typename A, typename M>
Actor::TimerId Actor::StartTimer(runtime::Duration first,
                                 runtime::Duration period, M msg) {
  static_assert(Handles<A, M>, "the actor has no Handle for this message");
  struct Typed final : internal::ActorTimer {
    explicit Typed(M m) : msg(std::move(m)) {}
    M msg;
  };
  auto* t = new Typed(std::move(msg));
  t->actor = this;
  t->id = NextTimerId();
  t->period = period;
  t->make = [](internal::ActorTimer* base) -> internal::Envelope* {
    auto* self = static_cast<Typed*>(base);
    using E = MessageEnvelope<A, M, false>;
    return self->period.count() > 0 ? new E(M(self->msg))
                                    : new E(std::move(self->msg));
  };
  t->destroy = [](internal::ActorTimer* base) {
    delete static_cast<Typed*>(base);
  };
  internal::ActorTimer*& head = extras().timers;
  t->next = head;
  if (head != nullptr) head->prev = t;
  head = t;
  ArmTimer(t, first);
  return t->id;
}

template <typename A, typename M>
Actor::TimerId Actor::SendAfter(runtime::Duration d, M msg) {
  return StartTimer<A>(d, runtime::Duration(0), std::move(msg));
}

template <typename A, typename M>
Actor::TimerId Actor::SendEvery(runtime::Duration period, M msg) {
  return StartTimer<A>(period, period, std::move(msg));
}

// ActorRef<A> is a small copyable address of an actor of type A: shard,
// slot, generation (12 bytes). Valid anywhere in the runtime that created
// the actor; it never keeps the actor alive. Messages from one sender to
// one actor arrive in the order sent (same shard: the mailbox; across
// shards: the mesh ring of that pair of shards is FIFO).
template <typename A>
class ActorRef {
 public:
  ActorRef() = default;
  explicit ActorRef(internal::ActorAddress a) : addr_(a), valid_(true) {}

  bool valid() const { return valid_; }
  uint32_t shard() const { return addr_.shard; }
  internal::ActorAddress address() const { return addr_; }
  friend bool operator==(const ActorRef&, const ActorRef&) = default;

  // Sends `msg`; never blocks, never fails (a message to a stopped actor is
  // dropped and counted as a dead letter). Same shard: straight into the
  // mailbox; another shard: over the mesh. REQUIRES: on a shard.
  template <typename M>
  requires Handles<A, std::decay_t<M>>
  void Tell(M&& msg) const {
    using E = MessageEnvelope<A, std::decay_t<M>, false>;
    runtime::Shard* here = runtime::Shard::Current();
    if (here->id() == addr_.shard) {
      internal::DeliverLocal(addr_, new E(std::forward<M>(msg)));
      return;
    }
    here->Send(
        addr_.shard,
        mesh::Message([addr = addr_,
                       m = std::decay_t<M>(std::forward<M>(msg))]() mutable {
          internal::DeliverFromMesh(addr, new E(std::move(m)));
        }));
  }

  // Sends `msg`, waiting while the actor's mailbox is full (a bounded
  // mailbox: Actor::SetMailboxCapacity); co_await the handle: OK once the
  // message is queued, FailedPrecondition("actor stopped") if the actor is
  // gone or stops before there was room. Waiting senders get room in the
  // order they came. For an unbounded mailbox, Tell plus an
  // acknowledgement. REQUIRES: on a shard.
  template <typename M>
  requires Handles<A, std::decay_t<M>> AskHandle<absl::Status> Send(M&& msg)
  const {
    using E = MessageEnvelope<A, std::decay_t<M>, false>;
    using State = runtime::internal::RemoteState<absl::Status>;
    runtime::Shard* here = runtime::Shard::Current();
    auto* ack = new State;
    ack->owner = here->id();
    ack->target = addr_.shard;
    ack->Ref();  // the delivery's reference
    if (here->id() == addr_.shard) {
      internal::DeliverWhenRoom(addr_, new E(std::forward<M>(msg)), ack);
    } else {
      here->Send(
          addr_.shard,
          mesh::Message([addr = addr_, owned = typename State::Owned(ack),
                         m = std::decay_t<M>(std::forward<M>(msg))]() mutable {
            internal::DeliverWhenRoom(addr, new E(std::move(m)),
                                      owned.release());
          }));
    }
    return AskHandle<absl::Status>(ack, std::nullopt);
  }

  // Asks the actor to stop (Actor::Stop: with an OK reason what is queued
  // runs first; an error stops it as failed). From any shard; a no-op for
  // an actor already gone.
  void Stop(absl::Status reason = absl::OkStatus()) const {
    runtime::Shard* here = runtime::Shard::Current();
    if (here->id() == addr_.shard) {
      internal::StopLocal(addr_, std::move(reason));
      return;
    }
    here->Send(addr_.shard,
               mesh::Message([addr = addr_, reason = std::move(reason)] {
                 internal::StopLocal(addr, reason);
               }));
  }

  // Sends `msg` and returns an AskHandle that co_await turns into the
  // handler's answer: absl::StatusOr<V> for a handler returning V (or
  // Task<V>), absl::Status for void / Status handlers. A stopped actor
  // answers FailedPrecondition("actor stopped"). With a deadline, no answer
  // within `d` is DeadlineExceeded (the message may still run later; its
  // answer is then dropped). REQUIRES: on a shard.
  template <typename M>
  requires Handles<A, std::decay_t<M>>
  auto Ask(M&& msg, std::optional<runtime::Duration> deadline = {}) const {
    using E = MessageEnvelope<A, std::decay_t<M>, true>;
    using State = typename E::State;
    runtime::Shard* here = runtime::Shard::Current();
    auto* st = new State;
    st->owner = here->id();
    st->target = addr_.shard;
    st->Ref();  // the envelope's reference
    if (here->id() == addr_.shard) {
      internal::DeliverLocal(
          addr_, new E(std::forward<M>(msg), typename State::Owned(st)));
    } else {
      here->Send(
          addr_.shard,
          mesh::Message([addr = addr_, owned = typename State::Owned(st),
                         m = std::decay_t<M>(std::forward<M>(msg))]() mutable {
            internal::DeliverFromMesh(addr,
                                      new E(std::move(m), std::move(owned)));
          }));
    }
    return AskHandle<typename E::Result>(st, deadline);
  }

 private:
  internal::ActorAddress addr_;
  bool valid_ = false;
};

}  // namespace veloq::actors
