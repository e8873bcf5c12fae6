#pragma once

#include <cxxabi.h>

#include <chrono>
#include <concepts>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <memory>
#include <sstream>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <utility>
#include <variant>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "runtime/cancellation.h"
#include "runtime/clock.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::testing {

template <typename... Ms>
class TestProbe;

namespace internal {

// The readable name of type T ("veloq::foo::Ping").
template <typename T>
std::string TypeName() {
  const char* mangled = typeid(T).name();
  int status = 0;
  char* readable = abi::__cxa_demangle(mangled, nullptr, nullptr, &status);
  if (status != 0 || readable == nullptr) return mangled;
  std::string out(readable);
  std::free(readable);
  return out;
}

// What a probe has recorded, shared by its actor and its TestProbe handles.
//
// Thread safety: shard-local (the probe's shard).
// Invariant: messages.size() <= received; the front of `messages` is
// message number received - messages.size() + 1 (counting from 1).
template <typename T, typename... Ts>
concept OneOf = (std::same_as<T, Ts> || ...);

template <typename... Ts>
constexpr bool kDistinct = true;
template <typename T, typename... Ts>
constexpr bool kDistinct<T, Ts...> =
    (!std::same_as<T, Ts> && ...) && kDistinct<Ts...>;

template <typename... Ms>
struct ProbeState {
  explicit ProbeState(uint32_t shard) : shard(shard) {}

  const uint32_t shard;
  std::deque<std::variant<Ms...>> messages;  // not yet consumed, oldest first
  uint64_t received = 0;                     // ever recorded
  runtime::Waiter waiter;  // the task awaiting an arrival, if any

  template <typename M>
  void Record(M m) {
    messages.emplace_back(std::in_place_type<M>, std::move(m));
    ++received;
    Wake();
  }
  void Wake() {
    if (waiter) runtime::internal::ScheduleLocal(std::exchange(waiter, {}));
  }
  // The number of the oldest unconsumed message, counting from 1 over all
  // received. REQUIRES: !messages.empty().
  uint64_t FrontNumber() const { return received - messages.size() + 1; }
  // "<type> (message #k)" for the oldest unconsumed message.
  // REQUIRES: !messages.empty().
  std::string DescribeFront() const {
    std::string type = std::visit(
        [](const auto& m) { return TypeName<std::decay_t<decltype(m)>>(); },
        messages.front());
    return absl::StrCat(type, " (message #", FrontNumber(), ")");
  }
};

// Completes when a message is recorded, at `deadline`, or when the awaiting
// task is cancelled (then await_resume gives CancelledStatus), whichever is
// first; the caller looks at the state again. One awaiter per state at a
// time. Destroying it while suspended (shutdown) unhooks it.
template <typename State>
class ArrivalAwaiter : private runtime::CancellationHook {
 public:
  ArrivalAwaiter(State& s, runtime::TimePoint deadline) : s_(s) {
    timer_.deadline = deadline;
    timer_.fire = &ArrivalAwaiter::Fire;
    timer_.context = this;
  }
  ~ArrivalAwaiter() {
    if (timer_.queued()) runtime::internal::RemoveTimer(&timer_);
    if (self_ && s_.waiter.handle == self_) s_.waiter = {};
  }

  bool await_ready() const {
    return !s_.messages.empty() || runtime::Now() >= timer_.deadline;
  }
  bool await_suspend(std::coroutine_handle<> h) {
    if (s_.waiter) {
      std::fputs("TestProbe: two tasks await one probe at once\n", stderr);
      std::abort();
    }
    if (!Arm()) {
      cancelled_ = true;
      return false;
    }
    self_ = h;
    s_.waiter = runtime::Waiter{h, runtime::internal::CurrentTask()};
    runtime::internal::InsertTimer(&timer_);
    return true;
  }
  absl::Status await_resume() {
    Disarm();
    if (timer_.queued()) runtime::internal::RemoveTimer(&timer_);
    return cancelled_ ? runtime::CancelledStatus() : absl::OkStatus();
  }

 private:
  static void Fire(runtime::internal::TimerEntry* e) {
    static_cast<ArrivalAwaiter*>(e->context)->s_.Wake();
  }
  void Cancelled() override {
    cancelled_ = true;
    s_.Wake();
  }

