#include "samples/kv/commands.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "samples/kv/store.h"
#include "testing/counting_allocator.h"

namespace veloq::kv {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// Executes one command and returns its reply.
std::string Exec(Store& store, std::vector<absl::string_view> args,
                 int64_t now_ms = 0) {
  std::string reply;
  Execute(store, args, now_ms, &reply);
  return reply;
}

std::vector<std::string> Rewrite(std::vector<absl::string_view> args,
                                 int64_t now_ms) {
  std::vector<std::string> out;
  RewriteForLog(args, now_ms, &out);
  return out;
}

// Executes a rewritten command (as a log replay does).
std::string ExecLogged(Store& store, const std::vector<std::string>& logged,
                       int64_t now_ms) {
  std::vector<absl::string_view> args(logged.begin(), logged.end());
  return Exec(store, args, now_ms);
}

// Appends "DEL key" to a log for each key the store expires.
class LoggingObserver : public ExpiryObserver {
 public:
  explicit LoggingObserver(std::vector<std::vector<std::string>>* log)
      : log_(log) {}
  void OnExpired(absl::string_view key) override {
    log_->push_back({"DEL", std::string(key)});
  }

 private:
  std::vector<std::vector<std::string>>* log_;
};

constexpr absl::string_view kNull = "$-1\r\n";
constexpr absl::string_view kOk = "+OK\r\n";
constexpr absl::string_view kNotInteger =
    "-ERR value is not an integer or out of range\r\n";
constexpr absl::string_view kSyntax = "-ERR syntax error\r\n";

TEST(LookupCommandTest, FindsAnyLetterCase) {
  const CommandSpec* get = LookupCommand("get");
  ASSERT_NE(get, nullptr);
  EXPECT_EQ(LookupCommand("GET"), get);
  EXPECT_EQ(LookupCommand("gEt"), get);
  EXPECT_EQ(get->name, "get");
  EXPECT_EQ(get->arity, 2);
  EXPECT_FALSE(get->write);
  EXPECT_EQ(get->kind, CommandSpec::Kind::kKeyed);
}

TEST(LookupCommandTest, UnknownNamesAreNull) {
  EXPECT_EQ(LookupCommand("nosuchcommand"), nullptr);
  EXPECT_EQ(LookupCommand(""), nullptr);
  EXPECT_EQ(LookupCommand("ge"), nullptr);
  EXPECT_EQ(LookupCommand("gett"), nullptr);
  EXPECT_EQ(LookupCommand(std::string(1000, 'g')), nullptr);
  EXPECT_EQ(LookupCommand(absl::string_view("get\0", 4)), nullptr);
}

TEST(LookupCommandTest, KeyPositionsAndKinds) {
  using Kind = CommandSpec::Kind;
  struct Want {
    absl::string_view name;
    int arity;
    bool write;
    int first, last, step;
    Kind kind;
  };
  for (const Want& w : std::initializer_list<Want>{
           {"set", -3, true, 1, 1, 1, Kind::kKeyed},
           {"setex", 4, true, 1, 1, 1, Kind::kKeyed},
           {"expire", -3, true, 1, 1, 1, Kind::kKeyed},
           {"pexpireat", -3, true, 1, 1, 1, Kind::kKeyed},
           {"ttl", 2, false, 1, 1, 1, Kind::kKeyed},
           {"getdel", 2, true, 1, 1, 1, Kind::kKeyed},
           {"mget", -2, false, 1, -1, 1, Kind::kMultiKey},
           {"mset", -3, true, 1, -1, 2, Kind::kMultiKey},
           {"del", -2, true, 1, -1, 1, Kind::kMultiKey},
           {"unlink", -2, true, 1, -1, 1, Kind::kMultiKey},
           {"exists", -2, false, 1, -1, 1, Kind::kMultiKey},
           {"dbsize", 1, false, 0, 0, 0, Kind::kShardWide},
           {"flushall", -1, true, 0, 0, 0, Kind::kShardWide},
           {"flushdb", -1, true, 0, 0, 0, Kind::kShardWide},
           {"ping", -1, false, 0, 0, 0, Kind::kConnection},
           {"hello", -1, false, 0, 0, 0, Kind::kConnection},
       }) {
    const CommandSpec* spec = LookupCommand(w.name);
    ASSERT_NE(spec, nullptr) << w.name;
    EXPECT_EQ(spec->arity, w.arity) << w.name;
    EXPECT_EQ(spec->write, w.write) << w.name;
    EXPECT_EQ(spec->first_key, w.first) << w.name;
    EXPECT_EQ(spec->last_key, w.last) << w.name;
    EXPECT_EQ(spec->key_step, w.step) << w.name;
    EXPECT_EQ(spec->kind, w.kind) << w.name;
  }
  for (absl::string_view name : {"echo", "select", "quit", "command", "client",
                                 "config", "info", "reset"}) {
    const CommandSpec* spec = LookupCommand(name);
    ASSERT_NE(spec, nullptr) << name;
    EXPECT_EQ(spec->kind, Kind::kConnection) << name;
  }
}

TEST(IsWriteTest, WritesAndReads) {
  EXPECT_TRUE(IsWrite({"SET", "k", "v"}));
  EXPECT_TRUE(IsWrite({"incr", "k"}));
  EXPECT_TRUE(IsWrite({"Del", "k"}));
  EXPECT_TRUE(IsWrite({"FLUSHALL"}));
  EXPECT_FALSE(IsWrite({"GET", "k"}));
  EXPECT_FALSE(IsWrite({"ttl", "k"}));
  EXPECT_FALSE(IsWrite({"PING"}));
  EXPECT_FALSE(IsWrite({"nosuch", "k"}));
  EXPECT_FALSE(IsWrite({}));
}

TEST(ExecuteTest, GetAndSet) {
  Store s;
  EXPECT_EQ(Exec(s, {"GET", "k"}), kNull);
  EXPECT_EQ(Exec(s, {"SET", "k", "hello"}), kOk);
  EXPECT_EQ(Exec(s, {"get", "k"}), "$5\r\nhello\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", ""}), kOk);
  EXPECT_EQ(Exec(s, {"GET", "k"}), "$0\r\n\r\n");
}

