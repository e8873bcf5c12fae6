#include "runtime/log.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "runtime/shard.h"
#include "spdlog/details/log_msg.h"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/sink.h"
#include "spdlog/spdlog.h"

namespace veloq::log {

namespace internal {

constinit Levels levels = {{Level::info, Level::info, Level::info, Level::info,
                            Level::info, Level::info, Level::info}};

}  // namespace internal

namespace {

static_assert(static_cast<size_t>(Module::kApp) + 1 == kModuleCount);

// ---- Pattern flags ---------------------------------------------------------

// %k: the calling thread's shard id, or "-" off-shard. Lines are formatted on
// the thread that logs, so the current shard is the one the line came from.
class ShardFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg&, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    const runtime::Shard* shard = runtime::Shard::Current();
    if (shard == nullptr) {
      dest.push_back('-');
      return;
    }
    const fmt::format_int id(shard->id());
    dest.append(id.data(), id.data() + id.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<ShardFlag>();
  }
};

// %q: the level as a short word. spdlog's %l prints "warning", and its names
// are compiled into libspdlog, so the word "warn" needs a flag of its own.
class LevelFlag final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    static constexpr std::string_view kWords[] = {
        "trace", "debug", "info", "warn", "error", "critical", "off"};
    const std::string_view word = kWords[static_cast<size_t>(msg.level)];
    dest.append(word.data(), word.data() + word.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<LevelFlag>();
  }
};

std::unique_ptr<spdlog::formatter> MakeFormatter(std::string_view pattern) {
  auto f = std::make_unique<spdlog::pattern_formatter>();
  f->add_flag<ShardFlag>('k').add_flag<LevelFlag>('q').set_pattern(
      std::string(pattern));
  return f;
}

// ---- Process-wide state (control plane) ------------------------------------

// Bumped whenever the pattern changes; a thread whose clone is older clones
// again. Starts at 1 so that a thread's first line (generation 0) clones.
constinit std::atomic<uint64_t> formatter_generation{1};
constinit std::atomic<int> output_fd{STDERR_FILENO};
constinit std::atomic<bool> test_sink_set{false};

// Never destroyed: threads may log while the process exits. The mutexes are
// std::mutex because TSan does not see the system Abseil's Mutex.
struct Shared {
  std::mutex formatter_mu;  // guards formatter
  std::unique_ptr<spdlog::formatter> formatter = MakeFormatter(kDefaultPattern);

  std::mutex sink_mu;  // guards test_sink
  std::function<void(std::string_view)> test_sink;

  // Guards default_logger and serializes level changes, so that the default
  // logger's level always ends up equal to Module::kApp's.
  std::mutex level_mu;
  std::shared_ptr<spdlog::logger> default_logger;
};

Shared& GetShared() {
  static Shared* const shared = new Shared();
  return *shared;
}

void SetFormatter(std::unique_ptr<spdlog::formatter> f) {
  Shared& s = GetShared();
  std::lock_guard<std::mutex> lock(s.formatter_mu);
  s.formatter = std::move(f);
  formatter_generation.fetch_add(1, std::memory_order_release);
}

// ---- Per-thread state (hot path) -------------------------------------------

// A thread's buffers and its clone of the pattern formatter (which caches
// the broken-down time of the last line, so it cannot be shared).
struct ThreadState {
  spdlog::memory_buf_t message;
  spdlog::memory_buf_t line;
  std::unique_ptr<spdlog::formatter> formatter;
  uint64_t generation = 0;
  bool busy = false;  // a line is being formatted on this thread

  spdlog::formatter& Formatter() {
    if (generation != formatter_generation.load(std::memory_order_acquire)) {
      Shared& s = GetShared();
      std::lock_guard<std::mutex> lock(s.formatter_mu);
      formatter = s.formatter->clone();
      generation = formatter_generation.load(std::memory_order_relaxed);
    }
    return *formatter;
  }
};

// Set when the thread's ThreadState is destroyed at thread exit; a bool has
// no destructor, so it can be read until the thread is gone (a destructor of
// another thread_local may still log).
thread_local bool thread_state_gone = false;
struct ThreadStateOwner {
  ThreadState state;
  ~ThreadStateOwner() { thread_state_gone = true; }
};
thread_local ThreadStateOwner thread_state;