  State& s_;
  runtime::internal::TimerEntry timer_;
  std::coroutine_handle<> self_;
  bool cancelled_ = false;
};

inline int64_t Millis(runtime::Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

}  // namespace internal

// TestProbeActor<Ms...> is the actor behind a TestProbe: it handles exactly
// the message types Ms... (sending it any other type does not compile) and
// records each message, in arrival order, in the probe's state. Spawn it
// through TestProbe<Ms...>::Spawn.
template <typename... Ms>
class TestProbeActor : public actors::Actor {
 public:
  using State = internal::ProbeState<Ms...>;

  explicit TestProbeActor(std::shared_ptr<State> state)
      : state_(std::move(state)) {}

  template <internal::OneOf<Ms...> M>
  void Handle(M m) {
    state_->Record(std::move(m));
  }

 private:
  std::shared_ptr<State> state_;
};

// TestProbe<Ms...> is a test's stand-in for an actor that receives messages
// of types Ms... (Akka's TestProbe, CAF's expect): hand ref() to the code
// under test, then assert on what arrives, in order.
//
//   auto probe = TestProbe<Started, Done>::Spawn();
//   worker.Tell(Run{.report_to = probe.ref()});
//   absl::StatusOr<Started> s = co_await probe.Expect<Started>();
//   auto ok = [](const Done& d) { return d.errors == 0; };
//   absl::StatusOr<Done> d = co_await probe.ExpectWhere<Done>(ok, 5s);
//   absl::Status quiet = co_await probe.ExpectNoMessage(50ms);
//
// Contract: every message the actor receives is recorded, in arrival order
// (per sender, the order sent: see ActorRef). Expect* look at the oldest
// message not yet consumed and consume it only if it is what they expect: a
// mismatch consumes nothing, so the test can report it and look again. The
// Expect* calls wait on runtime time (runtime::Now()): under a virtual clock,
// time jumps while the probe's shard has nothing but timers to run.
//
// Shard affinity: the actor lives on the shard that called Spawn, and the
// recorded messages are shard-local there. Send to ref() from any shard,
// but call and co_await everything else on the probe's shard (shard());
// elsewhere it aborts. One Expect* awaited at a time per probe.
//
// A TestProbe is a cheap copyable handle; copies share the record. The actor
// runs until Stop() or until the runtime stops; the record lives as long as
// the actor or any handle.
template <typename... Ms>
class TestProbe {
  static_assert(sizeof...(Ms) > 0, "a probe records at least one type");
  static_assert(internal::kDistinct<Ms...>, "each type once");
  static_assert((std::same_as<Ms, std::decay_t<Ms>> && ...),
                "message types are plain (no references, no const)");
  using State = internal::ProbeState<Ms...>;

 public:
  using Actor = TestProbeActor<Ms...>;

  // Starts a probe actor on the calling shard. REQUIRES: on a shard.
  static TestProbe Spawn() {
    auto state = std::make_shared<State>(runtime::Shard::Current()->id());
    actors::ActorRef<Actor> ref = actors::Spawn<Actor>(state);
    return TestProbe(std::move(state), ref);
  }

  // The probe actor, for the code under test (valid on any shard).
  actors::ActorRef<Actor> ref() const { return ref_; }
  uint32_t shard() const { return state_->shard; }

  // Waits up to `timeout` for a message, then consumes and returns the
  // oldest one if it is an M. Errors:
  //  - FailedPrecondition("TestProbe: expected <M>, got <type> (message
  //    #k)") if the oldest message is of another type (k counts from 1 over
  //    all messages received);
  //  - DeadlineExceeded("TestProbe: expected <M>, nothing arrived within N
  //    ms");
  //  - CancelledError if the awaiting task is cancelled.
  template <typename M>
  runtime::Task<absl::StatusOr<M>> Expect(
      runtime::Duration timeout = std::chrono::seconds(1)) const {
    return ExpectWhere<M>(AnyMessage{}, timeout);
  }

  // Expect<M>, and the message must also satisfy `pred(const M&)`; if not,
  // FailedPrecondition("TestProbe: message #k (<M>) does not satisfy the
  // predicate"), followed by ": <message>" when M can be written to an
  // ostream. `pred` is moved into the returned task (with g++ 12, bind a
  // lambda that owns resources to a local first).
  template <typename M, std::predicate<const M&> Pred>
  runtime::Task<absl::StatusOr<M>> ExpectWhere(
      Pred pred, runtime::Duration timeout = std::chrono::seconds(1)) const {
    static_assert(internal::OneOf<M, Ms...>,
                  "the probe does not record this message type");
    CheckShard();
    return Take<M>(state_, std::move(pred), timeout);
  }