TEST(ExecuteTest, AppendsToTheReply) {
  Store s;
  std::string reply = "+PONG\r\n";
  const std::vector<absl::string_view> set = {"SET", "k", "v"};
  const std::vector<absl::string_view> get = {"GET", "k"};
  Execute(s, set, 0, &reply);
  Execute(s, *LookupCommand("get"), get, 0, &reply);
  EXPECT_EQ(reply, "+PONG\r\n+OK\r\n$1\r\nv\r\n");
}

TEST(ExecuteTest, BinaryKeysAndValues) {
  Store s;
  const std::string k1("k\0\r\n1", 5), k2("k\0\r\n2", 5);
  const std::string v("\0\xff\r\n", 4);
  EXPECT_EQ(Exec(s, {"SET", k1, v}), kOk);
  EXPECT_EQ(Exec(s, {"GET", k1}), absl::StrCat("$4\r\n", v, "\r\n"));
  EXPECT_EQ(Exec(s, {"GET", k2}), kNull);
  EXPECT_EQ(Exec(s, {"STRLEN", k1}), ":4\r\n");
  EXPECT_EQ(Exec(s, {"EXISTS", k1, k2, k1}), ":2\r\n");
}

TEST(ExecuteTest, LargeValues) {
  Store s;
  const std::string big(3 << 20, 'z');
  EXPECT_EQ(Exec(s, {"SET", "big", big}), kOk);
  EXPECT_EQ(Exec(s, {"GET", "big"}),
            absl::StrCat("$", big.size(), "\r\n", big, "\r\n"));
}

TEST(ExecuteTest, ArityErrorsNameTheCommandInLowercase) {
  Store s;
  EXPECT_EQ(Exec(s, {"GET"}),
            "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(Exec(s, {"GET", "a", "b"}),
            "-ERR wrong number of arguments for 'get' command\r\n");
  EXPECT_EQ(Exec(s, {"SeT", "k"}),
            "-ERR wrong number of arguments for 'set' command\r\n");
  EXPECT_EQ(Exec(s, {"MSET", "a", "1", "b"}),
            "-ERR wrong number of arguments for 'mset' command\r\n");
  EXPECT_EQ(Exec(s, {"MGET"}),
            "-ERR wrong number of arguments for 'mget' command\r\n");
  EXPECT_EQ(Exec(s, {"DBSIZE", "x"}),
            "-ERR wrong number of arguments for 'dbsize' command\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k"}),
            "-ERR wrong number of arguments for 'expire' command\r\n");
  EXPECT_EQ(Exec(s, {"setex", "k", "10"}),
            "-ERR wrong number of arguments for 'setex' command\r\n");
}

