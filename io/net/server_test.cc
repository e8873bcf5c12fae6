#include "io/net/server.h"

#include <set>
#include <string>

#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using runtime::Spawn;
using runtime::Task;
using veloq::testing::RunOnRuntime;

// Answers each connection with the id of the shard that serves it.
Task<void> SayShard(TcpStream s) {
  co_await s.WriteAll(
      FixedBuf::Copy(std::to_string(runtime::Shard::Current()->id())));
}

Task<absl::StatusOr<std::multiset<std::string>>> ServeAndConnect(
    Spread spread) {
  absl::StatusOr<TcpServer> server =
      TcpServer::Bind(SocketAddress::Loopback4(0), spread);
  if (!server.ok()) co_return server.status();
  auto serving = Spawn(server->Serve(SayShard));
  // The other shards bind their listeners once Serve runs there; until then
  // this shard serves every connection (correct, but not what this test
  // looks at).
  (void)co_await runtime::Sleep(std::chrono::milliseconds(20));
  std::multiset<std::string> seen;
  for (int i = 0; i < 24; ++i) {
    absl::StatusOr<TcpStream> c =
        co_await TcpStream::Connect(server->address());
    if (!c.ok()) co_return c.status();
    BufResult r = co_await c->Read(FixedBuf::Heap(16));
    seen.insert(std::string(r.buf.view()));
  }
  serving.Cancel();
  absl::Status s = co_await serving;
  if (!s.ok()) co_return s;
  co_return seen;
}

class ServerTest : public ::testing::TestWithParam<Spread> {};

INSTANTIATE_TEST_SUITE_P(Spreads, ServerTest,
                         ::testing::Values(Spread::kReusePort,
                                           Spread::kAcceptAndBalance,
                                           Spread::kThisShard));

TEST_P(ServerTest, EveryConnectionIsServed) {
  const Spread spread = GetParam();
  auto r = RunOnRuntime({.shards = 2, .parkers = DriverParkers()},
                        [spread] { return ServeAndConnect(spread); });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->size(), 24u);
  if (spread == Spread::kThisShard) {
    EXPECT_EQ(r->count("0"), 24u);
  }
  if (spread == Spread::kReusePort) {
    // The kernel hashes 24 flows over two listeners: both get some.
    EXPECT_GT(r->count("0"), 0u);
    EXPECT_GT(r->count("1"), 0u);
  }
}

}  // namespace
}  // namespace veloq::io
