#include "io/net/udp.h"

#include <string>

#include "gtest/gtest.h"
#include "runtime/spawn.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::RunOnRuntime;
using veloq::testing::TestRuntimeOptions;

class UdpTest : public veloq::testing::DriverBackendTest {};

VELOQ_INSTANTIATE_DRIVER_BACKENDS(UdpTest);

Task<absl::Status> PingPong(SocketAddress bind) {
  absl::StatusOr<UdpSocket> a = UdpSocket::Bind(bind);
  absl::StatusOr<UdpSocket> b = UdpSocket::Bind(bind);
  if (!a.ok() || !b.ok()) co_return absl::InternalError("bind");
  const SocketAddress a_addr = *a->LocalAddress();
  const SocketAddress b_addr = *b->LocalAddress();
  BufResult s = co_await a->SendTo(FixedBuf::Copy("ping"), b_addr);
  if (s.res.value() != 4) co_return absl::InternalError("send");
  Datagram d = co_await b->RecvFrom(FixedBuf::Heap(64));
  if (d.buf.view() != "ping") co_return absl::InternalError("payload");
  if (!(d.from == a_addr)) co_return absl::InternalError(d.from.ToString());
  // Connected sockets: Send / Recv.
  if (!b->Connect(a_addr).ok()) co_return absl::InternalError("connect");
  co_await b->Send(FixedBuf::Copy("pong"));
  BufResult r = co_await a->Recv(FixedBuf::Heap(64));
  if (r.buf.view() != "pong") co_return absl::InternalError("pong");
  // A datagram larger than the buffer is truncated to it.
  co_await a->SendTo(FixedBuf::Copy("0123456789"), b_addr);
  Datagram t = co_await b->RecvFrom(FixedBuf::Heap(4));
  if (t.buf.view() != "0123") co_return absl::InternalError("truncate");
  // Nothing arrives: the deadline.
  Datagram none = co_await b->RecvFrom(FixedBuf::Heap(4), 10ms);
  if (none.res.error() != ETIMEDOUT) co_return absl::InternalError("deadline");
  co_return absl::OkStatus();
}

TEST_P(UdpTest, SendAndReceiveV4) {
  absl::Status s = RunOnRuntime(
      Options(), [] { return PingPong(SocketAddress::Loopback4(0)); });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(UdpTest, SendAndReceiveV6) {
  absl::Status s = RunOnRuntime(
      Options(), [] { return PingPong(SocketAddress::Loopback6(0)); });
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace veloq::io