TEST(ExecuteTest, UnknownCommand) {
  Store s;
  EXPECT_EQ(Exec(s, {"FOO"}),
            "-ERR unknown command 'FOO', with args beginning with: \r\n");
  EXPECT_EQ(Exec(s, {"foo", "a", "b c"}),
            "-ERR unknown command 'foo', with args beginning with: 'a' 'b c' "
            "\r\n");
  EXPECT_EQ(Exec(s, {"fo\r\no", "x\ny"}),
            "-ERR unknown command 'fo  o', with args beginning with: 'x y' "
            "\r\n");
  const std::string long_arg(200, 'a');
  EXPECT_EQ(Exec(s, {"foo", long_arg, "b"}),
            absl::StrCat("-ERR unknown command 'foo', with args beginning "
                         "with: '",
                         std::string(128, 'a'), "' \r\n"));
}

TEST(ExecuteTest, SetNxXx) {
  Store s;
  EXPECT_EQ(Exec(s, {"SET", "k", "1", "XX"}), kNull);
  EXPECT_EQ(Exec(s, {"SET", "k", "1", "nx"}), kOk);
  EXPECT_EQ(Exec(s, {"SET", "k", "2", "NX"}), kNull);
  EXPECT_EQ(Exec(s, {"SET", "k", "3", "XX"}), kOk);
  EXPECT_EQ(Exec(s, {"GET", "k"}), "$1\r\n3\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "4", "NX", "NX"}), kNull)
      << "repeats are fine";
  EXPECT_EQ(Exec(s, {"SET", "k", "4", "NX", "XX"}), kSyntax);
  EXPECT_EQ(Exec(s, {"SET", "k", "4", "XX", "NX"}), kSyntax);
}

TEST(ExecuteTest, SetGet) {
  Store s;
  EXPECT_EQ(Exec(s, {"SET", "k", "1", "GET"}), kNull);
  EXPECT_EQ(Exec(s, {"SET", "k", "2", "get"}), "$1\r\n1\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "3", "NX", "GET"}), "$1\r\n2\r\n");
  EXPECT_EQ(Exec(s, {"GET", "k"}), "$1\r\n2\r\n");
  EXPECT_EQ(Exec(s, {"SET", "m", "1", "XX", "GET"}), kNull);
  EXPECT_EQ(Exec(s, {"EXISTS", "m"}), ":0\r\n");
}

TEST(ExecuteTest, SetExpiryOptions) {
  Store s;
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "10"}, 1000), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 1000), ":10000\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "px", "1500"}, 1000), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 1000), ":1500\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EXAT", "5"}, 1000), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 1000), ":4000\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "PXAT", "7000"}, 1000), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 1000), ":6000\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "w", "KEEPTTL"}, 2000), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 2000), ":5000\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "w"}, 2000), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 2000), ":-1\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "1", "EX", "2"}, 0), kOk)
      << "the same option repeated: the last wins";
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 0), ":2000\r\n");
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "PXAT", "100"}, 100), kOk);
  EXPECT_EQ(Exec(s, {"GET", "k"}, 100), kNull) << "a past PXAT removes the key";
}

TEST(ExecuteTest, SetSyntaxErrors) {
  Store s;
  for (std::vector<absl::string_view> args :
       std::initializer_list<std::vector<absl::string_view>>{
           {"SET", "k", "v", "EX"},
           {"SET", "k", "v", "EX", "10", "PX", "10"},
           {"SET", "k", "v", "EX", "10", "KEEPTTL"},
           {"SET", "k", "v", "KEEPTTL", "PX", "10"},
           {"SET", "k", "v", "PXAT", "10", "EXAT", "10"},
           {"SET", "k", "v", "BOGUS"},
           {"SET", "k", "v", "NX", "10"},
       }) {
    EXPECT_EQ(Exec(s, args), kSyntax) << args.back();
  }
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "abc", "BOGUS"}), kSyntax)
      << "syntax is checked before the time";
  EXPECT_EQ(Exec(s, {"DBSIZE"}), ":0\r\n") << "nothing was written";
}

