#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mesh/mesh.h"
#include "runtime/clock.h"
#include "runtime/internal/frame_allocator.h"
#include "runtime/internal/reply_table.h"
#include "runtime/internal/sim_scheduler.h"
#include "runtime/internal/task_header.h"
#include "runtime/internal/timer_queue.h"
#include "runtime/metrics.h"
#include "runtime/parker.h"

namespace veloq::runtime {

class Runtime;

// Per-shard tuning, set through Runtime::Builder.
struct ShardOptions {
  size_t run_queue_capacity = 1024;  // initial; the queue grows if needed
  // Per-tick budgets: at most this many local task resumes, inbound mesh
  // messages, I/O completions and timer expiries per tick, so that none of
  // the four sources can starve the others.
  size_t task_budget = 256;
  size_t mesh_budget = 256;
  size_t io_budget = 256;
  size_t timer_budget = 256;
  // SubmitTo waits (backpressure) while this many messages to one
  // destination sit in this shard's overflow.
  size_t mesh_overflow_limit = 4096;
  // Before parking, an idle shard polls its inbound mesh, I/O and timers for
  // this long (0: park at once). Short spins keep cross-shard round trips
  // off the kernel's wake-up path when shards talk often; a shard that stays
  // idle still sleeps after one spin.
  Duration idle_spin = std::chrono::microseconds(50);
  // While spinning, call sched_yield(2) every 8 polls. For a shard whose
  // core is shared with other busy threads (a load generator on the same
  // box, more shards than cores): they get the CPU as soon as they are
  // runnable instead of at the end of the spinner's time slice, and the
  // shard stays runnable, so a sender finds it RUNNING and makes no wake-up
  // syscall while it spins. Measured (docs/kv.md): kv_server with 2 shards
  // and redis-benchmark on 2 cores, SET -P1, 28.4 k -> 40.4 k ops/s
  // (medians). Off by default: on a core of its own the yields are
  // syscalls for nothing.
  bool idle_yield = false;
  // Freed coroutine frames (tasks, actors' turns) this shard keeps for
  // reuse, in bytes, all size classes together; frees past it go back to
  // the global allocator. Bounds what a shard holds on to after a burst.
  size_t frame_cache_bytes = internal::FrameAllocator::kDefaultMaxCachedBytes;
  // A resume that holds the shard longer than this is reported (spdlog warn).
  Duration stall_threshold = std::chrono::milliseconds(10);
  // On shutdown, how long cancelled tasks get to finish before their frames
  // are destroyed where they are suspended.
  Duration shutdown_grace = std::chrono::seconds(5);
};

// Counters of one shard, written only by it; read from anywhere.
struct ShardStats {
  uint64_t tasks_run = 0;    // resumes from the run queue
  uint64_t ticks = 0;        // loop iterations
  uint64_t parks = 0;        // times it blocked with nothing to run
  uint64_t futex_parks = 0;  // of those, in a futex wait on its park word
                             // (no I/O in flight) rather than in its Parker
  uint64_t idle_yields = 0;  // sched_yield calls while spinning (idle_yield)
  uint64_t stalls = 0;       // resumes longer than the stall threshold
  uint64_t message_exceptions = 0;  // messages whose closure threw here
  uint64_t live_tasks = 0;          // spawned tasks not yet finished
  uint64_t run_queue = 0;  // runnable tasks at the end of the last tick
  uint64_t timers = 0;     // armed timers
  uint64_t spawned = 0;    // tasks spawned here
};

// Shard is one core's executor: a pinned thread running a FIFO run queue of
// tasks, its timers, its inbound mesh rings and its Parker (the I/O driver).
//
// One tick: resume up to task_budget tasks; run up to mesh_budget inbound
// mesh messages, publish what they (and the tasks before) sent, then resume
// the tasks they woke with what is left of the task budget (so that a
// request's reply leaves in the tick its request arrived); collect up to
// io_budget I/O completions; fire up to timer_budget expired timers; publish
// the outgoing mesh batch. With nothing
// runnable it parks (see mesh::Mesh for the no-lost-wake-up protocol) until
// the next timer: in its Parker's wait (io_uring_enter) while I/O is in
// flight, else in a futex wait on its mesh park word, a cheaper sleep and
// wake (Parker::WaitsOnlyForWake, mesh::Mesh::ParkMode).
//
// Under simulation (Runtime::Builder::Simulation) the shard never parks:
// it runs one tick per turn of the internal::SimScheduler, with budgets the
// scheduler draws from the seed.
//
// Thread safety: shard-local, except id(), load() and stats(), which any
// thread may call. Shard::Current() is the shard of the calling thread.
class Shard {
 public:
  // `sim`: the simulation scheduler, or null for a normal shard.
  Shard(Runtime* runtime, uint32_t id, mesh::Mesh* mesh, Clock* clock,
        std::unique_ptr<Parker> parker, const ShardOptions& options,
        internal::SimScheduler* sim = nullptr);
  ~Shard();

  Shard(const Shard&) = delete;
  Shard& operator=(const Shard&) = delete;

