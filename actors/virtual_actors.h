#pragma once

#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "actors/sharded_service.h"
#include "runtime/clock.h"
#include "runtime/task.h"
#include "runtime/timer.h"

namespace veloq::actors {

// VirtualActors<A>: actors addressed by key (Orleans' grains). The actor
// for a key lives on ShardFor(key); it is activated — constructed as
// A(key), OnStart as its first turn — by its first message, and
// deactivated (Stop: what it has queued runs, then OnStop) after
// `idle_timeout` without messages. The next message activates it again,
// fresh: state that must survive goes to storage in OnStop / OnStart.
//
// Routing: each shard runs a directory actor that maps keys to their
// activations and forwards messages in the order it receives them, so one
// sender's messages to one key arrive in order. An Ask resolves the key
// through the directory, then asks the activation directly (the directory
// never waits on an activation).
//
// A message that reaches a key while its old activation is still stopping
// starts a new activation beside it (as in Orleans); keep OnStop short.
//
// Affinity: a value; use from any shard.
template <typename A>
class VirtualActors {
 public:
  struct Options {
    runtime::Duration idle_timeout = std::chrono::minutes(1);
    // How often each shard looks for idle activations.
    runtime::Duration sweep_every = std::chrono::seconds(10);
  };

  static runtime::Task<VirtualActors> Start(Options o) {
    VirtualActors v;
    v.dirs_ = co_await ShardedService<Directory>::Start(o);
    co_return v;
  }

  template <typename M>
  requires Handles<A, M>
  void Tell(std::string key, M msg) const {
    ActorRef<Directory> d = dirs_.ForKey(key);
    d.Tell(Route<M>{std::move(key), std::move(msg)});
  }

  // The activation's answer (see ActorRef::Ask), activating it if needed.
  template <typename M>
  requires Handles<A, M>
  auto Ask(std::string key, M msg,
           std::optional<runtime::Duration> deadline = {}) const
      -> runtime::Task<typename MessageEnvelope<A, M, true>::Result> {
    using Result = typename MessageEnvelope<A, M, true>::Result;
    Resolve r{std::move(key)};
    absl::StatusOr<ActorRef<A>> ref =
        co_await dirs_.ForKey(r.key).Ask(std::move(r), deadline);
    if (!ref.ok()) co_return Result(ref.status());
    co_return co_await ref->Ask(std::move(msg), deadline);
  }

  // Activations alive now, over all shards.
  runtime::Task<size_t> Active() const {
    co_return co_await dirs_.MapReduce(
        Count{}, size_t{0}, [](size_t acc, absl::StatusOr<size_t> n) {
          return acc + n.value_or(0);
        });
  }

  void Stop() const { dirs_.Stop(); }

 private:
  template <typename M>
  struct Route {
    std::string key;
    M msg;
  };
  struct Resolve {
    std::string key;
  };
  struct Sweep {};
  struct Count {};

  // A shard's directory of activations.
  class Directory : public Actor {
   public:
    explicit Directory(Options o) : options_(o) {}

    template <typename M>
    void Handle(Route<M> r) {
      Activation(r.key).Tell(std::move(r.msg));
    }
    ActorRef<A> Handle(Resolve r) { return Activation(r.key); }
    size_t Handle(Count) const { return live_.size(); }
    void Handle(Sweep) {
      const runtime::TimePoint now = runtime::Now();
      for (auto it = live_.begin(); it != live_.end();) {
        Actor* a = ActorTable::Current().Find(it->second.ref.address());
        const bool idle = now - it->second.last_used >= options_.idle_timeout;
        if (a == nullptr || (idle && a->mailbox_size() == 0)) {
          if (a != nullptr) it->second.ref.Stop();
          live_.erase(it++);
        } else {
          ++it;
        }
      }
    }

   protected:
    runtime::Task<absl::Status> OnStart() override {
      SendEvery<Directory>(options_.sweep_every, Sweep{});
      co_return absl::OkStatus();
    }
    runtime::Task<void> OnStop() override {
      for (auto& [key, e] : live_) e.ref.Stop();
      live_.clear();
      co_return;
    }

   private:
    struct Entry {
      ActorRef<A> ref;
      runtime::TimePoint last_used;
    };
    ActorRef<A> Activation(const std::string& key) {
      auto [it, fresh] = live_.try_emplace(key);
      if (fresh) it->second.ref = Spawn<A>(key);
      it->second.last_used = runtime::Now();
      return it->second.ref;
    }

    Options options_;
    absl::flat_hash_map<std::string, Entry> live_;
  };

  ShardedService<Directory> dirs_;
};

}  // namespace veloq::actors
