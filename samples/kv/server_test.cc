// kv_server's serving path end to end, in process: real TCP connections to
// a 2-shard server (both I/O backends), pipelining, routing across shards,
// bad input, limits, and the append-only log across restarts.
#include "samples/kv/server.h"

#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/driver.h"
#include "io/net/server.h"
#include "io/net/socket_address.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "samples/kv/resp.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::kv {
namespace {

using namespace std::chrono_literals;
using runtime::Task;

// A server on a free port of 127.0.0.1, serving from a task.
class TestServer {
 public:
  static Task<absl::StatusOr<std::unique_ptr<TestServer>>> Start(
      ServerConfig config) {
    auto t = std::unique_ptr<TestServer>(new TestServer);
    t->state_->config = config;
    t->state_->started_ms = WallClockMs();
    absl::Status started = co_await StartPartitions(t->state_.get());
    if (!started.ok()) co_return started;
    absl::StatusOr<io::TcpServer> server = io::TcpServer::Bind(
        io::SocketAddress::Loopback4(0), io::Spread::kReusePort);
    if (!server.ok()) co_return server.status();
    t->server_ = std::make_unique<io::TcpServer>(*std::move(server));
    t->state_->bound_port = t->server_->address().port();
    t->state_->backend = io::Driver::Current()->backend_name();
    std::shared_ptr<ServerState> st = t->state_;
    t->serving_ = runtime::Spawn(t->server_->Serve(
        [st](io::TcpStream s) { return ServeConnection(std::move(s), st); }));
    co_return t;
  }

  uint16_t port() const { return state_->bound_port; }
  ServerState& state() { return *state_; }

  // Stops accepting and stops the partitions (their logs are flushed).
  Task<void> Stop() {
    serving_.Cancel();
    (void)co_await serving_;
    // OnStop closes each log; the stats ask after it returns "stopped".
    state_->partitions.Stop();
    for (uint32_t s = 0; s < state_->partitions.size(); ++s) {
      for (int i = 0; i < 1000; ++i) {
        if (!(co_await state_->partitions.InvokeOn(s, StatsQuery{})).ok()) {
          break;
        }
        (void)co_await runtime::Sleep(1ms);
      }
    }
    // Let each OnStop's final sync finish.
    (void)co_await runtime::Sleep(20ms);
  }

 private:
  TestServer() = default;
  std::shared_ptr<ServerState> state_ = std::make_shared<ServerState>();
  std::unique_ptr<io::TcpServer> server_;
  runtime::JoinHandle<absl::Status> serving_;
};

// A raw client: sends bytes, reads until `n` complete replies arrived and
// returns their bytes; or what came before the connection closed.
class Client {
 public:
  static Task<absl::StatusOr<Client>> Connect(uint16_t port) {
    absl::StatusOr<io::TcpStream> s =
        co_await io::TcpStream::Connect(io::SocketAddress::Loopback4(port));
    if (!s.ok()) co_return s.status();
    co_return Client(*std::move(s));
  }

  Task<absl::Status> Send(absl::string_view bytes) {
    io::BufStatus w = co_await stream_.WriteAll(io::FixedBuf::Copy(bytes));
    co_return w.status;
  }

  Task<std::string> Read(int n) {
    for (;;) {
      size_t pos = 0;
      int got = 0;
      while (got < n) {
        size_t used = 0;
        auto v = ParseReply(absl::string_view(buf_).substr(pos), &used);
        if (!v.ok() || !v->has_value()) break;
        pos += used;
        ++got;
      }
      if (got == n) {
        std::string out = buf_.substr(0, pos);
        buf_.erase(0, pos);
        co_return out;
      }
      io::BufResult r = co_await stream_.Read(io::FixedBuf::Heap(64 << 10));
      if (!r.res.ok() || r.res.value() <= 0) {
        closed_ = true;
        co_return std::exchange(buf_, std::string());
      }
      buf_.append(r.buf.data(), r.buf.size());
    }
  }

  // The next n bytes (fewer if the server closes first), unparsed: for
  // replies too big to re-parse on every read.
  Task<std::string> ReadBytes(size_t n) {
    while (buf_.size() < n) {
      io::BufResult r = co_await stream_.Read(io::FixedBuf::Heap(1 << 20));
      if (!r.res.ok() || r.res.value() <= 0) {
        closed_ = true;
        break;
      }
      buf_.append(r.buf.data(), r.buf.size());
    }
    std::string out = buf_.substr(0, std::min(n, buf_.size()));
    buf_.erase(0, out.size());
    co_return out;
  }

  Task<std::string> Call(absl::string_view request, int replies) {
    absl::Status s = co_await Send(request);
    if (!s.ok()) co_return s.ToString();
    co_return co_await Read(replies);
  }

  // Whether the server closed the connection (reads end of stream).
  Task<bool> ClosedByServer() {
    io::BufResult r = co_await stream_.Read(io::FixedBuf::Heap(4096));
    co_return r.res.ok() && r.res.value() == 0;
  }

