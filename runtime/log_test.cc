#include "runtime/log.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "runtime/remote.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "runtime/timer.h"
#include "spdlog/spdlog.h"
#include "testing/test_runtime.h"

// Formatting it counts how often it was formatted: a filtered call must not.
struct CountsFormatting {
  int* count;
};
template <>
struct fmt::formatter<CountsFormatting> : fmt::formatter<int> {
  auto format(const CountsFormatting& c, fmt::format_context& ctx) const {
    return fmt::formatter<int>::format(++*c.count, ctx);
  }
};

// Formatting it logs a line of its own (a nested log call).
struct LogsWhenFormatted {};
template <>
struct fmt::formatter<LogsWhenFormatted> : fmt::formatter<std::string_view> {
  auto format(const LogsWhenFormatted&, fmt::format_context& ctx) const {
    veloq::log::Info(veloq::log::Module::kApp, "inner line");
    return fmt::formatter<std::string_view>::format("outer arg", ctx);
  }
};

namespace veloq::log {
namespace {

using runtime::Shard;
using runtime::SubmitTo;
using runtime::Task;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using veloq::testing::RunOnRuntime;
using veloq::testing::Shards;

// Resets the library's process-wide state around each test and captures
// every line through SetSinkForTesting.
class LogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Reset();
    SetSinkForTesting([this](std::string_view line) {
      std::lock_guard<std::mutex> lock(mu_);
      lines_.emplace_back(line);
    });
  }
  void TearDown() override {
    SetSinkForTesting({});
    Reset();
  }
  static void Reset() {
    ASSERT_TRUE(SetLevels("info").ok());
    SetPattern(kDefaultPattern);
    SetOutputFd(STDERR_FILENO);
  }

  // The captured lines that contain `marker` (the runtime may log lines of
  // its own, e.g. stall warnings, while a test runs).
  std::vector<std::string> LinesWith(std::string_view marker) {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const std::string& l : lines_) {
      if (l.find(marker) != std::string::npos) out.push_back(l);
    }
    return out;
  }

 private:
  std::mutex mu_;
  std::vector<std::string> lines_;
};

// A line in kDefaultPattern, split into its fields.
struct Line {
  std::string level, shard, module, message;
};

// Parses "[YYYY-MM-DD HH:MM:SS.mmm] [level] [shard id] [module] message";
// nullopt if `s` is not such a line. (By hand: g++ 12 -O1 with ASan warns
// inside std::regex, and warnings are errors here.)
std::optional<Line> ParseLine(std::string_view s) {
  constexpr std::string_view kTime = "[dddd-dd-dd dd:dd:dd.ddd]";
  if (s.size() < kTime.size()) return std::nullopt;
  for (size_t i = 0; i < kTime.size(); ++i) {
    const bool ok =
        kTime[i] == 'd' ? (s[i] >= '0' && s[i] <= '9') : s[i] == kTime[i];
    if (!ok) return std::nullopt;
  }
  s.remove_prefix(kTime.size());
  // The field after `open`, up to the next ']'.
  auto field = [&s](std::string_view open) -> std::optional<std::string> {
    if (!s.starts_with(open)) return std::nullopt;
    s.remove_prefix(open.size());
    const size_t close = s.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    std::string value(s.substr(0, close));
    s.remove_prefix(close + 1);
    return value;
  };
  std::optional<std::string> level = field(" [");
  std::optional<std::string> shard = field(" [shard ");
  std::optional<std::string> module = field(" [");
  if (!level || !shard || !module || !s.starts_with(' ')) return std::nullopt;
  return Line{*level, *shard, *module, std::string(s.substr(1))};
}

// "level|shard|module|message", for comparisons with readable failures.
std::string Fields(const std::string& text) {
  std::optional<Line> l = ParseLine(text);
  if (!l) return "not a line: " + text;
  return l->level + "|" + l->shard + "|" + l->module + "|" + l->message;
}

