#include "samples/kv/commands.h"

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iterator>
#include <optional>
#include <type_traits>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace veloq::kv {
namespace {

using Args = absl::Span<const absl::string_view>;

[[noreturn]] void Die(const char* why) {
  std::fprintf(stderr, "veloq::kv: %s\n", why);
  std::abort();
}

// RESP2 encoding, kept internal: the protocol module owns the public one.

// Appends `type`, the decimal n and CRLF (":42\r\n", "$5\r\n", "*3\r\n").
void AppendPrefixed(std::string* reply, char type, int64_t n) {
  char buf[24];  // type, at most 20 digits and sign, CRLF
  buf[0] = type;
  char* end = std::to_chars(buf + 1, buf + 21, n).ptr;
  end[0] = '\r';
  end[1] = '\n';
  reply->append(buf, static_cast<size_t>(end + 2 - buf));
}

void AppendInteger(std::string* reply, int64_t n) {
  AppendPrefixed(reply, ':', n);
}

void AppendArrayHeader(std::string* reply, size_t n) {
  AppendPrefixed(reply, '*', static_cast<int64_t>(n));
}

void AppendBulk(std::string* reply, absl::string_view value) {
  AppendPrefixed(reply, '$', static_cast<int64_t>(value.size()));
  reply->append(value.data(), value.size());
  reply->append("\r\n");
}

void AppendNull(std::string* reply) { reply->append("$-1\r\n"); }

void AppendOk(std::string* reply) { reply->append("+OK\r\n"); }

void AppendBulkOrNull(std::string* reply,
                      const std::optional<absl::string_view>& value) {
  if (value.has_value()) {
    AppendBulk(reply, *value);
  } else {
    AppendNull(reply);
  }
}

void AppendBulkOrNull(std::string* reply,
                      const std::optional<std::string>& value) {
  if (value.has_value()) {
    AppendBulk(reply, *value);
  } else {
    AppendNull(reply);
  }
}

// REQUIRES: `message` has no CR or LF (see AppendSanitizedError).
void AppendError(std::string* reply, absl::string_view message) {
  absl::StrAppend(reply, "-", message, "\r\n");
}

// For messages that quote client input: CR and LF become spaces, as Redis
// does, so that the error stays one protocol line.
void AppendSanitizedError(std::string* reply, std::string message) {
  for (char& c : message) {
    if (c == '\r' || c == '\n') c = ' ';
  }
  AppendError(reply, message);
}

constexpr absl::string_view kSyntaxError = "ERR syntax error";
constexpr absl::string_view kNotIntegerError =
    "ERR value is not an integer or out of range";

void AppendArityError(std::string* reply, absl::string_view name) {
  absl::StrAppend(reply, "-ERR wrong number of arguments for '", name,
                  "' command\r\n");
}

void AppendInvalidExpireError(std::string* reply, absl::string_view name) {
  absl::StrAppend(reply, "-ERR invalid expire time in '", name,
                  "' command\r\n");
}

// Redis 7's text, including its 128-character limits and trailing space.
void AppendUnknownCommandError(std::string* reply, Args args) {
  std::string message =
      absl::StrCat("ERR unknown command '", args[0].substr(0, 128),
                   "', with args beginning with: ");
  size_t quoted = 0;
  for (size_t i = 1; i < args.size() && quoted < 128; ++i) {
    const absl::string_view arg = args[i].substr(0, 128 - quoted);
    absl::StrAppend(&message, "'", arg, "' ");
    quoted += arg.size() + 3;
  }
  AppendSanitizedError(reply, std::move(message));
}

bool ArityOk(const CommandSpec& spec, size_t argc) {
  const int64_t n = static_cast<int64_t>(argc);
  return spec.arity >= 0 ? n == spec.arity : n >= -spec.arity;
}

// Expire arguments.

enum class Unit { kSeconds, kMilliseconds };

// Redis 7's conversion of an expire argument to an absolute deadline in ms.
// `base_ms` is now for the relative forms (EX, PX, EXPIRE, PEXPIRE) and 0
// for the absolute ones (EXAT, PXAT, EXPIREAT, PEXPIREAT). SET's family
// (`positive`) refuses times <= 0; EXPIRE's takes any, a past one deleting
// the key. On failure appends the error and returns false.
bool ParseDeadline(absl::string_view arg, Unit unit, int64_t base_ms,
                   bool positive, absl::string_view name, int64_t* deadline_ms,
                   std::string* reply) {
  int64_t v = 0;
  if (!ParseInt64(arg, &v)) {
    AppendError(reply, kNotIntegerError);
    return false;
  }
  bool ok = !positive || v > 0;
  if (ok && unit == Unit::kSeconds) ok = !__builtin_mul_overflow(v, 1000, &v);
  if (ok) ok = !__builtin_add_overflow(v, base_ms, &v);
  if (ok && positive) ok = v > 0;
  if (!ok) {
    AppendInvalidExpireError(reply, name);
    return false;
  }
  *deadline_ms = v;
  return true;
}

// SET's options after the value, as Redis 7 parses them (a repeated option
// is accepted; conflicting ones are a syntax error), with the deadline made
// absolute. On failure appends the error and returns false.
bool ParseSetOptions(Args args, int64_t now_ms, SetOptions* options,
                     std::string* reply) {
  enum : unsigned {
    kNx = 1,
    kXx = 2,
    kGet = 4,
    kKeepTtl = 8,
    kEx = 16,
    kPx = 32,
    kExAt = 64,
    kPxAt = 128,
  };
  constexpr unsigned kAnyExpire = kEx | kPx | kExAt | kPxAt;
  unsigned flags = 0;
  absl::string_view expire_arg;
  for (size_t j = 3; j < args.size(); ++j) {
    const absl::string_view opt = args[j];
    unsigned expire_flag = 0;
    if (absl::EqualsIgnoreCase(opt, "ex")) expire_flag = kEx;
    if (absl::EqualsIgnoreCase(opt, "px")) expire_flag = kPx;
    if (absl::EqualsIgnoreCase(opt, "exat")) expire_flag = kExAt;
    if (absl::EqualsIgnoreCase(opt, "pxat")) expire_flag = kPxAt;
    if (absl::EqualsIgnoreCase(opt, "nx") && !(flags & kXx)) {
      flags |= kNx;
    } else if (absl::EqualsIgnoreCase(opt, "xx") && !(flags & kNx)) {
      flags |= kXx;
    } else if (absl::EqualsIgnoreCase(opt, "get")) {
      flags |= kGet;
    } else if (absl::EqualsIgnoreCase(opt, "keepttl") &&
               !(flags & kAnyExpire)) {
      flags |= kKeepTtl;
    } else if (expire_flag != 0 && j + 1 < args.size() &&
               !(flags & (kKeepTtl | (kAnyExpire & ~expire_flag)))) {
      flags |= expire_flag;
      expire_arg = args[++j];
    } else {
      AppendError(reply, kSyntaxError);
      return false;
    }
  }
  if (flags & kAnyExpire) {
    const Unit unit =
        (flags & (kEx | kExAt)) ? Unit::kSeconds : Unit::kMilliseconds;
    const int64_t base_ms = (flags & (kEx | kPx)) ? now_ms : 0;
    int64_t deadline_ms = 0;
    if (!ParseDeadline(expire_arg, unit, base_ms, /*positive=*/true, "set",
                       &deadline_ms, reply)) {
      return false;
    }
    options->expire_at_ms = deadline_ms;
  }
  options->condition = (flags & kNx)   ? SetCondition::kIfAbsent
                       : (flags & kXx) ? SetCondition::kIfPresent
                                       : SetCondition::kAlways;
  options->get = (flags & kGet) != 0;
  options->keep_ttl = (flags & kKeepTtl) != 0;
  return true;
}

// EXPIRE's options (args[3..]) as Redis 7 parses them. On failure appends
// the error and returns false.
bool ParseExpireCondition(Args args, ExpireCondition* condition,
                          std::string* reply) {
  for (size_t j = 3; j < args.size(); ++j) {
    if (absl::EqualsIgnoreCase(args[j], "nx")) {
      condition->nx = true;
    } else if (absl::EqualsIgnoreCase(args[j], "xx")) {
      condition->xx = true;
    } else if (absl::EqualsIgnoreCase(args[j], "gt")) {
      condition->gt = true;
    } else if (absl::EqualsIgnoreCase(args[j], "lt")) {
      condition->lt = true;
    } else {
      AppendSanitizedError(reply,
                           absl::StrCat("ERR Unsupported option ", args[j]));
      return false;
    }
  }
  if (condition->nx && (condition->xx || condition->gt || condition->lt)) {
    AppendError(reply,
                "ERR NX and XX, GT or LT options at the same time are not "
                "compatible");
    return false;
  }
  if (condition->gt && condition->lt) {
    AppendError(reply,
                "ERR GT and LT options at the same time are not compatible");
    return false;
  }
  return true;
}

// EXPIRE, PEXPIRE, EXPIREAT, PEXPIREAT: options first, then the time, as in
// Redis (so an unknown option is reported before a bad time).
template <Unit kUnit, bool kRelative>
bool ParseExpire(const CommandSpec& spec, Args args, int64_t now_ms,
                 int64_t* deadline_ms, ExpireCondition* condition,
                 std::string* reply) {
  return ParseExpireCondition(args, condition, reply) &&
         ParseDeadline(args[2], kUnit, kRelative ? now_ms : 0,
                       /*positive=*/false, spec.name, deadline_ms, reply);
}

// SETEX key seconds value, PSETEX key ms value.
template <Unit kUnit>
bool ParseSetEx(const CommandSpec& spec, Args args, int64_t now_ms,
                SetOptions* options, std::string* reply) {
  int64_t deadline_ms = 0;
  if (!ParseDeadline(args[2], kUnit, now_ms, /*positive=*/true, spec.name,
                     &deadline_ms, reply)) {
    return false;
  }
  options->expire_at_ms = deadline_ms;
  return true;
}

// Command handlers. Called after the arity check.

using Handler = void (*)(const CommandSpec& spec, Store& store, Args args,
                         int64_t now_ms, std::string* reply);

void GetCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                std::string* reply) {
  AppendBulkOrNull(reply, store.Get(args[1], now_ms));
}

void SetCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                std::string* reply) {
  SetOptions options;
  if (!ParseSetOptions(args, now_ms, &options, reply)) return;
  const SetResult result = store.Set(args[1], args[2], options, now_ms);
  if (options.get) {
    AppendBulkOrNull(reply, result.old_value);
  } else if (result.written) {
    AppendOk(reply);
  } else {
    AppendNull(reply);
  }
}

void SetNxCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                  std::string* reply) {
  SetOptions options;
  options.condition = SetCondition::kIfAbsent;
  AppendInteger(reply, store.Set(args[1], args[2], options, now_ms).written);
}

template <Unit kUnit>
void SetExCommand(const CommandSpec& spec, Store& store, Args args,
                  int64_t now_ms, std::string* reply) {
  SetOptions options;
  if (!ParseSetEx<kUnit>(spec, args, now_ms, &options, reply)) return;
  store.Set(args[1], args[3], options, now_ms);
  AppendOk(reply);
}

void GetSetCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  SetOptions options;
  options.get = true;
  AppendBulkOrNull(reply,
                   store.Set(args[1], args[2], options, now_ms).old_value);
}

void GetDelCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  AppendBulkOrNull(reply, store.GetDel(args[1], now_ms));
}

void AppendCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  AppendInteger(reply,
                static_cast<int64_t>(store.Append(args[1], args[2], now_ms)));
}

void StrlenCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  AppendInteger(reply, static_cast<int64_t>(store.Strlen(args[1], now_ms)));
}

void IncrByReply(Store& store, absl::string_view key, int64_t delta,
                 int64_t now_ms, std::string* reply) {
  const absl::StatusOr<int64_t> value = store.IncrBy(key, delta, now_ms);
  if (value.ok()) {
    AppendInteger(reply, *value);
  } else {
    // The Store's messages are Redis's texts without the "ERR " prefix.
    absl::StrAppend(reply, "-ERR ", value.status().message(), "\r\n");
  }
}

template <int64_t kDelta>
void IncrCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                 std::string* reply) {
  IncrByReply(store, args[1], kDelta, now_ms, reply);
}

void IncrByCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  int64_t delta = 0;
  if (!ParseInt64(args[2], &delta)) {
    AppendError(reply, kNotIntegerError);
    return;
  }
  IncrByReply(store, args[1], delta, now_ms, reply);
}

void DecrByCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  int64_t delta = 0;
  if (!ParseInt64(args[2], &delta)) {
    AppendError(reply, kNotIntegerError);
    return;
  }
  if (delta == std::numeric_limits<int64_t>::min()) {
    AppendError(reply, "ERR decrement would overflow");  // -delta would
    return;
  }
  IncrByReply(store, args[1], -delta, now_ms, reply);
}

