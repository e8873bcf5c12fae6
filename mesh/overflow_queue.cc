#include "mesh/overflow_queue.h"

#include <cstdio>
#include <cstdlib>
#include <memory>

namespace veloq::mesh {

static_assert(sizeof(ChunkCache::Chunk) == 4096,
              "an overflow chunk is one page: a line of header, 63 slots");

ChunkCache::~ChunkCache() {
  while (free_ != nullptr) delete std::exchange(free_, free_->next);
}

ChunkCache::Chunk* ChunkCache::Get() {
  if (free_ == nullptr) return new Chunk;
  Chunk* c = free_;
  free_ = c->next;
  --count_;
  c->next = nullptr;
  c->begin = c->end = 0;
  return c;
}

void ChunkCache::Put(Chunk* c) {
  if (count_ >= max_) {
    delete c;
    return;
  }
  c->next = free_;
  free_ = c;
  ++count_;
}

OverflowQueue::~OverflowQueue() {
  if (head_ != nullptr) {
    std::fprintf(stderr, "veloq::mesh: OverflowQueue destroyed non-empty\n");
    std::abort();
  }
}

void OverflowQueue::PushBack(Message&& m, ChunkCache& cache) {
  if (tail_ == nullptr || tail_->end == ChunkCache::Chunk::kSlots) {
    ChunkCache::Chunk* c = cache.Get();
    if (tail_ == nullptr) {
      head_ = c;
    } else {
      tail_->next = c;
    }
    tail_ = c;
  }
  ::new (static_cast<void*>(tail_->storage[tail_->end])) Message(std::move(m));
  ++tail_->end;
  ++size_;
}

void OverflowQueue::PopFront(ChunkCache& cache) {
  ChunkCache::Chunk* c = head_;
  std::destroy_at(c->slot(c->begin));
  ++c->begin;
  --size_;
  if (c->begin == c->end) {
    // Drained: back to the cache. A chunk before the tail is full, so it is
    // never written again; if this was the tail, tail_ resets and the next
    // push takes a fresh chunk.
    head_ = c->next;
    if (head_ == nullptr) tail_ = nullptr;
    cache.Put(c);
  }
}

void OverflowQueue::Clear(ChunkCache& cache) {
  while (!empty()) PopFront(cache);
}

}  // namespace veloq::mesh
