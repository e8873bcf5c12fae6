#include "runtime/internal/frame_allocator.h"

#include <new>

#if defined(__SANITIZE_ADDRESS__)
#define VELOQ_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define VELOQ_ASAN 1
#endif
#endif

#ifdef VELOQ_ASAN
#include <sanitizer/asan_interface.h>
#define VELOQ_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define VELOQ_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define VELOQ_POISON(p, n) ((void)(p), (void)(n))
#define VELOQ_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace veloq::runtime::internal {
namespace {

thread_local FrameAllocator* tls_allocator = nullptr;

// Kept 16 bytes so the frame after it stays 16-byte aligned.
struct Header {
  size_t cls;  // size class + 1, or 0 for a block bigger than any class
  size_t unused;
};
static_assert(sizeof(Header) == FrameAllocator::kHeader);

size_t ClassBytes(size_t cls) { return (cls + 1) * FrameAllocator::kGranule; }

}  // namespace

FrameAllocator::FrameAllocator(size_t max_cached_bytes)
    : max_cached_bytes_(max_cached_bytes) {}

FrameAllocator::~FrameAllocator() {
  for (size_t c = 0; c < kClasses; ++c) {
    while (free_[c] != nullptr) {
      FreeBlock* b = free_[c];
      VELOQ_UNPOISON(b, ClassBytes(c));
      free_[c] = b->next;
      ::operator delete(b);
    }
  }
}

FrameAllocator* FrameAllocator::Current() { return tls_allocator; }

void* FrameAllocator::Allocate(size_t cls) {
  ++allocations_;
  FreeBlock* b = free_[cls];
  if (b != nullptr) {
    VELOQ_UNPOISON(b, ClassBytes(cls));
    free_[cls] = b->next;
    cached_bytes_ -= ClassBytes(cls);
    return b;
  }
  ++global_allocations_;
  return ::operator new(ClassBytes(cls));
}

void FrameAllocator::Free(void* block, size_t cls) {
  if (cached_bytes_ + ClassBytes(cls) > max_cached_bytes_) {
    ::operator delete(block);
    return;
  }
  FreeBlock* b = static_cast<FreeBlock*>(block);
  b->next = free_[cls];
  free_[cls] = b;
  cached_bytes_ += ClassBytes(cls);
  VELOQ_POISON(b, ClassBytes(cls));
}

ScopedFrameAllocator::ScopedFrameAllocator(FrameAllocator* a)
    : previous_(tls_allocator) {
  tls_allocator = a;
}

ScopedFrameAllocator::~ScopedFrameAllocator() { tls_allocator = previous_; }

void* AllocateFrame(size_t size) {
  const size_t total = size + FrameAllocator::kHeader;
  const size_t cls = (total - 1) / FrameAllocator::kGranule;
  FrameAllocator* a = tls_allocator;
  Header* h;
  if (cls >= FrameAllocator::kClasses) {
    h = static_cast<Header*>(::operator new(total));
    h->cls = 0;
  } else {
    h = static_cast<Header*>(a != nullptr ? a->Allocate(cls)
                                          : ::operator new(ClassBytes(cls)));
    h->cls = cls + 1;
  }
  return reinterpret_cast<char*>(h) + FrameAllocator::kHeader;
}

void FreeFrame(void* frame, size_t size) {
  Header* h = reinterpret_cast<Header*>(static_cast<char*>(frame) -
                                        FrameAllocator::kHeader);
  FrameAllocator* a = tls_allocator;
  if (a != nullptr && h->cls != 0) {
    a->Free(h, h->cls - 1);
  } else {
    ::operator delete(h);
  }
}

}  // namespace veloq::runtime::internal
