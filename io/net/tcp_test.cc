#include "io/net/tcp.h"

#include <sys/socket.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "io/buf_ring.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Spawn;
using runtime::Task;
using veloq::testing::RunOnRuntime;
using veloq::testing::TestRuntimeOptions;

class TcpTest : public veloq::testing::DriverBackendTest {
 protected:
  veloq::testing::TestRuntimeOptions Options(uint32_t shards = 1) {
    veloq::testing::TestRuntimeOptions o = DriverBackendTest::Options(shards);
    o.deadline = std::chrono::seconds(20);
    return o;
  }
};

VELOQ_INSTANTIATE_DRIVER_BACKENDS(TcpTest);

// Echoes every byte back until the peer closes.
Task<void> Echo(TcpStream s) {
  for (;;) {
    BufResult r = co_await s.Read(FixedBuf::Heap(4096));
    if (!r.res.ok() || r.res.value() == 0) co_return;
    BufStatus w = co_await s.WriteAll(std::move(r.buf));
    if (!w.status.ok()) co_return;
  }
}

Task<absl::Status> EchoRoundTrip(SocketAddress bind) {
  absl::StatusOr<TcpListener> l = TcpListener::Bind(bind);
  if (!l.ok()) co_return l.status();
  SocketAddress addr = *l->LocalAddress();
  auto server = Spawn([](TcpListener* l) -> Task<absl::Status> {
    auto c = co_await l->Accept();
    if (!c.ok()) co_return c.status();
    co_await Echo(std::move(c->first));
    co_return absl::OkStatus();
  }(&*l));
  absl::StatusOr<TcpStream> s = co_await TcpStream::Connect(addr);
  if (!s.ok()) co_return s.status();
  if (s->PeerAddress()->ToString() != addr.ToString()) {
    co_return absl::InternalError("peer address");
  }
  std::string big(100000, 'x');
  for (size_t i = 0; i < big.size(); ++i)
    big[i] = static_cast<char>('a' + i % 26);
  FixedBuf out = FixedBuf::Copy(big);
  BufStatus w = co_await s->WriteAll(std::move(out));
  if (!w.status.ok()) co_return w.status;
  BufStatus r = co_await s->ReadExact(FixedBuf::Heap(big.size()), big.size());
  if (!r.status.ok()) co_return r.status;
  if (r.buf.view() != big) co_return absl::InternalError("data differs");
  if (absl::Status st = s->Shutdown(SHUT_WR); !st.ok()) co_return st;
  co_return co_await server;
}

