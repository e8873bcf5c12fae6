#pragma once

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <new>
#include <utility>

#include "mesh/prefetch.h"

namespace veloq::mesh {

// SpscRing is a bounded single-producer single-consumer queue of T, the link
// between one pair of shards in the mesh. Its capacity is a power of 2 fixed
// at construction; elements are constructed in place in a heap array and
// destroyed when popped (or by ~SpscRing if never popped).
//
// Producer writes are two-phase so that a shard can publish a batch at once:
// TryStage writes a slot without making it visible, Publish makes every staged
// item visible with one store. TryPush, TryEmplace and PushBatch stage and then
// publish.
//
// Thread safety: one producer thread and one consumer thread, fixed for the
// ring's life.
//   Producer only: TryPush, TryEmplace, PushBatch, TryStage, Staged, Publish,
//                  FreeSpaceApprox, PrefetchForStage.
//   Consumer only: TryPop, PopBatch, ConsumeBatch, EmptyApprox,
//                  PrefetchForConsume.
//   Any thread:    SizeApprox, Capacity.
// Construction and destruction must not overlap any other call (for example,
// both threads are joined, or started after construction).
//
// Memory ordering (indices are free-running uint64_t; slot = index & mask_):
//   (1) The producer constructs slot(s) in place, then releases tail_ (store
//       in Publish). The consumer acquires tail_ (load in TryPop, PopBatch,
//       ConsumeBatch) before reading any slot below it. This pair makes the
//       element's construction happen-before its move-out.
//   (2) The consumer moves out of and destroys slot(s), then releases head_
//       (store in TryPop, PopBatch, ConsumeBatch). The producer acquires
//       head_ (load in
//       every push or stage, and FreeSpaceApprox) before constructing into a
//       slot below head_ + capacity. This pair makes the old element's
//       destruction happen-before the slot's reuse.
//   (3) cached_head_ and write_ are plain fields owned by the producer,
//       cached_tail_ by the consumer; the other side never touches them.
//       cached_head_ only ever holds a value acquired from head_, and
//       cached_tail_ one acquired from tail_, so acting on a cached value is
//       ordered by the acquire that produced it. Each side re-reads the other
//       side's atomic only when its cached value cannot satisfy the request
//       (ring looks full to the producer, or looks empty / shorter than the
//       batch to the consumer).
//   (4) Neither side reads its own shared index while the ring is in use
//       (only ~SpscRing does): the producer keeps published_ (== tail_) and
//       the consumer read_ (== head_) in private lines. Pushes, stages and
//       pops load the other side's index only when the cached copy falls
//       short; FreeSpaceApprox always loads head_, and EmptyApprox loads
//       tail_ (relaxed, as a hint only: a following pop does the acquire)
//       when the cached copy shows nothing. SizeApprox acquires head_ and
//       then tail_, so that it never sees tail_ < head_.
//
// Invariants: (1) 0 <= tail_ - head_ <= write_ - head_ <= capacity.
// (1a) published_ == tail_ and read_ == head_ whenever their owner is not
// inside a call.
// (2) capacity is a power of 2. (3) Slots in [head_, write_) hold live
// objects; the rest are raw storage. (4) Staged items, those in
// [tail_, write_), are invisible to the consumer until Publish.
template <class T>
class SpscRing {
 public:
  // REQUIRES: capacity is a power of 2 (aborts otherwise).
  explicit SpscRing(size_t capacity)
      : mask_(CheckedCapacity(capacity) - 1),
        slots_(std::make_unique_for_overwrite<Slot[]>(capacity)) {}

  // Destroys the elements still in the ring, staged ones included, on the
  // calling thread.
  ~SpscRing() {
    const uint64_t head = head_.load(std::memory_order_relaxed);
    for (uint64_t i = head; i != write_; ++i) std::destroy_at(SlotAt(i));
  }

  // Neither copyable nor movable: both threads hold on to the ring's address.
  SpscRing(const SpscRing&) = delete;
  SpscRing& operator=(const SpscRing&) = delete;

  size_t Capacity() const { return mask_ + 1; }

  // ---- Producer side. ----

  // Moves v into the ring and publishes it, together with any items staged
  // before. Returns false if the ring is full; v is then left untouched and
  // still owned by the caller, but earlier staged items are published anyway
  // so that a caller retrying TryPush cannot wait on its own staged items.
  [[nodiscard]] bool TryPush(T&& v) { return TryEmplace(std::move(v)); }

  // Like TryPush, but constructs T(args...) in place. On a full ring nothing
  // is constructed and args are not touched.
  template <class... A>
  [[nodiscard]] bool TryEmplace(A&&... args) {
    const bool pushed = TryStageInPlace(std::forward<A>(args)...);
    Publish();
    return pushed;
  }

  // Moves items[0, k) into the ring, where k = min(n, free slots), and
  // publishes them (and any earlier staged items) with one release of tail_.
  // Returns k; items[k, n) are not touched.
  [[nodiscard]] size_t PushBatch(T* items, size_t n) {
    const size_t k = std::min(n, FreeSlots(n));
    for (size_t i = 0; i < k; ++i) StageUnchecked(std::move(items[i]));
    Publish();
    return k;
  }