TEST_F(LogTest, LinesCarryTimeLevelShardAndModule) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<void> {
    Info(Module::kRuntime, "marker from shard {}", 0);
    co_await SubmitTo(1, [] {
      Warn(Module::kMesh, "marker from shard {}", Shard::Current()->id());
    });
  });
  ASSERT_TRUE(r.ok()) << r;
  Error(Module::kIo, "marker from {}", "the test thread");

  const std::vector<std::string> lines = LinesWith("marker");
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(Fields(lines[0]), "info|0|runtime|marker from shard 0");
  EXPECT_EQ(Fields(lines[1]), "warn|1|mesh|marker from shard 1");
  EXPECT_EQ(Fields(lines[2]), "error|-|io|marker from the test thread");
}

TEST_F(LogTest, EachModuleHasItsOwnLevel) {
  SetLevel(Module::kRuntime, Level::debug);
  auto r = RunOnRuntime(Shards(2), []() -> Task<void> {
    co_await SubmitTo(1, [] {
      Debug(Module::kRuntime, "marker runtime debug");
      Trace(Module::kRuntime, "marker runtime trace");
      Debug(Module::kIo, "marker io debug");
      Info(Module::kIo, "marker io info");
    });
  });
  ASSERT_TRUE(r.ok()) << r;
  const std::vector<std::string> lines = LinesWith("marker");
  ASSERT_EQ(lines.size(), 2u);
  EXPECT_THAT(lines[0],
              HasSubstr("[debug] [shard 1] [runtime] marker runtime debug"));
  EXPECT_THAT(lines[1], HasSubstr("[info] [shard 1] [io] marker io info"));
}

TEST_F(LogTest, FilteredCallsDoNotFormat) {
  int formatted = 0;
  Debug(Module::kKv, "marker {}", CountsFormatting{&formatted});
  EXPECT_EQ(formatted, 0);
  Info(Module::kKv, "marker {}", CountsFormatting{&formatted});
  EXPECT_EQ(formatted, 1);
  EXPECT_THAT(LinesWith("marker"), ElementsAre(HasSubstr("[kv] marker 1")));
}

TEST_F(LogTest, OffSilencesEvenCritical) {
  SetLevel(Module::kNet, Level::off);
  Critical(Module::kNet, "marker");
  Log(Module::kApp, Level::off, "marker at level off is never a line");
  EXPECT_TRUE(LinesWith("marker").empty());
  EXPECT_FALSE(Enabled(Module::kNet, Level::critical));
}

TEST_F(LogTest, ModuleNamesRoundTrip) {
  for (size_t i = 0; i < kModuleCount; ++i) {
    const auto m = static_cast<Module>(i);
    absl::StatusOr<Module> back = ModuleFor(ModuleName(m));
    ASSERT_TRUE(back.ok()) << back.status();
    EXPECT_EQ(*back, m);
  }
  EXPECT_EQ(ModuleName(Module::kNet), "net");
  EXPECT_EQ(ModuleName(Module::kApp), "app");
  absl::StatusOr<Module> bad = ModuleFor("disk");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("\"disk\""));
}