TEST(ExecuteTest, SetInvalidExpireTimes) {
  Store s;
  const std::string invalid = "-ERR invalid expire time in 'set' command\r\n";
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "0"}), invalid);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "-1"}), invalid);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "PX", "0"}), invalid);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "PXAT", "0"}), invalid);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "9223372036854776"}), invalid);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "PX", "9223372036854775807"}, 1),
            invalid);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "1.5"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"SET", "k", "v", "EX", "10s"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"SETEX", "k", "0", "v"}),
            "-ERR invalid expire time in 'setex' command\r\n");
  EXPECT_EQ(Exec(s, {"PSETEX", "k", "-5", "v"}),
            "-ERR invalid expire time in 'psetex' command\r\n");
  EXPECT_EQ(Exec(s, {"SETEX", "k", "x", "v"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"DBSIZE"}), ":0\r\n");
}

TEST(ExecuteTest, SetNxSetExPSetExGetSetGetDel) {
  Store s;
  EXPECT_EQ(Exec(s, {"SETNX", "k", "1"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"SETNX", "k", "2"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"SETEX", "k", "10", "3"}, 0), kOk);
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 0), ":10\r\n");
  EXPECT_EQ(Exec(s, {"PSETEX", "k", "250", "4"}, 0), kOk);
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 0), ":250\r\n");
  EXPECT_EQ(Exec(s, {"GETSET", "k", "5"}, 0), "$1\r\n4\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 0), ":-1\r\n") << "GETSET clears the TTL";
  EXPECT_EQ(Exec(s, {"GETSET", "new", "1"}, 0), kNull);
  EXPECT_EQ(Exec(s, {"GETDEL", "k"}, 0), "$1\r\n5\r\n");
  EXPECT_EQ(Exec(s, {"GETDEL", "k"}, 0), kNull);
  EXPECT_EQ(Exec(s, {"EXISTS", "k"}, 0), ":0\r\n");
}

TEST(ExecuteTest, AppendAndStrlen) {
  Store s;
  EXPECT_EQ(Exec(s, {"STRLEN", "k"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"APPEND", "k", "Hello"}), ":5\r\n");
  EXPECT_EQ(Exec(s, {"APPEND", "k", " World"}), ":11\r\n");
  EXPECT_EQ(Exec(s, {"GET", "k"}), "$11\r\nHello World\r\n");
  EXPECT_EQ(Exec(s, {"STRLEN", "k"}), ":11\r\n");
}

TEST(ExecuteTest, IncrDecr) {
  Store s;
  EXPECT_EQ(Exec(s, {"INCR", "n"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"incrby", "n", "41"}), ":42\r\n");
  EXPECT_EQ(Exec(s, {"DECR", "n"}), ":41\r\n");
  EXPECT_EQ(Exec(s, {"DECRBY", "n", "50"}), ":-9\r\n");
  EXPECT_EQ(Exec(s, {"INCRBY", "n", "-1"}), ":-10\r\n");
  EXPECT_EQ(Exec(s, {"GET", "n"}), "$3\r\n-10\r\n");
  EXPECT_EQ(Exec(s, {"DECR", "fresh"}), ":-1\r\n");
}

TEST(ExecuteTest, IncrErrors) {
  Store s;
  Exec(s, {"SET", "s", "abc"});
  Exec(s, {"SET", "f", "1.5"});
  Exec(s, {"SET", "sp", " 1"});
  EXPECT_EQ(Exec(s, {"INCR", "s"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"INCR", "f"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"DECR", "sp"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"INCRBY", "n", "x"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"INCRBY", "n", "1.0"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"INCRBY", "n", "9223372036854775808"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"DECRBY", "n", ""}), kNotInteger);
  EXPECT_EQ(Exec(s, {"EXISTS", "n"}), ":0\r\n")
      << "a bad increment writes nothing";
}