  // Moves v into the next slot without making it visible to the consumer; a
  // later Publish (or TryPush, TryEmplace, PushBatch) does. Returns false if
  // the ring, staged items included, is full; v is then untouched.
  [[nodiscard]] bool TryStage(T&& v) { return TryStageInPlace(std::move(v)); }

  // Number of items staged and not yet published.
  size_t Staged() const { return write_ - published_; }

  // Makes every staged item visible to the consumer with one release store of
  // tail_. Does not store at all when nothing is staged, so that an idle tick
  // does not pull the producer's cache line away from the consumer.
  void Publish() {
    if (write_ != published_) {
      published_ = write_;
      tail_.store(write_, std::memory_order_release);
    }
  }

  // Starts taking the next slot's line for writing, so that the next
  // TryStage does not wait for the consumer's copy of it to be invalidated.
  // A hint: no effect on the contents. Does nothing when the slot may still
  // hold an item the consumer has to read. Producer only.
  void PrefetchForStage() const {
    if (write_ - cached_head_ < Capacity()) PrefetchForWrite(SlotAt(write_));
  }

  // Free slots as of now (staged items count as used). A lower bound: that
  // many TryStage calls in a row will succeed, since the consumer only frees
  // slots. Always re-reads head_.
  size_t FreeSpaceApprox() {
    cached_head_ = head_.load(std::memory_order_acquire);
    return Capacity() - (write_ - cached_head_);
  }

  // ---- Consumer side. ----

  // Moves the oldest published item into out and destroys the slot's object.
  // Returns false, leaving out untouched, if no published item is available.
  [[nodiscard]] bool TryPop(T& out) {
    const uint64_t head = read_;
    if (Available(head, 1) == 0) return false;
    T* slot = SlotAt(head);
    out = std::move(*slot);
    std::destroy_at(slot);
    read_ = head + 1;
    head_.store(head + 1, std::memory_order_release);
    return true;
  }

  // Calls f(T&&) on up to max published items, oldest first, on the calling
  // (consumer) thread, destroying each item after f returns, then releases
  // head_ once. Returns the number of items passed to f. If f throws, the
  // items it finished are released and the one it threw on stays queued.
  // Like PopBatch, but f(T* slot) takes the element over and must end its
  // lifetime itself (run and destroy it in place, say). Lets a consumer
  // leave the slot's memory untouched, so the cache line goes back to the
  // producer without a write. Consumer only.
  template <class F>
  size_t ConsumeBatch(F&& f, size_t max) {
    const uint64_t first = read_;
    const size_t n = Available(first, max);
    if (n == 0) return 0;
    for (uint64_t head = first, end = first + n; head != end; ++head) {
      f(SlotAt(head));
    }
    read_ = first + n;
    head_.store(first + n, std::memory_order_release);
    return n;
  }

  template <class F>
  size_t PopBatch(F&& f, size_t max) {
    const uint64_t first = read_;
    const size_t n = Available(first, max);
    if (n == 0) return 0;
    // Releases head_ on every exit, so an exception from f cannot leave
    // destroyed objects below head_ for ~SpscRing to destroy again.
    struct ReleaseOnExit {
      std::atomic<uint64_t>& head_index;
      uint64_t& read;
      const uint64_t& head;
      ~ReleaseOnExit() {
        read = head;
        head_index.store(head, std::memory_order_release);
      }
    };
    uint64_t head = first;
    const ReleaseOnExit release{head_, read_, head};
    for (const uint64_t end = first + n; head != end; ++head) {
      T* slot = SlotAt(head);
      f(std::move(*slot));
      std::destroy_at(slot);
    }
    return n;
  }

  // True if no published item is available. A false answer is reliable (only
  // the consumer removes items); a true answer may be stale by the time it
  // returns.
  bool EmptyApprox() const {
    return cached_tail_ == read_ &&
           tail_.load(std::memory_order_relaxed) == read_;
  }

  // Starts fetching the lines the next ConsumeBatch or TryPop reads first
  // (tail_ and the oldest slot) without waiting for them, so that a caller
  // that learnt of new items elsewhere (the mesh's has-data bits) overlaps
  // these misses with its other work. A hint: no effect on the contents.
  // Consumer only; call it only when published items are known to exist
  // (prefetching a slot the producer is still writing would steal its line).
  void PrefetchForConsume() const {
    __builtin_prefetch(&tail_, 0, 3);
    __builtin_prefetch(SlotAt(read_), 0, 3);
  }

  // ---- Any thread. ----

  // Number of published, not yet popped items, in [0, capacity]. Exact only
  // when called by the producer or consumer while the other side is idle.
  size_t SizeApprox() const {
    // head_ first: acquiring it orders us after the consumer's acquire of a
    // tail_ >= head, so the tail_ load below cannot return less than head.
    const uint64_t head = head_.load(std::memory_order_acquire);
    const uint64_t tail = tail_.load(std::memory_order_acquire);
    // head may be stale while tail is fresh; clamp to keep the bound.
    return std::min<uint64_t>(tail - head, Capacity());
  }

