#include "runtime/internal/sim_scheduler.h"

#include <thread>

#include "runtime/log.h"

namespace veloq::runtime::internal {
namespace {

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t Mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h * 0xFF51AFD7ED558CCDull;
}

}  // namespace

SimScheduler::SimScheduler(uint32_t shards, uint64_t seed, Clock* clock)
    : seed_(seed),
      clock_(clock),
      shards_(shards),
      turn_cv_(new std::condition_variable[shards]),
      rng_(seed),
      hash_(Mix(0, seed)),
      last_progress_(std::chrono::steady_clock::now()) {
  wakers_.reserve(shards);
  for (uint32_t i = 0; i < shards; ++i) wakers_.emplace_back(this, i);
}

void SimScheduler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  started_ = true;
  last_progress_ = std::chrono::steady_clock::now();
  const uint32_t next = PickLocked();
  if (next != kNone) HandTo(next);
}

void SimScheduler::AwaitTurn(uint32_t id) {
  std::unique_lock<std::mutex> lock(mu_);
  turn_cv_[id].wait(lock, [&] { return current_ == id; });
  // Wakes from here on (other shards cannot send before this turn ends, so
  // only outside threads) mean another tick is wanted.
  shards_[id].runnable = false;
}

void SimScheduler::EndTurn(uint32_t id, const TurnEnd& end) {
  std::unique_lock<std::mutex> lock(mu_);
  PerShard& s = shards_[id];
  s.runnable = s.runnable || end.runnable;
  s.wake_at = end.wake_at;
  s.io_in_flight = end.io_in_flight;
  s.exited = end.exited;
  if (end.runnable) last_progress_ = std::chrono::steady_clock::now();
  while (true) {
    const uint32_t next = PickLocked();
    if (next != kNone) {
      if (polling_io_ && next == id && !end.runnable) {
        // Only I/O in flight, and this shard's poll found nothing: give the
        // kernel a moment instead of spinning on the baton.
        lock.unlock();
        std::this_thread::sleep_for(std::chrono::microseconds(20));
        lock.lock();
      }
      HandTo(next);
      return;
    }
    bool all_exited = true;
    for (const PerShard& p : shards_) all_exited = all_exited && p.exited;
    current_ = kNone;
    if (all_exited) return;
    // Nothing runnable, nothing in flight, no timer: nothing can happen.
    ++deadlocks_;
    if (!deadlock_handler_ || deadlocks_ > 3) {
      log::Error(
          log::Module::kRuntime,
          "simulation (seed {}): every shard is idle with no timer and no "
          "I/O in flight; waiting for an outside event",
          seed_);
      return;
    }
    // The handler may inspect every shard (all are stopped in AwaitTurn)
    // and posts work (a Wake, which finds current_ == kNone and hands the
    // baton to that shard).
    current_ = id;
    lock.unlock();
    deadlock_handler_();
    lock.lock();
    if (current_ != id) return;  // handed on by a Wake already
  }
}

void SimScheduler::Wake(uint32_t id) {
  std::lock_guard<std::mutex> lock(mu_);
  PerShard& s = shards_[id];
  if (s.exited) return;
  s.runnable = true;
  if (started_ && current_ == kNone) HandTo(id);
}

uint64_t SimScheduler::DrawRandom() { return SplitMix(rng_); }

size_t SimScheduler::DrawBudget(size_t max) {
  if (max <= 1) return 1;
  // Mostly small budgets (fine interleaving), sometimes the whole budget.
  const uint64_t r = DrawRandom();
  if ((r & 3) == 0) return max;
  return 1 + static_cast<size_t>((r >> 2) % std::min<size_t>(max, 16));
}

uint64_t SimScheduler::steps() const {
  std::lock_guard<std::mutex> lock(mu_);
  return steps_;
}

uint64_t SimScheduler::trace_hash() const {
  std::lock_guard<std::mutex> lock(mu_);
  return hash_;
}

uint64_t SimScheduler::deadlocks() const {
  std::lock_guard<std::mutex> lock(mu_);
  return deadlocks_;
}

uint32_t SimScheduler::PickLocked() {
  polling_io_ = false;
  const uint32_t n = static_cast<uint32_t>(shards_.size());
  // 1. Shards with work.
  uint32_t candidates[mesh::Mesh::kMaxShards];
  uint32_t count = 0;
  for (uint32_t i = 0; i < n; ++i) {
    if (!shards_[i].exited && shards_[i].runnable) candidates[count++] = i;
  }
  const auto real_now = std::chrono::steady_clock::now();
  if (count > 0) {
    last_progress_ = real_now;
    return candidates[SplitMix(rng_) % count];
  }
  // 2. Shards waiting on real I/O, for a while.
  std::optional<TimePoint> earliest;
  for (uint32_t i = 0; i < n; ++i) {
    const PerShard& s = shards_[i];
    if (s.exited) continue;
    if (s.io_in_flight) candidates[count++] = i;
    if (s.wake_at && (!earliest || *s.wake_at < *earliest)) {
      earliest = s.wake_at;
    }
  }
  if (count > 0 && (!earliest || real_now - last_progress_ < kIoPatience)) {
    polling_io_ = true;
    return candidates[SplitMix(rng_) % count];
  }
  // 3. The clock jumps to the earliest deadline.
  if (!earliest) return kNone;
  clock_->AdvanceTo(*earliest);
  last_progress_ = real_now;
  const TimePoint now = clock_->Now();
  count = 0;
  for (uint32_t i = 0; i < n; ++i) {
    PerShard& s = shards_[i];
    if (!s.exited && s.wake_at && *s.wake_at <= now) candidates[count++] = i;
  }
  return candidates[SplitMix(rng_) % count];
}

void SimScheduler::HandTo(uint32_t id) {
  current_ = id;
  ++steps_;
  hash_ = Mix(Mix(hash_, id),
              static_cast<uint64_t>(clock_->Now().time_since_epoch().count()));
  turn_cv_[id].notify_one();
}

}  // namespace veloq::runtime::internal
