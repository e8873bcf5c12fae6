#include "testing/test_probe.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/actor.h"
#include "gtest/gtest.h"
#include "runtime/remote.h"
#include "runtime/shard.h"
#include "runtime/task.h"
#include "runtime/timer.h"
#include "testing/test_runtime.h"

namespace veloq::testing {
namespace {

using namespace std::chrono_literals;
using runtime::Task;

struct Ping {
  int n = 0;
};
std::ostream& operator<<(std::ostream& os, const Ping& p) {
  return os << "Ping{" << p.n << "}";
}
struct Pong {
  std::string text;
};
struct Unrelated {};

using Probe = TestProbe<Ping, Pong>;

// The probe handles exactly its types: Tell / Ask of anything else does not
// compile.
static_assert(actors::Handles<Probe::Actor, Ping>);
static_assert(actors::Handles<Probe::Actor, Pong>);
static_assert(!actors::Handles<Probe::Actor, Unrelated>);
static_assert(!actors::Handles<Probe::Actor, int>);

const std::string kPing = "veloq::testing::(anonymous namespace)::Ping";
const std::string kPong = "veloq::testing::(anonymous namespace)::Pong";

TestRuntimeOptions VirtualClock() {
  TestRuntimeOptions o = Shards(2);
  o.virtual_clock = true;
  return o;
}

TEST(TestProbeTest, ExpectTakesMessagesInOrder) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::vector<std::string>> {
    Probe probe = Probe::Spawn();
    probe.ref().Tell(Ping{1});
    probe.ref().Tell(Pong{"two"});
    probe.ref().Tell(Ping{3});
    std::vector<std::string> got;
    absl::StatusOr<Ping> a = co_await probe.Expect<Ping>();
    got.push_back(a.ok() ? std::to_string(a->n) : a.status().ToString());
    absl::StatusOr<Pong> b = co_await probe.Expect<Pong>();
    got.push_back(b.ok() ? b->text : b.status().ToString());
    absl::StatusOr<Ping> c = co_await probe.Expect<Ping>();
    got.push_back(c.ok() ? std::to_string(c->n) : c.status().ToString());
    EXPECT_EQ(probe.pending(), 0u);
    EXPECT_EQ(probe.received(), 3u);
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"1", "two", "3"}));
}

// A mismatch names both types and the message's number, and consumes
// nothing.
TEST(TestProbeTest, ExpectOfTheWrongTypeNamesBothTypes) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    probe.ref().Tell(Ping{1});
    probe.ref().Tell(Ping{2});
    absl::StatusOr<Ping> first = co_await probe.Expect<Ping>();
    EXPECT_TRUE(first.ok()) << first.status();
    absl::StatusOr<Pong> wrong = co_await probe.Expect<Pong>();
    EXPECT_EQ(wrong.status(), absl::FailedPreconditionError(
                                  "TestProbe: expected " + kPong + ", got " +
                                  kPing + " (message #2)"));
    EXPECT_EQ(probe.pending(), 1u);
    absl::StatusOr<Ping> right = co_await probe.Expect<Ping>();
    EXPECT_TRUE(right.ok() && right->n == 2) << right.status();
    co_return absl::OkStatus();
  });
  EXPECT_EQ(r, absl::OkStatus());
}

TEST(TestProbeTest, NothingArrivingIsDeadlineExceeded) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    const runtime::TimePoint start = runtime::Now();
    absl::StatusOr<Ping> p = co_await probe.Expect<Ping>(50ms);
    EXPECT_EQ(runtime::Now() - start, 50ms);
    co_return p.status();
  });
  EXPECT_EQ(r, absl::DeadlineExceededError("TestProbe: expected " + kPing +
                                           ", nothing arrived within 50 ms"));
}

