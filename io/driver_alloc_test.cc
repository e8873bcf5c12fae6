// Proves that a warm driver runs ops without heap allocation: this binary
// counts every operator new.
#include <atomic>
#include <cstdlib>
#include <new>

#include "gtest/gtest.h"
#include "io/driver.h"
#include "runtime/task.h"
#include "testing/test_runtime.h"

namespace {
std::atomic<uint64_t> g_news{0};
}  // namespace

void* operator new(std::size_t n) {
  g_news.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace veloq::io {
namespace {

TEST(DriverAllocTest, WarmOpsDoNotAllocate) {
  veloq::testing::TestRuntimeOptions o;
  o.shards = 1;
  o.parkers = [](uint32_t) -> absl::StatusOr<std::unique_ptr<runtime::Parker>> {
    auto d = Driver::Create();
    if (!d.ok()) return d.status();
    return std::unique_ptr<runtime::Parker>(std::move(*d));
  };
  auto r = veloq::testing::RunOnRuntime(o, []() -> runtime::Task<uint64_t> {
    Driver* d = Driver::Current();
    for (int i = 0; i < 100; ++i) (void)co_await d->Nop();  // warm up
    const uint64_t before = g_news.load();
    for (int i = 0; i < 1000; ++i) (void)co_await d->Nop();
    co_return g_news.load() - before;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, 0u) << "allocations for 1000 warm ops";
}

}  // namespace
}  // namespace veloq::io
