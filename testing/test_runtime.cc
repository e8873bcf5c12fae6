#include "testing/test_runtime.h"

#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

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
    ADD_FAILURE() << "test deadline of " << deadline.count()
                  << " ms exceeded; cancelling the root task. Runtime:\n"
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

std::string DescribeRuntime(runtime::Runtime& rt) {
  std::string out;
  for (uint32_t i = 0; i < rt.shard_count(); ++i) {
    const runtime::ShardStats s = rt.shard(i).stats();
    const mesh::Mesh::Stats m = rt.mesh().GetStats(i);
    absl::StrAppend(&out, "  shard ", i, ": live_tasks=", s.live_tasks,
                    " runnable=", s.run_queue, " timers=", s.timers,
                    " tasks_run=", s.tasks_run, " ticks=", s.ticks,
                    " parks=", s.parks, " stalls=", s.stalls,
                    " mesh_sent=", m.sent, " mesh_received=", m.received, "\n");
  }
  return out;
}

}  // namespace veloq::testing::internal
