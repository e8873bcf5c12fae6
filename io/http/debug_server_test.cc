// The observability endpoint end to end: a real HTTP client (curl) scrapes
// /metrics twice and sees the counters move; /debug/tasks lists a named
// task with its spawn site; /debug/shards.json answers even when a shard is
// stuck; the page is served.

#include "io/http/debug_server.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "gtest/gtest.h"
#include "io/driver.h"
#include "runtime/log.h"
#include "runtime/remote.h"
#include "runtime/run_blocking.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::Shards;

std::string Shell(const std::string& command) {
  std::string out;
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

// GET `path` with curl (on the blocking pool, so the shards keep serving).
Task<std::string> Get(uint16_t port, std::string path) {
  auto get = [command = absl::StrCat(
                  "curl --silent --show-error --noproxy '*' --max-time 10 "
                  "'http://127.0.0.1:",
                  port, path, "' 2>&1")] { return Shell(command); };
  co_return co_await runtime::RunBlocking(std::move(get));
}

// The value of the sample `series` (the exact text before the value, e.g.
// `veloq_tasks_run_total{shard="1"}`) in a Prometheus text body; -1 if
// absent.
double Sample(const std::string& body, const std::string& series) {
  for (absl::string_view line : absl::StrSplit(body, '\n')) {
    if (!absl::StartsWith(line, series + " ")) continue;
    double v = 0;
    if (absl::SimpleAtod(line.substr(series.size() + 1), &v)) return v;
  }
  return -1;
}

struct Ping {};
class Echo : public actors::Actor {
 public:
  int Handle(Ping) { return ++n_; }

 private:
  int n_ = 0;
};

testing::TestRuntimeOptions WithDrivers(uint32_t shards) {
  return Shards(shards).WithParkers(DriverParkers());
}

Task<absl::Status> MetricsMove() {
  absl::StatusOr<DebugServer> debug = DebugServer::Start({});
  if (!debug.ok()) co_return debug.status();
  const uint16_t port = debug->port();

  const std::string first = co_await Get(port, "/metrics");
  EXPECT_TRUE(absl::StrContains(first, "# TYPE veloq_tasks_run_total counter"))
      << first;
  const double before = Sample(first, "veloq_tasks_run_total{shard=\"1\"}");
  const double sent_before =
      Sample(first, "veloq_mesh_sent_total{shard=\"0\",peer=\"1\"}");
  EXPECT_GE(before, 0) << first;

  // Work on shard 1, and messages to it from shard 0: an actor there.
  auto echo = co_await actors::SpawnOn<Echo>(1);
  for (int i = 0; i < 100; ++i) {
    absl::StatusOr<int> n = co_await echo.Ask(Ping{});
    if (!n.ok()) co_return n.status();
  }

  const std::string second = co_await Get(port, "/metrics");
  const double after = Sample(second, "veloq_tasks_run_total{shard=\"1\"}");
  const double sent_after =
      Sample(second, "veloq_mesh_sent_total{shard=\"0\",peer=\"1\"}");
  EXPECT_GT(after, before) << second;
  EXPECT_GE(sent_after, sent_before + 100) << second;
  EXPECT_EQ(Sample(second, "veloq_actors_alive{shard=\"1\"}"), 1) << second;
  // The I/O of the scrapes themselves (accept, recv, send on shard 0).
  EXPECT_TRUE(absl::StrContains(
      second, "veloq_io_ops_completed_total{shard=\"0\",op=\""))
      << second;
  co_await debug->Stop();
  co_return absl::OkStatus();
}

class DebugServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::access("/usr/bin/curl", X_OK) != 0) {
      GTEST_SKIP() << "/usr/bin/curl is not installed";
    }
  }
};

TEST_F(DebugServerTest, ScrapedMetricsMove) {
  absl::Status s = testing::RunOnRuntime(WithDrivers(2), MetricsMove);
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> TasksAndShards() {
  absl::StatusOr<DebugServer> debug = DebugServer::Start({});
  if (!debug.ok()) co_return debug.status();
  const uint16_t port = debug->port();
  auto sleeper = runtime::Spawn(
      []() -> Task<void> { (void)co_await runtime::Sleep(1h); }(),
      "sleeps-for-the-test");

  const std::string tasks = co_await Get(port, "/debug/tasks");
  EXPECT_TRUE(absl::StartsWith(tasks, "{\"shards\":[{\"shard\":0,")) << tasks;
  EXPECT_TRUE(absl::StrContains(tasks, "\"name\":\"sleeps-for-the-test\""))
      << tasks;
  EXPECT_TRUE(absl::StrContains(tasks, "io/http/debug_server_test.cc:"))
      << tasks;
  EXPECT_TRUE(absl::StrContains(tasks, "{\"shard\":1,\"responsive\":true"))
      << tasks;

  const std::string limited = co_await Get(port, "/debug/tasks?limit=0");
  EXPECT_FALSE(absl::StrContains(limited, "sleeps-for-the-test")) << limited;
  const std::string bad = co_await Get(port, "/debug/tasks?limit=many");
  EXPECT_TRUE(absl::StrContains(bad, "limit must be")) << bad;

  // Log levels, read and changed at run time.
  const std::string levels = co_await Get(port, "/debug/log?set=io=debug");
  EXPECT_TRUE(absl::StrContains(levels, "io=debug\n")) << levels;
  EXPECT_TRUE(absl::StrContains(levels, "runtime=info\n")) << levels;
  EXPECT_EQ(log::GetLevel(log::Module::kIo), log::Level::debug);
  const std::string refused = co_await Get(port, "/debug/log?set=io=loud");
  EXPECT_TRUE(absl::StrContains(refused, "loud")) << refused;
  EXPECT_EQ(log::GetLevel(log::Module::kIo), log::Level::debug);
  log::SetLevel(log::Module::kIo, log::Level::info);

  const std::string page = co_await Get(port, "/debug/shards?refresh=5");
  EXPECT_TRUE(absl::StrContains(page, "<title>veloq shards</title>")) << page;
  EXPECT_TRUE(absl::StrContains(page, "const REFRESH = 5 * 1000;")) << page;

  // Shard 1 stuck in a task that does not yield for 1.5 s: shards.json
  // still answers (within the answer timeout) and says so.
  auto block = [] {
    runtime::Spawn([]() -> Task<void> {
      std::this_thread::sleep_for(1500ms);
      co_return;
    }())
        .Detach();
  };
  co_await runtime::SubmitTo(1, block);
  (void)co_await runtime::Sleep(50ms);  // shard 1 is inside it now
  const auto start = std::chrono::steady_clock::now();
  const std::string json = co_await Get(port, "/debug/shards.json");
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_TRUE(absl::StrContains(json, "{\"shard\":0,\"responsive\":true"))
      << json;
  EXPECT_TRUE(absl::StrContains(json, "{\"shard\":1,\"responsive\":false"))
      << json;
  EXPECT_LT(took, 1400ms) << json;
  sleeper.Cancel();
  co_await sleeper;
  co_await debug->Stop();
  co_return absl::OkStatus();
}

TEST_F(DebugServerTest, TasksPageAndAStuckShard) {
  absl::Status s = testing::RunOnRuntime(WithDrivers(2), TasksAndShards);
  EXPECT_TRUE(s.ok()) << s;
}

TEST(JsonStringTest, EscapesWhatJsonRequires) {
  EXPECT_EQ(internal::JsonString("a\"b\\c\nd\x01"),
            "\"a\\\"b\\\\c\\nd\\u0001\"");
}

}  // namespace
}  // namespace veloq::io
