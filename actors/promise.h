#pragma once

#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "actors/actor.h"
#include "runtime/remote.h"
#include "runtime/shard.h"

namespace veloq::actors {

// Promise<T> is a reply given later, from anywhere in the runtime: the
// awaiting side (a task or a coroutine handler) holds the Future, the
// Promise travels — in a message, into an actor's fields — until someone
// calls Set. A handler that must answer only after other messages have run
// (CAF's response_promise, Akka's pipe) keeps the Promise instead of
// suspending its turn.
//
// Exactly one answer reaches the Future: the first Set, or
// Cancelled("promise dropped") if the last Promise is destroyed unset, so
// an awaiter never hangs on a lost promise. The Future's co_await gives
// absl::StatusOr<T> (absl::Status for T = void), with an optional deadline
// (DeadlineExceeded).
//
// Thread safety: the Future is shard-local to the shard that made the
// pair; the Promise is move-only and may be moved to and Set on any shard.
template <typename T>
class Promise {
 public:
  using Result = runtime::internal::StatusOrFor_t<T>;
  using State = runtime::internal::RemoteState<Result>;

  Promise() = default;
  Promise(Promise&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
  Promise& operator=(Promise&& o) noexcept {
    if (this != &o) {
      Drop();
      s_ = std::exchange(o.s_, nullptr);
    }
    return *this;
  }
  ~Promise() { Drop(); }

  bool valid() const { return s_ != nullptr; }

  // Answers the Future (a value, or an error status). REQUIRES: valid(), on
  // a shard of the runtime. Leaves the promise empty.
  void Set(Result r) {
    State* s = std::exchange(s_, nullptr);
    s->outcome.value.emplace(std::move(r));
    s->Publish();
    s->Unref();
  }

 private:
  template <typename U>
  friend std::pair<Promise<U>, AskHandle<typename Promise<U>::Result>>
  MakePromise(std::optional<runtime::Duration> deadline);

  explicit Promise(State* s) : s_(s) {}
  void Drop() {
    if (s_ != nullptr) Set(Result(absl::CancelledError("promise dropped")));
  }

  State* s_ = nullptr;
};

// A Promise and the Future that awaits it (an AskHandle). REQUIRES: on a
// shard; co_await the Future on this shard.
template <typename T>
std::pair<Promise<T>, AskHandle<typename Promise<T>::Result>> MakePromise(
    std::optional<runtime::Duration> deadline = std::nullopt) {
  using State = typename Promise<T>::State;
  auto* s = new State;
  s->owner = runtime::Shard::Current()->id();
  s->Ref();  // the promise's reference; the handle holds the first
  return {Promise<T>(s), AskHandle<typename Promise<T>::Result>(s, deadline)};
}

}  // namespace veloq::actors
