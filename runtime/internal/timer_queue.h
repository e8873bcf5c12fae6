#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/clock.h"

namespace veloq::runtime::internal {

// TimerEntry is embedded in whatever waits for a deadline (a Sleep awaiter,
// a periodic timer, an actor timer); the queue never allocates per timer.
struct TimerEntry {
  TimePoint deadline;
  uint64_t seq = 0;  // FIFO among equal deadlines
  size_t index = kNotQueued;
  void (*fire)(TimerEntry*) = nullptr;
  void* context = nullptr;  // for `fire`

  static constexpr size_t kNotQueued = ~size_t{0};
  bool queued() const { return index != kNotQueued; }
};

// TimerQueue is a binary min-heap of TimerEntry pointers with each entry's
// position stored in the entry: insert, cancel and pop are O(log n).
//
// Thread safety: shard-local.
// Invariant: entry->index is its position in heap_ while queued, else
// kNotQueued.
class TimerQueue {
 public:
  void Insert(TimerEntry* e);
  // Removes `e` if queued; no-op otherwise.
  void Remove(TimerEntry* e);
  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  // REQUIRES: !empty().
  TimePoint NextDeadline() const { return heap_.front()->deadline; }
  // Fires (in deadline order) every entry due at `now`, at most `budget`.
  // Each is removed before its fire callback runs. Returns how many fired.
  size_t FireExpired(TimePoint now, size_t budget);

 private:
  bool Less(size_t a, size_t b) const;
  void Place(size_t i, TimerEntry* e);
  void SiftUp(size_t i);
  void SiftDown(size_t i);

  std::vector<TimerEntry*> heap_;
  uint64_t next_seq_ = 0;
};

}  // namespace veloq::runtime::internal
