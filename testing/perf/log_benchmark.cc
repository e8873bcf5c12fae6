// Logging: runtime/log.h beside the two ways spdlog offers to log from many
// threads, in one binary so that every ratio comes from one run:
//   bazel run -c opt //testing/perf:log_benchmark
// items_per_second is lines per second, summed over the benchmark's threads
// (each thread stands for one shard). Every line goes to /dev/null, so the
// cost is formatting, locking and the system call, not a disk.
//
// Peers (spdlog 1.10, the same pattern and message, so the same bytes):
//   SpdlogFileSinkMt     spdlog's basic_file_sink_mt: one mutex shared by all
//                        threads, held while the line is formatted and
//                        fwritten into a buffered FILE (few system calls).
//   SpdlogConsoleSinkMt  what spdlog's stdout/stderr sinks do: the same, but
//                        flushed every line (one write(2) per line), under
//                        spdlog's global console mutex.
//   SpdlogAsync          spdlog's async logger: the message is copied into a
//                        queue (a mutex and condition variables) that one
//                        background thread drains into a basic_file_sink_mt;
//                        overflow_policy::block, so a full queue makes the
//                        loggers wait, and the rate is the steady state.
//   VeloqLog             ours: formatted in thread_local buffers, one
//                        write(2) per line, no shared lock.
// ...Disabled: a call below the level (nothing is formatted or written).
// WriteSyscall is the floor under VeloqLog and SpdlogConsoleSinkMt: one
// write(2) of the same bytes, no formatting; VeloqLogFormatOnly is VeloqLog
// without it. Their sum should be VeloqLog.
#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include "benchmark/benchmark.h"
#include "fmt/format.h"
#include "runtime/log.h"
#include "spdlog/async.h"
#include "spdlog/async_logger.h"
#include "spdlog/details/console_globals.h"
#include "spdlog/details/thread_pool.h"
#include "spdlog/logger.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/sinks/stdout_sinks.h"
#include "spdlog/version.h"

namespace veloq {
namespace {

// The bytes of ours (kDefaultPattern) in spdlog's plain syntax, off-shard.
constexpr char kSpdlogPattern[] =
    "[%Y-%m-%d %H:%M:%S.%e] [%l] [shard -] [%n] %v";

// One typical line: a few arguments of different types.
template <typename Logger>
void LogOneLine(Logger& logger, int64_t i) {
  logger.info("request {} from {} took {:.1f} us", i, "10.0.0.7:41234", 42.5);
}

void Finish(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations());
}

// ---- The floor -------------------------------------------------------------

// One write(2) of a line's bytes to /dev/null: what ours pays per line on
// top of formatting, and what spdlog's console sink pays under its mutex.
void BM_WriteSyscall(benchmark::State& state) {
  static const int fd = open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC);
  const std::string line =
      "[2026-11-23 17:22:53.620] [info] [shard -] [runtime] request 123456 "
      "from 10.0.0.7:41234 took 42.5 us\n";
  for (auto _ : state) {
    benchmark::DoNotOptimize(write(fd, line.data(), line.size()));
  }
  Finish(state);
}
BENCHMARK(BM_WriteSyscall)->Threads(1)->Threads(2)->UseRealTime();

// ---- spdlog with a shared mutex sink ---------------------------------------

spdlog::logger& FileSinkMtLogger() {
  static spdlog::logger* const logger = [] {
    auto* l = new spdlog::logger(
        "runtime",
        std::make_shared<spdlog::sinks::basic_file_sink_mt>("/dev/null"));
    l->set_pattern(kSpdlogPattern);
    return l;
  }();
  return *logger;
}

void BM_SpdlogFileSinkMt(benchmark::State& state) {
  spdlog::logger& logger = FileSinkMtLogger();
  int64_t i = 0;
  for (auto _ : state) LogOneLine(logger, i++);
  Finish(state);
}
BENCHMARK(BM_SpdlogFileSinkMt)->Threads(1)->Threads(2)->UseRealTime();

spdlog::logger& ConsoleSinkMtLogger() {
  using ConsoleSink =
      spdlog::sinks::stdout_sink_base<spdlog::details::console_mutex>;
  static spdlog::logger* const logger = [] {
    FILE* devnull = std::fopen("/dev/null", "w");
    auto* l =
        new spdlog::logger("runtime", std::make_shared<ConsoleSink>(devnull));
    l->set_pattern(kSpdlogPattern);
    return l;
  }();
  return *logger;
}

