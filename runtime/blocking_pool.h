#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "mesh/message.h"

namespace veloq::runtime {

// BlockingPool is a bounded set of threads, outside the shards, for blocking
// system calls and CPU-heavy work that would stall a shard. Tasks reach it
// through RunBlocking (runtime/run_blocking.h).
//
// Thread safety: thread-safe. Jobs run in FIFO order on up to `threads`
// threads, started lazily (an idle runtime has none). Destruction finishes
// the running jobs, drops the queued ones (destroying them unrun), and joins.
//
// An inline pool (simulation: Runtime::Builder::Simulation) starts no
// threads: Submit runs the job on the calling thread, so its timing is part
// of the deterministic schedule.
class BlockingPool {
 public:
  explicit BlockingPool(size_t max_threads, bool run_inline = false);
  ~BlockingPool();

  BlockingPool(const BlockingPool&) = delete;
  BlockingPool& operator=(const BlockingPool&) = delete;

  // Queues `job` (a move-only closure; see mesh::Message). It runs on a pool
  // thread and is destroyed there, or destroyed unrun if the pool is
  // destroyed first.
  void Submit(mesh::Message job);

  size_t max_threads() const { return max_threads_; }
  size_t threads() const;
  size_t queued() const;
  uint64_t completed() const { return completed_.load(); }

 private:
  void Worker();

  const size_t max_threads_;
  const bool inline_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<mesh::Message> queue_;   // guarded by mu_
  std::vector<std::thread> threads_;  // guarded by mu_
  size_t idle_ = 0;                   // guarded by mu_
  bool stop_ = false;                 // guarded by mu_
  std::atomic<uint64_t> completed_{0};
};

}  // namespace veloq::runtime