// Expect wakes when the message arrives, not at its timeout.
TEST(TestProbeTest, ExpectWakesOnArrival) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    auto send_later = [](actors::ActorRef<Probe::Actor> to) -> Task<void> {
      (void)co_await runtime::Sleep(7ms);
      to.Tell(Ping{7});
    };
    runtime::JoinHandle<void> sender = runtime::Spawn(send_later(probe.ref()));
    const runtime::TimePoint start = runtime::Now();
    absl::StatusOr<Ping> p = co_await probe.Expect<Ping>(10s);
    EXPECT_EQ(runtime::Now() - start, 7ms);
    co_await sender;
    if (!p.ok()) co_return p.status();
    EXPECT_EQ(p->n, 7);
    co_return absl::OkStatus();
  });
  EXPECT_EQ(r, absl::OkStatus());
}

Task<void> TellPings(actors::ActorRef<Probe::Actor> to, int from, int count) {
  for (int i = from; i < from + count; ++i) {
    (void)co_await runtime::Sleep(100us);
    to.Tell(Ping{i});
  }
}

// Sent from shard 1 (plain Tells, a slow sender task, an Ask) to a probe
// on shard 0: all arrive, in the order sent.
TEST(TestProbeTest, MessagesFromAnotherShardArrive) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<std::vector<int>> {
    Probe probe = Probe::Spawn();
    EXPECT_EQ(probe.shard(), 0u);
    actors::ActorRef<Probe::Actor> to = probe.ref();
    auto burst = [to] {
      for (int i = 0; i < 100; ++i) to.Tell(Ping{i});
      return runtime::Shard::Current()->id();
    };
    uint32_t sent_from = co_await runtime::SubmitTo(1, burst);
    EXPECT_EQ(sent_from, 1u);
    auto slow = [to] { return TellPings(to, 100, 20); };
    runtime::RemoteJoinHandle<void> sender = runtime::SpawnOn(1, slow);
    auto ask = [to]() -> Task<absl::Status> {
      Pong pong{"asked"};
      co_return co_await to.Ask(std::move(pong));
    };
    absl::Status asked = co_await runtime::SubmitTo(1, ask);
    EXPECT_EQ(asked, absl::OkStatus());

    std::vector<int> got;
    for (int i = 0; i < 120; ++i) {
      absl::StatusOr<Ping> p = co_await probe.Expect<Ping>(5s);
      if (absl::IsFailedPrecondition(p.status())) {
        // The Pong, asked once the burst was out: after Ping 99, perhaps
        // after some of the slow sender's.
        EXPECT_GE(got.size(), 100u);
        absl::StatusOr<Pong> pong = co_await probe.Expect<Pong>();
        EXPECT_TRUE(pong.ok() && pong->text == "asked") << pong.status();
        p = co_await probe.Expect<Ping>(5s);
      }
      if (!p.ok()) break;
      got.push_back(p->n);
    }
    co_await sender;
    EXPECT_EQ(probe.received(), 121u);
    co_return got;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  ASSERT_EQ(r->size(), 120u);
  for (int i = 0; i < 120; ++i) EXPECT_EQ((*r)[i], i);
}

TEST(TestProbeTest, ExpectNoMessagePassesWhenQuiet) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    const runtime::TimePoint start = runtime::Now();
    absl::Status quiet = co_await probe.ExpectNoMessage(20ms);
    EXPECT_EQ(runtime::Now() - start, 20ms);
    co_return quiet;
  });
  EXPECT_EQ(r, absl::OkStatus());
}

TEST(TestProbeTest, ExpectNoMessageFailsOnAPendingMessage) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    probe.ref().Tell(Ping{1});
    absl::StatusOr<Ping> first = co_await probe.Expect<Ping>();
    EXPECT_TRUE(first.ok()) << first.status();
    probe.ref().Tell(Pong{"late"});
    absl::Status s = co_await probe.ExpectNoMessage(20ms);
    EXPECT_EQ(probe.pending(), 1u);  // reported, not consumed
    co_return s;
  });
  EXPECT_EQ(r, absl::FailedPreconditionError(
                   "TestProbe: expected no message for 20 ms, got " + kPong +
                   " (message #2)"));
}

