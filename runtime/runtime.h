#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "mesh/mesh.h"
#include "mesh/message.h"
#include "runtime/blocking_pool.h"
#include "runtime/clock.h"
#include "runtime/internal/status_or.h"
#include "runtime/parker.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"

namespace veloq::runtime {

// Runtime runs one Shard per core, each on its own (optionally pinned)
// thread, connected by a mesh::Mesh, plus a BlockingPool.
//
//   auto rt = Runtime::Builder().Shards(4).Build();
//   absl::StatusOr<int> r = (*rt)->Run([]() -> Task<int> { co_return 42; });
//
// Run() starts the shard threads, calls the root function on shard 0 and
// runs the Task it returns as the root task. When the root task finishes the
// runtime shuts down: every shard cancels its remaining tasks, gives them
// ShutdownGrace to finish, destroys any left, and its thread is joined.
// Run() then returns the root's result as a StatusOr (see StatusOrFor: a
// Task<absl::Status> gives a Status, a Task<StatusOr<U>> a StatusOr<U>).
//
// Thread safety: Build and Run from one thread; RequestStop, Post and the
// accessors from any thread while Run is in progress.
class Runtime {
 public:
  // Makes the Parker (I/O driver) of a shard; called on the shard's thread.
  using ParkerFactory =
      std::function<absl::StatusOr<std::unique_ptr<Parker>>(uint32_t shard)>;

  class Builder {
   public:
    // Number of shards; 0 (default) = the CPUs in the process affinity mask.
    Builder& Shards(uint32_t n);
    // Pin shard i to the i-th CPU of the affinity mask (default on).
    Builder& Pin(bool on);
    Builder& RunQueueCapacity(size_t n);
    // Slots per mesh ring (a power of two, default 1024).
    Builder& RingCapacity(uint32_t n);
    // Cross-shard submissions (SubmitTo) suspend while this many messages to
    // one destination wait in overflow (default 4096).
    Builder& MeshOverflowLimit(size_t n);
    Builder& TaskBudget(size_t n);
    Builder& MeshBudget(size_t n);
    Builder& IoBudget(size_t n);
    // How long an idle shard polls before it parks (default 50 us; 0 parks
    // at once).
    Builder& IdleSpin(Duration d);
    // While spinning, yield the core to other runnable threads every few
    // polls (ShardOptions::idle_yield; default off).
    Builder& IdleYield(bool on);
    // Bytes of freed coroutine frames each shard keeps for reuse
    // (ShardOptions::frame_cache_bytes; default 64 MiB).
    Builder& FrameCacheBytes(size_t bytes);
    Builder& StallThreshold(Duration d);
    Builder& ShutdownGrace(Duration d);
    // Threads of the blocking pool, started on demand (default 4).
    Builder& BlockingThreads(size_t n);
    // Run on a virtual clock that jumps to the next timer when a shard has
    // nothing else to run (for tests).
    Builder& VirtualClock(bool on);
    // Deterministic simulation (for tests): the shards take turns, one tick
    // at a time, in an order drawn from `seed`, on a virtual clock; blocking
    // jobs run inline. The same seed and program give the same run. A run
    // where no shard can ever make progress again (a deadlock) is detected:
    // the root task is cancelled and simulation_deadlock() describes every
    // shard at that moment. Implies VirtualClock(true), Pin(false) and
    // IdleSpin(0); I/O still completes in real time (see
    // internal::SimScheduler).
    Builder& Simulation(uint64_t seed);
    // SIGINT/SIGTERM request a graceful stop (cancel the root task); a second
    // signal stops every shard. Default off.
    Builder& HandleSignals(bool on);
    Builder& Parkers(ParkerFactory f);

    absl::StatusOr<std::unique_ptr<Runtime>> Build();

   private:
    friend class Runtime;
    uint32_t shards_ = 0;
    bool pin_ = true;
    uint32_t ring_capacity_ = 1024;
    size_t blocking_threads_ = 4;
    bool virtual_clock_ = false;
    bool handle_signals_ = false;
    std::optional<uint64_t> sim_seed_;
    ShardOptions shard_options_;
    ParkerFactory parkers_;
  };

  ~Runtime();
  Runtime(const Runtime&) = delete;
  Runtime& operator=(const Runtime&) = delete;

  // Runs `root` (a callable returning Task<T>) as the root task on shard 0
  // and blocks until the runtime has shut down. REQUIRES: called once.
  template <typename F>
  auto Run(F&& root)
      -> internal::StatusOrFor_t<typename std::invoke_result_t<F&>::value_type>;

