#pragma once

// Logging for Veloq: spdlog's levels and pattern style, the shard id in every
// line, a level per module, and no lock shared between shards on the hot
// path.
//
//   log::Info(log::Module::kMesh, "ring {} full, {} waiting", id, n);
//   // [2026-11-23 17:22:53.620] [info] [shard 3] [mesh] ring 7 full, 2 waiting
//
//   log::InitFromEnv();                 // VELOQ_LOG="runtime=debug,*=warn"
//   absl::Status s = log::SetLevels("io=trace");   // at run time, any thread
//
// How a line is written: the calling thread formats it into its own
// (thread_local) buffers — the message with fmt, the line with its own clone
// of spdlog's pattern_formatter — and hands the complete line to the kernel
// with one write(2) on the output fd (stderr unless SetOutputFd). A line
// shorter than PIPE_BUF (4096 bytes) written to a pipe, or to a file opened
// with O_APPEND, is never interleaved with another thread's line (a longer
// one may be split on a pipe, if the reader is slow). Nothing
// is buffered, so nothing is lost when the process dies, and there is no
// flush. The price is one system call per line that passes its level; that
// is measured against spdlog's mutex and async loggers in
// testing/perf/log_benchmark.cc.
//
// Thread safety: everything here is thread-safe unless it says otherwise.
// The logging calls take no lock shared between threads: a disabled call is
// one relaxed atomic load and a compare; an enabled one touches only
// thread_local state, a read-mostly pattern generation counter and the fd
// (and a mutex only while SetSinkForTesting has a sink installed). A thread's
// first line, and its first line after SetPattern, take a mutex once to clone
// the pattern formatter.
//
// Failures never reach the caller: a message that fmt cannot format is logged
// as "[log format error: ...]" with the format string; a write(2) that fails
// (other than EINTR) drops the rest of that line. Logging leaves errno as it
// was. A line logged while another is being formatted on the same thread (by
// an argument's formatter) is written whole, before the outer one.

#include <atomic>
#include <cstddef>
#include <functional>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "spdlog/common.h"

