#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <utility>

#include "mesh/message.h"

namespace veloq::mesh {

// Frame is one slot of a mesh ring: 64 bytes, one cache line, carrying
// either one Message whole or several small closures packed back to back.
// A Message is 64 bytes, so one message a slot would make every message a
// line transfer; most mesh closures capture 8-24 bytes, and packing puts 2-4
// of them on one line.
//
// Layout: records at 8-byte offsets from the frame's start, each beginning
// with a header word:
//   0              end of the frame (nothing follows);
//   ops | 1        a packed closure: Message::Ops* in the upper bits, the
//                  closure's PackedSize() bytes right after the header;
//   (size << 3)|3  a tombstone: `size` bytes (header included) of records
//                  already run, to skip;
//   ops (even)     only at offset 0: a whole Message lives in the frame.
// Ops objects are at least 8-aligned, so their low three bits are free.
//
// Producer side (the sending shard, before the ring slot is published):
// TryPack appends a closure if it packs and fits, Hold stores a Message
// whole in an empty frame. Consumer side (the receiving shard): Run runs
// records in order up to a budget; a frame it finishes has its lifetime
// ended without a write to it (the line goes back to the producer clean);
// one it leaves half run gets tombstones over the records it ran, so that
// the next Run, or ~Frame, skips them. ~Frame destroys the closures not yet
// run without calling them.
//
// Thread safety: thread-compatible; the ring's publish/consume ordering
// hands a frame from producer to consumer.
class alignas(64) Frame {
 public:
  static constexpr std::size_t kSize = 64;

  // An empty frame: Run on it runs nothing and finishes it.
  Frame() { SetWord(0, 0); }
  ~Frame() { Discard(); }

  Frame(const Frame&) = delete;
  Frame& operator=(const Frame&) = delete;

  // Moves m's closure into the frame at byte offset `*fill` (0 for a new
  // frame; the frame's writer keeps it) if m packs and fits; advances
  // `*fill`. Returns false, m untouched, otherwise. REQUIRES: m holds a
  // closure; the frame holds no whole Message; `*fill` is the end of the
  // records packed so far.
  bool TryPack(Message& m, uint32_t* fill) {
    const std::size_t size = m.ops_->packed_size;
    const std::size_t at = *fill;
    if (size == 0 || at + 8 + size > kSize) return false;
    SetWord(at, reinterpret_cast<uintptr_t>(m.ops_) | kPacked);
    m.ops_->relocate(bytes_ + at + 8, m.storage_);
    m.ops_ = nullptr;
    const std::size_t end = at + 8 + size;
    if (end < kSize) SetWord(end, 0);
    *fill = static_cast<uint32_t>(end);
    return true;
  }

  // Stores m whole. REQUIRES: the frame is empty (new, nothing packed); m
  // holds a closure.
  void Hold(Message&& m) {
    ::new (static_cast<void*>(bytes_)) Message(std::move(m));
  }

  // Runs the frame's closures in order, at most `budget` of them, adding
  // each to *ran. Returns true if the frame is finished: every closure ran
  // and the frame's lifetime is over (do not destroy it; its memory was not
  // written). Returns false if the budget ran out first: the frame stays
  // alive with the closures that ran replaced by a tombstone.
  static bool Run(Frame* f, std::size_t budget, std::size_t* ran) {
    std::size_t at = 0;
    std::size_t done = 0;
    while (at < kSize) {
      const uintptr_t w = f->Word(at);
      if (w == 0) break;
      if ((w & 7) == kTombstone) {
        at += w >> 3;
        continue;
      }
      if (done == budget) {
        if (done > 0) f->SetWord(0, (uintptr_t{at} << 3) | kTombstone);
        *ran += done;
        return false;
      }
      if ((w & 7) == 0) {  // a whole Message (at offset 0 only)
        Message::RunAndEnd(f->AsMessage());
        *ran += done + 1;
        return true;
      }
      const auto* ops =
          reinterpret_cast<const Message::Ops*>(w & ~uintptr_t{7});
      // Read the size first: running may end the Ops' last user but the
      // Ops object itself is static.
      const std::size_t next = at + 8 + ops->packed_size;
      ops->run_and_destroy(f->bytes_ + at + 8);
      ++done;
      at = next;
    }
    *ran += done;
    return true;
  }

 private:
  static constexpr uintptr_t kPacked = 1;
  static constexpr uintptr_t kTombstone = 3;

  uintptr_t Word(std::size_t at) const {
    uintptr_t w;
    std::memcpy(&w, bytes_ + at, sizeof(w));
    return w;
  }
  void SetWord(std::size_t at, uintptr_t w) {
    std::memcpy(bytes_ + at, &w, sizeof(w));
  }
  Message* AsMessage() {
    return std::launder(reinterpret_cast<Message*>(bytes_));
  }

  // Destroys the closures not yet run.
  void Discard() {
    std::size_t at = 0;
    while (at < kSize) {
      const uintptr_t w = Word(at);
      if (w == 0) return;
      if ((w & 7) == kTombstone) {
        at += w >> 3;
        continue;
      }
      if ((w & 7) == 0) {
        std::destroy_at(AsMessage());
        return;
      }
      const auto* ops =
          reinterpret_cast<const Message::Ops*>(w & ~uintptr_t{7});
      ops->destroy(bytes_ + at + 8);
      at += 8 + ops->packed_size;
    }
  }

  unsigned char bytes_[kSize];
};

static_assert(sizeof(Frame) == 64, "a Frame is one cache line");
static_assert(sizeof(Message) <= sizeof(Frame), "a Message fits a Frame");

}  // namespace veloq::mesh