TEST(ExecuteTest, IncrOverflowEdges) {
  Store s;
  const std::string overflow = "-ERR increment or decrement would overflow\r\n";
  Exec(s, {"SET", "n", "9223372036854775806"});
  EXPECT_EQ(Exec(s, {"INCR", "n"}), ":9223372036854775807\r\n");
  EXPECT_EQ(Exec(s, {"INCR", "n"}), overflow);
  EXPECT_EQ(Exec(s, {"INCRBY", "n", "1"}), overflow);
  EXPECT_EQ(Exec(s, {"GET", "n"}), "$19\r\n9223372036854775807\r\n");
  EXPECT_EQ(Exec(s, {"DECRBY", "n", "-1"}), overflow);
  Exec(s, {"SET", "m", "-9223372036854775808"});
  EXPECT_EQ(Exec(s, {"DECR", "m"}), overflow);
  EXPECT_EQ(Exec(s, {"INCRBY", "m", "-1"}), overflow);
  EXPECT_EQ(Exec(s, {"INCRBY", "m", "9223372036854775807"}), ":-1\r\n");
  // DECRBY INT64_MIN cannot negate its argument: Redis's own error.
  EXPECT_EQ(Exec(s, {"DECRBY", "z", "-9223372036854775808"}),
            "-ERR decrement would overflow\r\n");
  EXPECT_EQ(Exec(s, {"INCRBY", "z", "-9223372036854775808"}),
            ":-9223372036854775808\r\n");
}

TEST(ExecuteTest, ExpireTtlPersist) {
  Store s;
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "10"}, 0), ":0\r\n");
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 0), ":-2\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 0), ":-2\r\n");
  Exec(s, {"SET", "k", "v"});
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 0), ":-1\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "10"}, 1000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 1000), ":10000\r\n");
  // TTL rounds to the nearest second, as Redis does.
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 1000), ":10\r\n");
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 1501), ":9\r\n");
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 1500), ":10\r\n");
  EXPECT_EQ(Exec(s, {"TTL", "k"}, 10600), ":0\r\n");
  EXPECT_EQ(Exec(s, {"PEXPIRE", "k", "300"}, 2000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 2000), ":300\r\n");
  EXPECT_EQ(Exec(s, {"EXPIREAT", "k", "5"}, 2000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 2000), ":3000\r\n");
  EXPECT_EQ(Exec(s, {"PEXPIREAT", "k", "4321"}, 2000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 2000), ":2321\r\n");
  EXPECT_EQ(Exec(s, {"PERSIST", "k"}, 2000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"PERSIST", "k"}, 2000), ":0\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}, 2000), ":-1\r\n");
  EXPECT_EQ(Exec(s, {"PERSIST", "missing"}, 2000), ":0\r\n");
}

TEST(ExecuteTest, ExpireWithAPastTimeDeletes) {
  Store s;
  Exec(s, {"SET", "k", "v"});
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "-1"}, 1000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"EXISTS", "k"}, 1000), ":0\r\n");
  Exec(s, {"SET", "k", "v"});
  EXPECT_EQ(Exec(s, {"PEXPIREAT", "k", "1000"}, 1000), ":1\r\n");
  EXPECT_EQ(Exec(s, {"GET", "k"}, 1000), kNull);
}

TEST(ExecuteTest, ExpireAtDeadlineThenGone) {
  Store s;
  Exec(s, {"SET", "k", "v", "PX", "100"}, 0);
  EXPECT_EQ(Exec(s, {"GET", "k"}, 99), "$1\r\nv\r\n");
  EXPECT_EQ(Exec(s, {"GET", "k"}, 100), kNull);
  Exec(s, {"MSET", "a", "1", "b", "2"}, 0);
  Exec(s, {"PEXPIRE", "a", "10"}, 0);
  EXPECT_EQ(Exec(s, {"DBSIZE"}, 10), ":1\r\n");
  EXPECT_EQ(Exec(s, {"MGET", "a", "b"}, 10), "*2\r\n$-1\r\n$1\r\n2\r\n");
}

TEST(ExecuteTest, ExpireOptions) {
  Store s;
  Exec(s, {"SET", "k", "v"});
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "100", "XX"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "100", "GT"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "100", "nx"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "200", "NX"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "50", "GT"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "200", "XX", "GT"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "300", "LT"}), ":0\r\n");
  EXPECT_EQ(Exec(s, {"PEXPIRE", "k", "1000", "lt"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}), ":1000\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "10", "NX", "XX"}),
            "-ERR NX and XX, GT or LT options at the same time are not "
            "compatible\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "10", "GT", "NX"}),
            "-ERR NX and XX, GT or LT options at the same time are not "
            "compatible\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "10", "GT", "LT"}),
            "-ERR GT and LT options at the same time are not compatible\r\n");
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "x", "FOO"}),
            "-ERR Unsupported option FOO\r\n")
      << "options are checked before the time";
  EXPECT_EQ(Exec(s, {"PTTL", "k"}), ":1000\r\n");
}