  bool closed() const { return closed_; }

 private:
  explicit Client(io::TcpStream s) : stream_(std::move(s)) {}
  io::TcpStream stream_;
  std::string buf_;
  bool closed_ = false;
};

// (Variadic, not an initializer list: g++ 12 rejects initializer lists'
// backing arrays in coroutine frames.)
template <typename... Args>
std::string Cmd(Args... args) {
  const absl::string_view v[] = {absl::string_view(args)...};
  return EncodeCommand(v);
}

class KvServerTest : public veloq::testing::DriverBackendTest {};
VELOQ_INSTANTIATE_DRIVER_BACKENDS(KvServerTest);

TEST_P(KvServerTest, PipelinedCommandsAcrossShardsReplyInOrder) {
  auto r = veloq::testing::RunOnRuntime(Options(2), []() -> Task<std::string> {
    ServerConfig config;
    auto server = co_await TestServer::Start(config);
    if (!server.ok()) co_return server.status().ToString();
    auto c = co_await Client::Connect((*server)->port());
    if (!c.ok()) co_return c.status().ToString();
    // Keys chosen to land on both shards.
    std::string pipeline =
        Cmd("SET", "a", "1") + Cmd("SET", "b", "2") + Cmd("SET", "c", "3") +
        Cmd("MSET", "d", "4", "e", "5", "f", "6") +
        Cmd("MGET", "a", "b", "nope", "c", "d", "e", "f") + Cmd("INCR", "a") +
        Cmd("INCRBY", "b", "40") + Cmd("DEL", "c", "d", "nope") +
        Cmd("EXISTS", "a", "b", "c", "a") + Cmd("DBSIZE") + Cmd("PING") +
        Cmd("ECHO", "hi") + Cmd("SELECT", "0") + Cmd("GET", "c");
    std::string got = co_await c->Call(pipeline, 14);
    co_await (*server)->Stop();
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            "+OK\r\n+OK\r\n+OK\r\n+OK\r\n"
            "*7\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n$1\r\n3\r\n$1\r\n4\r\n$1\r\n5"
            "\r\n$1\r\n6\r\n"
            ":2\r\n:42\r\n:2\r\n:3\r\n:4\r\n+PONG\r\n$2\r\nhi\r\n+OK\r\n"
            "$-1\r\n");
}

// A reply longer than one write (16 MiB) goes out in pieces, whole.
TEST_P(KvServerTest, RepliesBiggerThanOneWriteArriveWhole) {
  constexpr size_t kBig = 20 << 20;
  auto r = veloq::testing::RunOnRuntime(Options(2), []() -> Task<std::string> {
    ServerConfig config;
    auto server = co_await TestServer::Start(config);
    if (!server.ok()) co_return server.status().ToString();
    auto c = co_await Client::Connect((*server)->port());
    if (!c.ok()) co_return c.status().ToString();
    const std::string value(kBig, 'v');
    const std::string set_cmd = Cmd("SET", "big", value);
    const std::string mget_cmd = Cmd("MGET", "big", "a", "big");
    std::string set = co_await c->Call(set_cmd, 1);
    absl::Status sent = co_await c->Send(mget_cmd);
    if (!sent.ok()) co_return sent.ToString();
    // *3, two bulks of kBig and a nil.
    const size_t bulk_bytes = std::to_string(kBig).size() + 5 + kBig;
    std::string got = co_await c->ReadBytes(4 + 2 * bulk_bytes + 5);
    co_await (*server)->Stop();
    co_return set + got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  const std::string bulk =
      "$" + std::to_string(kBig) + "\r\n" + std::string(kBig, 'v') + "\r\n";
  EXPECT_TRUE(*r == "+OK\r\n*3\r\n" + bulk + "$-1\r\n" + bulk)
      << "got " << r->size() << " bytes";
}

TEST_P(KvServerTest, FramesSplitAtEveryByteBoundary) {
  auto r = veloq::testing::RunOnRuntime(Options(2), []() -> Task<std::string> {
    ServerConfig config;
    auto server = co_await TestServer::Start(config);
    if (!server.ok()) co_return server.status().ToString();
    const std::string request =
        Cmd("SET", "key:1", "va\r\nl") + Cmd("GET", "key:1") + "PING\r\n";
    const std::string want = "+OK\r\n$5\r\nva\r\nl\r\n+PONG\r\n";
    for (size_t cut = 1; cut < request.size(); ++cut) {
      auto c = co_await Client::Connect((*server)->port());
      if (!c.ok()) co_return c.status().ToString();
      (void)co_await c->Send(request.substr(0, cut));
      (void)co_await runtime::Sleep(200us);
      (void)co_await c->Send(request.substr(cut));
      std::string got = co_await c->Read(3);
      if (got != want) co_return absl::StrCat("cut ", cut, ": ", got);
    }
    co_await (*server)->Stop();
    co_return "ok";
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "ok");
}

TEST_P(KvServerTest, BadInputGetsAnErrorAndOthersAreUndisturbed) {
  auto r = veloq::testing::RunOnRuntime(
      Options(2), []() -> Task<std::vector<std::string>> {
        ServerConfig config;
        config.limits.max_bulk_len = 1024;
        auto server = co_await TestServer::Start(config);
        if (!server.ok()) co_return {server.status().ToString()};
        std::vector<std::string> out;
        auto good = co_await Client::Connect((*server)->port());
        (void)co_await good->Call(Cmd("SET", "k", "v"), 1);
        std::vector<std::string> bads;
        bads.push_back("*2\r\n$3\r\nGET\r\n:1\r\n");
        bads.push_back("*1\r\n$99999\r\n");
        bads.push_back("*abc\r\n");
        bads.push_back("SET \"unbalanced\r\n");
        for (const std::string& bad : bads) {
          auto c = co_await Client::Connect((*server)->port());
          std::string got = co_await c->Call(bad, 1);
          bool closed = co_await c->ClosedByServer();
          out.push_back(got + (closed ? "closed" : "open"));
        }
        // A client vanishing mid-pipeline.
        {
          auto c = co_await Client::Connect((*server)->port());
          std::string big;
          for (int i = 0; i < 2000; ++i) big += Cmd("INCR", "n");
          (void)co_await c->Send(big.substr(0, big.size() / 2 + 3));
        }
        out.push_back(co_await good->Call(
            Cmd("GET", "k") + Cmd("NOSUCH", "x") + Cmd("GET"), 3));
        co_await (*server)->Stop();
        co_return out;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            (std::vector<std::string>{
                "-ERR Protocol error: expected '$', got ':'\r\nclosed",
                "-ERR Protocol error: invalid bulk length\r\nclosed",
                "-ERR Protocol error: invalid multibulk length\r\nclosed",
                "-ERR Protocol error: unbalanced quotes in request\r\nclosed",
                "$1\r\nv\r\n-ERR unknown command 'NOSUCH', with args "
                "beginning with: 'x' \r\n-ERR wrong number of arguments "
                "for 'get' command\r\n"}));
}

TEST_P(KvServerTest, MaxClients) {
  auto r = veloq::testing::RunOnRuntime(Options(2), []() -> Task<std::string> {
    ServerConfig config;
    config.maxclients = 2;
    auto server = co_await TestServer::Start(config);
    if (!server.ok()) co_return server.status().ToString();
    auto a = co_await Client::Connect((*server)->port());
    auto b = co_await Client::Connect((*server)->port());
    (void)co_await a->Call(Cmd("PING"), 1);
    (void)co_await b->Call(Cmd("PING"), 1);
    auto c = co_await Client::Connect((*server)->port());
    std::string got = co_await c->Read(1);
    co_await (*server)->Stop();
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "-ERR max number of clients reached\r\n");
}

TEST_P(KvServerTest, AppendOnlyLogSurvivesARestart) {
  char dir_template[] = "/tmp/veloq-kv-aof-XXXXXX";
  const std::string dir = ::mkdtemp(dir_template);
  ServerConfig config;
  config.partition.aof_dir = dir;
  config.partition.fsync = AppendFsync::kAlways;
  auto first =
      veloq::testing::RunOnRuntime(Options(2), [config]() -> Task<std::string> {
        auto server = co_await TestServer::Start(config);
        if (!server.ok()) co_return server.status().ToString();
        auto c = co_await Client::Connect((*server)->port());
        std::string got = co_await c->Call(
            Cmd("MSET", "a", "1", "b", "2", "c", "3") +
                Cmd("INCRBY", "a", "10") + Cmd("SET", "t", "x", "EX", "100") +
                Cmd("SET", "gone", "x", "PX", "1") + Cmd("DEL", "b"),
            5);
        (void)co_await runtime::Sleep(5ms);
        co_await (*server)->Stop();
        co_return got;
      });
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, "+OK\r\n:11\r\n+OK\r\n+OK\r\n:1\r\n");
  auto second =
      veloq::testing::RunOnRuntime(Options(2), [config]() -> Task<std::string> {
        auto server = co_await TestServer::Start(config);
        if (!server.ok()) co_return server.status().ToString();
        auto c = co_await Client::Connect((*server)->port());
        std::string got = co_await c->Call(
            Cmd("MGET", "a", "b", "c", "gone") + Cmd("DBSIZE"), 2);
        std::string ttl = co_await c->Call(Cmd("TTL", "t"), 1);
        co_await (*server)->Stop();
        co_return got +
            (ttl == ":100\r\n" || ttl == ":99\r\n" ? "ttl ok" : ttl);
      });
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_EQ(*second, "*4\r\n$2\r\n11\r\n$-1\r\n$1\r\n3\r\n$-1\r\n:3\r\nttl ok");
  (void)system(absl::StrCat("rm -rf ", dir).c_str());
}

}  // namespace
}  // namespace veloq::kv