  // The calling thread's shard, or null off-shard.
  static Shard* Current();

  uint32_t id() const { return id_; }
  uint32_t shard_count() const { return mesh_->shard_count(); }
  Runtime& runtime() const { return *runtime_; }
  Clock& clock() const { return *clock_; }
  TimePoint Now() const { return clock_->Now(); }
  Parker& parker() const { return *parker_; }
  mesh::Mesh& mesh() const { return *mesh_; }
  const ShardOptions& options() const { return options_; }
  internal::TimerQueue& timers() { return timers_; }
  // Awaiters of this shard's SubmitTo calls. Shard-local.
  internal::ReplyTable& replies() { return replies_; }

  // Appends `w` to the run queue. Shard-local.
  void Schedule(Waiter w);

  // Sends `m` to shard `to` over the mesh (published by this tick's next
  // Flush at the latest, or at once when it completes a batch). Runs `m`
  // here if to == id(). A closure that throws (on either shard) is
  // destroyed and its exception goes to the mesh::MessageExceptionHandler
  // (the runtime's logs and counts it), never to the sender: for a result
  // or an error back, use SubmitTo. Shard-local.
  void Send(uint32_t to, mesh::Message m);

  // An estimate of this shard's load (live tasks + runnable), published once
  // per tick, for placement decisions (SpawnBalanced). Any thread.
  uint32_t load() const { return load_.load(std::memory_order_relaxed); }

  ShardStats stats() const;

  // Counts a message closure that threw on this shard (the runtime's
  // mesh::MessageExceptionHandler calls it). Shard-local.
  void CountMessageException() { ++message_exceptions_; }

  // Stall watch: called by the runtime's watchdog thread every
  // stall_threshold / 2. If the shard has been inside the same resume (or
  // mesh drain: messages from other shards, synchronous actor turns among
  // them, run in it) since the previous call and for at least the
  // threshold, flags it; the shard logs the stall when that resume or drain
  // returns. Thread-safe (watchdog only).
  void WatchForStall(TimePoint now);

  // Whether the shard has cancelled its tasks for shutdown (new tasks start
  // cancelled from then on). See AddDrainHook for the phase before.
  bool stopping() const { return cancelled_all_; }
  // Whether a shutdown was requested (the drain phase or later).
  bool stop_requested() const { return stop_requested_; }

  // Shutdown runs in two phases. Drain: every hook added here is started
  // once (`start`, on this shard), and the shard keeps running normally —
  // tasks, mesh, I/O, timers — until every hook's `done` returns true or
  // shutdown_grace has passed. Cancel: then every task is cancelled and
  // gets what is left of the grace period (at least a quarter of it) to
  // finish. (The actor table
  // drains this way: queued messages run before anything is cancelled.)
  // Shard-local; hooks added during the drain phase are started at once.
  struct DrainHook {
    std::function<void()> start;
    std::function<bool()> done;
  };
  void AddDrainHook(DrainHook hook);

  // A pseudo-random number for placement decisions (SpawnBalanced): drawn
  // from the simulation seed under simulation, else from a per-shard
  // generator. Shard-local.
  uint64_t Random();

  // A human-readable account of this shard: its counters, its live tasks
  // (names, spawn sites, ages) and whatever the
  // describers added here print (the actor table lists its actors and their
  // mailboxes). For test failures and debugging. Shard-local: call it on the
  // shard, or while the shard is stopped (simulation).
  std::string Describe() const;

  // One live task, for dumps (/debug/tasks).
  struct TaskInfo {
    std::string name;
    std::string file;  // where it was spawned
    uint32_t line = 0;
    Duration age{0};  // since it was spawned (to the start of this tick)
    bool cancelled = false;
  };
  // Up to `max` live tasks, oldest first. Shard-local.
  std::vector<TaskInfo> Tasks(size_t max) const;

  // When the current tick started (internal::CycleClock ticks). Shard-local.
  uint64_t tick_cycles() const { return tick_cycles_; }
  void AddDescriber(std::function<void(std::string*)> describer);

  // Live spawned tasks. Shard-local.
  void AddTask(internal::TaskHeader* t);
  void RemoveTask(internal::TaskHeader* t);
  size_t live_tasks() const { return live_count_; }
  template <typename F>
  void ForEachTask(F&& f) const {
    for (internal::TaskHeader* t = tasks_head_; t != nullptr; t = t->next)
      f(*t);
  }

 private:
  friend class Runtime;