// The thread's state for one line. If a line is already being formatted on
// this thread (an argument's formatter logged), or the thread is exiting,
// the line gets fresh buffers of its own.
class StateLease {
 public:
  StateLease() {
    if (thread_state_gone || thread_state.state.busy) {
      nested_ = std::make_unique<ThreadState>();
      state_ = nested_.get();
    } else {
      state_ = &thread_state.state;
    }
    state_->busy = true;
  }
  ~StateLease() { state_->busy = false; }
  StateLease(const StateLease&) = delete;
  StateLease& operator=(const StateLease&) = delete;

  ThreadState& operator*() const { return *state_; }

 private:
  std::unique_ptr<ThreadState> nested_;
  ThreadState* state_ = nullptr;
};

// Writes all of `data` with as few write(2) calls as the kernel allows (one,
// unless it is interrupted or the line exceeds what the fd takes at once).
// On an error other than EINTR the rest of the line is dropped: logging has
// nowhere to report its own failure.
void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void Deliver(const spdlog::memory_buf_t& line) {
  if (test_sink_set.load(std::memory_order_acquire)) {
    Shared& s = GetShared();
    std::lock_guard<std::mutex> lock(s.sink_mu);
    if (s.test_sink) {
      std::string_view text(line.data(), line.size());
      if (!text.empty() && text.back() == '\n') text.remove_suffix(1);
      s.test_sink(text);
      return;
    }
  }
  WriteAll(output_fd.load(std::memory_order_relaxed), line.data(), line.size());
}

// Formats `msg` into a line with the thread's pattern and delivers it.
void Emit(ThreadState& state, const spdlog::details::log_msg& msg) {
  state.line.clear();
  state.Formatter().format(msg, state.line);
  Deliver(state.line);
  // One huge line should not pin its buffer for the thread's life.
  constexpr size_t kKeep = 64 * 1024;
  if (state.message.capacity() > kKeep) state.message = spdlog::memory_buf_t();
  if (state.line.capacity() > kKeep) state.line = spdlog::memory_buf_t();
}

// Runs `f` with the thread's state for one line. Logging never throws at its
// caller nor changes errno under it (a caller may be about to report errno).
template <typename F>
void WithThreadState(F&& f) {
  const int saved_errno = errno;
#if defined(__cpp_exceptions)
  try {
#endif
    StateLease state;
    f(*state);
#if defined(__cpp_exceptions)
  } catch (...) {
    // Out of memory while formatting: the line is lost, the caller is not.
  }
#endif
  errno = saved_errno;
}

// spdlog's default logger, routed through Emit (InstallAsDefault). spdlog
// formats the message; this sink adds the pattern on the calling thread.
// Thread-safe without a lock: all its state is per thread or atomic.
class Sink final : public spdlog::sinks::sink {
 public:
  void log(const spdlog::details::log_msg& msg) override {
    if (!Enabled(Module::kApp, msg.level)) return;
    WithThreadState([&](ThreadState& state) { Emit(state, msg); });
  }
  void flush() override {}  // nothing is buffered
  void set_pattern(const std::string& pattern) override { SetPattern(pattern); }
  void set_formatter(std::unique_ptr<spdlog::formatter> f) override {
    SetFormatter(std::move(f));
  }
};

std::string ModuleList() {
  std::string out;
  for (size_t i = 0; i < kModuleCount; ++i) {
    if (i > 0) out += ", ";
    out += ModuleName(static_cast<Module>(i));
  }
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    auto lower = [](char c) {
      return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
    };
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

std::string_view Strip(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

// Sets module `m`'s level and keeps the default logger in step.
// REQUIRES: s.level_mu held.
void SetLevelLocked(Shared& s, Module m, Level level) {
  internal::levels.of[static_cast<size_t>(m)].store(level,
                                                    std::memory_order_relaxed);
  if (m == Module::kApp && s.default_logger != nullptr) {
    s.default_logger->set_level(level);
  }
}

}  // namespace

namespace internal {

void Write(Module m, Level level, fmt::string_view format,
           fmt::format_args args) {
  WithThreadState([&](ThreadState& state) {
    state.message.clear();
#if defined(__cpp_exceptions)
    try {
#endif
      fmt::vformat_to(fmt::appender(state.message), format, args);
#if defined(__cpp_exceptions)
    } catch (const std::exception& e) {
      // A runtime format string (fmt::runtime) that does not fit its
      // arguments, or an argument's formatter that threw: keep the line.
      state.message.clear();
      fmt::format_to(fmt::appender(state.message), "[log format error: {}] {}",
                     e.what(), format);
    }
#endif
    const std::string_view module = ModuleName(m);
    const spdlog::details::log_msg msg(
        spdlog::source_loc{},
        spdlog::string_view_t(module.data(), module.size()), level,
        spdlog::string_view_t(state.message.data(), state.message.size()));
    Emit(state, msg);
  });
}

}  // namespace internal

absl::StatusOr<Module> ModuleFor(std::string_view name) {
  for (size_t i = 0; i < kModuleCount; ++i) {
    const auto m = static_cast<Module>(i);
    if (EqualsIgnoreCase(name, ModuleName(m))) return m;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown log module \"{}\" (modules: {})", name, ModuleList()));
}

