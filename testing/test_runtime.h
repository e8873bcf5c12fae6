#pragma once

// Running actor and runtime tests under gtest.
//
//   VELOQ_TEST(Bank, DepositThenBalance) {          // a coroutine body
//     auto bank = co_await ShardedService<Bank>::Start();
//     CO_ASSERT_OK(co_await bank.ForKey("a").Ask(Deposit{"a", 5}));
//     EXPECT_EQ(*co_await bank.ForKey("a").Ask(Balance{"a"}), 5);
//   }
//
// The body runs as the root task of a fresh runtime (2 shards by default;
// VELOQ_TEST_WITH takes options, VELOQ_TEST_F a fixture derived from
// RuntimeTest). If it has not finished by the deadline the test fails — it
// does not hang — with what every shard was doing: its live tasks and its
// actors with their mailboxes. VELOQ_SIM_TEST runs the body under
// deterministic simulation for many seeds and names the failing seed;
// VELOQ_SEED=<n> replays just that one. Guide: docs/testing.md.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "runtime/runtime.h"
#include "runtime/task.h"

namespace veloq::testing {

// Options for running a coroutine test body on a runtime.
struct TestRuntimeOptions {
  uint32_t shards = 2;
  bool virtual_clock = false;
  // Deterministic simulation with this seed (runtime::Runtime::Builder::
  // Simulation): the shards take turns in an order drawn from the seed, on
  // a virtual clock.
  std::optional<uint64_t> simulation_seed;
  // The test fails (rather than hangs) if the body has not finished by then
  // (real time): every shard's state is printed, the root task is
  // cancelled, and if it still does not finish within another `deadline`,
  // the process aborts.
  std::chrono::milliseconds deadline{std::chrono::seconds(30)};
  std::chrono::milliseconds shutdown_grace{std::chrono::seconds(2)};
  runtime::Duration stall_threshold = std::chrono::milliseconds(100);
  size_t blocking_threads = 2;
  // The shards' Parkers (I/O drivers); empty: the runtime's default.
  runtime::Runtime::ParkerFactory parkers;
  // How long an idle shard polls before it parks; empty: the runtime's
  // default (runtime::ShardOptions::idle_spin).
  std::optional<runtime::Duration> idle_spin;

  // Chainable setters: Shards(4).WithDeadline(5s).WithVirtualClock().
  TestRuntimeOptions& WithShards(uint32_t n) {
    shards = n;
    return *this;
  }
  TestRuntimeOptions& WithVirtualClock(bool on = true) {
    virtual_clock = on;
    return *this;
  }
  TestRuntimeOptions& WithDeadline(std::chrono::milliseconds d) {
    deadline = d;
    return *this;
  }
  TestRuntimeOptions& WithSimulation(uint64_t seed) {
    simulation_seed = seed;
    return *this;
  }
  TestRuntimeOptions& WithParkers(runtime::Runtime::ParkerFactory f) {
    parkers = std::move(f);
    return *this;
  }
  TestRuntimeOptions& WithIdleSpin(runtime::Duration d) {
    idle_spin = d;
    return *this;
  }
};

// Default options with `n` shards: RunOnRuntime(Shards(2), ...).
inline TestRuntimeOptions Shards(uint32_t n) {
  TestRuntimeOptions o;
  o.shards = n;
  return o;
}

// The seed a test should use: $VELOQ_SEED if set to a number, else
// `fallback`. Fault injection and simulation read it, so that one variable
// replays a failure.
uint64_t TestSeed(uint64_t fallback = 1);

// What a run looked like, for tests that check the runtime itself.
struct RunReport {
  // Simulation only: the seed, steps taken and a hash of every scheduling
  // decision (equal hashes: the same interleaving).
  uint64_t seed = 0;
  uint64_t steps = 0;
  uint64_t trace_hash = 0;
  // Simulation only: non-empty if no shard could make progress any more
  // (what every shard was doing then).
  std::string deadlock;
  bool deadline_fired = false;
};

namespace internal {

// Starts a watchdog thread for `rt` that fires at the deadline; stopped by
// destroying the returned guard.
class Watchdog {
 public:
  Watchdog(runtime::Runtime* rt, std::chrono::milliseconds deadline);
  ~Watchdog();
  Watchdog(const Watchdog&) = delete;
  Watchdog& operator=(const Watchdog&) = delete;
  bool fired() const;