TEST_F(LogTest, ParseLevelAcceptsSpdlogNames) {
  EXPECT_EQ(*ParseLevel("trace"), Level::trace);
  EXPECT_EQ(*ParseLevel("DEBUG"), Level::debug);
  EXPECT_EQ(*ParseLevel("warn"), Level::warn);
  EXPECT_EQ(*ParseLevel("warning"), Level::warn);
  EXPECT_EQ(*ParseLevel("err"), Level::err);
  EXPECT_EQ(*ParseLevel("error"), Level::err);
  EXPECT_EQ(*ParseLevel("critical"), Level::critical);
  EXPECT_EQ(*ParseLevel("off"), Level::off);
  EXPECT_EQ(ParseLevel("loud").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(LogTest, SetLevelsAppliesGoodSpecs) {
  ASSERT_TRUE(SetLevels("warn").ok());
  for (size_t i = 0; i < kModuleCount; ++i) {
    EXPECT_EQ(GetLevel(static_cast<Module>(i)), Level::warn);
  }

  ASSERT_TRUE(SetLevels("runtime=debug,io=trace,*=info").ok());
  EXPECT_EQ(GetLevel(Module::kRuntime), Level::debug);
  EXPECT_EQ(GetLevel(Module::kIo), Level::trace);
  EXPECT_EQ(GetLevel(Module::kMesh), Level::info);
  EXPECT_EQ(GetLevel(Module::kApp), Level::info);

  // "*" first: named modules still win, whatever the order.
  ASSERT_TRUE(SetLevels(" * = error , Kv = DEBUG ").ok());
  EXPECT_EQ(GetLevel(Module::kKv), Level::debug);
  EXPECT_EQ(GetLevel(Module::kActors), Level::err);

  // No "*": the modules not named keep their level.
  ASSERT_TRUE(SetLevels("net=trace").ok());
  EXPECT_EQ(GetLevel(Module::kNet), Level::trace);
  EXPECT_EQ(GetLevel(Module::kKv), Level::debug);
  EXPECT_EQ(GetLevel(Module::kActors), Level::err);

  // The last entry for a key wins; an empty spec changes nothing.
  ASSERT_TRUE(SetLevels("app=trace,app=critical").ok());
  EXPECT_EQ(GetLevel(Module::kApp), Level::critical);
  ASSERT_TRUE(SetLevels("").ok());
  EXPECT_EQ(GetLevel(Module::kApp), Level::critical);
}

TEST_F(LogTest, SetLevelsRejectsBadSpecsNamingTheBadTokenAndChangesNothing) {
  ASSERT_TRUE(SetLevels("runtime=debug,*=warn").ok());
  const struct {
    const char* spec;
    const char* named;  // what the error message must quote
  } kBad[] = {
      {"verbose", "\"verbose\""},
      {"runtime=loud", "\"loud\""},
      {"io=trace,disk=info", "\"disk\""},
      {"io=trace,,kv=info", "empty entry"},
      {"=info", "unknown log module \"\""},
      {"runtime=", "unknown log level \"\""},
      {"runtime=debug=trace", "\"debug=trace\""},
      {",", "empty entry"},
  };
  for (const auto& bad : kBad) {
    const absl::Status st = SetLevels(bad.spec);
    EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << bad.spec;
    EXPECT_THAT(std::string(st.message()), HasSubstr(bad.named)) << bad.spec;
  }
  EXPECT_EQ(GetLevel(Module::kRuntime), Level::debug);
  EXPECT_EQ(GetLevel(Module::kIo), Level::warn);
  EXPECT_EQ(GetLevel(Module::kKv), Level::warn);
}

TEST_F(LogTest, InitFromEnvAppliesVeloqLogOrWarnsOnce) {
  ASSERT_EQ(setenv("VELOQ_LOG", "net=trace,*=error", 1), 0);
  InitFromEnv();
  EXPECT_EQ(GetLevel(Module::kNet), Level::trace);
  EXPECT_EQ(GetLevel(Module::kRuntime), Level::err);

  ASSERT_TRUE(SetLevels("info").ok());
  ASSERT_EQ(setenv("VELOQ_LOG", "net=trace,bogus=debug", 1), 0);
  InitFromEnv();
  ASSERT_EQ(unsetenv("VELOQ_LOG"), 0);
  EXPECT_EQ(GetLevel(Module::kNet), Level::info);
  const std::vector<std::string> lines = LinesWith("VELOQ_LOG");
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_THAT(lines[0],
              HasSubstr("[warn] [shard -] [runtime] VELOQ_LOG ignored"));
  EXPECT_THAT(lines[0], HasSubstr("\"bogus\""));
}

TEST_F(LogTest, LevelChangeOnOneShardTakesEffectOnTheOther) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<void> {
    co_await SubmitTo(1, [] { Debug(Module::kActors, "marker before"); });
    SetLevel(Module::kActors, Level::debug);  // on shard 0
    co_await SubmitTo(1, [] { Debug(Module::kActors, "marker after"); });
    SetLevel(Module::kActors, Level::err);
    co_await SubmitTo(1, [] { Warn(Module::kActors, "marker silenced"); });
  });
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_THAT(
      LinesWith("marker"),
      ElementsAre(HasSubstr("[debug] [shard 1] [actors] marker after")));
}

