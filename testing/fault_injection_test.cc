#include "testing/fault_injection.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/driver.h"
#include "io/fs/file.h"
#include "io/net/socket_address.h"
#include "io/net/tcp.h"
#include "runtime/parker.h"
#include "runtime/spawn.h"
#include "runtime/task.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::testing {
namespace {

using namespace std::chrono_literals;
using io::BufResult;
using io::BufStatus;
using io::Driver;
using io::Fault;
using io::FixedBuf;
using io::SocketAddress;
using io::TcpListener;
using io::TcpStream;
using runtime::Task;

class FaultInjectionTest : public DriverBackendTest {};

VELOQ_INSTANTIATE_DRIVER_BACKENDS(FaultInjectionTest);

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

// --- FaultPlan through WithFaults: the runtime's own drivers. ---

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl =
      std::string(base != nullptr ? base : "/tmp") + "/faultsXXXXXX";
  EXPECT_NE(::mkdtemp(tmpl.data()), nullptr);
  return tmpl;
}

TEST_P(FaultInjectionTest, ConnectFailsWithThePlannedError) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(absl::StrCat("VELOQ_SEED=", seed));
  FaultPlan plan;
  plan.connect_fail = 1.0;
  FaultyOptions f = WithFaults(Options(), plan, seed);
  std::string addr_text;
  absl::Status connect =
      RunOnRuntime(f.options, [&addr_text]() -> Task<absl::Status> {
        absl::StatusOr<TcpListener> l =
            TcpListener::Bind(SocketAddress::Loopback4(0));
        if (!l.ok()) co_return l.status();
        const SocketAddress addr = *l->LocalAddress();
        addr_text = addr.ToString();
        Task<absl::StatusOr<TcpStream>> connecting = TcpStream::Connect(addr);
        absl::StatusOr<TcpStream> c = co_await connecting;
        // The connect never ran: nothing reaches the listener.
        Task<absl::StatusOr<std::pair<TcpStream, SocketAddress>>> accepting =
            l->Accept(50ms);
        absl::StatusOr<std::pair<TcpStream, SocketAddress>> a =
            co_await accepting;
        EXPECT_EQ(a.status().code(), absl::StatusCode::kDeadlineExceeded)
            << a.status();
        co_return c.status();
      });
  EXPECT_EQ(connect.code(), absl::StatusCode::kUnavailable) << connect;
  EXPECT_EQ(connect, absl::ErrnoToStatus(
                         ECONNREFUSED, absl::StrCat("connect to ", addr_text)));
  EXPECT_EQ(f.faults->total().connects_failed, 1u);
  EXPECT_EQ(f.faults->shard(0)->injected(Fault::Action::kFail), 1u);
}

// Accepts one connection on `l` and sends it `payload`.
Task<absl::Status> SendPayload(const TcpListener* l, std::string payload) {
  Task<absl::StatusOr<std::pair<TcpStream, SocketAddress>>> accepting =
      l->Accept();
  absl::StatusOr<std::pair<TcpStream, SocketAddress>> c = co_await accepting;
  if (!c.ok()) co_return c.status();
  FixedBuf out = FixedBuf::Copy(payload);
  Task<BufStatus> writing = c->first.WriteAll(std::move(out));
  BufStatus w = co_await writing;
  co_return w.status;
}

TEST_P(FaultInjectionTest, ShortReadsStillReassembleTheStream) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(absl::StrCat("VELOQ_SEED=", seed));
  constexpr size_t kSize = 64 * 1024;
  std::string payload(kSize, '\0');
  for (size_t i = 0; i < kSize; ++i) {
    payload[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  }
  FaultPlan plan;
  plan.short_read = 1.0;
  FaultyOptions f = WithFaults(Options(), plan, seed);
  auto r = RunOnRuntime(f.options, [&payload]() -> Task<std::string> {
    absl::StatusOr<TcpListener> l =
        TcpListener::Bind(SocketAddress::Loopback4(0));
    EXPECT_TRUE(l.ok()) << l.status();
    if (!l.ok()) co_return std::string();
    const SocketAddress addr = *l->LocalAddress();
    auto server = runtime::Spawn(SendPayload(&*l, payload));
    Task<absl::StatusOr<TcpStream>> connecting = TcpStream::Connect(addr);
    absl::StatusOr<TcpStream> c = co_await connecting;
    EXPECT_TRUE(c.ok()) << c.status();
    if (!c.ok()) co_return std::string();
    FixedBuf in = FixedBuf::Heap(kSize);
    Task<BufStatus> reading = c->ReadExact(std::move(in), kSize);
    BufStatus got = co_await reading;
    EXPECT_TRUE(got.status.ok()) << got.status;
    const absl::Status sent = co_await server;
    EXPECT_TRUE(sent.ok()) << sent;
    co_return std::string(got.buf.view());
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_TRUE(*r == payload) << "received " << r->size() << " bytes";
  const FaultCounts counts = f.faults->total();
  EXPECT_GT(counts.reads_shortened, 0u);
  EXPECT_EQ(counts.writes_shortened, 0u);
  EXPECT_EQ(f.faults->shard(0)->injected(Fault::Action::kShort),
            counts.reads_shortened);
}

TEST_P(FaultInjectionTest, DiskFillsUpAtCapacity) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE(absl::StrCat("VELOQ_SEED=", seed));
  const std::string path = TempDir() + "/full";
  FaultPlan plan;
  plan.disk_capacity = 10000;
  FaultyOptions f = WithFaults(Options(), plan, seed);
  auto r = RunOnRuntime(f.options, [path]() -> Task<std::vector<int>> {
    std::vector<int> results;
    Task<absl::StatusOr<io::File>> opening =
        io::File::Open(path, io::OpenOptions::CreateOrTruncate());
    absl::StatusOr<io::File> file = co_await opening;
    EXPECT_TRUE(file.ok()) << file.status();
    if (!file.ok()) co_return results;
    for (int i = 0; i < 4; ++i) {
      FixedBuf out =
          FixedBuf::Copy(std::string(4096, static_cast<char>('a' + i)));
      Driver::BufOp op = file->WriteAt(std::move(out), i * 4096);
      BufResult w = co_await op;
      results.push_back(w.res.raw());
    }
    // How io/fs reports it.
    FixedBuf more = FixedBuf::Copy("more");
    Task<absl::Status> writing = file->WriteAllAt(std::move(more), 10000);
    const absl::Status all = co_await writing;
    EXPECT_EQ(all, absl::ErrnoToStatus(ENOSPC, absl::StrCat("write ", path)));
    EXPECT_EQ(all.code(), absl::StatusCode::kResourceExhausted);
    Task<absl::Status> allocating = file->Allocate(0, 1 << 20);
    const absl::Status allocated = co_await allocating;
    EXPECT_EQ(allocated,
              absl::ErrnoToStatus(ENOSPC, absl::StrCat("fallocate ", path)));
    // The third write really was cut: the file holds exactly what fit.
    FixedBuf in = FixedBuf::Heap(16384);
    Task<absl::StatusOr<FixedBuf>> reading =
        file->ReadFullAt(std::move(in), 16384, 0);
    absl::StatusOr<FixedBuf> back = co_await reading;
    EXPECT_TRUE(back.ok()) << back.status();
    if (back.ok()) {
      const std::string want = std::string(4096, 'a') + std::string(4096, 'b') +
                               std::string(10000 - 8192, 'c');
      EXPECT_TRUE(back->view() == want) << back->size() << " bytes";
    }
    co_return results;
  });
  ::unlink(path.c_str());
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<int>{4096, 4096, 10000 - 8192, -ENOSPC}));
  const FaultCounts counts = f.faults->total();
  EXPECT_EQ(counts.disk_writes_cut, 1u);
  EXPECT_EQ(counts.disk_full, 3u);  // the fourth write, WriteAllAt, Allocate
  EXPECT_EQ(f.faults->shard(0)->disk_used(), 10000u);
}