  // The loop; returns when the runtime has stopped. Called by the runtime on
  // the shard's own thread.
  void Run();
  void RunSimulated();
  void RegisterMetrics();
  // One loop iteration with these budgets for tasks and inbound messages.
  void Tick(size_t task_budget, size_t mesh_budget);
  // Once the loop is over: destroys what is left, shuts the driver down.
  void Finish();
  // The time shutdown deadlines are measured in: real time, or the virtual
  // clock under simulation (where it is what moves).
  TimePoint StopClockNow() const;
  // Returns the number of tasks resumed.
  size_t RunTasks(size_t budget);
  void Idle();
  // Polls for work for up to options_.idle_spin; true if some arrived.
  bool SpinForWork();
  void StopStep();
  void DestroyRemainingTasks();
  void PublishStats();
  void ReportStall(const char* name, const char* file, uint32_t line);
  // Brackets a section the stall watch covers (a task resume, a mesh
  // drain): Begin returns its sequence number, End logs the stall if the
  // watchdog flagged that section. Shard only.
  uint64_t BeginWatched();
  void EndWatched(uint64_t seq, const char* name, const char* file,
                  uint32_t line);

  // Messages the runtime posts to every shard (through the alien inbox).
  void RequestStop() { stop_requested_ = true; }
  // Every shard has published what it sent before the stop.
  void DrainGo() {
    drain_go_ = true;
    drain_go_tick_ = ticks_;
  }
  void Exit() { exit_ = true; }

  class RunQueue {
   public:
    explicit RunQueue(size_t capacity);
    bool empty() const { return head_ == tail_; }
    size_t size() const { return tail_ - head_; }
    void Push(Waiter w) {
      if (tail_ - head_ == buf_.size()) Grow();
      buf_[tail_++ & (buf_.size() - 1)] = w;
    }
    Waiter Pop() { return buf_[head_++ & (buf_.size() - 1)]; }
    void Clear() { head_ = tail_ = 0; }

   private:
    void Grow();
    std::vector<Waiter> buf_;
    uint64_t head_ = 0;
    uint64_t tail_ = 0;
  };

  Runtime* const runtime_;
  const uint32_t id_;
  mesh::Mesh* const mesh_;
  Clock* const clock_;
  const std::unique_ptr<Parker> parker_;
  const ShardOptions options_;
  internal::SimScheduler* const sim_;
  bool sim_parked_ = false;  // simulation: parked in the mesh since EndTurn
  uint64_t random_state_;
  std::vector<std::function<void(std::string*)>> describers_;
  // This shard's runtime and mesh metrics (RegisterMetrics), in its
  // registry; registered and dropped on the shard's thread.
  std::vector<metrics::CallbackHandle> metrics_;

  internal::FrameAllocator frames_;
  RunQueue run_queue_;
  internal::TimerQueue timers_;
  internal::ReplyTable replies_;
  internal::TaskHeader* tasks_head_ = nullptr;
  size_t live_count_ = 0;

  bool stop_requested_ = false;
  bool stop_seen_ = false;
  bool drain_go_ = false;
  uint64_t drain_go_tick_ = 0;
  size_t last_drained_ = 0;      // mesh messages run in this tick
  size_t tick_mesh_budget_ = 0;  // the mesh budget of this tick
  uint64_t tick_cycles_ = 0;     // CycleClock at the start of this tick
  bool drain_started_ = false;
  bool cancelled_all_ = false;
  std::vector<DrainHook> drain_hooks_;
  bool quiesced_ = false;
  bool exit_ = false;
  TimePoint grace_deadline_;
  // Simulation: a shutdown phase also ends after this many ticks, since
  // virtual time does not pass while the shard is kept busy.
  static constexpr uint64_t kSimPhaseTicks = 2000;
  uint64_t phase_start_tick_ = 0;

  // Owner-written counters, published once per tick.
  uint64_t tasks_run_ = 0;
  uint64_t ticks_ = 0;
  uint64_t parks_ = 0;
  uint64_t futex_parks_ = 0;
  uint64_t idle_yields_ = 0;
  uint64_t stalls_ = 0;
  uint64_t message_exceptions_ = 0;
  uint64_t spawned_ = 0;

  std::atomic<uint32_t> load_{0};

  // Stall detection without timing each resume: the shard bumps resume_seq_
  // around every resume (odd while inside one); the watchdog samples it.
  // resume_seq_ is written only by the shard; the watch_* fields only by
  // the watchdog, except that the shard reads stall_seq_ after each resume.
  uint64_t seq_ = 0;  // the shard's copy of resume_seq_
  struct alignas(64) StallWatch {
    std::atomic<uint64_t> resume_seq{0};
    std::atomic<uint64_t> stall_seq{0};      // flagged resume
    std::atomic<int64_t> stall_since_ns{0};  // when the watchdog saw it
    uint64_t watch_seq = 0;                  // watchdog only
    TimePoint watch_since;                   // watchdog only
  } watch_;
  struct alignas(64) PublishedStats {
    std::atomic<uint64_t> tasks_run{0}, ticks{0}, parks{0}, futex_parks{0},
        idle_yields{0}, stalls{0}, message_exceptions{0}, live_tasks{0},
        run_queue{0}, timers{0}, spawned{0};
  } published_;

  friend void internal::ScheduleLocal(Waiter w);
  friend class ShardTestPeer;
  void CountSpawn() { ++spawned_; }
  friend void CountSpawnOnCurrentShard();
};

// Bumps the current shard's spawn counter (used by Spawn).
void CountSpawnOnCurrentShard();

}  // namespace veloq::runtime
