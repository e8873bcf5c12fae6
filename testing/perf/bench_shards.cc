#include "testing/perf/bench_shards.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mesh/mesh.h"

namespace veloq::testing::perf {

uint32_t BenchShards(uint32_t default_value) {
  const char* text = std::getenv(kBenchShardsEnv);
  if (text == nullptr) return default_value;
  const char* end = text + std::strlen(text);
  uint32_t n = 0;
  // from_chars takes digits only: no sign, no spaces, no base prefix.
  auto [ptr, ec] = std::from_chars(text, end, n);
  if (ec != std::errc() || ptr != end || n == 0 || n > mesh::Mesh::kMaxShards) {
    std::fprintf(stderr,
                 "%s=\"%s\": expected a shard count, a whole number from 1 "
                 "to %u\n",
                 kBenchShardsEnv, text, mesh::Mesh::kMaxShards);
    std::exit(2);
  }
  return n;
}

}  // namespace veloq::testing::perf
