#include "testing/test_runtime.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace veloq::testing::internal {

struct Watchdog::State {
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  bool fired = false;
  std::thread thread;
};

Watchdog::Watchdog(runtime::Runtime* rt, std::chrono::milliseconds deadline)
    : state_(new State) {
  State* s = state_;
  s->thread = std::thread([s, rt, deadline] {
    std::unique_lock<std::mutex> lock(s->mu);
    if (s->cv.wait_for(lock, deadline, [s] { return s->done; })) return;
    s->fired = true;
    const std::string state = DescribeRuntime(*rt);
    ADD_FAILURE()
        << "test deadline of " << deadline.count()
        << " ms exceeded; cancelling the root task. What every shard was "
           "doing:\n"
        << state;
    rt->RequestStop();
    if (s->cv.wait_for(lock, deadline, [s] { return s->done; })) return;
    std::fprintf(stderr,
                 "veloq::testing: the root task ignored cancellation for "
                 "another %lld ms; aborting.\n%s\n",
                 static_cast<long long>(deadline.count()), state.c_str());
    std::abort();
  });
}

Watchdog::~Watchdog() {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    state_->done = true;
  }
  state_->cv.notify_all();
  state_->thread.join();
  delete state_;
}

bool Watchdog::fired() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->fired;
}

std::string DescribeRuntime(runtime::Runtime& rt,
                            std::chrono::milliseconds wait) {
  struct Answers {
    std::mutex mu;
    std::condition_variable cv;
    std::vector<std::optional<std::string>> text;
  };
  const uint32_t n = rt.shard_count();
  auto answers = std::make_shared<Answers>();
  answers->text.resize(n);
  if (!rt.stopped()) {
    for (uint32_t i = 0; i < n; ++i) {
      rt.Post(i, mesh::Message([answers, i] {
                std::string d = runtime::Shard::Current()->Describe();
                std::lock_guard<std::mutex> lock(answers->mu);
                answers->text[i] = std::move(d);
                answers->cv.notify_all();
              }));
    }
    std::unique_lock<std::mutex> lock(answers->mu);
    answers->cv.wait_for(lock, wait, [&] {
      for (const auto& t : answers->text) {
        if (!t) return false;
      }
      return true;
    });
  }
  std::string out;
  std::lock_guard<std::mutex> lock(answers->mu);
  for (uint32_t i = 0; i < n; ++i) {
    if (answers->text[i]) {
      absl::StrAppend(&out, *answers->text[i]);
      continue;
    }
    const runtime::ShardStats s = rt.shard(i).stats();
    const mesh::Mesh::Stats m = rt.mesh().GetStats(i);
    absl::StrAppend(&out, "shard ", i, ": did not answer within ", wait.count(),
                    " ms (busy in a task that does not yield?); counters: "
                    "live_tasks=",
                    s.live_tasks, " runnable=", s.run_queue,
                    " timers=", s.timers, " tasks_run=", s.tasks_run,
                    " ticks=", s.ticks, " parks=", s.parks,
                    " stalls=", s.stalls, " mesh_sent=", m.sent,
                    " mesh_received=", m.received, "\n");
  }
  return out;
}

absl::StatusOr<std::unique_ptr<runtime::Runtime>> BuildRuntime(
    const TestRuntimeOptions& options) {
  runtime::Runtime::Builder b;
  b.Shards(options.shards)
      .Pin(false)
      .VirtualClock(options.virtual_clock)
      .ShutdownGrace(options.shutdown_grace)
      .StallThreshold(options.stall_threshold)
      .BlockingThreads(options.blocking_threads)
      .Parkers(options.parkers);
  if (options.simulation_seed) b.Simulation(*options.simulation_seed);
  if (options.idle_spin) b.IdleSpin(*options.idle_spin);
  return b.Build();
}

void FillReport(const runtime::Runtime& rt, bool fired, RunReport* report) {
  report->deadline_fired = fired;
  report->deadlock = rt.simulation_deadlock();
  if (const runtime::internal::SimScheduler* sim = rt.simulation()) {
    report->seed = sim->seed();
    report->steps = sim->steps();
    report->trace_hash = sim->trace_hash();
  }
}

std::optional<uint64_t> SeedFromEnv() {
  const char* v = std::getenv("VELOQ_SEED");
  if (v == nullptr || *v == '\0') return std::nullopt;
  uint64_t seed = 0;
  if (!absl::SimpleAtoi(v, &seed)) {
    ADD_FAILURE() << "VELOQ_SEED=" << v << " is not a number; ignored";
    return std::nullopt;
  }
  return seed;
}

absl::Status SeedFailure(uint64_t seed, const absl::Status& status) {
  return absl::Status(status.code(),
                      absl::StrCat("simulation seed ", seed,
                                   " failed (replay: VELOQ_SEED=", seed,
                                   "): ", status.message()));
}

}  // namespace veloq::testing::internal

namespace veloq::testing {

uint64_t TestSeed(uint64_t fallback) {
  return internal::SeedFromEnv().value_or(fallback);
}

}  // namespace veloq::testing