// A message arriving during the wait fails it at once.
TEST(TestProbeTest, ExpectNoMessageFailsWhenOneArrivesMidWait) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    auto slow = [to = probe.ref()] { return TellPings(to, 5, 1); };
    runtime::RemoteJoinHandle<void> sender = runtime::SpawnOn(1, slow);
    const runtime::TimePoint start = runtime::Now();
    absl::Status s = co_await probe.ExpectNoMessage(10s);
    EXPECT_LT(runtime::Now() - start, 5s);
    co_await sender;
    co_return s;
  });
  EXPECT_EQ(r, absl::FailedPreconditionError(
                   "TestProbe: expected no message for 10000 ms, got " + kPing +
                   " (message #1)"));
}

TEST(TestProbeTest, ExpectWhereChecksThePredicate) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    probe.ref().Tell(Ping{3});
    probe.ref().Tell(Ping{4});
    probe.ref().Tell(Pong{"x"});
    auto odd = [](const Ping& p) { return p.n % 2 == 1; };
    absl::StatusOr<Ping> three = co_await probe.ExpectWhere<Ping>(odd);
    EXPECT_TRUE(three.ok() && three->n == 3) << three.status();
    absl::StatusOr<Ping> four = co_await probe.ExpectWhere<Ping>(odd);
    EXPECT_EQ(four.status(), absl::FailedPreconditionError(
                                 "TestProbe: message #2 (" + kPing +
                                 ") does not satisfy the predicate: Ping{4}"));
    auto even = [](const Ping& p) { return p.n % 2 == 0; };
    absl::StatusOr<Ping> again = co_await probe.ExpectWhere<Ping>(even);
    EXPECT_TRUE(again.ok() && again->n == 4) << again.status();
    // Not streamable: no value in the message.
    auto empty = [](const Pong& p) { return p.text.empty(); };
    absl::StatusOr<Pong> x = co_await probe.ExpectWhere<Pong>(empty);
    EXPECT_EQ(x.status(), absl::FailedPreconditionError(
                              "TestProbe: message #3 (" + kPong +
                              ") does not satisfy the predicate"));
    co_return absl::OkStatus();
  });
  EXPECT_EQ(r, absl::OkStatus());
}

// Stop: what was queued is still recorded; later messages are refused.
TEST(TestProbeTest, StopEndsRecording) {
  auto r = RunOnRuntime(Shards(2), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    probe.ref().Tell(Ping{1});
    probe.Stop();
    (void)co_await runtime::Sleep(1ms);
    absl::Status refused = co_await probe.ref().Ask(Ping{2});
    EXPECT_TRUE(absl::IsFailedPrecondition(refused)) << refused;
    EXPECT_EQ(probe.received(), 1u);
    absl::StatusOr<Ping> p = co_await probe.Expect<Ping>();
    EXPECT_TRUE(p.ok() && p->n == 1) << p.status();
    co_return co_await probe.ExpectNoMessage(1ms);
  });
  EXPECT_EQ(r, absl::OkStatus());
}

// An Expect given up by cancellation reports it (not a quiet success) and
// leaves the probe usable.
TEST(TestProbeTest, CancelledExpectLeavesTheProbeUsable) {
  auto r = RunOnRuntime(VirtualClock(), []() -> Task<absl::Status> {
    Probe probe = Probe::Spawn();
    runtime::JoinHandle<absl::StatusOr<Ping>> waiting =
        runtime::Spawn(probe.Expect<Ping>(10s));
    (void)co_await runtime::Sleep(1ms);
    waiting.Cancel();
    absl::StatusOr<Ping> cancelled = co_await waiting;
    EXPECT_EQ(cancelled.status(), runtime::CancelledStatus());
    runtime::JoinHandle<absl::Status> quiet =
        runtime::Spawn(probe.ExpectNoMessage(10s));
    (void)co_await runtime::Sleep(1ms);
    quiet.Cancel();
    absl::Status cancelled_quiet = co_await quiet;
    EXPECT_EQ(cancelled_quiet, runtime::CancelledStatus());
    probe.ref().Tell(Ping{9});
    absl::StatusOr<Ping> p = co_await probe.Expect<Ping>();
    if (!p.ok()) co_return p.status();
    EXPECT_EQ(p->n, 9);
    co_return absl::OkStatus();
  });
  EXPECT_EQ(r, absl::OkStatus());
}

}  // namespace
}  // namespace veloq::testing
