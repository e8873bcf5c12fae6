#pragma once

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "io/driver.h"
#include "runtime/parker.h"
#include "runtime/runtime.h"
#include "testing/test_runtime.h"

namespace veloq::testing {

// Fault injection for users' tests, on top of io::Driver::SetFaultInjector:
// make connects fail, reads short, disks full, deterministically per seed.
//
//   FaultPlan plan;
//   plan.short_read = 0.5;
//   plan.disk_capacity = 1 << 20;
//   FaultyOptions f = WithFaults(Options(), plan, TestSeed());
//   RunOnRuntime(f.options, ...);
//   EXPECT_GT(f.faults->total().reads_shortened, 0u);
//
// Every injector here is deterministic: the same seed (or script) and the
// same sequence of ops give the same faults, so a failing run replays (with
// VELOQ_SEED=<seed>: see TestSeed in testing/test_runtime.h).

// What to do to a driver's ops, and how often. Each probability (0 to 1)
// applies to the kinds of op named with it; the faults that apply to one op
// are stacked in the order of the fields below (one random draw decides),
// so if they add up to more than 1 the later ones get what is left.
//
// Reads are kRead, kReadSelect, kRecv, kRecvMsg (and kReadv); writes kWrite,
// kSend, kSendZc, kSendMsg (and kWritev); socket data ops kRecv, kRecvMsg,
// kSend, kSendZc, kSendMsg; file writes kWrite, kWritev and kFallocate on a
// regular file or block device (fstat(2) of OpInfo::fd). Vectored ops
// (kReadv, kWritev) are never shortened: io::Driver applies
// Fault::max_length to single-buffer ops only. Multishot ops (kAcceptMulti,
// kRecvMulti) never reach an injector: the driver starts them directly.
struct FaultPlan {
  // Any op the plan applies to: fails with one of `errors`, picked at
  // random.
  double fail = 0;
  std::vector<int> errors = {EAGAIN, ECONNRESET, ENOSPC, EINTR};
  // kConnect fails with `connect_error`.
  double connect_fail = 0;
  int connect_error = ECONNREFUSED;
  // kAccept (and kAcceptMulti) fails with ECONNABORTED.
  double accept_fail = 0;
  // Socket data ops fail with ECONNRESET.
  double reset = 0;
  // File writes fail with ENOSPC.
  double disk_full = 0;
  // Reads / writes of more than 1 byte (not vectored) are cut to
  // 1..length-1 bytes.
  double short_read = 0;
  double short_write = 0;
  // Any op the plan applies to starts up to `max_delay` late.
  double delay = 0;
  runtime::Duration max_delay = std::chrono::milliseconds(5);

  // The disk fills up: file writes succeed until this many bytes in total
  // were asked for, and a write that would cross the limit is cut to what
  // is left (like a real full disk). Once nothing is left, every file write
  // fails with ENOSPC; so does a vectored write that does not fit (it
  // cannot be cut), which fills the disk. (kFallocate: OpInfo carries no
  // length for it, so it takes no room, and fails only once the disk is
  // full.) Decided before the random faults above, and without a draw.
  std::optional<uint64_t> disk_capacity;

  // The ops the plan may touch at all; empty: every op except no-ops
  // (kNop), timers (kTimeout) and closes (kClose: failing one would leak
  // its fd).
  std::function<bool(const io::OpInfo&)> applies_to;
};

// What a PlannedFaults injected, by cause.
struct FaultCounts {
  uint64_t failed = 0;  // FaultPlan::fail
  uint64_t connects_failed = 0;
  uint64_t accepts_failed = 0;
  uint64_t resets = 0;
  uint64_t disk_full = 0;  // file writes failed with ENOSPC (either cause)
  uint64_t disk_writes_cut = 0;  // file writes cut to fit disk_capacity
  uint64_t reads_shortened = 0;
  uint64_t writes_shortened = 0;  // FaultPlan::short_write
  uint64_t delayed = 0;

  FaultCounts& operator+=(const FaultCounts& o) {
    failed += o.failed;
    connects_failed += o.connects_failed;
    accepts_failed += o.accepts_failed;
    resets += o.resets;
    disk_full += o.disk_full;
    disk_writes_cut += o.disk_writes_cut;
    reads_shortened += o.reads_shortened;
    writes_shortened += o.writes_shortened;
    delayed += o.delayed;
    return *this;
  }
};

// PlannedFaults injects the faults of a FaultPlan at random, from a seed.
// It draws the same number of random values for every op, whatever the
// verdict, so one op's verdict does not shift the next ones'.
//
// Thread safety: thread-compatible; installed on one driver, it is
// shard-local (the driver calls OnOp on its shard).
class PlannedFaults final : public io::FaultInjector {
 public:
  PlannedFaults(uint64_t seed, FaultPlan plan)
      : seed_(seed), rng_(seed), plan_(std::move(plan)) {}

