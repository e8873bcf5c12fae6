// The test toolkit's own tests: the VELOQ_TEST macros, the deadline report
// (pending tasks and mailboxes), and Simulate over seeds (finds a planted
// ordering bug in an actor service, names and replays the failing seed).

#include "testing/test_runtime.h"

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "actors/actor.h"
#include "actors/actor_table.h"
#include "gtest/gtest-spi.h"
#include "gtest/gtest.h"
#include "runtime/remote.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/eventually.h"

namespace veloq::testing {
namespace {

using namespace std::chrono_literals;
using runtime::Task;

VELOQ_TEST(ToolkitTest, BodyRunsOnShardZeroOfATwoShardRuntime) {
  runtime::Shard* here = runtime::Shard::Current();
  CO_ASSERT_TRUE(here != nullptr);
  EXPECT_EQ(here->id(), 0u);
  EXPECT_EQ(here->shard_count(), 2u);
  const uint32_t there = co_await runtime::SpawnOn(
      1, [] { return runtime::Shard::Current()->id(); });
  EXPECT_EQ(there, 1u);
}

VELOQ_TEST_WITH(ToolkitTest, OptionsChooseShardsAndClock,
                Shards(4).WithVirtualClock()) {
  EXPECT_EQ(runtime::Shard::Current()->shard_count(), 4u);
  const runtime::TimePoint start = runtime::Now();
  (void)co_await runtime::Sleep(1h);
  EXPECT_GE(runtime::Now() - start, 1h);
}

class FixtureTest : public RuntimeTest {
 public:
  TestRuntimeOptions RuntimeOptions() const override { return Shards(3); }