absl::StatusOr<Level> ParseLevel(std::string_view name) {
  static constexpr std::pair<std::string_view, Level> kNames[] = {
      {"trace", Level::trace},  {"debug", Level::debug},
      {"info", Level::info},    {"warn", Level::warn},
      {"warning", Level::warn}, {"error", Level::err},
      {"err", Level::err},      {"critical", Level::critical},
      {"off", Level::off},
  };
  for (const auto& [n, level] : kNames) {
    if (EqualsIgnoreCase(name, n)) return level;
  }
  return absl::InvalidArgumentError(fmt::format(
      "unknown log level \"{}\" (levels: trace, debug, info, warn, error, "
      "critical, off)",
      name));
}

void SetLevel(Module m, Level level) {
  Shared& s = GetShared();
  std::lock_guard<std::mutex> lock(s.level_mu);
  SetLevelLocked(s, m, level);
}

absl::Status SetLevels(std::string_view spec) {
  std::optional<Level> rest;  // "*=<level>" or a bare level
  std::array<std::optional<Level>, kModuleCount> named;
  if (Strip(spec).empty()) return absl::OkStatus();
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = spec.find(',', start);
    if (end == std::string_view::npos) end = spec.size();
    const std::string_view entry = Strip(spec.substr(start, end - start));
    start = end + 1;
    auto bad = [&](std::string_view why) {
      return absl::InvalidArgumentError(fmt::format(
          "log level spec \"{}\": entry \"{}\": {}", spec, entry, why));
    };
    if (entry.empty()) return bad("empty entry");
    const size_t eq = entry.find('=');
    const std::string_view key =
        eq == std::string_view::npos ? "*" : Strip(entry.substr(0, eq));
    const std::string_view value =
        eq == std::string_view::npos ? entry : Strip(entry.substr(eq + 1));
    absl::StatusOr<Level> level = ParseLevel(value);
    if (!level.ok()) return bad(std::string(level.status().message()));
    if (key == "*") {
      rest = *level;
      continue;
    }
    absl::StatusOr<Module> m = ModuleFor(key);
    if (!m.ok()) return bad(std::string(m.status().message()));
    named[static_cast<size_t>(*m)] = *level;
  }
  Shared& s = GetShared();
  std::lock_guard<std::mutex> lock(s.level_mu);
  for (size_t i = 0; i < kModuleCount; ++i) {
    const std::optional<Level> level = named[i] ? named[i] : rest;
    if (level) SetLevelLocked(s, static_cast<Module>(i), *level);
  }
  return absl::OkStatus();
}

void InitFromEnv() {
  const char* spec = std::getenv("VELOQ_LOG");
  if (spec == nullptr) return;
  const absl::Status st = SetLevels(spec);
  if (!st.ok()) {
    Warn(Module::kRuntime, "VELOQ_LOG ignored: {}",
         std::string_view(st.message().data(), st.message().size()));
  }
}

void SetPattern(std::string_view pattern) {
  SetFormatter(MakeFormatter(pattern));
}

void SetOutputFd(int fd) { output_fd.store(fd, std::memory_order_relaxed); }

void SetSinkForTesting(std::function<void(std::string_view line)> sink) {
  Shared& s = GetShared();
  std::lock_guard<std::mutex> lock(s.sink_mu);
  test_sink_set.store(static_cast<bool>(sink), std::memory_order_release);
  s.test_sink = std::move(sink);
}

void InstallAsDefault() {
  Shared& s = GetShared();
  std::lock_guard<std::mutex> lock(s.level_mu);
  if (s.default_logger == nullptr) {
    const std::string_view name = ModuleName(Module::kApp);
    s.default_logger = std::make_shared<spdlog::logger>(
        std::string(name), std::make_shared<Sink>());
  }
  s.default_logger->set_level(GetLevel(Module::kApp));
  spdlog::set_default_logger(s.default_logger);
}

}  // namespace veloq::log
