#include "testing/fault_injection.h"

#include <unistd.h>

#include <cerrno>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "io/driver.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "testing/test_runtime.h"

namespace veloq::testing {
namespace {

using namespace std::chrono_literals;
using io::Backend;
using io::Driver;
using io::Fault;
using runtime::Task;

class FaultInjectionTest : public ::testing::TestWithParam<Backend> {
 protected:
  TestRuntimeOptions Options() {
    io::DriverOptions d;
    d.backend = GetParam();
    TestRuntimeOptions o;
    o.shards = 1;
    o.parkers = io::DriverParkers(d);
    return o;
  }
};

INSTANTIATE_TEST_SUITE_P(Backends, FaultInjectionTest,
                         ::testing::Values(Backend::kUring, Backend::kEpoll),
                         [](const ::testing::TestParamInfo<Backend>& i) {
                           return i.param == Backend::kUring ? "Uring"
                                                             : "Epoll";
                         });

TEST_P(FaultInjectionTest, ScriptedFailureHitsExactlyThatOp) {
  auto r = RunOnRuntime(Options(), []() -> Task<std::vector<int>> {
    ScriptedFaults faults;
    faults.At(2, Fault{Fault::Action::kFail, ECONNRESET});
    Driver* d = Driver::Current();
    d->SetFaultInjector(&faults);
    std::vector<int> errors;
    for (int i = 0; i < 5; ++i) errors.push_back((co_await d->Nop()).error());
    d->SetFaultInjector(nullptr);
    co_return errors;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<int>{0, 0, ECONNRESET, 0, 0}));
}

TEST_P(FaultInjectionTest, ShortReadReturnsFewerBytes) {
  int p[2];
  ASSERT_EQ(pipe(p), 0);
  ASSERT_EQ(write(p[1], "0123456789", 10), 10);
  auto r = RunOnRuntime(Options(), [p]() -> Task<std::string> {
    ScriptedFaults faults;
    Fault f;
    f.action = Fault::Action::kShort;
    f.max_length = 3;
    faults.At(0, f);
    Driver* d = Driver::Current();
    d->SetFaultInjector(&faults);
    io::BufResult r =
        co_await d->Read(p[0], io::FixedBuf::Heap(10), Driver::kNoOffset);
    d->SetFaultInjector(nullptr);
    EXPECT_EQ(r.buf.capacity(), 10u);  // the buffer is whole; the read short
    EXPECT_EQ(r.res.value(), 3);
    co_return std::string(r.buf.view());
  });
  close(p[0]);
  close(p[1]);
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "012");
}

TEST_P(FaultInjectionTest, DelayedOpStartsLateAndCanBeCancelled) {
  auto r = RunOnRuntime(Options(), []() -> Task<std::vector<int>> {
    ScriptedFaults faults;
    Fault late;
    late.action = Fault::Action::kDelay;
    late.delay = 20ms;
    faults.At(0, late);
    faults.At(1, late);
    Driver* d = Driver::Current();
    d->SetFaultInjector(&faults);
    std::vector<int> out;
    const auto t0 = std::chrono::steady_clock::now();
    out.push_back((co_await d->Nop()).error());
    EXPECT_GE(std::chrono::steady_clock::now() - t0, 20ms);
    // The second op is held back; cancelling its task finishes it at once.
    auto h = runtime::Spawn([](Driver* d) -> Task<int> {
      co_return (co_await d->Nop()).error();
    }(d));
    co_await runtime::Yield();
    h.Cancel();
    out.push_back(co_await h);
    d->SetFaultInjector(nullptr);
    EXPECT_EQ(d->in_flight(), 0u);
    co_return out;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<int>{0, ECANCELED}));
}

std::vector<int> RunSeeded(TestRuntimeOptions o, uint64_t seed) {
  auto r = RunOnRuntime(o, [seed]() -> Task<std::vector<int>> {
    FaultRates rates;
    rates.nops = true;
    rates.fail = 0.3;
    SeededFaults faults(seed, rates);
    Driver* d = Driver::Current();
    d->SetFaultInjector(&faults);
    std::vector<int> errors;
    for (int i = 0; i < 200; ++i) errors.push_back((co_await d->Nop()).error());
    d->SetFaultInjector(nullptr);
    EXPECT_GT(faults.count(Fault::Action::kFail), 20u);
    co_return errors;
  });
  EXPECT_TRUE(r.ok()) << r.status();
  return r.ok() ? *r : std::vector<int>{};
}

TEST_P(FaultInjectionTest, SameSeedSameFaults) {
  const std::vector<int> a = RunSeeded(Options(), 42);
  const std::vector<int> b = RunSeeded(Options(), 42);
  const std::vector<int> c = RunSeeded(Options(), 43);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
}

}  // namespace
}  // namespace veloq::testing
