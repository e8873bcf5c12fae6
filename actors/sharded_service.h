#pragma once

#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "actors/actor.h"
#include "actors/actor_table.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"
#include "runtime/task.h"

namespace veloq::actors {

// The shard that owns `key` among `shards`: a fixed hash (FNV-1a, 64-bit),
// the same in every process and run, so data placed by key stays put.
inline uint32_t ShardFor(std::string_view key, uint32_t shards) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : key) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return static_cast<uint32_t>(h % shards);
}

// ShardedService<A> is one actor of type A on every shard (Seastar's
// sharded<T>): a partitioned service, a cluster in a box. Each instance is
// an ordinary actor on its shard; the service is a small copyable table of
// their references, usable from any shard.
//
//   ShardedService<Store> store = co_await ShardedService<Store>::Start(cfg);
//   co_await store.ForKey("user:42").Ask(Get{"user:42"});
//   auto sizes = co_await store.InvokeOnAll(Size{});
//
// Affinity: a value; Start and Stop from a shard.
template <typename A>
class ShardedService {
 public:
  ShardedService() = default;

  // Starts an A on every shard, constructed there from copies of `args`.
  template <typename... Args>
  static runtime::Task<ShardedService> Start(Args... args) {
    ShardedService s;
    const uint32_t n = runtime::Shard::Current()->shard_count();
    for (uint32_t shard = 0; shard < n; ++shard) {
      ActorRef<A> ref = co_await SpawnOn<A>(shard, args...);
      s.refs_.push_back(ref);
    }
    co_return s;
  }

  uint32_t size() const { return static_cast<uint32_t>(refs_.size()); }
  const ActorRef<A>& on(uint32_t shard) const { return refs_[shard]; }
  // The calling shard's instance.
  const ActorRef<A>& local() const {
    return refs_[runtime::Shard::Current()->id()];
  }
  // The instance that owns `key` (ShardFor).
  const ActorRef<A>& ForKey(std::string_view key) const {
    return refs_[ShardFor(key, size())];
  }

  // Asks the instance on `shard`.
  template <typename M>
  requires Handles<A, M>
  auto InvokeOn(uint32_t shard, M msg) const {
    return refs_[shard].Ask(std::move(msg));
  }

  // Asks every instance (a copy of `msg` each, all in flight at once) and
  // gathers the answers in shard order.
  template <typename M>
  requires Handles<A, M>
  auto InvokeOnAll(M msg) const -> runtime::Task<
      std::vector<typename MessageEnvelope<A, M, true>::Result>> {
    using Result = typename MessageEnvelope<A, M, true>::Result;
    std::vector<AskHandle<Result>> pending;
    pending.reserve(refs_.size());
    for (const ActorRef<A>& r : refs_) pending.push_back(r.Ask(M(msg)));
    std::vector<Result> out;
    out.reserve(pending.size());
    for (AskHandle<Result>& h : pending) out.push_back(co_await h);
    co_return out;
  }

  // Asks every instance and folds the answers: reduce(acc, answer) in
  // shard order, starting from `init`.
  template <typename M, typename T, typename F>
  requires Handles<A, M> runtime::Task<T> MapReduce(M msg, T init, F reduce)
  const {
    auto answers = co_await InvokeOnAll(std::move(msg));
    for (auto& a : answers) init = reduce(std::move(init), std::move(a));
    co_return init;
  }

  // Tells every instance to stop (each runs what it has queued first).
  void Stop() const {
    for (const ActorRef<A>& r : refs_) r.Stop();
  }

 private:
  std::vector<ActorRef<A>> refs_;
};

}  // namespace veloq::actors