  io::Fault OnOp(const io::OpInfo& op) override;

  uint64_t seed() const { return seed_; }
  const FaultCounts& counts() const { return counts_; }
  // How many ops got each action so far (kNone: ops the plan applied to
  // and left alone).
  uint64_t injected(io::Fault::Action a) const {
    return injected_[static_cast<size_t>(a)];
  }
  // Bytes of file writes let through so far (counted when disk_capacity is
  // set).
  uint64_t disk_used() const { return disk_used_; }

 private:
  // Why an op got its fault (what counts_ counts).
  enum class Cause : uint8_t {
    kNone,
    kFail,
    kConnect,
    kAccept,
    kReset,
    kDiskFull,
    kDiskCut,
    kShortRead,
    kShortWrite,
    kDelay,
  };
  struct Verdict {
    Cause cause = Cause::kNone;
    io::Fault fault;
  };

  double Uniform() {
    return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
  }
  // The random verdict for `op` (r: uniform in [0, 1), pick: for choices).
  Verdict Draw(const io::OpInfo& op, double r, uint64_t pick,
               bool file_write) const;
  // Applies disk_capacity to a file write's verdict.
  Verdict Fill(const io::OpInfo& op, Verdict v);
  void Count(Cause cause);

  static bool IsRead(io::OpInfo::Kind k);
  static bool IsWrite(io::OpInfo::Kind k);
  static bool IsSocketData(io::OpInfo::Kind k);
  static bool IsFile(int fd);

  const uint64_t seed_;
  std::mt19937_64 rng_;
  FaultPlan plan_;
  FaultCounts counts_;
  std::array<uint64_t, 4> injected_{};
  uint64_t disk_used_ = 0;
};

// Injects faults at random, from a seed, into reads (kRead), writes
// (kWrite) and, if asked, no-ops: a PlannedFaults restricted to those.
struct FaultRates {
  double fail = 0;  // probability an op fails with one of `errors`
  std::vector<int> errors = {EAGAIN, ECONNRESET, ENOSPC, EINTR};
  double shorten = 0;  // probability a read/write is cut short
  double delay = 0;    // probability an op starts late
  runtime::Duration max_delay = std::chrono::milliseconds(5);
  // Which ops are eligible (default: reads and writes).
  bool nops = false;
  bool reads = true;
  bool writes = true;
};

class SeededFaults final : public io::FaultInjector {
 public:
  SeededFaults(uint64_t seed, FaultRates rates)
      : planned_(seed, PlanOf(std::move(rates))) {}

  io::Fault OnOp(const io::OpInfo& op) override { return planned_.OnOp(op); }

  // How many ops got each action so far.
  uint64_t count(io::Fault::Action a) const { return planned_.injected(a); }

 private:
  static FaultPlan PlanOf(FaultRates rates) {
    using Kind = io::OpInfo::Kind;
    FaultPlan plan;
    plan.fail = rates.fail;
    plan.errors = std::move(rates.errors);
    plan.short_read = rates.shorten;
    plan.short_write = rates.shorten;
    plan.delay = rates.delay;
    plan.max_delay = rates.max_delay;
    plan.applies_to = [nops = rates.nops, reads = rates.reads,
                       writes = rates.writes](const io::OpInfo& op) {
      return (op.kind == Kind::kNop && nops) ||
             (op.kind == Kind::kRead && reads) ||
             (op.kind == Kind::kWrite && writes);
    };
    return plan;
  }

  PlannedFaults planned_;
};

// Injects exactly the faults it is given, by op sequence number: the
// number of ops the driver started before this one, over the driver's life
// (io::OpInfo::sequence).
class ScriptedFaults final : public io::FaultInjector {
 public:
  ScriptedFaults& At(uint64_t sequence, io::Fault f) {
    script_[sequence] = f;
    return *this;
  }
  io::Fault OnOp(const io::OpInfo& op) override {
    auto it = script_.find(op.sequence);
    return it == script_.end() ? io::Fault{} : it->second;
  }

