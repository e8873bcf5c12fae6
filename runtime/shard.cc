#include "runtime/shard.h"

#include <sched.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/internal/cycle_clock.h"
#include "runtime/log.h"
#include "runtime/runtime.h"

namespace veloq::runtime {
namespace {

thread_local Shard* tls_shard = nullptr;

double ToMillis(Duration d) { return static_cast<double>(d.count()) / 1e6; }

}  // namespace

namespace internal {

void ScheduleLocal(Waiter w) { tls_shard->run_queue_.Push(w); }

}  // namespace internal

void CountSpawnOnCurrentShard() {
  if (tls_shard != nullptr) tls_shard->CountSpawn();
}

Shard::RunQueue::RunQueue(size_t capacity) {
  size_t c = 16;
  while (c < capacity) c *= 2;
  buf_.resize(c);
}

void Shard::RunQueue::Grow() {
  std::vector<Waiter> bigger(buf_.size() * 2);
  const size_t n = size();
  for (size_t i = 0; i < n; ++i)
    bigger[i] = buf_[(head_ + i) & (buf_.size() - 1)];
  buf_.swap(bigger);
  head_ = 0;
  tail_ = n;
}

Shard::Shard(Runtime* runtime, uint32_t id, mesh::Mesh* mesh, Clock* clock,
             std::unique_ptr<Parker> parker, const ShardOptions& options,
             internal::SimScheduler* sim)
    : runtime_(runtime),
      id_(id),
      mesh_(mesh),
      clock_(clock),
      parker_(std::move(parker)),
      options_(options),
      sim_(sim),
      random_state_(0x9E3779B97F4A7C15ull ^ reinterpret_cast<uintptr_t>(this) ^
                    (uint64_t{id} << 32)),
      frames_(options.frame_cache_bytes),
      run_queue_(options.run_queue_capacity) {
  mesh_->SetWaker(id_, sim_ != nullptr ? sim_->waker(id_) : parker_.get());
}

Shard::~Shard() = default;

Shard* Shard::Current() { return tls_shard; }

void Shard::Schedule(Waiter w) { run_queue_.Push(w); }

void Shard::Send(uint32_t to, mesh::Message m) {
  if (to == id_) {
    m.Run();
  } else {
    mesh_->Send(id_, to, std::move(m));
  }
}

void Shard::AddTask(internal::TaskHeader* t) {
  t->prev = nullptr;
  t->next = tasks_head_;
  if (tasks_head_ != nullptr) tasks_head_->prev = t;
  tasks_head_ = t;
  ++live_count_;
}

void Shard::RemoveTask(internal::TaskHeader* t) {
  if (t->prev != nullptr) {
    t->prev->next = t->next;
  } else {
    tasks_head_ = t->next;
  }
  if (t->next != nullptr) t->next->prev = t->prev;
  t->prev = t->next = nullptr;
  --live_count_;
}

ShardStats Shard::stats() const {
  ShardStats s;
  s.tasks_run = published_.tasks_run.load(std::memory_order_relaxed);
  s.ticks = published_.ticks.load(std::memory_order_relaxed);
  s.parks = published_.parks.load(std::memory_order_relaxed);
  s.futex_parks = published_.futex_parks.load(std::memory_order_relaxed);
  s.idle_yields = published_.idle_yields.load(std::memory_order_relaxed);
  s.stalls = published_.stalls.load(std::memory_order_relaxed);
  s.message_exceptions =
      published_.message_exceptions.load(std::memory_order_relaxed);
  s.live_tasks = published_.live_tasks.load(std::memory_order_relaxed);
  s.run_queue = published_.run_queue.load(std::memory_order_relaxed);
  s.timers = published_.timers.load(std::memory_order_relaxed);
  s.spawned = published_.spawned.load(std::memory_order_relaxed);
  return s;
}

void Shard::PublishStats() {
  constexpr auto r = std::memory_order_relaxed;
  published_.tasks_run.store(tasks_run_, r);
  published_.ticks.store(ticks_, r);
  published_.parks.store(parks_, r);
  published_.futex_parks.store(futex_parks_, r);
  published_.idle_yields.store(idle_yields_, r);
  published_.stalls.store(stalls_, r);
  published_.message_exceptions.store(message_exceptions_, r);
  published_.live_tasks.store(live_count_, r);
  published_.run_queue.store(run_queue_.size(), r);
  published_.timers.store(timers_.size(), r);
  published_.spawned.store(spawned_, r);
  load_.store(static_cast<uint32_t>(live_count_ + run_queue_.size()), r);
}

void Shard::Run() {
  tls_shard = this;
  internal::ScopedFrameAllocator frames(&frames_);
  RegisterMetrics();
  if (sim_ != nullptr) {
    RunSimulated();
  } else {
    while (!exit_) {
      Tick(options_.task_budget, options_.mesh_budget);
      // (Not while about to start the shutdown drain: that needs a tick.)
      if (run_queue_.empty() && !exit_ && !(drain_go_ && !drain_started_)) {
        Idle();
      }
    }
    Finish();
  }
  metrics_.clear();
  tls_shard = nullptr;
}

void Shard::RegisterMetrics() {
  metrics::Registry& r = metrics::Registry::Current();
  auto add = [&](const char* name, metrics::Type type, const char* help,
                 std::function<void(metrics::Emitter&)> fn) {
    metrics_.push_back(r.AddCallback(name, type, help, std::move(fn)));
  };
  using metrics::Type;
  add("veloq_tasks_run_total", Type::kCounter,
      "Task resumes from the run queue",
      [this](metrics::Emitter& e) { e.Emit(tasks_run_); });
  add("veloq_tasks_spawned_total", Type::kCounter, "Tasks spawned",
      [this](metrics::Emitter& e) { e.Emit(spawned_); });
  add("veloq_tasks_live", Type::kGauge, "Spawned tasks not yet finished",
      [this](metrics::Emitter& e) { e.Emit(uint64_t{live_count_}); });
  add("veloq_run_queue_length", Type::kGauge, "Runnable tasks",
      [this](metrics::Emitter& e) { e.Emit(uint64_t{run_queue_.size()}); });
  add("veloq_timers", Type::kGauge, "Armed timers",
      [this](metrics::Emitter& e) { e.Emit(uint64_t{timers_.size()}); });
  add("veloq_ticks_total", Type::kCounter, "Shard loop iterations",
      [this](metrics::Emitter& e) { e.Emit(ticks_); });
  add("veloq_parks_total", Type::kCounter,
      "Times the shard blocked with nothing to run",
      [this](metrics::Emitter& e) { e.Emit(parks_); });
  add("veloq_futex_parks_total", Type::kCounter,
      "Parks in a futex wait on the shard's park word (no I/O in flight) "
      "rather than in its driver",
      [this](metrics::Emitter& e) { e.Emit(futex_parks_); });
  add("veloq_idle_yields_total", Type::kCounter,
      "sched_yield calls while spinning for work (idle_yield)",
      [this](metrics::Emitter& e) { e.Emit(idle_yields_); });
  add("veloq_stalls_total", Type::kCounter,
      "Resumes that held the shard past the stall threshold",
      [this](metrics::Emitter& e) { e.Emit(stalls_); });
  add("veloq_message_exceptions_total", Type::kCounter,
      "Messages (Shard::Send closures) that threw here; each was dropped and "
      "logged",
      [this](metrics::Emitter& e) { e.Emit(message_exceptions_); });
  add("veloq_mesh_wakes_total", Type::kCounter,
      "Wake-ups this shard sent to parked shards",
      [this](metrics::Emitter& e) { e.Emit(mesh_->GetStats(id_).wakes); });
  add("veloq_mesh_sent_total", Type::kCounter,
      "Messages sent to another shard, by destination",
      [this](metrics::Emitter& e) {
        for (uint32_t to = 0; to < shard_count(); ++to) {
          if (to == id_) continue;
          e.Emit({{"peer", std::to_string(to)}}, mesh_->SentTo(id_, to));
        }
      });
  add("veloq_mesh_received_total", Type::kCounter,
      "Messages run from another shard's ring, by source",
      [this](metrics::Emitter& e) {
        for (uint32_t from = 0; from < shard_count(); ++from) {
          if (from == id_) continue;
          e.Emit({{"peer", std::to_string(from)}},
                 mesh_->ReceivedFrom(id_, from));
        }
      });
  add("veloq_mesh_overflow_depth", Type::kGauge,
      "Messages waiting in this shard's overflow for a full ring, by "
      "destination",
      [this](metrics::Emitter& e) {
        for (uint32_t to = 0; to < shard_count(); ++to) {
          if (to == id_) continue;
          e.Emit({{"peer", std::to_string(to)}},
                 uint64_t{mesh_->OverflowDepth(id_, to)});
        }
      });
}

void Shard::Tick(size_t task_budget, size_t mesh_budget) {
  ++ticks_;
  tick_cycles_ = internal::CycleClock::Now();
  const size_t ran = RunTasks(task_budget);
  tick_mesh_budget_ = mesh_budget;
  // Watched like a task resume: message closures (plain SubmitTo functions,
  // actor turns for idle actors) run inside it.
  const uint64_t seq = BeginWatched();
  last_drained_ = mesh_->Drain(id_, mesh_budget);
  EndWatched(seq, "mesh drain (messages from other shards)", __FILE__,
             __LINE__);
  if (last_drained_ > 0) {
    const bool woke_tasks = ran < task_budget && !run_queue_.empty();
    // What the messages and the tasks before them sent (replies of plain
    // SubmitTo functions, say) leaves now, not after the tasks below or an
    // I/O poll that enters the kernel (one may while I/O is in flight: to
    // submit, or to run completions the kernel has for it).
    // Not otherwise: with neither to come, flushing here measured ~3% slower
    // on the spinning SubmitTo round trip than the Flush at the tick's end.
    if (woke_tasks || parker_->InFlight() > 0) mesh_->Flush(id_);
    // Tasks the messages woke (an actor's mailbox, a SubmitTo's awaiter) run
    // now, so what they send goes out with this tick's Flush rather than the
    // next one's: one tick less per cross-shard hop.
    if (woke_tasks) RunTasks(task_budget - ran);
  }
  parker_->Poll(options_.io_budget);
  if (!timers_.empty()) timers_.FireExpired(Now(), options_.timer_budget);
  mesh_->Flush(id_);
  if (stop_requested_) StopStep();
  PublishStats();
}

void Shard::Finish() {
  DestroyRemainingTasks();
  parker_->Shutdown();
  mesh_->Flush(id_);
  PublishStats();
}

void Shard::RunSimulated() {
  while (true) {
    sim_->AwaitTurn(id_);
    if (sim_parked_) {
      mesh_->FinishPark(id_);
      sim_parked_ = false;
    }
    Tick(sim_->DrawBudget(options_.task_budget),
         sim_->DrawBudget(options_.mesh_budget));
    internal::SimScheduler::TurnEnd end;
    if (exit_) {
      Finish();
      end.exited = true;
      sim_->EndTurn(id_, end);
      return;
    }
    end.runnable = !run_queue_.empty() || (drain_go_ && !drain_started_);
    if (!end.runnable) {
      // Parked in the mesh's sense, so that a sender's wake (through the
      // scheduler's waker) marks this shard runnable; PrepareToPark says no
      // when inbound messages or movable overflow are already there.
      if (mesh_->PrepareToPark(id_)) {
        sim_parked_ = true;
      } else {
        end.runnable = true;
      }
    }
    if (!timers_.empty()) end.wake_at = timers_.NextDeadline();
    if (stop_seen_ && !quiesced_ &&
        (!end.wake_at || grace_deadline_ < *end.wake_at)) {
      end.wake_at = grace_deadline_;
    }
    end.io_in_flight = parker_->InFlight() > 0;
    sim_->EndTurn(id_, end);
  }
}

TimePoint Shard::StopClockNow() const {
  return sim_ != nullptr ? Now() : std::chrono::steady_clock::now();
}

uint64_t Shard::Random() {
  if (sim_ != nullptr) return sim_->DrawRandom();
  // xorshift64*
  random_state_ ^= random_state_ >> 12;
  random_state_ ^= random_state_ << 25;
  random_state_ ^= random_state_ >> 27;
  return random_state_ * 0x2545F4914F6CDD1Dull;
}

void Shard::AddDescriber(std::function<void(std::string*)> describer) {
  describers_.push_back(std::move(describer));
}

std::string Shard::Describe() const {
  std::string out = absl::StrCat(
      "shard ", id_, ": ", live_count_, " live task(s), ", run_queue_.size(),
      " runnable, ", timers_.size(), " timer(s), ticks=", ticks_,
      ", tasks_run=", tasks_run_, ", stalls=", stalls_,
      mesh_->TotalOverflow(id_) > 0
          ? absl::StrCat(", mesh overflow=", mesh_->TotalOverflow(id_))
          : std::string(),
      "\n");
  size_t listed = 0;
  for (const internal::TaskHeader* t = tasks_head_; t != nullptr; t = t->next) {
    if (++listed > 50) {
      absl::StrAppend(&out, "    ... and ", live_count_ - 50, " more\n");
      break;
    }
    const double age_ms = ToMillis(internal::CycleClock::ToDuration(
        tick_cycles_ - std::min(tick_cycles_, t->spawn_cycles)));
    absl::StrAppend(&out, "    task '", t->name, "' spawned at ", t->spawn_file,
                    ":", t->spawn_line, ", ", absl::SixDigits(age_ms),
                    " ms ago", t->cancelled() ? " (cancelled)" : "", "\n");
  }
  for (const auto& d : describers_) d(&out);
  return out;
}

std::vector<Shard::TaskInfo> Shard::Tasks(size_t max) const {
  std::vector<const internal::TaskHeader*> all;
  all.reserve(live_count_);
  for (const internal::TaskHeader* t = tasks_head_; t != nullptr; t = t->next)
    all.push_back(t);
  // Oldest first (smallest spawn time; ties: earlier in the list is newer).
  std::stable_sort(
      all.begin(), all.end(),
      [](const internal::TaskHeader* a, const internal::TaskHeader* b) {
        return a->spawn_cycles < b->spawn_cycles;
      });
  if (all.size() > max) all.resize(max);
  std::vector<TaskInfo> out;
  out.reserve(all.size());
  for (const internal::TaskHeader* t : all) {
    TaskInfo info;
    info.name = t->name;
    info.file = t->spawn_file;
    info.line = t->spawn_line;
    info.age = internal::CycleClock::ToDuration(
        tick_cycles_ - std::min(tick_cycles_, t->spawn_cycles));
    info.cancelled = t->cancelled();
    out.push_back(std::move(info));
  }
  return out;
}

size_t Shard::RunTasks(size_t budget) {
  size_t n = 0;
  while (n < budget && !run_queue_.empty()) {
    const Waiter w = run_queue_.Pop();
    internal::SetCurrentTask(w.task);
    // Read before the resume: a finished task's frame may be gone after it.
    const char* name = w.task != nullptr ? w.task->name : "";
    const char* file = w.task != nullptr ? w.task->spawn_file : "";
    const uint32_t line = w.task != nullptr ? w.task->spawn_line : 0;
    const uint64_t seq = BeginWatched();
    w.handle.resume();
    EndWatched(seq, name, file, line);
    ++n;
  }
  internal::SetCurrentTask(nullptr);
  tasks_run_ += n;
  return n;
}

uint64_t Shard::BeginWatched() {
  const uint64_t seq = seq_ + 1;  // odd: inside a watched section
  watch_.resume_seq.store(seq, std::memory_order_relaxed);
  return seq;
}

void Shard::EndWatched(uint64_t seq, const char* name, const char* file,
                       uint32_t line) {
  seq_ = seq + 1;
  watch_.resume_seq.store(seq_, std::memory_order_relaxed);
  if (watch_.stall_seq.load(std::memory_order_acquire) == seq) {
    ReportStall(name, file, line);
  }
}

void Shard::WatchForStall(TimePoint now) {
  const uint64_t seq = watch_.resume_seq.load(std::memory_order_relaxed);
  if ((seq & 1) == 0 || seq != watch_.watch_seq) {
    // Between resumes, or in a different resume than last time.
    watch_.watch_seq = seq;
    watch_.watch_since = now;
    return;
  }
  if (now - watch_.watch_since < options_.stall_threshold) return;
  if (watch_.stall_seq.load(std::memory_order_relaxed) == seq) return;
  watch_.stall_since_ns.store(watch_.watch_since.time_since_epoch().count(),
                              std::memory_order_relaxed);
  watch_.stall_seq.store(seq, std::memory_order_release);
}

void Shard::ReportStall(const char* name, const char* file, uint32_t line) {
  ++stalls_;
  const TimePoint since(
      Duration(watch_.stall_since_ns.load(std::memory_order_relaxed)));
  // The watchdog first saw this resume at `since`; it started up to half a
  // threshold earlier, so this is a lower bound.
  const Duration d = std::chrono::steady_clock::now() - since;
  log::Warn(
      log::Module::kRuntime,
      "shard {}: stall: task '{}' spawned at {}:{} ran at least {:.2f} ms "
      "without yielding (threshold {:.2f} ms)",
      id_, name, file, line, ToMillis(d), ToMillis(options_.stall_threshold));
}

bool Shard::SpinForWork() {
  if (options_.idle_spin.count() <= 0 || clock_->is_virtual()) return false;
  const uint64_t start = internal::CycleClock::Now();
  const uint64_t spin = internal::CycleClock::ToTicks(options_.idle_spin);
  const bool has_timers = !timers_.empty();
  const TimePoint next_timer =
      has_timers ? timers_.NextDeadline() : TimePoint();
  // The clock is read every 16 polls (a TSC read costs about as much as a
  // poll), and PAUSE comes every 8th poll, not every one: it costs ~19 ns on
  // the 2-core VM, which would add that much to the time to notice a
  // message, but a loop with none at all starves an SMT sibling and hides
  // the spin from a hypervisor's pause-loop exiting.
  for (uint32_t i = 1;; ++i) {
    // Overflow to move on is work too: the next tick's Flush does it.
    if (mesh_->PollInbound(id_) || mesh_->TotalOverflow(id_) > 0) return true;
    if (parker_->Poll(options_.io_budget) > 0 || !run_queue_.empty()) {
      return true;
    }
    if ((i & 7) == 0) {
      if (options_.idle_yield) {
        // Hands the core to another runnable thread, if any; stays runnable.
        ::sched_yield();
        ++idle_yields_;
      }
#if defined(__x86_64__)
      __builtin_ia32_pause();
#endif
      if ((i & 15) == 0 && internal::CycleClock::Now() - start >= spin) {
        return false;
      }
      if (has_timers && (i & 63) == 0 && Now() >= next_timer) return true;
    }
  }
}

void Shard::Idle() {
  if (SpinForWork()) return;
  const bool futex = parker_->WaitsOnlyForWake();
  if (!mesh_->PrepareToPark(id_, futex ? mesh::Mesh::ParkMode::kFutex
                                       : mesh::Mesh::ParkMode::kWaker)) {
    return;
  }
  std::optional<TimePoint> deadline;
  if (!timers_.empty()) {
    if (clock_->is_virtual()) {
      // Virtual time: nothing to run but timers, so jump to the next one.
      clock_->AdvanceTo(timers_.NextDeadline());
      mesh_->FinishPark(id_);
      return;
    }
    deadline = timers_.NextDeadline();
  }
  if (stop_requested_ && !quiesced_) {
    // Wake up for the end of the shutdown grace period (real time).
    if (!deadline || *deadline > grace_deadline_) deadline = grace_deadline_;
  }
  ++parks_;
  if (futex) {
    ++futex_parks_;
    mesh_->WaitWhileParked(id_, deadline);
  } else {
    parker_->Park(deadline);
  }
  mesh_->FinishPark(id_);
}

void Shard::AddDrainHook(DrainHook hook) {
  drain_hooks_.push_back(std::move(hook));
  if (drain_started_) drain_hooks_.back().start();
}

void Shard::StopStep() {
  TimePoint real_now = StopClockNow();
  if (sim_ != nullptr && stop_seen_ &&
      ticks_ - phase_start_tick_ > kSimPhaseTicks) {
    // Virtual time stands still while tasks keep the shard busy (one that
    // ignores cancellation and spins, say): the phase is over anyway.
    real_now = std::max(real_now, grace_deadline_);
  }
  if (!stop_seen_) {
    // This tick's flush has published all this shard sent before the stop.
    stop_seen_ = true;
    grace_deadline_ = real_now + options_.shutdown_grace;
    phase_start_tick_ = ticks_;
    runtime_->ShardStopSeen(id_);
    return;
  }
  if (!drain_started_) {
    // Wait until every shard has published what it sent before the stop
    // (DrainGo) and a later tick emptied our inbound rings: messages sent
    // before the stop reach their actors before those stop.
    const bool inbound_done = drain_go_ && ticks_ > drain_go_tick_ &&
                              last_drained_ < tick_mesh_budget_ &&
                              mesh_->LastDrainWasComplete(id_);
    if (!inbound_done && real_now < grace_deadline_) return;
    drain_started_ = true;
    // A start may add hooks (appended, started by AddDrainHook): index.
    for (size_t i = 0; i < drain_hooks_.size(); ++i) drain_hooks_[i].start();
  }
  if (!cancelled_all_) {
    for (const DrainHook& h : drain_hooks_) {
      if (!h.done() && real_now < grace_deadline_) return;  // still draining
    }
    cancelled_all_ = true;
    phase_start_tick_ = ticks_;
    // Cancelled tasks get what is left of the grace period, and at least a
    // quarter of it when the drain used it up.
    grace_deadline_ =
        std::max(grace_deadline_, real_now + options_.shutdown_grace / 4);
    // CancelTask may complete and unlink tasks; collect first.
    std::vector<internal::TaskHeader*> all;
    all.reserve(live_count_);
    ForEachTask([&](internal::TaskHeader& t) { all.push_back(&t); });
    for (internal::TaskHeader* t : all) internal::CancelTask(t);
  }
  if (!quiesced_ && (live_count_ == 0 || real_now >= grace_deadline_)) {
    quiesced_ = true;
    if (live_count_ != 0) {
      log::Warn(
          log::Module::kRuntime,
          "shard {}: {} task(s) ignored cancellation for {:.0f} ms; their "
          "frames will be destroyed where they are suspended",
          id_, live_count_, ToMillis(options_.shutdown_grace));
    }
    runtime_->ShardQuiesced(id_);
  }
}

void Shard::DestroyRemainingTasks() {
  // Entries in the run queue point into frames about to be destroyed.
  run_queue_.Clear();
  while (tasks_head_ != nullptr) {
    internal::TaskHeader* t = tasks_head_;
    RemoveTask(t);
    if ((t->flags & internal::TaskHeader::kDetached) == 0) {
      // A JoinHandle still owns this frame (its holder is a task destroyed
      // in this loop, or something outside the tasks): mark it done, so
      // that the handle destroys the frame when it goes — destroying it
      // here would leave the handle pointing at freed memory.
      t->flags |= internal::TaskHeader::kDone;
      continue;
    }
    // Destroying the frame runs the destructors of whatever it was suspended
    // on (timers unlink, joins detach), so nothing refers to it afterwards.
    t->self.destroy();
  }
}

}  // namespace veloq::runtime