TEST(ExecuteTest, ExpireInvalidTimes) {
  Store s;
  Exec(s, {"SET", "k", "v"});
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "ten"}), kNotInteger);
  EXPECT_EQ(Exec(s, {"EXPIRE", "k", "9223372036854775807"}),
            "-ERR invalid expire time in 'expire' command\r\n");
  EXPECT_EQ(Exec(s, {"EXPIREAT", "k", "-9223372036854775807"}),
            "-ERR invalid expire time in 'expireat' command\r\n");
  EXPECT_EQ(Exec(s, {"PEXPIRE", "k", "9223372036854775807"}, 1),
            "-ERR invalid expire time in 'pexpire' command\r\n");
  EXPECT_EQ(Exec(s, {"PTTL", "k"}), ":-1\r\n");
}

TEST(ExecuteTest, MultiKeyCommands) {
  Store s;
  EXPECT_EQ(Exec(s, {"MSET", "a", "1", "b", "2", "a", "3"}), kOk);
  EXPECT_EQ(Exec(s, {"MGET", "a", "b", "c"}),
            "*3\r\n$1\r\n3\r\n$1\r\n2\r\n$-1\r\n");
  EXPECT_EQ(Exec(s, {"EXISTS", "a", "b", "c", "a"}), ":3\r\n");
  EXPECT_EQ(Exec(s, {"DEL", "a", "c", "a"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"UNLINK", "b"}), ":1\r\n");
  EXPECT_EQ(Exec(s, {"DBSIZE"}), ":0\r\n");
}

TEST(ExecuteTest, SingleKeySubCommandsMergeToTheMultiKeyReply) {
  // What the server does for a multi-key command split over shards: one
  // store per "shard", single-key sub-commands, replies merged.
  Store shards[2];
  auto owner = [&](absl::string_view key) -> Store& {
    return shards[key == "b" ? 1 : 0];
  };
  for (auto [k, v] : {std::pair<absl::string_view, absl::string_view>{"a", "1"},
                      {"b", "2"}}) {
    EXPECT_EQ(Exec(owner(k), {"SET", k, v}), kOk);
  }
  std::string merged = "*3\r\n";
  for (absl::string_view k : {"a", "b", "c"}) {
    merged += Exec(owner(k), {"GET", k});
  }
  EXPECT_EQ(merged, "*3\r\n$1\r\n1\r\n$1\r\n2\r\n$-1\r\n");
  EXPECT_EQ(Exec(shards[0], {"DBSIZE"}), ":1\r\n");
  EXPECT_EQ(Exec(shards[1], {"DBSIZE"}), ":1\r\n");
}

TEST(ExecuteTest, FlushAllAndDbSize) {
  Store s;
  Exec(s, {"MSET", "a", "1", "b", "2"});
  EXPECT_EQ(Exec(s, {"DBSIZE"}), ":2\r\n");
  EXPECT_EQ(Exec(s, {"FLUSHALL", "ASYNC"}), kOk);
  EXPECT_EQ(Exec(s, {"DBSIZE"}), ":0\r\n");
  Exec(s, {"SET", "a", "1"});
  EXPECT_EQ(Exec(s, {"FLUSHDB", "sync"}), kOk);
  EXPECT_EQ(Exec(s, {"FLUSHDB"}), kOk);
  EXPECT_EQ(Exec(s, {"FLUSHALL", "NOW"}), kSyntax);
  EXPECT_EQ(Exec(s, {"FLUSHALL", "SYNC", "ASYNC"}), kSyntax);
}

TEST(ExecuteTest, GetHitDoesNotAllocate) {
  Store s;
  const std::string value(100, 'v');
  Exec(s, {"SET", "key:000000001", value});
  const std::vector<absl::string_view> get = {"GET", "key:000000001"};
  const std::vector<absl::string_view> set = {"SET", "key:000000001", value};
  const std::vector<absl::string_view> incr = {"INCR", "counter"};
  std::string reply;
  reply.reserve(1 << 16);
  Execute(s, incr, 0, &reply);
  const uint64_t before = veloq::testing::AllocationCount();
  for (int i = 0; i < 100; ++i) {
    Execute(s, get, 0, &reply);
    Execute(s, set, 0, &reply);  // same size: rewritten in place
    Execute(s, incr, 0, &reply);
  }
  EXPECT_EQ(veloq::testing::AllocationCount() - before, 0u);
  EXPECT_EQ(Exec(s, {"GET", "counter"}), "$3\r\n101\r\n");
}

