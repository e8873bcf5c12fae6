#include "io/buf_ring.h"

#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "io/driver.h"
#include "io/uring_driver.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Task;
using veloq::testing::RunOnRuntime;
using veloq::testing::TestRuntimeOptions;

class BufRingTest : public veloq::testing::DriverBackendTest {};

VELOQ_INSTANTIATE_DRIVER_BACKENDS(BufRingTest);

TEST_P(BufRingTest, ReadsLandInRingBuffersThatComeBack) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  const bool uring = GetParam() == Backend::kUring;
  auto r = RunOnRuntime(Options(), [p, uring]() -> Task<std::string> {
    Driver* d = Driver::Current();
    absl::StatusOr<BufRing> ring = BufRing::Create(*d, d->buffers(), 4, 4096);
    EXPECT_TRUE(ring.ok()) << ring.status();
    EXPECT_EQ(ring->in_kernel(), uring);  // the kernel here has pbuf rings
    EXPECT_EQ(ring->available(), 4u);
    std::string got;
    std::vector<FixedBuf> held;
    for (int i = 0; i < 4; ++i) {
      // The read waits with no buffer tied up; data picks one.
      auto reader =
          runtime::Spawn([](int fd, BufRing* ring) -> Task<BufResult> {
            co_return co_await Driver::Current()->ReadSelect(fd, *ring);
          }(p[0], &*ring));
      (void)co_await runtime::Sleep(1ms);
      const std::string msg = "m" + std::to_string(i);
      EXPECT_EQ(write(p[1], msg.data(), msg.size()), 2);
      BufResult br = co_await reader;
      EXPECT_EQ(br.res.value(), 2);
      EXPECT_EQ(br.buf.capacity(), 4096u);
      got += std::string(br.buf.view());
      held.push_back(std::move(br.buf));
    }
    EXPECT_EQ(ring->available(), 0u);
    // Every buffer is lent out: the next selecting read fails cleanly.
    EXPECT_EQ(write(p[1], "zz", 2), 2);
    BufResult none = co_await d->ReadSelect(p[0], *ring);
    EXPECT_EQ(none.res.error(), ENOBUFS);
    EXPECT_FALSE(none.buf.valid());
    // Returning buffers puts them back in the ring.
    held.clear();
    EXPECT_EQ(ring->available(), 4u);
    BufResult again = co_await d->ReadSelect(p[0], *ring);
    got += std::string(again.buf.view());
    co_return got;
  });
  close(p[0]);
  close(p[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "m0m1m2m3zz");
}

TEST_P(BufRingTest, LentBuffersOutliveTheRing) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  auto r = RunOnRuntime(Options(), [p]() -> Task<std::string> {
    Driver* d = Driver::Current();
    FixedBuf kept;
    {
      absl::StatusOr<BufRing> ring = BufRing::Create(*d, d->buffers(), 2, 8192);
      EXPECT_EQ(write(p[1], "late", 4), 4);
      BufResult br = co_await d->ReadSelect(p[0], *ring);
      kept = std::move(br.buf);
    }
    // The ring's memory stays while one of its buffers is lent out...
    const size_t out = d->buffers().stats().usage.blocks_out;
    std::string s(kept.view());
    kept.Reset();
    // ... and goes back to the pool with the last one.
    EXPECT_EQ(out, 2u);
    EXPECT_EQ(d->buffers().stats().usage.blocks_out, 0u);
    co_return s;
  });
  close(p[0]);
  close(p[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "late");
}

TEST(BufRingOptionsTest, CountMustBeAPowerOfTwo) {
  auto r = RunOnRuntime(
      {.shards = 1, .parkers = DriverParkers()}, []() -> Task<int> {
        Driver* d = Driver::Current();
        EXPECT_FALSE(BufRing::Create(*d, d->buffers(), 3, 4096).ok());
        EXPECT_FALSE(BufRing::Create(*d, d->buffers(), 0, 4096).ok());
        co_return 0;
      });
  ASSERT_TRUE(r.ok());
}

}  // namespace
}  // namespace veloq::io
