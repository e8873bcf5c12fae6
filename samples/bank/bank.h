#pragma once

// A small bank on actors: accounts partitioned by name across shards, one
// Branch actor per shard, and transfers between branches. It is the sample
// that docs/testing.md walks through; bank_test.cc is its test suite.
//
//   Bank bank = co_await Bank::Start();
//   Open open{"alice", 1000};
//   absl::Status opened = co_await bank.ForKey("alice").Ask(std::move(open));
//   absl::Status st = co_await Transfer(bank, "alice", "bob", 250);
//   absl::StatusOr<int64_t> total = co_await TotalMoney(bank);

#include <cstdint>
#include <functional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "actors/actor.h"
#include "actors/sharded_service.h"
#include "runtime/task.h"

namespace veloq::bank {

// Messages to a Branch; `account` must be one that ShardFor routes to it
// (Bank::ForKey(account) does).
struct Open {  // a new account with an opening balance (>= 0)
  std::string account;
  int64_t cents = 0;
};
struct Deposit {  // cents > 0
  std::string account;
  int64_t cents = 0;
};
struct Withdraw {  // cents > 0, at most the balance
  std::string account;
  int64_t cents = 0;
};
struct Balance {
  std::string account;
};
struct Total {};  // the sum of the branch's balances

// One line of the audit trail, for every change to an account.
struct Audited {
  std::string line;  // "open alice 1000", "deposit alice 500 -> 1500", ...
};
// Where a branch sends its audit lines: called on the branch's shard, in the
// turn that made the change, so an account's lines come in the order of its
// changes. Null: no audit trail.
using AuditSink = std::function<void(Audited)>;

// Branch holds the accounts of one shard. Each handler checks and applies
// its change in one turn, so a withdrawal can never overdraw an account,
// however many transfers race for it.
//
// Answers (Ask): Open, Deposit and Withdraw an absl::Status; Balance an
// absl::StatusOr<int64_t>; Total an absl::StatusOr<int64_t>. Refusals:
//  - InvalidArgument: a negative opening balance, an amount <= 0;
//  - AlreadyExists: Open of an existing account;
//  - NotFound("no account <name>"): any other message for an unknown account;
//  - FailedPrecondition("insufficient funds"): a Withdraw over the balance
//    (nothing changes).
//
// Affinity: an actor; lives on its shard, talk to it through its ActorRef.
class Branch : public actors::Actor {
 public:
  // `audit` is copied to every shard by Bank::Start(audit).
  explicit Branch(AuditSink audit = nullptr);

  absl::Status Handle(Open m);
  absl::Status Handle(Deposit m);
  absl::Status Handle(Withdraw m);
  absl::StatusOr<int64_t> Handle(Balance m) const;
  int64_t Handle(Total) const;

 protected:
  // Refusals are answers to the client, not failures of the branch: the
  // default OnFailure would log a warning for each.
  void OnFailure(const absl::Status& status) override;

 private:
  void Audit(std::string line) const;

  AuditSink audit_;
  absl::flat_hash_map<std::string, int64_t> balances_;
};

// The bank: a Branch on every shard, routed by account name (ForKey:
// actors::ShardFor, FNV-1a over the name, the same in every run).
using Bank = actors::ShardedService<Branch>;

// Moves `cents` from `from` to `to` (on the same branch or not): withdraws
// from `from` first, checked and debited in one turn of its branch, then
// deposits to `to`; if the deposit is refused (e.g. `to` does not exist) it
// refunds `from` and returns the deposit's error. Returns the withdrawal's
// error if that is refused (nothing moved).
//
// While a transfer is in flight its money is in neither account, so
// TotalMoney is exact only when no transfer is running.
// REQUIRES: on a shard of the runtime that started `bank`.
runtime::Task<absl::Status> Transfer(Bank bank, std::string from,
                                     std::string to, int64_t cents);

// The sum of every balance in every branch (asks all branches at once).
// REQUIRES: on a shard of the runtime that started `bank`.
runtime::Task<absl::StatusOr<int64_t>> TotalMoney(Bank bank);

}  // namespace veloq::bank