 private:
  struct State;
  State* state_;
};

// What every shard of a running `rt` is doing: asks each shard for its
// runtime::Shard::Describe() (live tasks, actors and mailboxes) and waits
// up to `wait` for the answers; a shard that does not answer (stuck in a
// task that never yields) is described by its counters alone. Any thread
// but a shard's.
std::string DescribeRuntime(
    runtime::Runtime& rt,
    std::chrono::milliseconds wait = std::chrono::milliseconds(1000));

absl::StatusOr<std::unique_ptr<runtime::Runtime>> BuildRuntime(
    const TestRuntimeOptions& options);
void FillReport(const runtime::Runtime& rt, bool fired, RunReport* report);

}  // namespace internal

// Runs `body` (a callable returning runtime::Task<T>) as the root task of a
// fresh runtime built from `options`, and returns its result as
// StatusOrFor<T>. If the deadline fires, the result is DeadlineExceeded and a
// gtest failure is recorded with the runtime's state. Under simulation, a
// deadlock makes the result FailedPrecondition with the state of every
// shard. `report`, if given, receives the run's RunReport.
template <typename F>
auto RunOnRuntime(TestRuntimeOptions options, F&& body,
                  RunReport* report = nullptr)
    -> runtime::internal::StatusOrFor_t<
        typename std::invoke_result_t<F&>::value_type> {
  using R = runtime::internal::StatusOrFor_t<
      typename std::invoke_result_t<F&>::value_type>;
  auto rt = internal::BuildRuntime(options);
  if (!rt.ok()) return R(rt.status());
  R result = R(absl::UnknownError("not run"));
  bool fired = false;
  {
    internal::Watchdog watchdog(rt->get(), options.deadline);
    result = (*rt)->Run(std::forward<F>(body));
    fired = watchdog.fired();
  }
  RunReport local;
  internal::FillReport(**rt, fired, report != nullptr ? report : &local);
  if (fired) return R(absl::DeadlineExceededError("test deadline exceeded"));
  if (!(*rt)->simulation_deadlock().empty()) {
    return R(absl::FailedPreconditionError((*rt)->simulation_deadlock()));
  }
  return result;
}

// Options of a simulation run over many seeds.
struct SimulationOptions {
  TestRuntimeOptions runtime;  // simulation_seed is set per run
  uint64_t first_seed = 1;
  uint64_t seeds = 100;
  // Also run the first seed twice and fail if the two runs' traces differ
  // (a source of nondeterminism: real I/O, outside threads, the wall clock).
  bool check_determinism = true;

