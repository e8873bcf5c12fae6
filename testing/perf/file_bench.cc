// Veloq's side of testing/perf/fio_compare.sh: the same workloads as the
// fio jobs there, through io::File on one shard.
//   file_bench --file=F --mode=randread --bs=4096 --depth=32 --seconds=10
//   file_bench --file=F --mode=seqwrite --bs=1048576 --depth=4 --seconds=10
// randread: `depth` tasks each reading `bs` bytes at random bs-aligned
// offsets, O_DIRECT, into registered pool buffers (READ_FIXED).
// seqwrite: `depth` writes of `bs` in flight, O_DIRECT, sequential offsets
// wrapping at the file size.
// Prints one line: "iops=<n> bw_mib_s=<n>".
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "io/buffer/buf_pool.h"
#include "io/driver.h"
#include "io/fs/file.h"
#include "runtime/runtime.h"
#include "runtime/spawn.h"

ABSL_FLAG(std::string, file, "", "the file (at least --size bytes)");
ABSL_FLAG(std::string, mode, "randread", "randread or seqwrite");
ABSL_FLAG(uint64_t, bs, 4096, "block size");
ABSL_FLAG(int, depth, 32, "ops in flight");
ABSL_FLAG(double, seconds, 10, "how long to run");
ABSL_FLAG(uint64_t, size, 1ull << 30, "bytes of the file to use");

namespace veloq {
namespace {

struct Totals {
  uint64_t ops = 0;
  uint64_t errors = 0;
  int last_error = 0;
};

runtime::Task<void> Reader(const io::File* f, io::BufPool* pool, uint64_t bs,
                           uint64_t blocks, uint64_t seed,
                           std::chrono::steady_clock::time_point end,
                           Totals* t) {
  std::mt19937_64 rng(seed);
  io::FixedBuf buf = pool->Allocate(bs);
  while (std::chrono::steady_clock::now() < end) {
    const uint64_t off = (rng() % blocks) * bs;
    io::BufResult r = co_await f->ReadAt(std::move(buf), off);
    buf = std::move(r.buf);
    if (r.res.ok() && static_cast<uint64_t>(r.res.value()) == bs) {
      ++t->ops;
    } else {
      ++t->errors;
      t->last_error = r.res.error();
    }
  }
}

runtime::Task<void> Writer(const io::File* f, io::BufPool* pool, uint64_t bs,
                           uint64_t blocks, uint64_t* next,
                           std::chrono::steady_clock::time_point end,
                           Totals* t) {
  io::FixedBuf buf = pool->Allocate(bs);
  buf.set_size(bs);
  std::memset(buf.data(), 'w', bs);
  while (std::chrono::steady_clock::now() < end) {
    const uint64_t off = ((*next)++ % blocks) * bs;
    io::BufResult r = co_await f->WriteAt(std::move(buf), off);
    buf = std::move(r.buf);
    if (r.res.ok() && static_cast<uint64_t>(r.res.value()) == bs) {
      ++t->ops;
    } else {
      ++t->errors;
      t->last_error = r.res.error();
    }
  }
}

runtime::Task<absl::Status> Main() {
  const std::string mode = absl::GetFlag(FLAGS_mode);
  const uint64_t bs = absl::GetFlag(FLAGS_bs);
  const int depth = absl::GetFlag(FLAGS_depth);
  const uint64_t blocks = absl::GetFlag(FLAGS_size) / bs;
  io::OpenOptions o;
  o.direct = true;
  o.read = mode == "randread";
  o.write = mode == "seqwrite";
  absl::StatusOr<io::File> f =
      co_await io::File::Open(absl::GetFlag(FLAGS_file), o);
  if (!f.ok()) co_return f.status();
  // A registered buddy pool with room for every buffer in flight.
  io::Driver* d = io::Driver::Current();
  absl::StatusOr<io::BufPool> pool = io::BufPool::Buddy(
      {.arena_bytes = std::max<size_t>(bs * depth * 2, 1 << 20)}, d);
  if (!pool.ok()) co_return pool.status();
  const auto start = std::chrono::steady_clock::now();
  const auto end =
      start + std::chrono::duration_cast<std::chrono::nanoseconds>(
                  std::chrono::duration<double>(absl::GetFlag(FLAGS_seconds)));
  Totals t;
  uint64_t next = 0;
  std::vector<runtime::JoinHandle<void>> tasks;
  for (int i = 0; i < depth; ++i) {
    tasks.push_back(runtime::Spawn(
        mode == "randread" ? Reader(&*f, &*pool, bs, blocks, 1234 + i, end, &t)
                           : Writer(&*f, &*pool, bs, blocks, &next, end, &t)));
  }
  for (auto& h : tasks) co_await h;
  const double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  if (t.errors > 0) {
    std::fprintf(stderr, "%lu errors (last: %s)\n", (unsigned long)t.errors,
                 std::strerror(t.last_error));
  }
  std::printf("iops=%.0f bw_mib_s=%.1f\n", t.ops / secs,
              t.ops * bs / secs / (1 << 20));
  co_return absl::OkStatus();
}

}  // namespace
}  // namespace veloq

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  auto rt = veloq::runtime::Runtime::Builder()
                .Shards(1)
                .Parkers(veloq::io::DriverParkers())
                .Build();
  if (!rt.ok()) {
    std::fprintf(stderr, "%s\n", rt.status().ToString().c_str());
    return 1;
  }
  absl::Status s = (*rt)->Run(veloq::Main);
  if (!s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