TEST_P(TcpTest, EchoOverIpv4) {
  absl::Status s = RunOnRuntime(
      Options(), [] { return EchoRoundTrip(SocketAddress::Loopback4(0)); });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(TcpTest, EchoOverIpv6) {
  absl::Status s = RunOnRuntime(
      Options(), [] { return EchoRoundTrip(SocketAddress::Loopback6(0)); });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(TcpTest, ConnectionRefused) {
  auto r = RunOnRuntime(Options(), []() -> Task<absl::Status> {
    // A port nobody listens on: bind one, note it, close it.
    SocketAddress addr;
    {
      absl::StatusOr<TcpListener> l =
          TcpListener::Bind(SocketAddress::Loopback4(0));
      addr = *l->LocalAddress();
    }
    (void)co_await runtime::Sleep(1ms);  // the background close
    absl::StatusOr<TcpStream> s = co_await TcpStream::Connect(addr);
    co_return s.status();
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kUnavailable) << r;
  EXPECT_NE(std::string(r.message()).find("refused"), std::string::npos) << r;
}

TEST_P(TcpTest, ConnectDeadline) {
  auto r = RunOnRuntime(Options(), []() -> Task<absl::Status> {
    // A listener that never accepts, with its tiny backlog filled: further
    // SYNs are dropped and connect hangs until the deadline.
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0), {.backlog = 0});
    SocketAddress addr = *l->LocalAddress();
    std::vector<TcpStream> filler;
    for (int i = 0; i < 8; ++i) {
      absl::StatusOr<TcpStream> s = co_await TcpStream::Connect(addr, 100ms);
      if (!s.ok()) {
        co_return s.status();  // the backlog is full: this one timed out
      }
      filler.push_back(*std::move(s));
    }
    co_return absl::InternalError("backlog never filled");
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kDeadlineExceeded) << r;
}

TEST_P(TcpTest, ReadDeadlineAndEndOfStreamMidRead) {
  auto r = RunOnRuntime(Options(), []() -> Task<absl::Status> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    SocketAddress addr = *l->LocalAddress();
    absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(addr);
    auto accepted = co_await l->Accept();
    if (!c.ok() || !accepted.ok()) co_return absl::InternalError("setup");
    TcpStream server = std::move(accepted->first);
    // Nothing sent: the read times out, and the buffer comes back.
    BufResult idle = co_await c->Read(FixedBuf::Heap(16), 20ms);
    if (idle.res.error() != ETIMEDOUT || idle.buf.capacity() != 16) {
      co_return absl::InternalError("want ETIMEDOUT");
    }
    BufStatus late = co_await c->ReadExact(FixedBuf::Heap(16), 16, 20ms);
    if (late.status.code() != absl::StatusCode::kDeadlineExceeded) {
      co_return absl::InternalError(late.status.ToString());
    }
    // Three bytes, then the server closes: ReadExact(10) ends early.
    co_await server.WriteAll(FixedBuf::Copy("abc"));
    { TcpStream gone = std::move(server); }
    BufStatus part = co_await c->ReadExact(FixedBuf::Heap(10), 10);
    if (part.buf.view() != "abc") co_return absl::InternalError("data");
    co_return part.status;
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kOutOfRange) << r;
  EXPECT_NE(std::string(r.message()).find("after 3 of 10"), std::string::npos);
}

TEST_P(TcpTest, ResetByPeerAndWriteAfterClose) {
  auto r = RunOnRuntime(Options(), []() -> Task<std::vector<int>> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    SocketAddress addr = *l->LocalAddress();
    absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(addr);
    auto accepted = co_await l->Accept();
    // Linger 0: closing sends a reset.
    EXPECT_TRUE(accepted->first.options().SetLinger(0s).ok());
    { TcpStream gone = std::move(accepted->first); }
    (void)co_await runtime::Sleep(5ms);
    std::vector<int> errors;
    BufResult rd = co_await c->Read(FixedBuf::Heap(16));
    errors.push_back(rd.res.error());
    // Writing to a dead connection: an error, never SIGPIPE.
    BufStatus w = co_await c->WriteAll(FixedBuf::Copy("after"));
    BufStatus w2 = co_await c->WriteAll(FixedBuf::Copy("again"));
    errors.push_back(w.status.ok() && !w2.status.ok() ? 1
                     : w.status.ok()                  ? 0
                                                      : 1);
    co_return errors;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ((*r)[0], ECONNRESET);
  EXPECT_EQ((*r)[1], 1);
}

TEST_P(TcpTest, SplitHalvesReadAndWriteAtOnce) {
  auto r = RunOnRuntime(Options(), []() -> Task<std::string> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    SocketAddress addr = *l->LocalAddress();
    auto server = Spawn([](TcpListener* l) -> Task<void> {
      auto c = co_await l->Accept();
      if (c.ok()) co_await Echo(std::move(c->first));
    }(&*l));
    absl::StatusOr<TcpStream> s = co_await TcpStream::Connect(addr);
    auto [rd, wr] = std::move(*s).Split();
    auto reader = Spawn([](TcpReadHalf rd) -> Task<std::string> {
      std::string got;
      for (;;) {
        BufResult r = co_await rd.Read(FixedBuf::Heap(1024));
        if (!r.res.ok() || r.res.value() == 0) break;
        got += std::string(r.buf.view());
      }
      co_return got;
    }(std::move(rd)));
    for (int i = 0; i < 100; ++i) {
      co_await wr.WriteAll(FixedBuf::Copy(std::to_string(i) + ","));
    }
    EXPECT_TRUE(wr.ShutdownWrite().ok());
    std::string got = co_await reader;
    co_await server;
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  std::string want;
  for (int i = 0; i < 100; ++i) want += std::to_string(i) + ",";
  EXPECT_EQ(*r, want);
}

TEST_P(TcpTest, SocketOptions) {
  auto r = RunOnRuntime(Options(), []() -> Task<absl::Status> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    absl::StatusOr<TcpStream> s =
        co_await TcpStream::Connect(*l->LocalAddress());
    SocketOptions o = s->options();
    if (!o.SetNoDelay(true).ok() || !*o.NoDelay())
      co_return absl::InternalError("nodelay");
    if (!o.SetKeepAlive(true, 30s).ok() || !*o.KeepAlive())
      co_return absl::InternalError("keepalive");
    if (!o.SetTtl(7).ok() || *o.Ttl() != 7)
      co_return absl::InternalError("ttl");
    if (!o.SetSendBufferSize(64 << 10).ok() ||
        *o.SendBufferSize() < (64 << 10)) {
      co_return absl::InternalError("sndbuf");
    }
    if (!o.SetRecvBufferSize(64 << 10).ok() ||
        *o.RecvBufferSize() < (64 << 10)) {
      co_return absl::InternalError("rcvbuf");
    }
    if (!o.SetLinger(1s).ok() || !o.SetLinger(std::nullopt).ok()) {
      co_return absl::InternalError("linger");
    }
    // Bad input is an error, not a crash.
    if (o.SetSendBufferSize(-1).ok() && o.SetTtl(1000).ok()) {
      co_return absl::InternalError("ttl 1000 accepted");
    }
    co_return absl::OkStatus();
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST_P(TcpTest, BindErrorsAreStatuses) {
  auto r = RunOnRuntime(Options(), []() -> Task<absl::Status> {
    absl::StatusOr<TcpListener> a =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    absl::StatusOr<TcpListener> b =
        TcpListener::Bind(*a->LocalAddress(), {.reuse_address = false});
    co_return b.status();
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kFailedPrecondition) << r;
  EXPECT_NE(std::string(r.message()).find("in use"), std::string::npos) << r;
}

}  // namespace
}  // namespace veloq::io

namespace veloq::io {
namespace {

TEST_P(TcpTest, IncomingYieldsEveryConnection) {
  auto r = RunOnRuntime(Options(), []() -> Task<int> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    SocketAddress addr = *l->LocalAddress();
    auto acceptor = Spawn([](const TcpListener* l) -> Task<int> {
      AcceptStream incoming = l->Incoming();
      int n = 0;
      for (int i = 0; i < 20; ++i) {
        absl::StatusOr<TcpStream> s = co_await incoming.Next();
        if (!s.ok()) break;
        co_await s->WriteAll(FixedBuf::Copy("hi"));
        ++n;
      }
      co_return n;
    }(&*l));
    int answered = 0;
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(addr);
      BufStatus got = co_await c->ReadExact(FixedBuf::Heap(2), 2);
      if (got.status.ok() && got.buf.view() == "hi") ++answered;
    }
    co_return answered * 100 + co_await acceptor;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 2020);
}

// A receiver holds no buffer while idle; it runs dry (ENOBUFS) only while
// the application holds every ring buffer, and recovers when they return.
TEST_P(TcpTest, ReceiverReadsThroughTheBufferRing) {
  auto r = RunOnRuntime(Options(), []() -> Task<std::string> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    absl::StatusOr<TcpStream> c =
        co_await TcpStream::Connect(*l->LocalAddress());
    auto a = co_await l->Accept();
    TcpStream server = std::move(a->first);
    Driver* d = Driver::Current();
    absl::StatusOr<BufRing> ring = BufRing::Create(*d, d->buffers(), 2, 4096);
    RecvStream rx = c->Receiver(*ring);
    std::string got;
    std::vector<FixedBuf> held;
    for (int i = 0; i < 2; ++i) {
      co_await server.WriteAll(FixedBuf::Copy("m" + std::to_string(i)));
      BufResult b = co_await rx.Next();
      got += std::string(b.buf.view());
      held.push_back(std::move(b.buf));  // keep it: the ring empties
    }
    co_await server.WriteAll(FixedBuf::Copy("late"));
    (void)co_await runtime::Sleep(5ms);
    BufResult dry = co_await rx.Next();
    got += "|" + std::to_string(dry.res.error()) + "|";
    held.clear();  // back to the ring
    BufResult late = co_await rx.Next();
    got += std::string(late.buf.view());
    { TcpStream gone = std::move(server); }
    BufResult eof = co_await rx.Next();
    got += "|" + std::to_string(eof.res.raw());
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "m0m1|" + std::to_string(ENOBUFS) + "|late|0");
}

// Large writes take SEND_ZC on io_uring (a plain send on epoll); the bytes
// and the buffer come back the same either way.
TEST_P(TcpTest, ZeroCopyWritesAboveTheThreshold) {
  const size_t before = ZeroCopyThreshold();
  SetZeroCopyThreshold(1024);
  auto r = RunOnRuntime(Options(), []() -> Task<bool> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    SocketAddress addr = *l->LocalAddress();
    auto server = Spawn([](TcpListener* l) -> Task<void> {
      auto c = co_await l->Accept();
      if (c.ok()) co_await Echo(std::move(c->first));
    }(&*l));
    absl::StatusOr<TcpStream> s = co_await TcpStream::Connect(addr);
    std::string big(200000, 'z');
    for (size_t i = 0; i < big.size(); i += 7) big[i] = static_cast<char>(i);
    BufStatus w = co_await s->WriteAll(FixedBuf::Copy(big));
    BufStatus back =
        co_await s->ReadExact(FixedBuf::Heap(big.size()), big.size());
    (void)s->Shutdown(SHUT_WR);
    co_await server;
    co_return w.status.ok() && w.buf.view() == big&& back.buf.view() == big;
  });
  SetZeroCopyThreshold(before);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r);
}

}  // namespace
}  // namespace veloq::io