  // Asks the root task to stop: cancels it (cooperatively). Thread-safe.
  void RequestStop();

  // Runs `m` on shard `shard` from any thread (the mesh's alien inbox).
  // REQUIRES: !stopped().
  void Post(uint32_t shard, mesh::Message m);
  // Whether Run has returned: every shard thread has been joined, so
  // shard-owned state may be touched from the calling thread. Thread-safe.
  bool stopped() const { return stopped_.load(std::memory_order_acquire); }

  uint32_t shard_count() const { return static_cast<uint32_t>(shards_.size()); }
  Shard& shard(uint32_t i) const { return *shards_[i]; }
  mesh::Mesh& mesh() const { return *mesh_; }
  Clock& clock() const { return *clock_; }
  BlockingPool& blocking_pool() const { return *blocking_; }
  size_t mesh_overflow_limit() const {
    return options_.shard_options_.mesh_overflow_limit;
  }
  // The CPUs shards are pinned to (empty when pinning is off).
  const std::vector<int>& cpus() const { return cpus_; }

  // The runtime of the calling shard, or null off-shard.
  static Runtime* Current();

  // Simulation only (else null): the scheduler, for its seed and trace.
  const internal::SimScheduler* simulation() const { return sim_.get(); }
  // Simulation only: empty, or what every shard was doing when the first
  // deadlock was detected. Read after Run returns.
  const std::string& simulation_deadlock() const { return sim_deadlock_; }

 private:
  friend class Shard;
  explicit Runtime(const Builder& b, std::vector<int> cpus);

  template <typename T, typename F>
  static Task<void> RootTask(Runtime* rt, F fn,
                             std::optional<internal::StatusOrFor_t<T>>* out);

  // Starts the shards, posts `start` to shard 0, waits for the root task and
  // shuts down.
  absl::Status RunRoot(mesh::Message start);
  void RootStarted(internal::TaskHeader* root);  // on shard 0
  void RootFinished();                           // on shard 0
  void ShardQuiesced(uint32_t id);               // on shard `id`
  void ShardStopSeen(uint32_t id);               // on shard `id`
  void ShutdownShards();
  void ShardMain(uint32_t id);
  // Simulation: no shard can make progress (see Builder::Simulation).
  void OnSimDeadlock();
  // The stall watchdog: samples every shard each stall_threshold / 2.
  void Watchdog();

  const Builder options_;
  std::vector<int> cpus_;
  std::unique_ptr<Clock> clock_;
  std::unique_ptr<mesh::Mesh> mesh_;
  std::unique_ptr<internal::SimScheduler> sim_;
  std::string sim_deadlock_;  // written under the simulation's baton
  std::vector<std::unique_ptr<Shard>> shards_;
  std::unique_ptr<BlockingPool> blocking_;
  std::vector<std::thread> threads_;
  bool ran_ = false;

  internal::TaskHeader* root_ = nullptr;  // shard 0 only
  std::atomic<uint32_t> quiesced_{0};
  std::atomic<uint32_t> stop_seen_{0};
  std::atomic<bool> shutdown_started_{false};
  std::atomic<bool> stopped_{false};

  std::mutex mu_;
  std::condition_variable cv_;
  bool root_done_ = false;       // guarded by mu_
  bool watchdog_stop_ = false;   // guarded by mu_
  uint32_t shards_started_ = 0;  // guarded by mu_
  absl::Status start_error_;     // guarded by mu_
};

template <typename T, typename F>
Task<void> Runtime::RootTask(Runtime* rt, F fn,
                             std::optional<internal::StatusOrFor_t<T>>* out) {
  rt->RootStarted(internal::CurrentTask());
  if constexpr (std::is_void_v<T>) {
    co_await fn();
    out->emplace(absl::OkStatus());
  } else {
    out->emplace(co_await fn());
  }
  rt->RootFinished();
}

template <typename F>
auto Runtime::Run(F&& root)
    -> internal::StatusOrFor_t<typename std::invoke_result_t<F&>::value_type> {
  using T = typename std::invoke_result_t<F&>::value_type;
  using R = internal::StatusOrFor_t<T>;
  std::optional<R> result;
  absl::Status st = RunRoot(mesh::Message(
      [this, out = &result, fn = std::forward<F>(root)]() mutable {
        Spawn(RootTask<T>(this, std::move(fn), out), "root").Detach();
      }));
  if (!st.ok()) return R(st);
  if (!result.has_value()) {
    return R(
        absl::CancelledError("runtime stopped before the root task finished"));
  }
  return std::move(*result);
}

}  // namespace veloq::runtime
