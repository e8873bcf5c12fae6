#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "mesh/mesh.h"
#include "runtime/clock.h"

namespace veloq::runtime::internal {

// SimScheduler runs a runtime's shards one tick at a time, in an order drawn
// from a seed, on a virtual clock: deterministic simulation
// (Runtime::Builder::Simulation).
//
// Exactly one shard runs at any moment — it holds the baton — so execution
// is sequential, as if every shard were multiplexed on one thread. Each
// shard keeps its own OS thread only as the holder of its stack and its
// thread_locals (shard-local state, ours and users', lives in thread_locals
// in a thread-per-core design); the threads hand the baton to each other
// and never run at the same time.
//
// One step: the baton holder runs one tick (with task and mesh budgets drawn
// from the seed, so that the interleaving of shards varies at a finer grain
// than whole run queues), then EndTurn picks the next shard:
//   1. uniformly (by the seed) among the shards with work to do: runnable
//      tasks, inbound messages (a mesh wake marks the receiver runnable),
//      overflow that can move;
//   2. else, if a shard has I/O in flight in its driver, that shard, to poll
//      (real I/O completes in real time, so I/O timing is the one thing the
//      seed does not decide; without I/O the run is fully deterministic);
//      after kIoPatience of real time without a completion, the clock may
//      move on instead;
//   3. else the virtual clock jumps to the earliest timer (or shutdown
//      deadline) and that shard runs;
//   4. else nothing can ever happen again: a deadlock. The runtime's
//      handler (set_deadlock_handler) is called on the baton holder's
//      thread while every other shard is stopped in AwaitTurn, so it may
//      inspect every shard; it normally cancels the root task.
// The same seed and the same program give the same sequence of steps; every
// step is folded into trace_hash(), which tests compare across runs.
//
// Thread safety: AwaitTurn/EndTurn on shard threads (the baton protocol),
// Wake from any thread, Draw* only by the baton holder, the rest anywhere.
class SimScheduler {
 public:
  SimScheduler(uint32_t shards, uint64_t seed, Clock* clock);

  SimScheduler(const SimScheduler&) = delete;
  SimScheduler& operator=(const SimScheduler&) = delete;

  // What a shard reports at the end of its turn.
  struct TurnEnd {
    bool runnable = false;             // it has work for another tick now
    std::optional<TimePoint> wake_at;  // its earliest timer or deadline
    bool io_in_flight = false;         // its driver has ops in the kernel
    bool exited = false;               // its loop is over
  };

  // Called by the runtime once every shard thread exists: hands the first
  // turn out (every shard starts runnable).
  void Start();

  // Blocks the calling shard thread until shard `id` holds the baton.
  void AwaitTurn(uint32_t id);
  // The baton holder `id` ends its turn and hands the baton on.
  void EndTurn(uint32_t id, const TurnEnd& end);

  // Marks shard `id` runnable (a message arrived for it). Any thread.
  void Wake(uint32_t id);

  // Deterministic draws for the baton holder.
  uint64_t DrawRandom();
  // A budget in [1, max].
  size_t DrawBudget(size_t max);

  // Called when no shard can make progress (see the class comment).
  void set_deadlock_handler(std::function<void()> f) {
    deadlock_handler_ = std::move(f);
  }

  uint64_t seed() const { return seed_; }
  // Steps taken and a hash of every scheduling decision so far (shard
  // picked, virtual time). Read after the runtime has stopped.
  uint64_t steps() const;
  uint64_t trace_hash() const;
  uint64_t deadlocks() const;

  // The mesh::Waker of a shard under simulation: marks it runnable.
  class ShardWaker final : public mesh::Waker {
   public:
    ShardWaker(SimScheduler* s, uint32_t id) : s_(s), id_(id) {}
    void Wake() override { s_->Wake(id_); }

   private:
    SimScheduler* s_;
    uint32_t id_;
  };
  mesh::Waker* waker(uint32_t id) { return &wakers_[id]; }

  // How long the scheduler polls drivers with I/O in flight, in real time,
  // before letting the virtual clock jump to the next timer instead.
  static constexpr auto kIoPatience = std::chrono::milliseconds(2);

 private:
  static constexpr uint32_t kNone = ~0u;

  struct PerShard {
    bool runnable = true;
    bool exited = false;
    bool io_in_flight = false;
    std::optional<TimePoint> wake_at;
  };

  // Picks the next baton holder; kNone if no shard can ever run again
  // without an outside event. Requires mu_.
  uint32_t PickLocked();
  // Gives shard `id` the baton and records the step. Requires mu_.
  void HandTo(uint32_t id);

  const uint64_t seed_;
  Clock* const clock_;
  std::vector<ShardWaker> wakers_;

  mutable std::mutex mu_;
  std::vector<PerShard> shards_;                        // guarded by mu_
  std::unique_ptr<std::condition_variable[]> turn_cv_;  // one per shard
  uint32_t current_ = kNone;                            // guarded by mu_
  bool started_ = false;                                // guarded by mu_
  uint64_t rng_;                                        // baton holder / mu_
  uint64_t steps_ = 0;                                  // guarded by mu_
  uint64_t hash_;                                       // guarded by mu_
  uint64_t deadlocks_ = 0;                              // guarded by mu_
  // Real time of the last step that was not an unproductive I/O poll.
  std::chrono::steady_clock::time_point last_progress_;  // guarded by mu_
  bool polling_io_ = false;                              // guarded by mu_
  std::function<void()> deadlock_handler_;
};

}  // namespace veloq::runtime::internal
