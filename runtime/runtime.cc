#include "runtime/runtime.h"

#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <mutex>
#include <string>
#include <typeinfo>

#include "absl/strings/str_cat.h"
#include "runtime/log.h"
#include "spdlog/spdlog.h"

namespace veloq::runtime {
namespace {

thread_local Runtime* tls_runtime = nullptr;

std::vector<int> AffinityCpus() {
  std::vector<int> cpus;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    for (int c = 0; c < CPU_SETSIZE; ++c) {
      if (CPU_ISSET(c, &set)) cpus.push_back(c);
    }
  }
  if (cpus.empty()) cpus.push_back(0);
  return cpus;
}

}  // namespace

Runtime::Builder& Runtime::Builder::Shards(uint32_t n) {
  shards_ = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::Pin(bool on) {
  pin_ = on;
  return *this;
}
Runtime::Builder& Runtime::Builder::RunQueueCapacity(size_t n) {
  shard_options_.run_queue_capacity = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::RingCapacity(uint32_t n) {
  ring_capacity_ = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::MeshOverflowLimit(size_t n) {
  shard_options_.mesh_overflow_limit = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::TaskBudget(size_t n) {
  shard_options_.task_budget = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::MeshBudget(size_t n) {
  shard_options_.mesh_budget = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::IoBudget(size_t n) {
  shard_options_.io_budget = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::IdleSpin(Duration d) {
  shard_options_.idle_spin = d;
  return *this;
}
Runtime::Builder& Runtime::Builder::IdleYield(bool on) {
  shard_options_.idle_yield = on;
  return *this;
}

Runtime::Builder& Runtime::Builder::FrameCacheBytes(size_t bytes) {
  shard_options_.frame_cache_bytes = bytes;
  return *this;
}
Runtime::Builder& Runtime::Builder::StallThreshold(Duration d) {
  shard_options_.stall_threshold = d;
  return *this;
}
Runtime::Builder& Runtime::Builder::ShutdownGrace(Duration d) {
  shard_options_.shutdown_grace = d;
  return *this;
}
Runtime::Builder& Runtime::Builder::BlockingThreads(size_t n) {
  blocking_threads_ = n;
  return *this;
}
Runtime::Builder& Runtime::Builder::VirtualClock(bool on) {
  virtual_clock_ = on;
  return *this;
}
Runtime::Builder& Runtime::Builder::Simulation(uint64_t seed) {
  sim_seed_ = seed;
  return *this;
}
Runtime::Builder& Runtime::Builder::HandleSignals(bool on) {
  handle_signals_ = on;
  return *this;
}
Runtime::Builder& Runtime::Builder::Parkers(ParkerFactory f) {
  parkers_ = std::move(f);
  return *this;
}

absl::StatusOr<std::unique_ptr<Runtime>> Runtime::Builder::Build() {
  std::vector<int> cpus = AffinityCpus();
  Builder b = *this;
  if (b.shards_ == 0) b.shards_ = static_cast<uint32_t>(cpus.size());
  if (b.shards_ > mesh::Mesh::kMaxShards) {
    return absl::InvalidArgumentError(absl::StrCat(
        "at most ", mesh::Mesh::kMaxShards, " shards, asked for ", b.shards_));
  }
  if (b.ring_capacity_ < 2 || (b.ring_capacity_ & (b.ring_capacity_ - 1))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "ring capacity must be a power of two >= 2, got ", b.ring_capacity_));
  }
  if (b.shard_options_.task_budget == 0 || b.shard_options_.mesh_budget == 0 ||
      b.shard_options_.io_budget == 0 || b.shard_options_.timer_budget == 0) {
    return absl::InvalidArgumentError("per-tick budgets must be positive");
  }
  if (b.sim_seed_) {
    b.virtual_clock_ = true;
    b.pin_ = false;
    b.shard_options_.idle_spin = Duration(0);
    b.handle_signals_ = false;
  }
  if (!b.pin_) cpus.clear();
  return std::unique_ptr<Runtime>(new Runtime(b, std::move(cpus)));
}

namespace {

std::string DescribeException(std::exception_ptr e) {
#if defined(__cpp_exceptions)
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    return absl::StrCat(typeid(x).name(), ": ", x.what());
  } catch (...) {
  }
#endif
  return "an exception not derived from std::exception";
}

// The mesh::MessageExceptionHandler of every runtime: a closure sent with
// Shard::Send (or run on the blocking pool) threw. Logged and counted; the
// shard goes on with its next message.
void OnMessageException(std::exception_ptr e) {
  const std::string what = DescribeException(e);
  if (Shard* s = Shard::Current()) {
    s->CountMessageException();
    log::Error(log::Module::kRuntime,
               "shard {}: a message closure threw ({}); dropped, the shard "
               "goes on",
               s->id(), what);
  } else {
    log::Error(log::Module::kRuntime,
               "a closure threw off any shard ({}); dropped", what);
  }
}

}  // namespace

Runtime::Runtime(const Builder& b, std::vector<int> cpus)
    : options_(b),
      cpus_(std::move(cpus)),
      clock_(std::make_unique<Clock>(b.virtual_clock_)),
      mesh_(std::make_unique<mesh::Mesh>(
          mesh::MeshOptions{b.shards_, b.ring_capacity_})),
      shards_(b.shards_),
      blocking_(std::make_unique<BlockingPool>(b.blocking_threads_,
                                               b.sim_seed_.has_value())) {
  // Unless the process installed its own (benign if two runtimes race:
  // both install this one).
  if (mesh::GetMessageExceptionHandler() == nullptr) {
    mesh::SetMessageExceptionHandler(&OnMessageException);
  }
  if (b.sim_seed_) {
    sim_ = std::make_unique<internal::SimScheduler>(b.shards_, *b.sim_seed_,
                                                    clock_.get());
    sim_->set_deadlock_handler([this] { OnSimDeadlock(); });
  }
}

Runtime::~Runtime() {
  // Threads are joined by Run(); the pool goes before the shards it posts to,
  // and the mesh (with any undelivered messages) after the shards.
  blocking_.reset();
  shards_.clear();
  mesh_.reset();
}

Runtime* Runtime::Current() { return tls_runtime; }

void Runtime::Post(uint32_t shard, mesh::Message m) {
  mesh_->PostFromAlien(shard, std::move(m));
}

void Runtime::ShardMain(uint32_t id) {
  tls_runtime = this;
  if (!cpus_.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpus_[id % cpus_.size()], &set);
    if (pthread_setaffinity_np(pthread_self(), sizeof(set), &set) != 0) {
      log::Warn(log::Module::kRuntime, "shard {}: could not pin to cpu {}", id,
                cpus_[id % cpus_.size()]);
    }
  }
  absl::StatusOr<std::unique_ptr<Parker>> parker =
      options_.parkers_
          ? options_.parkers_(id)
          : absl::StatusOr<std::unique_ptr<Parker>>(EventfdParker::Create());
  {
    std::unique_lock<std::mutex> lock(mu_);
    if (!parker.ok()) {
      if (start_error_.ok()) start_error_ = parker.status();
    } else {
      shards_[id] = std::make_unique<Shard>(
          this, id, mesh_.get(), clock_.get(), *std::move(parker),
          options_.shard_options_, sim_.get());
    }
    ++shards_started_;
    cv_.notify_all();
    // Every shard exists before any runs: tasks may address any of them.
    cv_.wait(lock, [this] { return shards_started_ == shards_.size(); });
  }
  if (shards_[id] == nullptr || !start_error_.ok()) {
    tls_runtime = nullptr;
    return;
  }
  shards_[id]->Run();
  tls_runtime = nullptr;
}

absl::Status Runtime::RunRoot(mesh::Message start) {
  if (ran_) return absl::FailedPreconditionError("Runtime::Run called twice");
  ran_ = true;

  sigset_t signals, old_mask;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  if (options_.handle_signals_) {
    // Shard threads inherit the mask; this thread takes the signals.
    pthread_sigmask(SIG_BLOCK, &signals, &old_mask);
  }

  // spdlog builds its registry on first use; do that here, before the
  // shards (whose first log lines may come at the same moment).
  // (Module levels from $VELOQ_LOG; spdlog's default logger writes through
  // runtime/log.h too, with the shard id. Once per process.)
  static std::once_flag log_init;
  std::call_once(log_init, [] {
    log::InitFromEnv();
    log::InstallAsDefault();
  });
  for (uint32_t i = 0; i < shards_.size(); ++i) {
    threads_.emplace_back([this, i] { ShardMain(i); });
  }
  absl::Status start_error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [this] { return shards_started_ == shards_.size(); });
    start_error = start_error_;
  }
  std::thread watchdog;
  // (Under simulation a resume is not timed: only one shard runs anyway.)
  if (start_error.ok() && sim_ == nullptr) {
    watchdog = std::thread([this] { Watchdog(); });
  }
  if (start_error.ok()) {
    Post(0, std::move(start));
    if (sim_ != nullptr) sim_->Start();
    bool stop_requested = false;
    while (true) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        if (!options_.handle_signals_) {
          cv_.wait(lock, [this] { return root_done_; });
          break;
        }
        if (cv_.wait_for(lock, std::chrono::milliseconds(1),
                         [this] { return root_done_; })) {
          break;
        }
      }
      struct timespec ts = {0, 20'000'000};
      const int sig = sigtimedwait(&signals, nullptr, &ts);
      if (sig == SIGINT || sig == SIGTERM) {
        if (!stop_requested) {
          log::Info(log::Module::kRuntime,
                    "runtime: {} received, stopping the root task",
                    sig == SIGINT ? "SIGINT" : "SIGTERM");
          stop_requested = true;
          RequestStop();
        } else {
          log::Warn(log::Module::kRuntime,
                    "runtime: second signal, stopping every shard");
          break;
        }
      }
    }
  }
  ShutdownShards();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  stopped_.store(true, std::memory_order_release);
  if (watchdog.joinable()) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      watchdog_stop_ = true;
    }
    cv_.notify_all();
    watchdog.join();
  }
  if (options_.handle_signals_)
    pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
  return start_error;
}