 private:
  std::map<uint64_t, io::Fault> script_;
};

// --- A fault plan for every shard of a test runtime. ---

class RuntimeFaults;

// Test runtime options whose drivers inject faults, and the injectors.
struct FaultyOptions {
  TestRuntimeOptions options;
  std::shared_ptr<RuntimeFaults> faults;
};

// Installs `plan` on every shard's driver of a runtime built from
// `options`: each driver gets its own PlannedFaults, seeded from `seed` and
// its shard id (ShardSeed), made on the shard's thread with the driver.
// The drivers come from options.parkers (whatever backend it chose), or
// io::DriverParkers() if it is empty. Building the runtime fails with
// FailedPrecondition if a shard's Parker is not an io::Driver.
//
// Ownership: the injectors belong to the returned `faults` (shared with
// the options' parker factory, which the Runtime keeps until its drivers
// are gone). Building a second runtime from the same options gives it
// fresh injectors, started again from the same seeds.
inline FaultyOptions WithFaults(TestRuntimeOptions options, FaultPlan plan,
                                uint64_t seed);

// The seed of shard `shard`'s injector under WithFaults(..., seed).
inline uint64_t ShardSeed(uint64_t seed, uint32_t shard) {
  return seed ^ (0x9E3779B97F4A7C15ull * (uint64_t{shard} + 1));
}

// The injectors WithFaults installed, one per shard driver.
//
// Thread safety: shard() and total() are thread-safe, but each injector's
// counters are shard-local while its runtime runs: read them on that shard
// (inside the test body), or once RunOnRuntime has returned.
class RuntimeFaults {
 public:
  // The injector of shard `shard` (of the latest runtime built from the
  // options), or null if that shard has not started.
  const PlannedFaults* shard(uint32_t shard) const {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto it = injectors_.rbegin(); it != injectors_.rend(); ++it) {
      if (it->first == shard) return it->second.get();
    }
    return nullptr;
  }
  // The counts of every injector, added up. REQUIRES: the runtimes have
  // finished.
  FaultCounts total() const {
    std::lock_guard<std::mutex> lock(mu_);
    FaultCounts sum;
    for (const auto& [id, faults] : injectors_) sum += faults->counts();
    return sum;
  }

 private:
  friend FaultyOptions WithFaults(TestRuntimeOptions, FaultPlan, uint64_t);

  PlannedFaults* Add(uint32_t shard, uint64_t seed, const FaultPlan& plan) {
    auto faults = std::make_unique<PlannedFaults>(seed, plan);
    PlannedFaults* p = faults.get();
    std::lock_guard<std::mutex> lock(mu_);
    injectors_.emplace_back(shard, std::move(faults));
    return p;
  }

  // (A std::mutex: TSan does not see the system Abseil's Mutex.)
  mutable std::mutex mu_;
  // Guarded by mu_.
  std::vector<std::pair<uint32_t, std::unique_ptr<PlannedFaults>>> injectors_;
};

inline FaultyOptions WithFaults(TestRuntimeOptions options, FaultPlan plan,
                                uint64_t seed) {
  runtime::Runtime::ParkerFactory drivers =
      options.parkers ? std::move(options.parkers) : io::DriverParkers();
  auto faults = std::make_shared<RuntimeFaults>();
  options.parkers =
      [drivers = std::move(drivers), faults, plan = std::move(plan), seed](
          uint32_t shard) -> absl::StatusOr<std::unique_ptr<runtime::Parker>> {
    absl::StatusOr<std::unique_ptr<runtime::Parker>> parker = drivers(shard);
    if (!parker.ok()) return parker;
    auto* driver = dynamic_cast<io::Driver*>(parker->get());
    if (driver == nullptr) {
      return absl::FailedPreconditionError(
          "WithFaults: the shards' parkers are not io::Drivers (use "
          "io::DriverParkers)");
    }
    driver->SetFaultInjector(faults->Add(shard, ShardSeed(seed, shard), plan));
    return parker;
  };
  return FaultyOptions{std::move(options), std::move(faults)};
}

// --- PlannedFaults, out of line. ---

inline io::Fault PlannedFaults::OnOp(const io::OpInfo& op) {
  using Kind = io::OpInfo::Kind;
  // Drawn for every op, whatever happens next (see the class comment).
  const double r = Uniform();
  const uint64_t pick = rng_();
  const bool applies = plan_.applies_to ? plan_.applies_to(op)
                                        : op.kind != Kind::kNop &&
                                              op.kind != Kind::kTimeout &&
                                              op.kind != Kind::kClose;
  if (!applies) return io::Fault{};
  const bool file_write =
      (op.kind == Kind::kWrite || op.kind == Kind::kWritev ||
       op.kind == Kind::kFallocate) &&
      (plan_.disk_full > 0 || plan_.disk_capacity.has_value()) && IsFile(op.fd);
  Verdict v = Draw(op, r, pick, file_write);
  if (file_write && plan_.disk_capacity.has_value()) v = Fill(op, v);
  Count(v.cause);
  ++injected_[static_cast<size_t>(v.fault.action)];
  return v.fault;
}

