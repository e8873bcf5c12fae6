#include "samples/bank/bank.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"

namespace veloq::bank {

namespace {

absl::Status NoAccount(const std::string& account) {
  return absl::NotFoundError(absl::StrCat("no account ", account));
}

absl::Status CheckAmount(int64_t cents) {
  if (cents <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("amount must be positive, got ", cents));
  }
  return absl::OkStatus();
}

}  // namespace

Branch::Branch(AuditSink audit) : audit_(std::move(audit)) {}

absl::Status Branch::Handle(Open m) {
  if (m.cents < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("opening balance must not be negative, got ", m.cents));
  }
  auto [it, added] = balances_.try_emplace(m.account, m.cents);
  if (!added) return absl::AlreadyExistsError(m.account);
  Audit(absl::StrCat("open ", m.account, " ", m.cents));
  return absl::OkStatus();
}

absl::Status Branch::Handle(Deposit m) {
  if (absl::Status st = CheckAmount(m.cents); !st.ok()) return st;
  auto it = balances_.find(m.account);
  if (it == balances_.end()) return NoAccount(m.account);
  it->second += m.cents;
  Audit(absl::StrCat("deposit ", m.account, " ", m.cents, " -> ", it->second));
  return absl::OkStatus();
}

absl::Status Branch::Handle(Withdraw m) {
  if (absl::Status st = CheckAmount(m.cents); !st.ok()) return st;
  auto it = balances_.find(m.account);
  if (it == balances_.end()) return NoAccount(m.account);
  // The check and the debit are one turn: no other message to this branch
  // runs in between, so concurrent withdrawals cannot overdraw.
  if (it->second < m.cents) {
    return absl::FailedPreconditionError("insufficient funds");
  }
  it->second -= m.cents;
  Audit(absl::StrCat("withdraw ", m.account, " ", m.cents, " -> ", it->second));
  return absl::OkStatus();
}

absl::StatusOr<int64_t> Branch::Handle(Balance m) const {
  auto it = balances_.find(m.account);
  if (it == balances_.end()) return NoAccount(m.account);
  return it->second;
}

int64_t Branch::Handle(Total) const {
  int64_t sum = 0;
  for (const auto& [account, cents] : balances_) sum += cents;
  return sum;
}

void Branch::OnFailure(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
      return;
    default:
      Actor::OnFailure(status);
  }
}

void Branch::Audit(std::string line) const {
  if (audit_) audit_(Audited{std::move(line)});
}

runtime::Task<absl::Status> Transfer(Bank bank, std::string from,
                                     std::string to, int64_t cents) {
  Withdraw take{from, cents};
  absl::Status taken = co_await bank.ForKey(from).Ask(std::move(take));
  if (!taken.ok()) co_return taken;
  // The money is now in flight: it must land in `to`, or back in `from`.
  Deposit give{to, cents};
  absl::Status given = co_await bank.ForKey(to).Ask(std::move(give));
  if (given.ok()) co_return absl::OkStatus();
  Deposit refund{from, cents};
  absl::Status refunded = co_await bank.ForKey(from).Ask(std::move(refund));
  if (!refunded.ok()) {
    co_return absl::DataLossError(
        absl::StrCat("transfer of ", cents, " from ", from, " to ", to,
                     ": deposit refused (", given.ToString(),
                     ") and refund failed (", refunded.ToString(), ")"));
  }
  co_return given;
}

runtime::Task<absl::StatusOr<int64_t>> TotalMoney(Bank bank) {
  std::vector<absl::StatusOr<int64_t>> totals =
      co_await bank.InvokeOnAll(Total{});
  int64_t sum = 0;
  for (const absl::StatusOr<int64_t>& t : totals) {
    if (!t.ok()) co_return t.status();
    sum += *t;
  }
  co_return sum;
}

}  // namespace veloq::bank