TEST_F(LogTest, NestedLogCallFromAFormatterKeepsBothLinesWhole) {
  Info(Module::kApp, "marker {}", LogsWhenFormatted{});
  EXPECT_THAT(LinesWith(""), ElementsAre(HasSubstr("[app] inner line"),
                                         HasSubstr("[app] marker outer arg")));
}

#if defined(__cpp_exceptions)
TEST_F(LogTest, BadRuntimeFormatStringIsLoggedNotThrown) {
  Info(Module::kApp, fmt::runtime("marker {} {}"), 1);
  EXPECT_THAT(LinesWith("marker"),
              ElementsAre(HasSubstr("[log format error: ")));
}
#endif

TEST_F(LogTest, LoggingKeepsErrno) {
  errno = EBADF;
  Info(Module::kApp, "marker");
  EXPECT_EQ(errno, EBADF);
}

// Logs from its destructor, which for a thread_local runs at thread exit,
// possibly after the library's own per-thread state is gone.
struct LogsAtThreadExit {
  ~LogsAtThreadExit() { Info(Module::kApp, "marker at thread exit"); }
};

TEST_F(LogTest, ThreadLocalDestructorsMayLog) {
  std::thread t([] {
    // Constructed before the library's thread state, so destroyed after it.
    static thread_local LogsAtThreadExit logs_at_exit;
    (void)&logs_at_exit;
    Info(Module::kApp, "marker while running");
  });
  t.join();
  EXPECT_THAT(LinesWith("marker"),
              ElementsAre(HasSubstr("[shard -] [app] marker while running"),
                          HasSubstr("[shard -] [app] marker at thread exit")));
}

TEST_F(LogTest, SetPatternChangesEveryThreadsLines) {
  SetPattern("%q|%k|%n|%v");
  auto r = RunOnRuntime(Shards(2), []() -> Task<void> {
    co_await SubmitTo(1, [] { Info(Module::kMesh, "marker"); });
  });
  ASSERT_TRUE(r.ok()) << r;
  Warn(Module::kApp, "marker");
  EXPECT_THAT(LinesWith("marker"),
              ElementsAre("info|1|mesh|marker", "warn|-|app|marker"));
}

TEST_F(LogTest, InstallAsDefaultRoutesSpdlogThroughTheLibrary) {
  const std::shared_ptr<spdlog::logger> previous = spdlog::default_logger();
  InstallAsDefault();
  auto r = RunOnRuntime(Shards(2), []() -> Task<void> {
    co_await SubmitTo(1, [] { spdlog::warn("marker legacy {}", 1); });
    SetLevel(Module::kApp, Level::err);
    co_await SubmitTo(1, [] { spdlog::warn("marker filtered"); });
    spdlog::error("marker legacy {}", 2);
  });
  spdlog::set_default_logger(previous);
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_THAT(
      LinesWith("marker"),
      ElementsAre(HasSubstr("[warn] [shard 1] [app] marker legacy 1"),
                  HasSubstr("[error] [shard 0] [app] marker legacy 2")));
}

// ---- Real writes: whole lines, never interleaved ---------------------------

constexpr int kWriters = 3;  // shard 0, shard 1, an off-shard thread
constexpr int kLinesPerWriter = 3000;

// Logs kLinesPerWriter lines of varying length (up to ~1 KB), each naming
// its writer and sequence number, after all writers are ready.
void WriteLines(int writer, std::atomic<int>* ready) {
  ready->fetch_add(1);
  const auto give_up =
      std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (ready->load() < kWriters &&
         std::chrono::steady_clock::now() < give_up) {
  }
  for (int i = 0; i < kLinesPerWriter; ++i) {
    Info(Module::kApp, "w{} {} {}|end", writer, i,
         std::string(static_cast<size_t>(i * 7 % 1000),
                     static_cast<char>('a' + writer)));
  }
}

