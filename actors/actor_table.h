#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "actors/actor.h"
#include "runtime/metrics.h"

namespace veloq::actors {

// ActorTable is a shard's actors: a slot per actor (the actor and the
// slot's generation; freed slots are reused with the next generation, so a
// stale ActorRef finds nothing), the dead-letter count, and the per-shard
// registry of names.
//
// Invariant: an actor is in exactly one slot, the one its address names,
// from Add until Remove.
//
// Thread safety: shard-local; Current() is the calling shard's table.
class ActorTable {
 public:
  static ActorTable& Current();
  ActorTable();

  // Takes `a`, gives it an address on this shard and starts it (OnStart is
  // its first turn).
  internal::ActorAddress Add(std::unique_ptr<Actor> a);
  // The live actor at `addr`, or null.
  Actor* Find(const internal::ActorAddress& addr) const;
  // Destroys the actor at `addr` (after OnStop) and drops its names.
  void Remove(
      internal::ActorAddress addr);  // (by value: it may be the actor's own)
  // Puts `fresh` in the slot of the live actor at `addr` (a restart: same
  // address, same names) and destroys the old instance.
  void Replace(const internal::ActorAddress& addr,
               std::unique_ptr<Actor> fresh);

  // For actor.cc: watcher lists, notification turns (never refused by a
  // mailbox bound), and sends waiting for room.
  void AddWatcher(Actor* a, internal::Watcher w);
  void RemoveWatcher(Actor* a, internal::Watcher w);
  void Notify(Actor* a, internal::Envelope* e);
  void DeliverWhenRoom(Actor* a, internal::Envelope* e,
                       runtime::internal::RemoteState<absl::Status>* ack);

  // Appends a line per actor (type, slot, mailbox size, state) to `out`:
  // the shard's describer (runtime::Shard::Describe).
  void Describe(std::string* out) const;
  // Messages queued in all mailboxes, and in the deepest one.
  std::pair<uint64_t, uint64_t> MailboxDepths() const;

  size_t live() const { return live_; }
  uint64_t dead_letters() const { return dead_letters_; }
  void CountDeadLetter() { ++dead_letters_; }

  // Names on this shard. Register fails with AlreadyExists if taken.
  absl::Status Register(std::string name, internal::ActorAddress addr,
                        const void* type);
  std::optional<internal::ActorAddress> Lookup(const std::string& name,
                                               const void* type) const;

  ~ActorTable();

 private:
  struct Slot {
    std::unique_ptr<Actor> actor;
    uint32_t generation = 0;
  };
  struct Named {
    internal::ActorAddress addr;
    const void* type;
  };
  std::vector<Slot> slots_;
  std::vector<uint32_t> free_;
  size_t live_ = 0;
  uint64_t dead_letters_ = 0;
  absl::flat_hash_map<std::string, Named> names_;
  // veloq_actors_alive, mailbox depths... (registered on this shard).
  std::vector<metrics::CallbackHandle> metrics_;
};

// A tag per actor type, for the registry's type check.
template <typename A>
const void* TypeTag() {
  static const char tag = 0;
  return &tag;
}

// Starts an actor of type A on the calling shard (constructed from `args`;
// OnStart is its first turn). REQUIRES: on a shard.
template <typename A, typename... Args>
ActorRef<A> Spawn(Args&&... args) {
  static_assert(std::derived_from<A, Actor>, "actors derive from Actor");
  return ActorRef<A>(ActorTable::Current().Add(
      std::make_unique<A>(std::forward<Args>(args)...)));
}

// Starts an actor of type A on shard `shard` (the arguments are copied
// there); co_await the handle for its reference.
template <typename A, typename... Args>
auto SpawnOn(uint32_t shard, Args... args) {
  auto make = [... args = std::move(args)]() mutable {
    return Spawn<A>(std::move(args)...);
  };
  return runtime::SpawnOn(shard, std::move(make));
}

// SpawnOn the less loaded of two random shards (power of two choices).
template <typename A, typename... Args>
auto SpawnBalanced(Args... args) {
  return SpawnOn<A>(runtime::PickBalancedShard(), std::move(args)...);
}

// The calling shard's registry of names.
template <typename A>
absl::Status Register(std::string name, const ActorRef<A>& ref) {
  if (ref.shard() != runtime::Shard::Current()->id()) {
    return absl::InvalidArgumentError(
        "register an actor by name on its own shard");
  }
  return ActorTable::Current().Register(std::move(name), ref.address(),
                                        TypeTag<A>());
}
template <typename A>
std::optional<ActorRef<A>> Lookup(const std::string& name) {
  std::optional<internal::ActorAddress> a =
      ActorTable::Current().Lookup(name, TypeTag<A>());
  if (!a) return std::nullopt;
  return ActorRef<A>(*a);
}

template <typename C, typename... Args>
ActorRef<C> Actor::SpawnChild(Args... args) {
  static_assert(std::derived_from<C, Actor>, "actors derive from Actor");
  std::function<std::unique_ptr<Actor>()> factory =
      [... args = std::move(args)]() -> std::unique_ptr<Actor> {
    return std::make_unique<C>(args...);
  };
  std::unique_ptr<Actor> first = factory();
  return ActorRef<C>(AdoptChild(std::move(first), std::move(factory)));
}

template <typename A>
ActorRef<A> Actor::Self() const {
  return ActorRef<A>(address_);
}

}  // namespace veloq::actors