template <Unit kUnit, bool kRelative>
void ExpireCommand(const CommandSpec& spec, Store& store, Args args,
                   int64_t now_ms, std::string* reply) {
  int64_t deadline_ms = 0;
  ExpireCondition condition;
  if (!ParseExpire<kUnit, kRelative>(spec, args, now_ms, &deadline_ms,
                                     &condition, reply)) {
    return;
  }
  AppendInteger(reply, store.ExpireAt(args[1], deadline_ms, condition, now_ms));
}

template <Unit kUnit>
void TtlCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                std::string* reply) {
  const int64_t ms = store.Pttl(args[1], now_ms);
  // Redis rounds seconds to the nearest.
  AppendInteger(
      reply, ms < 0 || kUnit == Unit::kMilliseconds ? ms : (ms + 500) / 1000);
}

void PersistCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                    std::string* reply) {
  AppendInteger(reply, store.Persist(args[1], now_ms));
}

void MGetCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                 std::string* reply) {
  AppendArrayHeader(reply, args.size() - 1);
  for (size_t i = 1; i < args.size(); ++i) {
    AppendBulkOrNull(reply, store.Get(args[i], now_ms));
  }
}

void MSetCommand(const CommandSpec& spec, Store& store, Args args,
                 int64_t now_ms, std::string* reply) {
  if (args.size() % 2 == 0) {
    AppendArityError(reply, spec.name);
    return;
  }
  const SetOptions options;
  for (size_t i = 1; i < args.size(); i += 2) {
    store.Set(args[i], args[i + 1], options, now_ms);
  }
  AppendOk(reply);
}

// DEL and UNLINK (Veloq frees memory at once either way).
void DelCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                std::string* reply) {
  int64_t removed = 0;
  for (size_t i = 1; i < args.size(); ++i)
    removed += store.Del(args[i], now_ms);
  AppendInteger(reply, removed);
}

void ExistsCommand(const CommandSpec&, Store& store, Args args, int64_t now_ms,
                   std::string* reply) {
  int64_t found = 0;
  for (size_t i = 1; i < args.size(); ++i) {
    found += store.Exists(args[i], now_ms);
  }
  AppendInteger(reply, found);
}

void DbSizeCommand(const CommandSpec&, Store& store, Args, int64_t now_ms,
                   std::string* reply) {
  AppendInteger(reply, static_cast<int64_t>(store.Size(now_ms)));
}

// FLUSHALL and FLUSHDB [ASYNC|SYNC]; both flush synchronously.
void FlushCommand(const CommandSpec&, Store& store, Args args, int64_t,
                  std::string* reply) {
  if (args.size() > 2 ||
      (args.size() == 2 && !absl::EqualsIgnoreCase(args[1], "sync") &&
       !absl::EqualsIgnoreCase(args[1], "async"))) {
    AppendError(reply, kSyntaxError);
    return;
  }
  store.Flush();
  AppendOk(reply);
}

// Log rewriters: fill *out with the replay-safe form and return true, or
// return false to have the command logged unchanged.

using Rewriter = bool (*)(const CommandSpec& spec, Args args, int64_t now_ms,
                          std::vector<std::string>* out);

void AddSet(absl::string_view key, absl::string_view value,
            const SetOptions& options, std::vector<std::string>* out) {
  out->emplace_back("SET");
  out->emplace_back(key);
  out->emplace_back(value);
  if (options.condition == SetCondition::kIfAbsent) out->emplace_back("NX");
  if (options.condition == SetCondition::kIfPresent) out->emplace_back("XX");
  if (options.get) out->emplace_back("GET");
  out->emplace_back("PXAT");
  out->push_back(absl::StrCat(*options.expire_at_ms));
}

bool RewriteSet(const CommandSpec&, Args args, int64_t now_ms,
                std::vector<std::string>* out) {
  SetOptions options;
  std::string error;  // a failing command is logged unchanged
  if (!ParseSetOptions(args, now_ms, &options, &error) ||
      !options.expire_at_ms.has_value()) {
    return false;
  }
  if (*options.expire_at_ms > now_ms) AddSet(args[1], args[2], options, out);
  return true;
}