inline PlannedFaults::Verdict PlannedFaults::Draw(const io::OpInfo& op,
                                                  double r, uint64_t pick,
                                                  bool file_write) const {
  using Action = io::Fault::Action;
  using Kind = io::OpInfo::Kind;
  const bool vectored = op.kind == Kind::kReadv || op.kind == Kind::kWritev;
  const bool can_cut = op.length > 1 && !vectored;
  const bool accept = op.kind == Kind::kAccept || op.kind == Kind::kAcceptMulti;
  struct Band {
    Cause cause;
    double p;   // 0 where it does not apply to this op
    int error;  // for the failures
  };
  // The faults that apply to this op, in FaultPlan's order.
  const Band bands[] = {
      {Cause::kFail, plan_.errors.empty() ? 0 : plan_.fail,
       plan_.errors.empty() ? 0 : plan_.errors[pick % plan_.errors.size()]},
      {Cause::kConnect, op.kind == Kind::kConnect ? plan_.connect_fail : 0,
       plan_.connect_error},
      {Cause::kAccept, accept ? plan_.accept_fail : 0, ECONNABORTED},
      {Cause::kReset, IsSocketData(op.kind) ? plan_.reset : 0, ECONNRESET},
      {Cause::kDiskFull, file_write ? plan_.disk_full : 0, ENOSPC},
      {Cause::kShortRead, IsRead(op.kind) && can_cut ? plan_.short_read : 0, 0},
      {Cause::kShortWrite, IsWrite(op.kind) && can_cut ? plan_.short_write : 0,
       0},
      {Cause::kDelay, plan_.delay, 0},
  };
  double edge = 0;
  for (const Band& b : bands) {
    edge += b.p;
    if (b.p <= 0 || r >= edge) continue;
    Verdict v;
    v.cause = b.cause;
    if (b.cause == Cause::kShortRead || b.cause == Cause::kShortWrite) {
      v.fault.action = Action::kShort;
      v.fault.max_length = 1 + pick % (op.length - 1);
    } else if (b.cause == Cause::kDelay) {
      v.fault.action = Action::kDelay;
      v.fault.delay = runtime::Duration(static_cast<int64_t>(
          pick % static_cast<uint64_t>(plan_.max_delay.count() + 1)));
    } else {
      v.fault.action = Action::kFail;
      v.fault.error = b.error;
    }
    return v;
  }
  return Verdict{};
}

inline PlannedFaults::Verdict PlannedFaults::Fill(const io::OpInfo& op,
                                                  Verdict v) {
  using Action = io::Fault::Action;
  using Kind = io::OpInfo::Kind;
  if (v.fault.action == Action::kFail) return v;  // writes nothing
  const uint64_t left = *plan_.disk_capacity - disk_used_;
  const uint64_t want = v.fault.action == Action::kShort
                            ? v.fault.max_length
                            : static_cast<uint64_t>(op.length);
  Verdict full;
  full.cause = Cause::kDiskFull;
  full.fault.action = Action::kFail;
  full.fault.error = ENOSPC;
  if (left == 0) return full;
  if (want <= left) {
    disk_used_ += want;
    return v;
  }
  disk_used_ = *plan_.disk_capacity;
  if (op.kind == Kind::kWritev) return full;  // cannot be cut
  Verdict cut;
  cut.cause = Cause::kDiskCut;
  cut.fault.action = Action::kShort;
  cut.fault.max_length = static_cast<size_t>(left);
  return cut;
}

inline void PlannedFaults::Count(Cause cause) {
  // Indexed by Cause.
  static constexpr uint64_t FaultCounts::*kCounter[] = {
      nullptr,
      &FaultCounts::failed,
      &FaultCounts::connects_failed,
      &FaultCounts::accepts_failed,
      &FaultCounts::resets,
      &FaultCounts::disk_full,
      &FaultCounts::disk_writes_cut,
      &FaultCounts::reads_shortened,
      &FaultCounts::writes_shortened,
      &FaultCounts::delayed,
  };
  if (uint64_t FaultCounts::*c = kCounter[static_cast<size_t>(cause)]) {
    ++(counts_.*c);
  }
}

inline bool PlannedFaults::IsRead(io::OpInfo::Kind k) {
  using Kind = io::OpInfo::Kind;
  return k == Kind::kRead || k == Kind::kReadSelect || k == Kind::kRecv ||
         k == Kind::kRecvMsg || k == Kind::kReadv;
}

inline bool PlannedFaults::IsWrite(io::OpInfo::Kind k) {
  using Kind = io::OpInfo::Kind;
  return k == Kind::kWrite || k == Kind::kSend || k == Kind::kSendZc ||
         k == Kind::kSendMsg || k == Kind::kWritev;
}

inline bool PlannedFaults::IsSocketData(io::OpInfo::Kind k) {
  using Kind = io::OpInfo::Kind;
  return k == Kind::kRecv || k == Kind::kRecvMsg || k == Kind::kSend ||
         k == Kind::kSendZc || k == Kind::kSendMsg;
}

inline bool PlannedFaults::IsFile(int fd) {
  struct stat st;
  return fd >= 0 && ::fstat(fd, &st) == 0 &&
         (S_ISREG(st.st_mode) || S_ISBLK(st.st_mode));
}

}  // namespace veloq::testing