  SimulationOptions& WithSeeds(uint64_t n) {
    seeds = n;
    return *this;
  }
  SimulationOptions& WithShards(uint32_t n) {
    runtime.shards = n;
    return *this;
  }
};

// What Simulate found.
struct SimulationResult {
  uint64_t runs = 0;
  // The first seed whose run failed (a non-OK result, a gtest failure
  // inside the body, a deadlock, a blown deadline); empty if none did.
  std::optional<uint64_t> failing_seed;
  absl::Status failure;  // that run's result, with the seed in the message
};

// Runs `body` (a callable returning runtime::Task<void> or
// Task<absl::Status>) under simulation once per seed: first_seed,
// first_seed + 1, ... (seeds runs), or only $VELOQ_SEED when it is set. Stops
// at the first failing seed. gtest failures inside the body carry the seed
// (a SCOPED_TRACE); the caller decides whether a failing seed fails the test
// (VELOQ_SIM_TEST does; a test showing that simulation finds a planted bug
// expects it).
template <typename F>
SimulationResult Simulate(SimulationOptions options, F body);

namespace internal {

absl::Status SeedFailure(uint64_t seed, const absl::Status& status);
std::optional<uint64_t> SeedFromEnv();

template <typename F>
absl::Status RunOneSeed(const TestRuntimeOptions& base, uint64_t seed, F& body,
                        RunReport* report) {
  TestRuntimeOptions o = base;
  o.simulation_seed = seed;
  const bool failed_before = ::testing::Test::HasFailure();
  absl::Status st;
  {
    ::testing::ScopedTrace trace(
        __FILE__, __LINE__,
        absl::StrCat("simulation seed ", seed, " (replay: VELOQ_SEED=", seed,
                     ")"));
    st = RunOnRuntime(o, body, report);
  }
  if (st.ok() && !failed_before && ::testing::Test::HasFailure()) {
    st = absl::AbortedError("a gtest assertion failed inside the body");
  }
  return st;
}

}  // namespace internal

template <typename F>
SimulationResult Simulate(SimulationOptions options, F body) {
  SimulationResult result;
  uint64_t first = options.first_seed;
  uint64_t count = options.seeds;
  if (std::optional<uint64_t> env = internal::SeedFromEnv()) {
    first = *env;
    count = 1;
  }
  for (uint64_t i = 0; i < count; ++i) {
    const uint64_t seed = first + i;
    RunReport report;
    absl::Status st =
        internal::RunOneSeed(options.runtime, seed, body, &report);
    ++result.runs;
    if (st.ok() && i == 0 && options.check_determinism) {
      RunReport again;
      st = internal::RunOneSeed(options.runtime, seed, body, &again);
      ++result.runs;
      if (st.ok() && (again.trace_hash != report.trace_hash ||
                      again.steps != report.steps)) {
        st = absl::InternalError(absl::StrCat(
            "nondeterministic: two runs of the same seed took different "
            "paths (",
            report.steps, " vs ", again.steps,
            " steps); real I/O, another thread or the wall clock leaks into "
            "the test"));
      }
    }
    if (!st.ok()) {
      result.failing_seed = seed;
      result.failure = internal::SeedFailure(seed, st);
      return result;
    }
  }
  return result;
}

// A gtest fixture for runtime tests: override RuntimeOptions() to choose
// shards, deadline, drivers... for every VELOQ_TEST_F of the fixture.
class RuntimeTest : public ::testing::Test {
 public:
  virtual TestRuntimeOptions RuntimeOptions() const { return {}; }
  virtual SimulationOptions SimOptions() const {
    SimulationOptions o;
    o.runtime = RuntimeOptions();
    return o;
  }
};

namespace internal {

// Runs a VELOQ_TEST body; a failure becomes a gtest failure.
template <typename F>
void RunTestBody(const TestRuntimeOptions& options, F body) {
  absl::Status st = RunOnRuntime(options, body);
  if (!st.ok()) ADD_FAILURE() << "test body: " << st;
}

template <typename F>
void RunSimTestBody(const SimulationOptions& options, F body) {
  SimulationResult r = Simulate(options, body);
  if (r.failing_seed) ADD_FAILURE() << r.failure;
}

}  // namespace internal

}  // namespace veloq::testing

// Test macros. The body is a coroutine returning runtime::Task<void>: use
// co_await freely, EXPECT_* as usual, and CO_ASSERT_* (below) instead of
// ASSERT_* (which `return`, not allowed in a coroutine).
#define VELOQ_INTERNAL_TEST(suite, name, parent, parent_id, runner, opts) \
  class VeloqBody_##suite##_##name : public parent {                      \
   protected:                                                             \
    ::veloq::runtime::Task<void> CoBody();                                \
    void RunCoBody() {                                                    \
      runner(opts, [this] { return CoBody(); });                          \
    }                                                                     \
  };                                                                      \
  GTEST_TEST_(suite, name, VeloqBody_##suite##_##name, parent_id) {       \
    RunCoBody();                                                          \
  }                                                                       \
  ::veloq::runtime::Task<void> VeloqBody_##suite##_##name::CoBody()

// A test whose body runs on a 2-shard runtime.
#define VELOQ_TEST(suite, name)                                   \
  VELOQ_INTERNAL_TEST(suite, name, ::veloq::testing::RuntimeTest, \
                      ::testing::internal::GetTestTypeId(),       \
                      ::veloq::testing::internal::RunTestBody,    \
                      this->RuntimeOptions())