 private:
  // 128 bytes: two 64-byte lines, because adjacent-line prefetch on x86 makes
  // neighbours within a 128-byte pair share ownership traffic.
  static constexpr size_t kCacheLine = 128;

  // An element that fills whole cache lines gets slots aligned to them:
  // a 64-byte Message at the 16-byte alignment new[] gives would span two
  // lines, and every message would cost two line transfers.
  static constexpr size_t kSlotAlign =
      sizeof(T) % 64 == 0 ? std::max<size_t>(alignof(T), 64) : alignof(T);
  struct alignas(kSlotAlign) Slot {
    std::byte bytes[sizeof(T)];
  };
  static_assert(sizeof(Slot) == sizeof(T), "slots are packed");

  // Write prefetch ahead of the producer. Storing into a slot whose line the
  // consumer last read costs a line transfer; a store that misses holds up
  // every later store in the store buffer, so without help the producer has
  // only a few transfers in flight (measured on the 2-core VM, cross-die:
  // BM_MeshOneWay 19.7 M msgs/s). Asking for ownership of the line
  // kStageAheadLines ahead while staging overlaps up to that many transfers
  // (46-47 M; 8 lines: 42-43 M, 32 lines: 40 M). Only lines the consumer
  // has released per cached_head_ are prefetched: taking one it has yet to
  // read would pull it away mid-read.
  static constexpr uint64_t kItemsPerLine =
      sizeof(T) >= 64 ? 1 : 64 / sizeof(T);
  static constexpr uint64_t kStageAheadLines = 16;
  static constexpr uint64_t kStageAhead = kStageAheadLines * kItemsPerLine;

  static size_t CheckedCapacity(size_t capacity) {
    if (!std::has_single_bit(capacity)) {
      std::fprintf(stderr, "SpscRing: capacity %zu is not a power of 2\n",
                   capacity);
      std::abort();
    }
    return capacity;
  }

  T* SlotAt(uint64_t index) const {
    return std::launder(reinterpret_cast<T*>(&slots_[index & mask_]));
  }

  // Producer: free slots, at least `wanted` if that many exist. Re-acquires
  // head_ only when cached_head_ shows fewer than `wanted` free.
  size_t FreeSlots(size_t wanted) {
    const size_t cached = Capacity() - (write_ - cached_head_);
    return cached >= wanted ? cached : FreeSpaceApprox();
  }

  // Producer: constructs T(args...) at write_ if a slot is free, unpublished.
  template <class... A>
  bool TryStageInPlace(A&&... args) {
    if (FreeSlots(1) == 0) return false;
    StageUnchecked(std::forward<A>(args)...);
    return true;
  }

  // Producer. REQUIRES: a free slot at write_.
  template <class... A>
  void StageUnchecked(A&&... args) {
    // The line's last slot released, so its others are too.
    if (write_ % kItemsPerLine == 0 &&
        write_ + kStageAhead + kItemsPerLine - 1 - cached_head_ < Capacity()) {
      PrefetchForWrite(SlotAt(write_ + kStageAhead));
    }
    std::construct_at(SlotAt(write_), std::forward<A>(args)...);
    ++write_;  // After construction: a throwing constructor stages nothing.
  }

  // Consumer: number of published items from head on, up to `wanted`.
  // Re-acquires tail_ only when cached_tail_ shows fewer than `wanted`.
  size_t Available(uint64_t head, size_t wanted) {
    if (cached_tail_ - head < wanted) {
      cached_tail_ = tail_.load(std::memory_order_acquire);
    }
    return std::min<uint64_t>(cached_tail_ - head, wanted);
  }

  // Read-only after construction; read by both sides.
  const uint64_t mask_;
  const std::unique_ptr<Slot[]> slots_;

  // Each index the other side reads has a line of its own; each side's
  // private fields have another. write_ changes on every staged item and
  // must not share tail_'s line: the consumer polls tail_, and every stage
  // would pull that line back from it.
  // Shared index: written by the producer (Publish), read by the consumer.
  alignas(kCacheLine) std::atomic<uint64_t> tail_{0};  // Published end.
  // Shared index: written by the consumer, read by the producer when its
  // cached copy shows the ring full.
  alignas(kCacheLine) std::atomic<uint64_t> head_{0};
  // Producer-private.
  alignas(kCacheLine) uint64_t write_ = 0;  // Staged end; tail_ <= write_.
  uint64_t published_ = 0;    // The value of tail_ (its only writer's copy).
  uint64_t cached_head_ = 0;  // Last head_ the producer acquired.
  // Consumer-private. alignas also pads the ring's size to a multiple of
  // kCacheLine, so nothing after it shares these lines.
  alignas(kCacheLine) uint64_t read_ = 0;  // The value of head_ (ditto).
  uint64_t cached_tail_ = 0;               // Last tail_ the consumer acquired.
};

}  // namespace veloq::mesh
