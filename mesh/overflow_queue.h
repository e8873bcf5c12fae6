#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <utility>

#include "mesh/message.h"

namespace veloq::mesh {

// ChunkCache keeps the free chunks of one shard's OverflowQueues, so that a
// sender that overflows again and again (a burst of Tells to a slower shard,
// every iteration of a benchmark) reuses the same memory instead of going to
// malloc, and, past the first burst, touches no fresh pages.
//
// It holds at most `max_chunks` free chunks (each 4 KiB: 63 Messages);
// chunks freed beyond that go back to the heap.
//
// Thread safety: thread-compatible; one per shard, used on that shard only.
class ChunkCache {
 public:
  struct Chunk;

  explicit ChunkCache(size_t max_chunks) : max_(max_chunks) {}
  ~ChunkCache();

  ChunkCache(const ChunkCache&) = delete;
  ChunkCache& operator=(const ChunkCache&) = delete;

  Chunk* Get();
  void Put(Chunk* c);

  size_t cached() const { return count_; }

 private:
  const size_t max_;
  Chunk* free_ = nullptr;  // singly linked through Chunk::next
  size_t count_ = 0;
};

// One fixed-size block of an OverflowQueue: a header and 63 Message slots,
// 4 KiB in all. Slots in [begin, end) hold live Messages. Each slot is one
// cache line (64-byte aligned): a Message that straddled two lines cost two
// line transfers when it was written and read back (measured: a 2-shard
// all-to-all at ~9 M msgs/s with 16-byte aligned slots, ~13-14 M aligned).
struct alignas(64) ChunkCache::Chunk {
  static constexpr uint32_t kSlots = 63;

  Chunk* next = nullptr;
  uint32_t begin = 0;
  uint32_t end = 0;
  alignas(64) unsigned char storage[kSlots][sizeof(Message)];

  Message* slot(uint32_t i) {
    return std::launder(reinterpret_cast<Message*>(storage[i]));
  }
};

// OverflowQueue is a FIFO of Messages in chunks from a ChunkCache: the
// per-destination overflow of Mesh (messages that did not fit in a full
// ring). Push and pop are O(1) with no allocation while the cache has
// chunks; a Message is relocated into a chunk slot on push and out of it by
// the caller of Front.
//
// Every call that may take or return a chunk names the cache: the queue
// does not keep a pointer to it (one cache serves all of a shard's
// queues). Neither copyable nor movable; must be emptied (Clear) before it
// is destroyed.
//
// Thread safety: thread-compatible; used by its sending shard only.
class OverflowQueue {
 public:
  OverflowQueue() = default;
  // REQUIRES: empty (Clear() first): the destructor has no cache to return
  // chunks to.
  ~OverflowQueue();

  OverflowQueue(const OverflowQueue&) = delete;
  OverflowQueue& operator=(const OverflowQueue&) = delete;

  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }

  // Relocates `m` into the queue (one move, no temporary).
  void PushBack(Message&& m, ChunkCache& cache);

  // REQUIRES: !empty().
  Message& Front() { return *head_->slot(head_->begin); }

  // Destroys the front Message (usually already moved from). REQUIRES:
  // !empty().
  void PopFront(ChunkCache& cache);

  // Destroys every Message unrun and returns the chunks to `cache`.
  void Clear(ChunkCache& cache);

 private:
  ChunkCache::Chunk* head_ = nullptr;
  ChunkCache::Chunk* tail_ = nullptr;
  size_t size_ = 0;
};

}  // namespace veloq::mesh