// A test with explicit options: VELOQ_TEST_WITH(S, N, Shards(4)).
#define VELOQ_TEST_WITH(suite, name, options)                     \
  VELOQ_INTERNAL_TEST(suite, name, ::veloq::testing::RuntimeTest, \
                      ::testing::internal::GetTestTypeId(),       \
                      ::veloq::testing::internal::RunTestBody,    \
                      ::veloq::testing::TestRuntimeOptions(options))

// A test of fixture `fixture` (derived from veloq::testing::RuntimeTest);
// the body sees the fixture's members; RuntimeOptions() sets the runtime.
#define VELOQ_TEST_F(fixture, name)                                      \
  VELOQ_INTERNAL_TEST(                                                   \
      fixture, name, fixture, ::testing::internal::GetTypeId<fixture>(), \
      ::veloq::testing::internal::RunTestBody, this->RuntimeOptions())

// A test whose body runs under deterministic simulation, once per seed
// (100 by default, or $VELOQ_SEED only); fails with the first failing seed.
#define VELOQ_SIM_TEST(suite, name)                               \
  VELOQ_INTERNAL_TEST(suite, name, ::veloq::testing::RuntimeTest, \
                      ::testing::internal::GetTestTypeId(),       \
                      ::veloq::testing::internal::RunSimTestBody, \
                      this->SimOptions())

// ...with explicit SimulationOptions.
#define VELOQ_SIM_TEST_WITH(suite, name, sim_options)             \
  VELOQ_INTERNAL_TEST(suite, name, ::veloq::testing::RuntimeTest, \
                      ::testing::internal::GetTestTypeId(),       \
                      ::veloq::testing::internal::RunSimTestBody, \
                      ::veloq::testing::SimulationOptions(sim_options))

// ...for a fixture derived from RuntimeTest (SimOptions() sets the runs).
#define VELOQ_SIM_TEST_F(fixture, name)                                  \
  VELOQ_INTERNAL_TEST(                                                   \
      fixture, name, fixture, ::testing::internal::GetTypeId<fixture>(), \
      ::veloq::testing::internal::RunSimTestBody, this->SimOptions())

// Assertions for coroutine bodies: on failure they record a gtest failure
// and end the body (co_return), like ASSERT_*.
#define CO_ASSERT_TRUE(cond)                               \
  do {                                                     \
    if (!(cond)) {                                         \
      ADD_FAILURE() << "CO_ASSERT_TRUE(" #cond ") failed"; \
      co_return;                                           \
    }                                                      \
  } while (0)
#define CO_ASSERT_FALSE(cond) CO_ASSERT_TRUE(!(cond))
// (Each operand is evaluated once, so it may contain co_await.)
#define CO_ASSERT_EQ(a, b)                                    \
  do {                                                        \
    const ::testing::AssertionResult veloq_ar_ =              \
        ::testing::internal::EqHelper::Compare(#a, #b, a, b); \
    if (!veloq_ar_) {                                         \
      ADD_FAILURE() << veloq_ar_.failure_message();           \
      co_return;                                              \
    }                                                         \
  } while (0)
#define CO_ASSERT_NE(a, b)                              \
  do {                                                  \
    const ::testing::AssertionResult veloq_ar_ =        \
        ::testing::internal::CmpHelperNE(#a, #b, a, b); \
    if (!veloq_ar_) {                                   \
      ADD_FAILURE() << veloq_ar_.failure_message();     \
      co_return;                                        \
    }                                                   \
  } while (0)
// `expr` is an absl::Status or absl::StatusOr<T>, evaluated once.
#define CO_ASSERT_OK(expr)                                              \
  do {                                                                  \
    const auto veloq_st_ = (expr);                                      \
    if (!::veloq::testing::internal::IsOk(veloq_st_)) {                 \
      ADD_FAILURE() << #expr " is not OK: "                             \
                    << ::veloq::testing::internal::StatusOf(veloq_st_); \
      co_return;                                                        \
    }                                                                   \
  } while (0)

namespace veloq::testing::internal {
inline bool IsOk(const absl::Status& s) { return s.ok(); }
template <typename T>
bool IsOk(const absl::StatusOr<T>& s) {
  return s.ok();
}
inline absl::Status StatusOf(const absl::Status& s) { return s; }
template <typename T>
absl::Status StatusOf(const absl::StatusOr<T>& s) {
  return s.status();
}
}  // namespace veloq::testing::internal