namespace veloq::log {

using Level = spdlog::level::level_enum;

// The parts of Veloq that log, each with its own level. kApp is for user
// code, and for spdlog's default logger once InstallAsDefault has run.
enum class Module : int {
  kRuntime,  // runtime/
  kMesh,     // mesh/
  kIo,       // io/ (drivers, buffers, files)
  kNet,      // io/net/
  kActors,   // actors/
  kKv,       // samples/kv/
  kApp,      // everything else
};
inline constexpr size_t kModuleCount = 7;

// The name printed in a line's module field ("runtime", "mesh", "io", "net",
// "actors", "kv", "app") and used in level specs.
constexpr std::string_view ModuleName(Module m) {
  constexpr std::string_view kNames[kModuleCount] = {
      "runtime", "mesh", "io", "net", "actors", "kv", "app"};
  return kNames[static_cast<size_t>(m)];
}

// The module named `name` (as ModuleName prints it, in any case), or
// InvalidArgument naming it.
absl::StatusOr<Module> ModuleFor(std::string_view name);

// A level from its name: trace, debug, info, warn (or warning), error (or
// err), critical, off; any case. InvalidArgument naming it otherwise.
absl::StatusOr<Level> ParseLevel(std::string_view name);

namespace internal {

// The level of each module, indexed by Module. Read with relaxed loads on
// every logging call; written by SetLevel/SetLevels. On a cache line of its
// own, so that no frequently written data shares it.
struct alignas(64) Levels {
  std::atomic<Level> of[kModuleCount];
};
extern Levels levels;

// Formats `format` with `args` and writes the line (see the file comment).
void Write(Module m, Level level, fmt::string_view format,
           fmt::format_args args);

}  // namespace internal

// Sets module `m`'s level: calls below it are dropped before any formatting.
// Takes effect at once on every thread (other shards see it on their next
// call: relaxed ordering, no fence). `level` may be Level::off.
void SetLevel(Module m, Level level);

// The level of module `m` (info unless changed).
inline Level GetLevel(Module m) {
  return internal::levels.of[static_cast<size_t>(m)].load(
      std::memory_order_relaxed);
}

// Sets levels from a spec: comma-separated entries, each one of
//   <level>            every module not named elsewhere in the spec
//   *=<level>          the same
//   <module>=<level>   that module
// e.g. "warn", "runtime=debug,io=trace,*=info". Order does not matter
// between named modules and "*"; for the same key, the last entry wins.
// Modules the spec does not cover (no "*" or bare level) keep their level.
// Spaces around names are ignored; an empty spec changes nothing.
// Returns InvalidArgument naming the first bad entry, module or level, and
// then changes nothing.
absl::Status SetLevels(std::string_view spec);

// Applies $VELOQ_LOG (a SetLevels spec) if it is set. A bad spec is reported
// with one warning line (module runtime) and changes nothing. Call once at
// startup, before the runtime starts; safe at any time.
void InitFromEnv();

// Whether a call at `level` for module `m` would be written.
inline bool Enabled(Module m, Level level) {
  return level < Level::off && level >= GetLevel(m);
}

// Logs at `level` if it is enabled for `m`. Checks the level first: a
// disabled call formats nothing (its arguments are still evaluated, as for
// any function call: keep expensive ones behind `if (Enabled(...))`).
// The format string is checked at compile time (fmt::runtime(s) for one
// known only at run time).
template <typename... Args>
void Log(Module m, Level level, fmt::format_string<Args...> format,
         Args&&... args) {
  if (!Enabled(m, level)) return;
  internal::Write(m, level, format, fmt::make_format_args(args...));
}

template <typename... Args>
void Trace(Module m, fmt::format_string<Args...> format, Args&&... args) {
  Log(m, Level::trace, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Debug(Module m, fmt::format_string<Args...> format, Args&&... args) {
  Log(m, Level::debug, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Info(Module m, fmt::format_string<Args...> format, Args&&... args) {
  Log(m, Level::info, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Warn(Module m, fmt::format_string<Args...> format, Args&&... args) {
  Log(m, Level::warn, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Error(Module m, fmt::format_string<Args...> format, Args&&... args) {
  Log(m, Level::err, format, std::forward<Args>(args)...);
}
template <typename... Args>
void Critical(Module m, fmt::format_string<Args...> format, Args&&... args) {
  Log(m, Level::critical, format, std::forward<Args>(args)...);
}

// The default line pattern, in spdlog's pattern syntax plus two flags of
// ours: %k, the shard id of the calling thread ("3", or "-" off-shard), and
// %q, the level as "trace", "debug", "info", "warn", "error", "critical".
inline constexpr std::string_view kDefaultPattern =
    "[%Y-%m-%d %H:%M:%S.%e] [%q] [shard %k] [%n] %v";

// Replaces the pattern of every line from now on (%n is the module name).
// Each thread picks it up on its next line. Meant for startup; safe at any
// time.
void SetPattern(std::string_view pattern);

// Lines are written to `fd` from now on (default: STDERR_FILENO). The fd is
// not owned: the caller keeps it open for as long as it is set (a thread may
// still be writing one line to the previous fd when this returns).
void SetOutputFd(int fd);

// Tests: while a sink is set, lines go to it instead of the fd, one complete
// line per call, without the trailing newline. Calls are serialized (a
// mutex), so the sink need not be thread-safe; it must not log. An empty
// function restores writing to the fd. Not for production: every line takes
// the same lock while a sink is set.
void SetSinkForTesting(std::function<void(std::string_view line)> sink);

// Makes spdlog's default logger (spdlog::info(...), spdlog::warn(...)) write
// through this library: same pattern and output, the shard id in each line,
// module "app" (its %n), and filtered by Module::kApp's level (SetLevel on
// kApp also sets that logger's own level, so filtered calls do not format;
// spdlog::set_level can make it stricter but not looser). The previous
// default logger is dropped from spdlog's registry. spdlog::set_pattern and
// set_formatter, which reach this logger's sink, replace the pattern of every
// line, as SetPattern does (but %k and %q work only in patterns given to
// SetPattern). Idempotent.
// Thread-compatible: spdlog's default logger may not be replaced while other
// threads log through it, so call this at startup, before the runtime starts.
void InstallAsDefault();

}  // namespace veloq::log
