#include "io/net/socket_address.h"

#include "gtest/gtest.h"

namespace veloq::io {
namespace {

TEST(SocketAddressTest, ParsesV4AndV6) {
  absl::StatusOr<SocketAddress> a = SocketAddress::Parse("127.0.0.1:8080");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->family(), AF_INET);
  EXPECT_EQ(a->port(), 8080);
  EXPECT_EQ(a->ToString(), "127.0.0.1:8080");
  absl::StatusOr<SocketAddress> b = SocketAddress::Parse("[::1]:6379");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_TRUE(b->is_v6());
  EXPECT_EQ(b->port(), 6379);
  EXPECT_EQ(b->ToString(), "[::1]:6379");
  EXPECT_EQ(SocketAddress::Loopback4(1).ToString(), "127.0.0.1:1");
  EXPECT_EQ(SocketAddress::Any6(2).ToString(), "[::]:2");
}

TEST(SocketAddressTest, RejectsBadInput) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "localhost:80",
        "[::1]80", "[::1", "1.2.3:4", "127.0.0.1:-1", "::1:80x"}) {
    EXPECT_FALSE(SocketAddress::Parse(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace veloq::io
