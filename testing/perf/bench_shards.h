// The shard count of the benchmarks that scale with it, chosen at run time so
// that testing/perf/report.sh --scaling "1 2 4" can run one binary at several
// counts without rebuilding it.
#pragma once

#include <cstdint>

namespace veloq::testing::perf {

// The environment variable that BenchShards reads.
inline constexpr char kBenchShardsEnv[] = "VELOQ_BENCH_SHARDS";

// Returns VELOQ_BENCH_SHARDS when it is set and `default_value` when it is
// not (a default of 0 tells "unset" apart, since a set value is never 0).
//
// A set value must be a decimal integer from 1 to mesh::Mesh::kMaxShards with
// nothing around it; anything else (empty, "0", "-2", "4 ", "x") prints the
// variable, the value and what is expected to stderr and exits the process
// with status 2, before a benchmark builds a runtime it cannot have.
//
// Thread safety: thread-safe while no thread changes the environment.
uint32_t BenchShards(uint32_t default_value);

}  // namespace veloq::testing::perf