// The results of 100 reads of up to 256 bytes from a pipe that holds more
// than that, on a runtime with `plan`.
std::vector<int> PipeReads(TestRuntimeOptions options, const FaultPlan& plan,
                           uint64_t seed) {
  int p[2];
  EXPECT_EQ(pipe(p), 0);
  const std::string data(100 * 256, 'x');
  EXPECT_EQ(write(p[1], data.data(), data.size()),
            static_cast<ssize_t>(data.size()));
  FaultyOptions f = WithFaults(std::move(options), plan, seed);
  auto r = RunOnRuntime(f.options, [p]() -> Task<std::vector<int>> {
    Driver* d = Driver::Current();
    std::vector<int> lengths;
    for (int i = 0; i < 100; ++i) {
      Driver::BufOp op = d->Read(p[0], FixedBuf::Heap(256), Driver::kNoOffset);
      BufResult got = co_await op;
      lengths.push_back(got.res.raw());
    }
    co_return lengths;
  });
  close(p[0]);
  close(p[1]);
  EXPECT_TRUE(r.ok()) << r.status();
  EXPECT_GT(f.faults->total().reads_shortened, 20u);
  return r.ok() ? *r : std::vector<int>{};
}

TEST_P(FaultInjectionTest, SameSeedSameShortReads) {
  const uint64_t seed = TestSeed(42);
  SCOPED_TRACE(absl::StrCat("VELOQ_SEED=", seed));
  FaultPlan plan;
  plan.short_read = 0.5;
  const std::vector<int> a = PipeReads(Options(), plan, seed);
  const std::vector<int> b = PipeReads(Options(), plan, seed);
  const std::vector<int> c = PipeReads(Options(), plan, seed + 1);
  ASSERT_EQ(a.size(), 100u);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_NE(std::count(a.begin(), a.end(), 256), 100);
}

TEST_P(FaultInjectionTest, EveryShardGetsItsOwnInjector) {
  FaultyOptions f = WithFaults(Options(2), FaultPlan(), 7);
  absl::Status s = RunOnRuntime(
      f.options, []() -> Task<absl::Status> { co_return absl::OkStatus(); });
  ASSERT_TRUE(s.ok()) << s;
  ASSERT_NE(f.faults->shard(0), nullptr);
  ASSERT_NE(f.faults->shard(1), nullptr);
  EXPECT_EQ(f.faults->shard(0)->seed(), ShardSeed(7, 0));
  EXPECT_EQ(f.faults->shard(1)->seed(), ShardSeed(7, 1));
  EXPECT_NE(ShardSeed(7, 0), ShardSeed(7, 1));
  EXPECT_EQ(f.faults->shard(2), nullptr);
}

TEST(WithFaultsTest, NeedsDriverParkers) {
  TestRuntimeOptions o = Shards(1);
  o.parkers = [](uint32_t) -> absl::StatusOr<std::unique_ptr<runtime::Parker>> {
    absl::StatusOr<std::unique_ptr<runtime::EventfdParker>> p =
        runtime::EventfdParker::Create();
    if (!p.ok()) return p.status();
    return std::unique_ptr<runtime::Parker>(*std::move(p));
  };
  FaultyOptions f = WithFaults(std::move(o), FaultPlan(), 1);
  absl::Status s = RunOnRuntime(
      f.options, []() -> Task<absl::Status> { co_return absl::OkStatus(); });
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
}

}  // namespace
}  // namespace veloq::testing