  // OK if no message is pending and none arrives within `d`; else (as soon as
  // one is there) FailedPrecondition("TestProbe: expected no message for N
  // ms, got <type> (message #k)"), consuming nothing; CancelledError if the
  // awaiting task is cancelled.
  runtime::Task<absl::Status> ExpectNoMessage(runtime::Duration d) const {
    CheckShard();
    return NoMessage(state_, d);
  }

  // Messages recorded and not yet consumed.
  size_t pending() const {
    CheckShard();
    return state_->messages.size();
  }
  // Messages recorded since Spawn, consumed or not.
  uint64_t received() const {
    CheckShard();
    return state_->received;
  }

  // Stops the actor (Actor::Stop): what is queued in its mailbox is still
  // recorded; later messages are dead letters. The record stays readable.
  void Stop() const { ref_.Stop(); }

 private:
  struct AnyMessage {
    template <typename M>
    bool operator()(const M&) const {
      return true;
    }
  };

  TestProbe(std::shared_ptr<State> state, actors::ActorRef<Actor> ref)
      : state_(std::move(state)), ref_(ref) {}

  void CheckShard() const {
    runtime::Shard* here = runtime::Shard::Current();
    if (here == nullptr || here->id() != state_->shard) {
      std::fprintf(stderr, "TestProbe: used off its shard %u\n", state_->shard);
      std::abort();
    }
  }

  // OK once a message is pending; DeadlineExceeded (no message) when
  // `timeout` has passed first; CancelledError.
  static runtime::Task<absl::Status> WaitForMessage(State& s,
                                                    runtime::Duration timeout) {
    const runtime::TimePoint deadline = runtime::Now() + timeout;
    while (s.messages.empty()) {
      if (runtime::Now() >= deadline) co_return absl::DeadlineExceededError("");
      internal::ArrivalAwaiter<State> arrival(s, deadline);
      absl::Status woken = co_await arrival;
      if (!woken.ok()) co_return woken;
    }
    co_return absl::OkStatus();
  }

  template <typename M, typename Pred>
  static runtime::Task<absl::StatusOr<M>> Take(std::shared_ptr<State> s,
                                               Pred pred,
                                               runtime::Duration timeout) {
    absl::Status arrived = co_await WaitForMessage(*s, timeout);
    if (absl::IsDeadlineExceeded(arrived)) {
      co_return absl::DeadlineExceededError(absl::StrCat(
          "TestProbe: expected ", internal::TypeName<M>(),
          ", nothing arrived within ", internal::Millis(timeout), " ms"));
    }
    if (!arrived.ok()) co_return arrived;
    M* m = std::get_if<M>(&s->messages.front());
    if (m == nullptr) {
      co_return absl::FailedPreconditionError(
          absl::StrCat("TestProbe: expected ", internal::TypeName<M>(),
                       ", got ", s->DescribeFront()));
    }
    if (!pred(std::as_const(*m))) {
      co_return absl::FailedPreconditionError(
          absl::StrCat("TestProbe: message #", s->FrontNumber(), " (",
                       internal::TypeName<M>(),
                       ") does not satisfy the predicate", Printed(*m)));
    }
    M out = std::move(*m);
    s->messages.pop_front();
    co_return std::move(out);
  }

  static runtime::Task<absl::Status> NoMessage(std::shared_ptr<State> s,
                                               runtime::Duration d) {
    absl::Status arrived = co_await WaitForMessage(*s, d);
    if (absl::IsDeadlineExceeded(arrived)) co_return absl::OkStatus();
    if (!arrived.ok()) co_return arrived;
    co_return absl::FailedPreconditionError(
        absl::StrCat("TestProbe: expected no message for ", internal::Millis(d),
                     " ms, got ", s->DescribeFront()));
  }

  // ": <m>" if M can be written to an ostream, else nothing.
  template <typename M>
  static std::string Printed(const M& m) {
    if constexpr (requires(std::ostream & os) { os << m; }) {
      std::ostringstream os;
      os << ": " << m;
      return os.str();
    } else {
      return "";
    }
  }

  std::shared_ptr<State> state_;
  actors::ActorRef<Actor> ref_;
};

}  // namespace veloq::testing