template <Unit kUnit>
bool RewriteSetEx(const CommandSpec& spec, Args args, int64_t now_ms,
                  std::vector<std::string>* out) {
  SetOptions options;
  std::string error;
  if (!ParseSetEx<kUnit>(spec, args, now_ms, &options, &error)) return false;
  // Relative and positive: the deadline is always in the future.
  AddSet(args[1], args[3], options, out);
  return true;
}

template <Unit kUnit, bool kRelative>
bool RewriteExpire(const CommandSpec& spec, Args args, int64_t now_ms,
                   std::vector<std::string>* out) {
  int64_t deadline_ms = 0;
  ExpireCondition condition;
  std::string error;
  if (!ParseExpire<kUnit, kRelative>(spec, args, now_ms, &deadline_ms,
                                     &condition, &error)) {
    return false;
  }
  if (deadline_ms <= now_ms) return true;
  out->emplace_back("PEXPIREAT");
  out->emplace_back(args[1]);
  out->push_back(absl::StrCat(deadline_ms));
  for (size_t j = 3; j < args.size(); ++j) out->emplace_back(args[j]);
  return true;
}

// The command table.

struct CommandEntry {
  CommandSpec spec;
  Handler handler;    // null for kConnection
  Rewriter rewriter;  // null: logged unchanged
};
static_assert(std::is_standard_layout_v<CommandEntry>,
              "Execute finds an entry from its spec, the first member");

using Kind = CommandSpec::Kind;
constexpr Unit kS = Unit::kSeconds;
constexpr Unit kMs = Unit::kMilliseconds;

