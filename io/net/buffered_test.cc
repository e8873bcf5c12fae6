#include "io/net/buffered.h"

#include <string>

#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Spawn;
using runtime::Task;
using veloq::testing::RunOnRuntime;

struct Pair {
  TcpStream client;
  TcpStream server;
};

Task<absl::StatusOr<Pair>> Connected() {
  absl::StatusOr<TcpListener> l =
      TcpListener::Bind(SocketAddress::Loopback4(0));
  if (!l.ok()) co_return l.status();
  absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(*l->LocalAddress());
  if (!c.ok()) co_return c.status();
  auto a = co_await l->Accept();
  if (!a.ok()) co_return a.status();
  co_return Pair{*std::move(c), std::move(a->first)};
}

// The writer sends `data` one byte per write, so every parse sees frames
// split at every boundary.
Task<void> Trickle(const TcpStream* s, std::string data) {
  for (char ch : data) {
    co_await s->WriteAll(FixedBuf::Copy(std::string(1, ch)));
    co_await runtime::Yield();
  }
}

TEST(BufferedTest, LinesExactBytesAndFramesAcrossSplitReads) {
  auto r = RunOnRuntime(
      {.shards = 1, .parkers = DriverParkers()}, []() -> Task<std::string> {
        absl::StatusOr<Pair> p = co_await Connected();
        EXPECT_TRUE(p.ok());
        std::string wire = "hello\r\nworld\nABCDE";
        wire += std::string("\0\0\0\3xyz", 7);
        auto writer = Spawn(Trickle(&p->server, wire));
        BufferedReader<TcpStream> in(p->client, FixedBuf::Heap(64));
        std::string out;
        for (int i = 0; i < 2; ++i) {
          absl::StatusOr<absl::string_view> line = co_await in.ReadLine();
          EXPECT_TRUE(line.ok()) << line.status();
          out += std::string(*line) + "|";
        }
        absl::StatusOr<absl::string_view> five = co_await in.ReadExactly(5);
        out += std::string(*five) + "|";
        absl::StatusOr<absl::string_view> frame = co_await in.ReadFrame(16);
        out += std::string(*frame);
        co_await writer;
        co_return out;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "hello|world|ABCDE|xyz");
}

TEST(BufferedTest, OverlongLineEndOfStreamAndBigFrames) {
  auto r = RunOnRuntime(
      {.shards = 1, .parkers = DriverParkers()},
      []() -> Task<std::vector<absl::StatusCode>> {
        std::vector<absl::StatusCode> codes;
        {
          absl::StatusOr<Pair> p = co_await Connected();
          co_await p->server.WriteAll(FixedBuf::Copy(std::string(100, 'x')));
          BufferedReader<TcpStream> in(p->client, FixedBuf::Heap(16));
          codes.push_back((co_await in.ReadLine()).status().code());
        }
        {
          absl::StatusOr<Pair> p = co_await Connected();
          co_await p->server.WriteAll(FixedBuf::Copy("no newline"));
          { TcpStream gone = std::move(p->server); }
          BufferedReader<TcpStream> in(p->client, FixedBuf::Heap(64));
          codes.push_back((co_await in.ReadLine()).status().code());
          EXPECT_EQ(in.buffered(), "no newline");  // still there
        }
        {
          absl::StatusOr<Pair> p = co_await Connected();
          BufferedWriter<TcpStream> out(p->server, FixedBuf::Heap(8));
          EXPECT_TRUE((co_await out.WriteFrame(std::string(1000, 'f'))).ok());
          EXPECT_TRUE((co_await out.Flush()).ok());
          BufferedReader<TcpStream> in(p->client, FixedBuf::Heap(2048));
          absl::StatusOr<absl::string_view> f = co_await in.ReadFrame(4096);
          EXPECT_EQ(f->size(), 1000u);
          EXPECT_TRUE((co_await out.WriteFrame("toolong")).ok());
          EXPECT_TRUE((co_await out.Flush()).ok());
          codes.push_back((co_await in.ReadFrame(3)).status().code());
        }
        co_return codes;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(
      *r, (std::vector<absl::StatusCode>{absl::StatusCode::kResourceExhausted,
                                         absl::StatusCode::kOutOfRange,
                                         absl::StatusCode::kInvalidArgument}));
}

}  // namespace
}  // namespace veloq::io