TEST(RewriteForLogTest, RelativeExpiriesBecomeAbsolute) {
  EXPECT_THAT(Rewrite({"EXPIRE", "k", "10"}, 5000),
              ElementsAre("PEXPIREAT", "k", "15000"));
  EXPECT_THAT(Rewrite({"pexpire", "k", "10", "NX"}, 5000),
              ElementsAre("PEXPIREAT", "k", "5010", "NX"));
  EXPECT_THAT(Rewrite({"EXPIREAT", "k", "10", "gt"}, 5000),
              ElementsAre("PEXPIREAT", "k", "10000", "gt"));
  EXPECT_THAT(Rewrite({"PEXPIREAT", "k", "6000"}, 5000),
              ElementsAre("PEXPIREAT", "k", "6000"));
  EXPECT_THAT(Rewrite({"SET", "k", "v", "EX", "10"}, 5000),
              ElementsAre("SET", "k", "v", "PXAT", "15000"));
  EXPECT_THAT(Rewrite({"set", "k", "v", "nx", "px", "10", "get"}, 5000),
              ElementsAre("SET", "k", "v", "NX", "GET", "PXAT", "5010"));
  EXPECT_THAT(Rewrite({"SET", "k", "v", "XX", "EXAT", "7"}, 5000),
              ElementsAre("SET", "k", "v", "XX", "PXAT", "7000"));
  EXPECT_THAT(Rewrite({"SETEX", "k", "10", "v"}, 5000),
              ElementsAre("SET", "k", "v", "PXAT", "15000"));
  EXPECT_THAT(Rewrite({"PSETEX", "k", "10", "v"}, 5000),
              ElementsAre("SET", "k", "v", "PXAT", "5010"));
}

TEST(RewriteForLogTest, OtherCommandsAreCopied) {
  EXPECT_THAT(Rewrite({"SET", "k", "v"}, 5000), ElementsAre("SET", "k", "v"));
  EXPECT_THAT(Rewrite({"SET", "k", "v", "KEEPTTL"}, 5000),
              ElementsAre("SET", "k", "v", "KEEPTTL"));
  EXPECT_THAT(Rewrite({"incr", "k"}, 5000), ElementsAre("incr", "k"));
  EXPECT_THAT(Rewrite({"MSET", "a", "1"}, 5000), ElementsAre("MSET", "a", "1"));
  const std::string binary("a\0b", 3);
  EXPECT_THAT(Rewrite({"DEL", binary}, 5000), ElementsAre("DEL", binary));
  // Failing commands change nothing and are copied (they fail again).
  EXPECT_THAT(Rewrite({"EXPIRE", "k", "x"}, 5000),
              ElementsAre("EXPIRE", "k", "x"));
  EXPECT_THAT(Rewrite({"SET", "k", "v", "EX", "0"}, 5000),
              ElementsAre("SET", "k", "v", "EX", "0"));
  EXPECT_THAT(Rewrite({"EXPIRE", "k"}, 5000), ElementsAre("EXPIRE", "k"));
  EXPECT_THAT(Rewrite({"nosuch", "k"}, 5000), ElementsAre("nosuch", "k"));
  EXPECT_THAT(Rewrite({}, 5000), IsEmpty());
}

TEST(RewriteForLogTest, PastDeadlinesLogNothing) {
  EXPECT_THAT(Rewrite({"EXPIRE", "k", "-1"}, 5000), IsEmpty());
  EXPECT_THAT(Rewrite({"PEXPIRE", "k", "0"}, 5000), IsEmpty());
  EXPECT_THAT(Rewrite({"PEXPIREAT", "k", "5000"}, 5000), IsEmpty());
  EXPECT_THAT(Rewrite({"SET", "k", "v", "PXAT", "4999"}, 5000), IsEmpty());
}

