#include "runtime/blocking_pool.h"

#include <utility>

namespace veloq::runtime {

BlockingPool::BlockingPool(size_t max_threads, bool run_inline)
    : max_threads_(max_threads == 0 ? 1 : max_threads), inline_(run_inline) {}

BlockingPool::~BlockingPool() {
  std::deque<mesh::Message> dropped;
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
    dropped.swap(queue_);
    threads.swap(threads_);
  }
  cv_.notify_all();
  for (std::thread& t : threads) t.join();
  // `dropped` destroys the unrun jobs here, outside the lock.
}

void BlockingPool::Submit(mesh::Message job) {
  if (inline_) {
    job.Run();
    completed_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(std::move(job));
    if (idle_ == 0 && threads_.size() < max_threads_ && !stop_) {
      threads_.emplace_back([this] { Worker(); });
      return;
    }
  }
  cv_.notify_one();
}

size_t BlockingPool::threads() const {
  std::lock_guard<std::mutex> lock(mu_);
  return threads_.size();
}

size_t BlockingPool::queued() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queue_.size();
}

void BlockingPool::Worker() {
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    ++idle_;
    cv_.wait(lock, [this] { return stop_ || !queue_.empty(); });
    --idle_;
    if (stop_) return;
    mesh::Message job = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    job.Run();
    completed_.fetch_add(1, std::memory_order_relaxed);
    lock.lock();
  }
}

}  // namespace veloq::runtime
