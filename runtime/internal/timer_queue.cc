#include "runtime/internal/timer_queue.h"

#include <utility>

namespace veloq::runtime::internal {

bool TimerQueue::Less(size_t a, size_t b) const {
  const TimerEntry* x = heap_[a];
  const TimerEntry* y = heap_[b];
  if (x->deadline != y->deadline) return x->deadline < y->deadline;
  return x->seq < y->seq;
}

void TimerQueue::Place(size_t i, TimerEntry* e) {
  heap_[i] = e;
  e->index = i;
}

void TimerQueue::SiftUp(size_t i) {
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (!Less(i, parent)) break;
    TimerEntry* p = heap_[parent];
    Place(parent, heap_[i]);
    Place(i, p);
    i = parent;
  }
}

void TimerQueue::SiftDown(size_t i) {
  const size_t n = heap_.size();
  while (true) {
    size_t best = i;
    const size_t l = 2 * i + 1;
    const size_t r = l + 1;
    if (l < n && Less(l, best)) best = l;
    if (r < n && Less(r, best)) best = r;
    if (best == i) break;
    TimerEntry* b = heap_[best];
    Place(best, heap_[i]);
    Place(i, b);
    i = best;
  }
}

void TimerQueue::Insert(TimerEntry* e) {
  e->seq = next_seq_++;
  heap_.push_back(e);
  e->index = heap_.size() - 1;
  SiftUp(e->index);
}

void TimerQueue::Remove(TimerEntry* e) {
  if (!e->queued()) return;
  const size_t i = e->index;
  e->index = TimerEntry::kNotQueued;
  TimerEntry* last = heap_.back();
  heap_.pop_back();
  if (i == heap_.size()) return;  // it was the last element
  Place(i, last);
  SiftUp(i);
  SiftDown(last->index);
}

size_t TimerQueue::FireExpired(TimePoint now, size_t budget) {
  size_t fired = 0;
  while (fired < budget && !heap_.empty() && heap_.front()->deadline <= now) {
    TimerEntry* e = heap_.front();
    Remove(e);
    e->fire(e);
    ++fired;
  }
  return fired;
}

}  // namespace veloq::runtime::internal
