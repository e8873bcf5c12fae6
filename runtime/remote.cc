#include "runtime/remote.h"

#include "runtime/runtime.h"

namespace veloq::runtime {

uint32_t PickBalancedShard() {
  Shard* here = Shard::Current();
  const uint32_t n = here->shard_count();
  if (n == 1) return 0;
  const uint64_t r = here->Random();
  const uint32_t a = static_cast<uint32_t>(r % n);
  uint32_t b = static_cast<uint32_t>((r >> 32) % (n - 1));
  if (b >= a) ++b;  // distinct from a
  Runtime& rt = here->runtime();
  return rt.shard(a).load() <= rt.shard(b).load() ? a : b;
}

Task<absl::Status> WaitForMeshCapacity(uint32_t shard) {
  Shard* here = Shard::Current();
  const size_t limit = here->options().mesh_overflow_limit;
  while (shard != here->id() &&
         here->mesh().OverflowDepth(here->id(), shard) > limit) {
    if (IsCancelled()) co_return CancelledStatus();
    co_await Yield();
  }
  co_return absl::OkStatus();
}

}  // namespace veloq::runtime
