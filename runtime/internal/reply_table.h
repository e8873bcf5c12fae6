#pragma once

#include <cstdint>
#include <vector>

namespace veloq::runtime::internal {

// ReplyTable maps the tickets that SubmitTo sends along with a request to the
// awaiter waiting for its reply. A reply whose awaiter is gone (its frame was
// destroyed at shutdown) finds nothing and is dropped: a ticket carries a
// generation, so a reused slot never matches an old ticket.
//
// Thread safety: shard-local (each shard owns one; tickets travel to other
// shards only as values).
class ReplyTable {
 public:
  struct Ticket {
    uint32_t index;
    uint32_t generation;
  };

  Ticket Add(void* awaiter) {
    uint32_t i;
    if (free_ != kNone) {
      i = free_;
      free_ = slots_[i].next_free;
    } else {
      i = static_cast<uint32_t>(slots_.size());
      slots_.push_back(Slot{});
    }
    slots_[i].awaiter = awaiter;
    return Ticket{i, slots_[i].generation};
  }

  // The awaiter for `t`, or null if it was removed.
  void* Find(Ticket t) const {
    if (t.index >= slots_.size()) return nullptr;
    const Slot& s = slots_[t.index];
    return s.generation == t.generation ? s.awaiter : nullptr;
  }

  void Remove(Ticket t) {
    Slot& s = slots_[t.index];
    if (s.generation != t.generation) return;
    ++s.generation;
    s.awaiter = nullptr;
    s.next_free = free_;
    free_ = t.index;
  }

  size_t pending() const {
    size_t n = 0;
    for (const Slot& s : slots_) n += s.awaiter != nullptr;
    return n;
  }

 private:
  static constexpr uint32_t kNone = ~uint32_t{0};
  struct Slot {
    void* awaiter = nullptr;
    uint32_t generation = 0;
    uint32_t next_free = kNone;
  };
  std::vector<Slot> slots_;
  uint32_t free_ = kNone;
};

}  // namespace veloq::runtime::internal
