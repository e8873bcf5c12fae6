#pragma once

#include <cerrno>
#include <cstdint>
#include <map>
#include <random>
#include <utility>
#include <vector>

#include "io/driver.h"

namespace veloq::testing {

// Fault injection for users' tests, on top of io::Driver::SetFaultInjector.
// Both injectors are deterministic: the same seed (or script) and the same
// sequence of ops give the same faults, so a failing run replays.

// Injects faults at random, from a seed.
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
      : rng_(seed), rates_(std::move(rates)) {}

  io::Fault OnOp(const io::OpInfo& op) override {
    using Kind = io::OpInfo::Kind;
    const bool eligible = (op.kind == Kind::kNop && rates_.nops) ||
                          (op.kind == Kind::kRead && rates_.reads) ||
                          (op.kind == Kind::kWrite && rates_.writes);
    // Draw the same number of values for every op, so one op's verdict does
    // not shift the next ones'.
    const double r = Uniform();
    const uint64_t pick = rng_();
    io::Fault f;
    if (!eligible) return f;
    if (r < rates_.fail && !rates_.errors.empty()) {
      f.action = io::Fault::Action::kFail;
      f.error = rates_.errors[pick % rates_.errors.size()];
    } else if (r < rates_.fail + rates_.shorten && op.length > 1 &&
               op.kind != Kind::kNop) {
      f.action = io::Fault::Action::kShort;
      f.max_length = 1 + pick % (op.length - 1);
    } else if (r < rates_.fail + rates_.shorten + rates_.delay) {
      f.action = io::Fault::Action::kDelay;
      f.delay = runtime::Duration(static_cast<int64_t>(
          pick % static_cast<uint64_t>(rates_.max_delay.count() + 1)));
    }
    ++injected_[f.action];
    return f;
  }

  // How many ops got each action so far.
  uint64_t count(io::Fault::Action a) const {
    auto it = injected_.find(a);
    return it == injected_.end() ? 0 : it->second;
  }

 private:
  double Uniform() {
    return static_cast<double>(rng_() >> 11) * (1.0 / 9007199254740992.0);
  }

  std::mt19937_64 rng_;
  FaultRates rates_;
  std::map<io::Fault::Action, uint64_t> injected_;
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

}  // namespace veloq::testing