 protected:
  int answer_ = 42;
};

VELOQ_TEST_F(FixtureTest, BodySeesTheFixtureAndItsOptions) {
  EXPECT_EQ(answer_, 42);
  EXPECT_EQ(runtime::Shard::Current()->shard_count(), 3u);
  co_return;
}

Task<absl::StatusOr<int>> Fails() {
  co_return absl::NotFoundError("no such thing");
}

// The statement of EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS may not use
// locals: a function.
void RunFailingAssertion() {
  RunOnRuntime(Shards(1), []() -> Task<void> {
    int after = 0;
    CO_ASSERT_OK(co_await Fails());
    after = 1;  // not reached
    EXPECT_EQ(after, 0);
  }).IgnoreError();
}

TEST(ToolkitTest, CoAssertRecordsAFailureAndEndsTheBody) {
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(RunFailingAssertion(),
                                         "no such thing");
}

void RunFailingEq() {
  RunOnRuntime(Shards(1), []() -> Task<void> {
    CO_ASSERT_EQ(1 + 1, 3);
    ADD_FAILURE() << "not reached";
  }).IgnoreError();
}

TEST(ToolkitTest, CoAssertEqNamesBothSides) {
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(RunFailingEq(), "1 + 1");
}

// --- The deadline report ---

struct Never {};
class Stuck : public actors::Actor {
 public:
  // A turn that never ends: the actor's mailbox fills up behind it.
  Task<void> Handle(Never) { (void)co_await runtime::Sleep(1h); }
};

void RunPastTheDeadline() {
  TestRuntimeOptions o = Shards(2).WithDeadline(300ms);
  o.shutdown_grace = 200ms;
  auto r = RunOnRuntime(o, []() -> Task<absl::Status> {
    auto stuck =
        co_await runtime::SpawnOn(1, [] { return actors::Spawn<Stuck>(); });
    for (int i = 0; i < 3; ++i) stuck.Tell(Never{});
    auto sleeper = runtime::Spawn(
        []() -> Task<void> { (void)co_await runtime::Sleep(1h); }(),
        "sleeps-an-hour");
    // The root waits too, cancellably: the deadline cancels it.
    co_return co_await runtime::Sleep(1h);
  });
  EXPECT_EQ(r.code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(ToolkitTest, DeadlineFailsTheTestAndListsTasksAndMailboxes) {
  // Every part of the report: shard 1's stuck actor and its mailbox (two
  // messages behind the running one), the task names (debug builds).
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(RunPastTheDeadline(),
                                         "test deadline of 300 ms exceeded");
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(
      RunPastTheDeadline(),
      "actor veloq::testing::(anonymous namespace)::Stuck #0.");
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(RunPastTheDeadline(),
                                         "mailbox 2, in a turn");
  EXPECT_NONFATAL_FAILURE_ON_ALL_THREADS(RunPastTheDeadline(),
                                         "task 'sleeps-an-hour'");
}

// --- Simulation over seeds: a planted bug in an actor service ---

// An account balance on shard 0, and "Transfer" clients on other shards
// that read the balance and then write it back — a check-then-act race
// across two messages (the planted bug: it should be one message).
struct Get {};
struct Set {
  int64_t value;
};
class Account : public actors::Actor {
 public:
  int64_t Handle(Get) const { return balance_; }
  void Handle(Set s) { balance_ = s.value; }

 private:
  int64_t balance_ = 100;
};

// The body reports the bug as a Status (an EXPECT inside would do as
// well, but this test itself runs under gtest's failure interception).
Task<absl::Status> DepositTwiceConcurrently() {
  auto account = actors::Spawn<Account>();
  std::vector<runtime::RemoteJoinHandle<void>> clients;
  for (uint32_t s = 1; s < 3; ++s) {
    clients.push_back(runtime::SpawnOn(s, [account]() -> Task<void> {
      absl::StatusOr<int64_t> b = co_await account.Ask(Get{});
      if (!b.ok()) co_return;
      account.Tell(Set{*b + 10});
    }));
  }
  for (auto& c : clients) co_await c;
  absl::StatusOr<int64_t> final_balance = co_await account.Ask(Get{});
  if (!final_balance.ok()) co_return final_balance.status();
  if (*final_balance != 120) {
    co_return absl::DataLossError(
        absl::StrCat("a deposit was lost: balance ", *final_balance));
  }
  co_return absl::OkStatus();
}

TEST(SimulateTest, FindsThePlantedRaceAndNamesTheSeed) {
  if (std::getenv("VELOQ_SEED") != nullptr) GTEST_SKIP() << "seed pinned";
  SimulationOptions o;
  o.runtime = Shards(3);
  o.seeds = 200;
  const SimulationResult r = Simulate(o, DepositTwiceConcurrently);
  ASSERT_TRUE(r.failing_seed.has_value());
  EXPECT_LE(*r.failing_seed, 200u);
  EXPECT_EQ(r.failure.code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(r.failure.message().find("a deposit was lost: balance 110"),
            std::string::npos)
      << r.failure;
  EXPECT_NE(
      r.failure.message().find("VELOQ_SEED=" + std::to_string(*r.failing_seed)),
      std::string::npos)
      << r.failure;
  // The seed replays: the same failure, every time.
  SimulationOptions replay = o;
  replay.first_seed = *r.failing_seed;
  replay.seeds = 1;
  replay.check_determinism = false;
  for (int i = 0; i < 3; ++i) {
    const SimulationResult again = Simulate(replay, DepositTwiceConcurrently);
    EXPECT_EQ(again.failing_seed, r.failing_seed);
    EXPECT_EQ(again.failure, r.failure);
  }
  // Seeds before the failing one pass; print how soon it was found.
  std::printf("planted race found at seed %llu\n",
              static_cast<unsigned long long>(*r.failing_seed));
}

// The fixed service passes every seed, and each seed is deterministic.
struct Deposit {
  int64_t amount;
};
class SafeAccount : public actors::Actor {
 public:
  int64_t Handle(Get) const { return balance_; }
  void Handle(Deposit d) { balance_ += d.amount; }

 private:
  int64_t balance_ = 100;
};

VELOQ_SIM_TEST_WITH(SimulateTest, TheFixedServicePassesEverySeed,
                    SimulationOptions().WithShards(3).WithSeeds(50)) {
  auto account = actors::Spawn<SafeAccount>();
  std::vector<runtime::RemoteJoinHandle<void>> clients;
  for (uint32_t s = 1; s < 3; ++s) {
    clients.push_back(
        runtime::SpawnOn(s, [account] { account.Tell(Deposit{10}); }));
  }
  for (auto& c : clients) co_await c;
  // The deposits come from other shards than this Ask: wait for both.
  auto both_arrived = [account]() -> Task<bool> {
    absl::StatusOr<int64_t> b = co_await account.Ask(Get{});
    co_return b.ok() && *b == 120;
  };
  CO_ASSERT_OK(co_await Eventually(both_arrived, 5s));
}

TEST(SimulateTest, VeloqSeedRunsOnlyThatSeed) {
  ::setenv("VELOQ_SEED", "1234", 1);
  std::vector<uint64_t> seeds;
  SimulationOptions o;
  o.check_determinism = false;
  SimulationResult r = Simulate(o, [&seeds]() -> Task<void> {
    seeds.push_back(runtime::Runtime::Current()->simulation()->seed());
    co_return;
  });
  ::unsetenv("VELOQ_SEED");
  EXPECT_EQ(r.runs, 1u);
  EXPECT_FALSE(r.failing_seed.has_value());
  EXPECT_EQ(seeds, std::vector<uint64_t>{1234});
}

}  // namespace
}  // namespace veloq::testing
