#pragma once

namespace veloq::mesh {

// PrefetchForWrite asks for the cache line holding `p` in a state that lets
// this core write it (exclusive), without waiting for it. A hint: it changes
// no contents, orders nothing, and cannot fault. Any thread.
//
// Why not __builtin_prefetch(p, 1): x86 compilers turn it into a read
// prefetch (PREFETCHT0) unless the build targets a CPU with PREFETCHW, and a
// line fetched for reading still needs an ownership upgrade on the first
// store — the transfer a producer wanted to start early. PREFETCHW is
// decoded as a no-op by the x86 CPUs that lack it, so emitting it needs no
// CPU check.
inline void PrefetchForWrite(const void* p) {
#if defined(__x86_64__) || defined(__i386__)
  asm volatile("prefetchw %0" : : "m"(*static_cast<const char*>(p)));
#else
  __builtin_prefetch(p, 1, 3);
#endif
}

}  // namespace veloq::mesh