// Runs the three writers at once with the output on `fd`.
void WriteFromTwoShardsAndAThread(int fd) {
  SetSinkForTesting({});
  SetOutputFd(fd);
  std::atomic<int> ready{0};
  std::thread off_shard([&ready] { WriteLines(2, &ready); });
  // The writers hold their shards for a while: no stall reports, please.
  veloq::testing::TestRuntimeOptions options = Shards(2);
  options.stall_threshold = std::chrono::seconds(30);
  auto r = RunOnRuntime(options, [&ready]() -> Task<void> {
    auto on_one = runtime::SpawnOn(1, [&ready] { WriteLines(1, &ready); });
    // Suspend so that the tick ends and the message to shard 1 leaves.
    (void)co_await runtime::Sleep(std::chrono::milliseconds(1));
    WriteLines(0, &ready);
    co_await on_one;
  });
  off_shard.join();
  SetOutputFd(STDERR_FILENO);
  ASSERT_TRUE(r.ok()) << r;
}

// Every line parses back whole; each writer's lines are all there, in order.
void ExpectWholeLines(const std::string& text) {
  std::map<int, int> next;  // writer -> expected sequence number
  size_t start = 0;
  int torn = 0;
  int lost = 0;
  int switches = 0;
  int last_writer = -1;
  while (start < text.size()) {
    const size_t end = text.find('\n', start);
    ASSERT_NE(end, std::string::npos) << "last line has no newline";
    const std::string text_line = text.substr(start, end - start);
    start = end + 1;
    if (text_line.find("|end") == std::string::npos) continue;  // runtime's
    // Message: "w<writer> <seq> <payload>|end".
    std::optional<Line> line = ParseLine(text_line);
    int writer = -1;
    int seq = -1;
    int payload_at = 0;
    const bool parsed =
        line && line->level == "info" && line->module == "app" &&
        std::sscanf(line->message.c_str(), "w%d %d %n", &writer, &seq,
                    &payload_at) == 2 &&
        writer >= 0 && writer < kWriters && line->message.ends_with("|end");
    const bool whole =
        parsed && line->shard == (writer == 2 ? "-" : std::to_string(writer)) &&
        line->message.substr(payload_at,
                             line->message.size() - payload_at - 4) ==
            std::string(static_cast<size_t>(seq * 7 % 1000),
                        static_cast<char>('a' + writer));
    if (!whole) {
      if (++torn <= 3) {
        ADD_FAILURE() << "torn line: " << text_line.substr(0, 300);
      }
      continue;
    }
    if (last_writer != -1 && writer != last_writer) ++switches;
    last_writer = writer;
    if (seq != next[writer] && ++lost <= 3) {
      ADD_FAILURE() << "writer " << writer << ": line " << seq << " where "
                    << next[writer] << " was due";
    }
    next[writer] = seq + 1;
  }
  EXPECT_EQ(torn, 0);
  EXPECT_EQ(lost, 0);
  // How often consecutive lines came from different writers: how much the
  // writers actually overlapped in this run.
  ::testing::Test::RecordProperty("writer_switches", switches);
  for (int w = 0; w < kWriters; ++w) {
    EXPECT_EQ(next[w], kLinesPerWriter) << "writer " << w;
  }
}

TEST_F(LogTest, ConcurrentLinesIntoAPipeNeverInterleave) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  std::string text;
  std::thread reader([&text, fd = fds[0]] {
    char buf[65536];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) text.append(buf, n);
  });
  WriteFromTwoShardsAndAThread(fds[1]);
  close(fds[1]);
  reader.join();
  close(fds[0]);
  ExpectWholeLines(text);
}

TEST_F(LogTest, ConcurrentLinesIntoAnAppendFileNeverInterleave) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path =
      std::string(dir != nullptr ? dir : "/tmp") + "/log_test_XXXXXX";
  const int tmp = mkstemp(path.data());
  ASSERT_GE(tmp, 0);
  close(tmp);
  const int fd = open(path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  WriteFromTwoShardsAndAThread(fd);
  close(fd);

  std::string text;
  const int in = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ASSERT_GE(in, 0);
  char buf[65536];
  ssize_t n;
  while ((n = read(in, buf, sizeof(buf))) > 0) text.append(buf, n);
  close(in);
  unlink(path.c_str());
  ExpectWholeLines(text);
}

}  // namespace
}  // namespace veloq::log