constexpr CommandEntry kCommands[] = {
    // name, arity, write, first_key, last_key, key_step, kind
    {{"get", 2, false, 1, 1, 1, Kind::kKeyed}, &GetCommand, nullptr},
    {{"set", -3, true, 1, 1, 1, Kind::kKeyed}, &SetCommand, &RewriteSet},
    {{"setnx", 3, true, 1, 1, 1, Kind::kKeyed}, &SetNxCommand, nullptr},
    {{"setex", 4, true, 1, 1, 1, Kind::kKeyed},
     &SetExCommand<kS>,
     &RewriteSetEx<kS>},
    {{"psetex", 4, true, 1, 1, 1, Kind::kKeyed},
     &SetExCommand<kMs>,
     &RewriteSetEx<kMs>},
    {{"getset", 3, true, 1, 1, 1, Kind::kKeyed}, &GetSetCommand, nullptr},
    {{"getdel", 2, true, 1, 1, 1, Kind::kKeyed}, &GetDelCommand, nullptr},
    {{"append", 3, true, 1, 1, 1, Kind::kKeyed}, &AppendCommand, nullptr},
    {{"strlen", 2, false, 1, 1, 1, Kind::kKeyed}, &StrlenCommand, nullptr},
    {{"incr", 2, true, 1, 1, 1, Kind::kKeyed}, &IncrCommand<1>, nullptr},
    {{"decr", 2, true, 1, 1, 1, Kind::kKeyed}, &IncrCommand<-1>, nullptr},
    {{"incrby", 3, true, 1, 1, 1, Kind::kKeyed}, &IncrByCommand, nullptr},
    {{"decrby", 3, true, 1, 1, 1, Kind::kKeyed}, &DecrByCommand, nullptr},
    {{"expire", -3, true, 1, 1, 1, Kind::kKeyed},
     &ExpireCommand<kS, true>,
     &RewriteExpire<kS, true>},
    {{"pexpire", -3, true, 1, 1, 1, Kind::kKeyed},
     &ExpireCommand<kMs, true>,
     &RewriteExpire<kMs, true>},
    {{"expireat", -3, true, 1, 1, 1, Kind::kKeyed},
     &ExpireCommand<kS, false>,
     &RewriteExpire<kS, false>},
    {{"pexpireat", -3, true, 1, 1, 1, Kind::kKeyed},
     &ExpireCommand<kMs, false>,
     &RewriteExpire<kMs, false>},
    {{"ttl", 2, false, 1, 1, 1, Kind::kKeyed}, &TtlCommand<kS>, nullptr},
    {{"pttl", 2, false, 1, 1, 1, Kind::kKeyed}, &TtlCommand<kMs>, nullptr},
    {{"persist", 2, true, 1, 1, 1, Kind::kKeyed}, &PersistCommand, nullptr},
    {{"mget", -2, false, 1, -1, 1, Kind::kMultiKey}, &MGetCommand, nullptr},
    {{"mset", -3, true, 1, -1, 2, Kind::kMultiKey}, &MSetCommand, nullptr},
    {{"del", -2, true, 1, -1, 1, Kind::kMultiKey}, &DelCommand, nullptr},
    {{"unlink", -2, true, 1, -1, 1, Kind::kMultiKey}, &DelCommand, nullptr},
    {{"exists", -2, false, 1, -1, 1, Kind::kMultiKey}, &ExistsCommand, nullptr},
    {{"dbsize", 1, false, 0, 0, 0, Kind::kShardWide}, &DbSizeCommand, nullptr},
    {{"flushall", -1, true, 0, 0, 0, Kind::kShardWide}, &FlushCommand, nullptr},
    {{"flushdb", -1, true, 0, 0, 0, Kind::kShardWide}, &FlushCommand, nullptr},
    {{"ping", -1, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"echo", 2, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"select", 2, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"quit", -1, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"command", -1, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"client", -2, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"config", -2, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"info", -1, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"hello", -1, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
    {{"reset", 1, false, 0, 0, 0, Kind::kConnection}, nullptr, nullptr},
};

// Longer than any command name: longer inputs are unknown without a lookup.
constexpr size_t kMaxNameSize = 16;

const CommandEntry& EntryOf(const CommandSpec& spec) {
  // The spec is the first member of a standard-layout CommandEntry, so the
  // two addresses are interconvertible; the range check catches a spec that
  // did not come from LookupCommand.
  const auto* entry = reinterpret_cast<const CommandEntry*>(&spec);
  const std::less<const CommandEntry*> before;
  if (before(entry, std::begin(kCommands)) ||
      !before(entry, std::end(kCommands))) {
    Die("Execute: a CommandSpec not from LookupCommand");
  }
  return *entry;
}

}  // namespace

const CommandSpec* LookupCommand(absl::string_view name) {
  using Index = absl::flat_hash_map<absl::string_view, const CommandSpec*>;
  // Built once, never destroyed (no exit-time destructor to race with).
  static const Index* const index = [] {
    auto* index = new Index;
    for (const CommandEntry& entry : kCommands) {
      index->emplace(entry.spec.name, &entry.spec);
    }
    return index;
  }();
  if (name.size() > kMaxNameSize) return nullptr;
  char lower[kMaxNameSize];
  for (size_t i = 0; i < name.size(); ++i) {
    lower[i] = absl::ascii_tolower(static_cast<unsigned char>(name[i]));
  }
  const auto it = index->find(absl::string_view(lower, name.size()));
  return it == index->end() ? nullptr : it->second;
}

bool IsWrite(absl::Span<const absl::string_view> args) {
  if (args.empty()) return false;
  const CommandSpec* spec = LookupCommand(args[0]);
  return spec != nullptr && spec->write;
}

void Execute(Store& store, absl::Span<const absl::string_view> args,
             int64_t now_ms, std::string* reply) {
  const CommandSpec* spec = args.empty() ? nullptr : LookupCommand(args[0]);
  if (spec == nullptr) {
    if (args.empty()) Die("Execute: no command name");
    AppendUnknownCommandError(reply, args);
    return;
  }
  Execute(store, *spec, args, now_ms, reply);
}

void Execute(Store& store, const CommandSpec& spec,
             absl::Span<const absl::string_view> args, int64_t now_ms,
             std::string* reply) {
  const CommandEntry& entry = EntryOf(spec);
  if (entry.handler == nullptr) {
    Die("Execute: a connection command (the server handles those)");
  }
  if (!ArityOk(spec, args.size())) {
    AppendArityError(reply, spec.name);
    return;
  }
  entry.handler(spec, store, args, now_ms, reply);
}

void RewriteForLog(absl::Span<const absl::string_view> args, int64_t now_ms,
                   std::vector<std::string>* out_args) {
  out_args->clear();
  const CommandSpec* spec = args.empty() ? nullptr : LookupCommand(args[0]);
  if (spec != nullptr && ArityOk(*spec, args.size())) {
    const Rewriter rewriter = EntryOf(*spec).rewriter;
    if (rewriter != nullptr && rewriter(*spec, args, now_ms, out_args)) return;
  }
  for (const absl::string_view arg : args) out_args->emplace_back(arg);
}

}  // namespace veloq::kv