TEST(RewriteForLogTest, ReplayLaterGivesTheSameDeadlines) {
  const int64_t t0 = 1'000'000;
  const int64_t t1 = t0 + 3'000;  // the replay, after a restart
  const int64_t t2 = t1 + 500;    // when both are compared
  const std::vector<std::vector<absl::string_view>> commands = {
      {"SET", "a", "1", "EX", "100"},
      {"SET", "b", "2", "PX", "5000"},
      {"SETEX", "c", "60", "3"},
      {"PSETEX", "d", "4000", "4"},
      {"SET", "e", "5"},
      {"EXPIRE", "e", "30"},
      {"SET", "f", "6"},
      {"PEXPIRE", "f", "7000", "NX"},
      {"SET", "g", "7", "EXAT", "2000"},
      {"SET", "h", "8", "PX", "50000"},
      {"EXPIRE", "h", "10", "GT"},
      {"SET", "i", "9"},
      {"EXPIREAT", "i", "1010"},
  };
  for (const int64_t replay_clock : {t1, kReplayNowMs}) {
    Store original, replayed;
    std::vector<std::vector<std::string>> log;
    for (const auto& args : commands) {
      Exec(original, args, t0);
      log.emplace_back();
      RewriteForLog(args, t0, &log.back());
    }
    for (const auto& logged : log) {
      EXPECT_NE(ExecLogged(replayed, logged, replay_clock)[0], '-');
    }
    for (absl::string_view k : {"a", "b", "c", "d", "e", "f", "g", "h", "i"}) {
      EXPECT_EQ(Exec(replayed, {"PTTL", k}, t2),
                Exec(original, {"PTTL", k}, t2))
          << k << " replayed at " << replay_clock;
      EXPECT_EQ(Exec(replayed, {"GET", k}, t2), Exec(original, {"GET", k}, t2))
          << k;
    }
    EXPECT_EQ(Exec(replayed, {"DBSIZE"}, t2), Exec(original, {"DBSIZE"}, t2));
  }
}

TEST(RewriteForLogTest, ExpiryDelsMakeAFrozenClockReplayExact) {
  // The live run, with expiries logged as DEL by the store's observer.
  std::vector<std::vector<std::string>> log;
  LoggingObserver observer(&log);
  Store live;
  live.SetExpiryObserver(&observer);
  auto run = [&](std::vector<absl::string_view> args, int64_t now_ms) {
    const std::string reply = Exec(live, args, now_ms);
    if (IsWrite(args) && reply[0] != '-') {
      log.emplace_back();
      RewriteForLog(args, now_ms, &log.back());
      if (log.back().empty()) log.pop_back();
    }
  };
  // "x": its first deadline (1100) passes before the restart (5000), but a
  // later PEXPIRE extends it to 9000: it must survive the replay.
  run({"SET", "x", "v", "PX", "100"}, 1000);
  run({"PEXPIRE", "x", "8000"}, 1000);
  // "y": expires (observed by a read), then is recreated without a TTL.
  run({"SET", "y", "old", "PX", "100"}, 1000);
  Exec(live, {"GET", "y"}, 2000);
  run({"APPEND", "y", "new"}, 2000);
  // "z": removed by a past deadline, then recreated.
  run({"SET", "z", "old"}, 1000);
  run({"EXPIRE", "z", "-1"}, 1000);
  run({"APPEND", "z", "fresh"}, 1000);
  // "w": expires unobserved; replay must not resurrect it.
  run({"SET", "w", "v", "PX", "100"}, 1000);

  Store replayed;
  for (const auto& logged : log) ExecLogged(replayed, logged, kReplayNowMs);
  const int64_t restart = 5000;
  for (absl::string_view k : {"x", "y", "z", "w"}) {
    EXPECT_EQ(Exec(replayed, {"GET", k}, restart),
              Exec(live, {"GET", k}, restart))
        << k;
    EXPECT_EQ(Exec(replayed, {"PTTL", k}, restart),
              Exec(live, {"PTTL", k}, restart))
        << k;
  }
  EXPECT_EQ(Exec(replayed, {"GET", "x"}, restart), "$1\r\nv\r\n");
  EXPECT_EQ(Exec(replayed, {"GET", "y"}, restart), "$3\r\nnew\r\n");
  EXPECT_EQ(Exec(replayed, {"GET", "z"}, restart), "$5\r\nfresh\r\n");
  EXPECT_EQ(Exec(replayed, {"DBSIZE"}, restart), ":3\r\n");
}

TEST(ExecuteDeathTest, ConnectionCommandsAreTheServers) {
  Store s;
  EXPECT_DEATH(Exec(s, {"PING"}), "connection command");
}

}  // namespace
}  // namespace veloq::kv