void BM_SpdlogConsoleSinkMt(benchmark::State& state) {
  spdlog::logger& logger = ConsoleSinkMtLogger();
  int64_t i = 0;
  for (auto _ : state) LogOneLine(logger, i++);
  Finish(state);
}
BENCHMARK(BM_SpdlogConsoleSinkMt)->Threads(1)->Threads(2)->UseRealTime();

// ---- spdlog's async logger -------------------------------------------------

spdlog::async_logger& AsyncLogger() {
  // The logger must be owned by a shared_ptr (it posts shared_from_this() to
  // its pool) and holds only a weak_ptr to the pool: keep both, forever.
  struct Async {
    std::shared_ptr<spdlog::details::thread_pool> pool;
    std::shared_ptr<spdlog::async_logger> logger;
  };
  static const Async* const async = [] {
    // spdlog's default queue size and one worker, as spdlog::async_factory
    // sets them up (without registering the logger).
    auto pool = std::make_shared<spdlog::details::thread_pool>(8192, 1);
    auto logger = std::make_shared<spdlog::async_logger>(
        "runtime",
        std::make_shared<spdlog::sinks::basic_file_sink_mt>("/dev/null"), pool,
        spdlog::async_overflow_policy::block);
    logger->set_pattern(kSpdlogPattern);
    return new Async{std::move(pool), std::move(logger)};
  }();
  return *async->logger;
}

void BM_SpdlogAsync(benchmark::State& state) {
  spdlog::async_logger& logger = AsyncLogger();
  int64_t i = 0;
  for (auto _ : state) LogOneLine(logger, i++);
  Finish(state);
}
BENCHMARK(BM_SpdlogAsync)->Threads(1)->Threads(2)->UseRealTime();

// ---- Ours ------------------------------------------------------------------

// Every benchmark thread logs through runtime/log.h as if it were a shard
// (off a runtime, so its lines say "[shard -]"); main() points it at
// /dev/null.
void BM_VeloqLog(benchmark::State& state) {
  int64_t i = 0;
  for (auto _ : state) {
    log::Info(log::Module::kRuntime, "request {} from {} took {:.1f} us", i++,
              "10.0.0.7:41234", 42.5);
  }
  Finish(state);
}
BENCHMARK(BM_VeloqLog)->Threads(1)->Threads(2)->UseRealTime();

// Ours without the system call: the line goes to an empty test sink (one
// uncontended mutex instead of write(2)), so this is what formatting costs.
// One thread only: with more, the test sink's mutex would be measured.
void BM_VeloqLogFormatOnly(benchmark::State& state) {
  log::SetSinkForTesting(
      [](std::string_view line) { benchmark::DoNotOptimize(line.data()); });
  int64_t i = 0;
  for (auto _ : state) {
    log::Info(log::Module::kRuntime, "request {} from {} took {:.1f} us", i++,
              "10.0.0.7:41234", 42.5);
  }
  log::SetSinkForTesting({});
  Finish(state);
}
BENCHMARK(BM_VeloqLogFormatOnly)->UseRealTime();

// ---- Disabled calls --------------------------------------------------------

void BM_SpdlogDisabled(benchmark::State& state) {
  spdlog::logger& logger = FileSinkMtLogger();
  int64_t i = 0;
  for (auto _ : state) {
    logger.debug("request {} from {} took {:.1f} us", i++, "10.0.0.7:41234",
                 42.5);
  }
  Finish(state);
}
BENCHMARK(BM_SpdlogDisabled)->Threads(1)->Threads(2)->UseRealTime();

void BM_VeloqLogDisabled(benchmark::State& state) {
  int64_t i = 0;
  for (auto _ : state) {
    log::Debug(log::Module::kRuntime, "request {} from {} took {:.1f} us", i++,
               "10.0.0.7:41234", 42.5);
  }
  Finish(state);
}
BENCHMARK(BM_VeloqLogDisabled)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace veloq

// Our own main (BENCHMARK_MAIN plus the peer and the output fd).
int main(int argc, char** argv) {
  benchmark::AddCustomContext(
      "peer",
      fmt::format("spdlog {}.{}.{} (mutex sinks, async logger)",
                  SPDLOG_VER_MAJOR, SPDLOG_VER_MINOR, SPDLOG_VER_PATCH));
  const int devnull = open("/dev/null", O_WRONLY | O_APPEND | O_CLOEXEC);
  if (devnull < 0) return 1;
  veloq::log::SetOutputFd(devnull);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