void Runtime::Watchdog() {
  const Duration period =
      std::max<Duration>(options_.shard_options_.stall_threshold / 2,
                         std::chrono::milliseconds(1));
  std::unique_lock<std::mutex> lock(mu_);
  while (!cv_.wait_for(lock, period, [this] { return watchdog_stop_; })) {
    const TimePoint now = std::chrono::steady_clock::now();
    for (auto& s : shards_) s->WatchForStall(now);
  }
}

void Runtime::RequestStop() {
  Post(0, mesh::Message([this] {
         if (root_ != nullptr) internal::CancelTask(root_);
       }));
}

void Runtime::RootStarted(internal::TaskHeader* root) { root_ = root; }

void Runtime::RootFinished() {
  root_ = nullptr;
  // Under simulation the shutdown starts within this turn, not whenever the
  // thread blocked in Run wakes up: the schedule stays deterministic.
  if (sim_ != nullptr) ShutdownShards();
  std::lock_guard<std::mutex> lock(mu_);
  root_done_ = true;
  cv_.notify_all();
}

void Runtime::OnSimDeadlock() {
  // Every other shard is stopped in AwaitTurn and this one is between
  // turns: every shard may be described from here.
  if (sim_deadlock_.empty()) {
    sim_deadlock_ = absl::StrCat(
        "simulation (seed ", sim_->seed(), ") deadlocked at step ",
        sim_->steps(),
        ": every shard is idle, with no timer and no I/O in flight\n");
    for (auto& s : shards_) {
      if (s != nullptr) absl::StrAppend(&sim_deadlock_, s->Describe());
    }
    log::Error(log::Module::kRuntime, "{}", sim_deadlock_);
  }
  // First cancel the root task; if that is not enough (it waits on
  // something that ignores cancellation), stop every shard and let Run
  // return without the root's result.
  if (sim_->deadlocks() == 1) {
    RequestStop();
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    root_done_ = true;
  }
  cv_.notify_all();
  ShutdownShards();
}

void Runtime::ShutdownShards() {
  if (shutdown_started_.exchange(true)) return;
  for (auto& s : shards_) {
    if (s == nullptr) continue;
    Shard* shard = s.get();
    Post(shard->id(), mesh::Message([shard] { shard->RequestStop(); }));
  }
}

void Runtime::ShardStopSeen(uint32_t) {
  if (stop_seen_.fetch_add(1, std::memory_order_acq_rel) + 1 !=
      shards_.size()) {
    return;
  }
  for (auto& s : shards_) {
    Shard* shard = s.get();
    Post(shard->id(), mesh::Message([shard] { shard->DrainGo(); }));
  }
}

void Runtime::ShardQuiesced(uint32_t) {
  if (quiesced_.fetch_add(1, std::memory_order_acq_rel) + 1 != shards_.size()) {
    return;
  }
  for (auto& s : shards_) {
    Shard* shard = s.get();
    Post(shard->id(), mesh::Message([shard] { shard->Exit(); }));
  }
}

}  // namespace veloq::runtime
