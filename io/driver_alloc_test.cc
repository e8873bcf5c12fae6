// Proves that a warm driver runs ops without heap allocation: this binary
// counts every operator new.
#include "gtest/gtest.h"
#include "io/driver.h"
#include "runtime/task.h"
#include "testing/counting_allocator.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

TEST(DriverAllocTest, WarmOpsDoNotAllocate) {
  veloq::testing::TestRuntimeOptions o;
  o.shards = 1;
  o.parkers = DriverParkers();
  auto r = veloq::testing::RunOnRuntime(o, []() -> runtime::Task<uint64_t> {
    Driver* d = Driver::Current();
    for (int i = 0; i < 100; ++i) (void)co_await d->Nop();  // warm up
    const uint64_t before = veloq::testing::AllocationCount();
    for (int i = 0; i < 1000; ++i) (void)co_await d->Nop();
    co_return veloq::testing::AllocationCount() - before;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 0u) << "allocations for 1000 warm ops";
}

}  // namespace
}  // namespace veloq::io
