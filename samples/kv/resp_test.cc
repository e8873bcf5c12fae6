#include "samples/kv/resp.h"

#include <cstdint>
#include <limits>
#include <optional>
#include <ostream>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace veloq::kv {

void PrintTo(ParseStatus s, std::ostream* os) {
  switch (s) {
    case ParseStatus::kCommand:
      *os << "kCommand";
      return;
    case ParseStatus::kNeedMore:
      *os << "kNeedMore";
      return;
    case ParseStatus::kError:
      *os << "kError";
      return;
  }
}

void PrintTo(const RespValue& v, std::ostream* os) {
  switch (v.type) {
    case RespValue::kSimple:
      *os << "+" << absl::CHexEscape(v.str);
      return;
    case RespValue::kError:
      *os << "-" << absl::CHexEscape(v.str);
      return;
    case RespValue::kInteger:
      *os << ":" << v.integer;
      return;
    case RespValue::kBulk:
      *os << "$\"" << absl::CHexEscape(v.str) << "\"";
      return;
    case RespValue::kNull:
      *os << "nil";
      return;
    case RespValue::kArray:
      *os << "[";
      for (const RespValue& e : v.elements) {
        PrintTo(e, os);
        *os << " ";
      }
      *os << "]";
      return;
  }
}

namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using Args = std::vector<std::string>;

Args ArgsOf(const Command& cmd) { return Args(cmd.begin(), cmd.end()); }

// What a connection saw after feeding some chunks in order, the way a server
// does: append to a buffer, call Next until it stops, drop what it consumed.
// After an error the chunks still arrive, and the parser takes none of them.
struct Fed {
  std::vector<Args> commands;
  ParseStatus last = ParseStatus::kNeedMore;
  std::string error;
  std::string leftover;  // bytes not consumed at the end

  friend bool operator==(const Fed& a, const Fed& b) = default;
  friend void PrintTo(const Fed& f, std::ostream* os) {
    *os << "{";
    for (const Args& args : f.commands) {
      *os << "[";
      for (const std::string& a : args)
        *os << '"' << absl::CHexEscape(a) << "\" ";
      *os << "] ";
    }
    *os << "last=";
    PrintTo(f.last, os);
    *os << " error=\"" << f.error << "\" leftover=\""
        << absl::CHexEscape(f.leftover) << "\"}";
  }
};

Fed Feed(const std::vector<absl::string_view>& chunks, RespLimits limits = {}) {
  RespParser parser(limits);
  Fed fed;
  std::string buffer;
  Command cmd;
  for (absl::string_view chunk : chunks) {
    buffer.append(chunk.data(), chunk.size());
    for (;;) {
      size_t consumed = 0;
      const bool failed = fed.last == ParseStatus::kError;
      fed.last = parser.Next(buffer, &consumed, &cmd);
      EXPECT_LE(consumed, buffer.size());
      if (failed) {  // failed for good: takes nothing more
        EXPECT_EQ(fed.last, ParseStatus::kError);
        EXPECT_EQ(consumed, 0u);
      }
      buffer.erase(0, consumed);
      if (fed.last != ParseStatus::kCommand) break;
      fed.commands.push_back(ArgsOf(cmd));
    }
  }
  fed.error = parser.error();
  fed.leftover = buffer;
  return fed;
}

Fed FeedWhole(absl::string_view in, RespLimits limits = {}) {
  return Feed({in}, limits);
}

std::vector<absl::string_view> Bytes(absl::string_view in) {
  std::vector<absl::string_view> bytes;
  for (size_t i = 0; i < in.size(); ++i) bytes.push_back(in.substr(i, 1));
  return bytes;
}

// Feeding `in` byte by byte, and (when short) split in two at every point,
// gives what feeding it whole gives: same commands, status, error, leftover.
void ExpectSameAnySplit(absl::string_view in, RespLimits limits = {}) {
  const Fed whole = FeedWhole(in, limits);
  EXPECT_EQ(Feed(Bytes(in), limits), whole) << "byte by byte";
  if (in.size() > 1024) return;
  for (size_t cut = 0; cut <= in.size(); ++cut) {
    EXPECT_EQ(Feed({in.substr(0, cut), in.substr(cut)}, limits), whole)
        << "split at " << cut;
  }
}

// --- Command -------------------------------------------------------------

TEST(CommandTest, HoldsArgumentsInOrder) {
  Command cmd;
  EXPECT_TRUE(cmd.empty());
  cmd.Add("SET");
  cmd.Add("key");
  cmd.Add("");
  cmd.Add(absl::string_view("a\0b\r\n", 5));
  ASSERT_EQ(cmd.size(), 4u);
  EXPECT_EQ(cmd.arg(0), "SET");
  EXPECT_EQ(cmd.arg(1), "key");
  EXPECT_EQ(cmd.arg(2), "");
  EXPECT_EQ(cmd.arg(3), absl::string_view("a\0b\r\n", 5));
  EXPECT_EQ(cmd.bytes(), 3u + 3u + 0u + 5u);
  EXPECT_THAT(cmd.args(),
              ElementsAre("SET", "key", "", absl::string_view("a\0b\r\n", 5)));
  EXPECT_EQ(ArgsOf(cmd), (Args{"SET", "key", "", std::string("a\0b\r\n", 5)}));
}

TEST(CommandTest, ClearKeepsStorage) {
  Command cmd;
  cmd.Add("0123456789abcdef0123456789abcdef");
  const char* storage = cmd.arg(0).data();
  cmd.Clear();
  EXPECT_TRUE(cmd.empty());
  EXPECT_EQ(cmd.bytes(), 0u);
  cmd.Add("fedcba9876543210fedcba9876543210");
  EXPECT_EQ(cmd.arg(0).data(), storage);
}

TEST(CommandTest, ComparesByArguments) {
  Command a;
  a.Add("ab");
  a.Add("c");
  Command b;
  b.Add("a");
  b.Add("bc");
  EXPECT_NE(a, b);
  Command c = a;
  EXPECT_EQ(a, c);
}

TEST(CommandDeathTest, ArgOutOfRangeAborts) {
  Command cmd;
  cmd.Add("x");
  EXPECT_DEATH((void)cmd.arg(1), "");
}

// --- RespParser: requests --------------------------------------------------

TEST(RespParserTest, ParsesOneMultibulk) {
  RespParser parser;
  Command cmd;
  size_t consumed = 0;
  const std::string in = "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n";
  ASSERT_EQ(parser.Next(in, &consumed, &cmd), ParseStatus::kCommand);
  EXPECT_EQ(consumed, in.size());
  EXPECT_THAT(cmd.args(), ElementsAre("SET", "key", "value"));
  EXPECT_EQ(parser.Next("", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 0u);
}

TEST(RespParserTest, ParsesPipelinedCommandsOneAtATime) {
  const std::string in = absl::StrCat(
      "*1\r\n$4\r\nPING\r\n", "*2\r\n$3\r\nGET\r\n$1\r\na\r\n", "PING\r\n",
      "*3\r\n$3\r\nSET\r\n$1\r\nb\r\n$0\r\n\r\n", "*1\r\n$4\r\nPI");
  RespParser parser;
  Command cmd;
  absl::string_view rest = in;
  std::vector<Args> got;
  std::vector<size_t> consumed_each;
  for (;;) {
    size_t consumed = 0;
    const ParseStatus status = parser.Next(rest, &consumed, &cmd);
    rest.remove_prefix(consumed);
    consumed_each.push_back(consumed);
    if (status != ParseStatus::kCommand) {
      EXPECT_EQ(status, ParseStatus::kNeedMore);
      break;
    }
    got.push_back(ArgsOf(cmd));
  }
  EXPECT_THAT(got, ElementsAre(Args{"PING"}, Args{"GET", "a"}, Args{"PING"},
                               Args{"SET", "b", ""}));
  EXPECT_THAT(consumed_each, ElementsAre(14, 20, 6, 26, 10));
  EXPECT_THAT(rest, IsEmpty());  // "PI" was taken as the bulk's first bytes
}

TEST(RespParserTest, AnySplitOfAPipelineGivesTheSameCommands) {
  const std::string in = absl::StrCat(
      "*3\r\n$3\r\nSET\r\n$5\r\nkey:1\r\n$10\r\nhello\r\nyou\r\n",
      "GET key:1\r\n", "\r\n", "*0\r\n", "*-1\r\n",
      "set k \"a \\\"quoted\\\" \\x41\"\n", "*2\r\n$4\r\nINCR\r\n$1\r\nn\r\n",
      "  PING  \r\n", "*1\r\n$4\r\nQUIT\r\n");
  const Fed whole = FeedWhole(in);
  ASSERT_EQ(whole.last, ParseStatus::kNeedMore);
  EXPECT_THAT(whole.leftover, IsEmpty());
  EXPECT_THAT(
      whole.commands,
      ElementsAre(Args{"SET", "key:1", "hello\r\nyou"}, Args{"GET", "key:1"},
                  Args{"set", "k", "a \"quoted\" A"}, Args{"INCR", "n"},
                  Args{"PING"}, Args{"QUIT"}));
  ExpectSameAnySplit(in);
  // And in three pieces, at every pair of points.
  for (size_t a = 0; a <= in.size(); ++a) {
    for (size_t b = a; b <= in.size(); ++b) {
      ASSERT_EQ(Feed({in.substr(0, a), absl::string_view(in).substr(a, b - a),
                      absl::string_view(in).substr(b)}),
                whole)
          << "split at " << a << " and " << b;
    }
  }
}

TEST(RespParserTest, ValuesAreBinarySafe) {
  const std::string value("\r\n\0*1\r\n$3\r\n\xff\x00\r", 14);
  const std::string key("k\0y", 3);
  const std::string in = EncodeCommand({"SET", key, value});
  const Fed fed = FeedWhole(in);
  EXPECT_THAT(fed.commands, ElementsAre(Args{"SET", key, value}));
  ExpectSameAnySplit(in);
}

TEST(RespParserTest, ConsumesABulkAsItArrives) {
  RespParser parser;
  Command cmd;
  size_t consumed = 0;
  EXPECT_EQ(parser.Next("*2\r\n$4\r\nECHO\r\n$10\r\nhello", &consumed, &cmd),
            ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 24u);  // headers, ECHO and "hello" are all taken
  EXPECT_EQ(parser.Next("worl", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 4u);
  EXPECT_EQ(parser.Next("d\r", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 1u);  // the lone '\r' waits for its '\n'
  EXPECT_EQ(parser.Next("\r\n", &consumed, &cmd), ParseStatus::kCommand);
  EXPECT_EQ(consumed, 2u);
  EXPECT_THAT(cmd.args(), ElementsAre("ECHO", "helloworld"));
}

TEST(RespParserTest, KeepsAPartialLineUnconsumed) {
  RespParser parser;
  Command cmd;
  size_t consumed = 0;
  EXPECT_EQ(parser.Next("*2\r", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.Next("*2\r\n$1", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 4u);
  EXPECT_EQ(parser.Next("$1\r", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.Next("$1\r\nx", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 5u);
}

TEST(RespParserTest, ParsesInlineCommands) {
  EXPECT_THAT(FeedWhole("PING\r\n").commands, ElementsAre(Args{"PING"}));
  EXPECT_THAT(FeedWhole("PING\n").commands, ElementsAre(Args{"PING"}));
  EXPECT_THAT(FeedWhole("set a \"b c\"\r\nget a\n").commands,
              ElementsAre(Args{"set", "a", "b c"}, Args{"get", "a"}));
  const Fed partial = FeedWhole("GET ke");
  EXPECT_THAT(partial.commands, IsEmpty());
  EXPECT_EQ(partial.last, ParseStatus::kNeedMore);
  EXPECT_EQ(partial.leftover, "GET ke");
}

TEST(RespParserTest, SkipsEmptyRequests) {
  const std::string in =
      "\r\n\n   \r\n\t\n*0\r\n*-1\r\n*-10\r\nPING\r\n*0\r\n\r\n";
  const Fed fed = FeedWhole(in);
  EXPECT_THAT(fed.commands, ElementsAre(Args{"PING"}));
  EXPECT_EQ(fed.last, ParseStatus::kNeedMore);
  EXPECT_THAT(fed.leftover, IsEmpty());
  ExpectSameAnySplit(in);

  RespParser parser;
  Command cmd;
  size_t consumed = 0;
  EXPECT_EQ(parser.Next("\r\n*0\r\n", &consumed, &cmd), ParseStatus::kNeedMore);
  EXPECT_EQ(consumed, 6u);
}

struct InlineCase {
  std::string line;
  Args args;
};

TEST(RespParserTest, SplitsInlineLikeSdssplitargs) {
  const std::vector<InlineCase> cases = {
      {"set a \"b c\"", {"set", "a", "b c"}},
      {"  set\t a  \t b  ", {"set", "a", "b"}},
      {R"("\n\r\t\b\a\\\"\x41\x7a")", {"\n\r\t\b\a\\\"Az"}},
      {R"("\xZZ" "\x4" "\q" "\xff")", {"xZZ", "x4", "q", "\xff"}},
      {R"('it\'s' 'a\nb' 'a"b')", {"it's", R"(a\nb)", "a\"b"}},
      {"get \"\" ''", {"get", "", ""}},
      {"a\"b c\" x'y z'", {"ab c", "xy z"}},
      {"\"a\"\tb 'c'\r\"d\"", {"a", "b", "c", "d"}},
      {"a\rb", {"a", "b"}},
      {"\vset\f a", {"set\f", "a"}},
      {std::string("get a\0b", 7), {"get", std::string("a\0b", 3)}},
      {std::string("\"\0\"", 3), {std::string("\0", 1)}},
  };
  for (const InlineCase& c : cases) {
    const std::string in = c.line + "\r\n";
    const Fed fed = FeedWhole(in);
    EXPECT_EQ(fed.last, ParseStatus::kNeedMore) << absl::CHexEscape(c.line);
    EXPECT_THAT(fed.commands, ElementsAre(c.args)) << absl::CHexEscape(c.line);
    ExpectSameAnySplit(in);
  }
}

struct ErrorCase {
  std::string in;
  std::string error;
  RespLimits limits = {};
};

std::string Repeat(char c, size_t n) { return std::string(n, c); }

TEST(RespParserTest, ReportsProtocolErrorsInRedisWords) {
  const std::string kMbulk = "Protocol error: invalid multibulk length";
  const std::string kBulk = "Protocol error: invalid bulk length";
  const std::string kQuotes = "Protocol error: unbalanced quotes in request";
  const std::vector<ErrorCase> cases = {
      {"*abc\r\n", kMbulk},
      {"*1x\r\n", kMbulk},
      {"*01\r\n", kMbulk},
      {"*-0\r\n", kMbulk},
      {"*+1\r\n", kMbulk},
      {"*\r\n", kMbulk},
      {"* 1\r\n", kMbulk},
      {"*1\rX", kMbulk},
      {"*1048577\r\n", kMbulk},
      {"*20000000\r\n", kMbulk},
      {"*99999999999999999999\r\n", kMbulk},
      {"*-99999999999999999999\r\n", kMbulk},
      {"*1\r\n$-1\r\n", kBulk},
      {"*1\r\n$abc\r\n", kBulk},
      {"*1\r\n$\r\n", kBulk},
      {"*1\r\n$01\r\n", kBulk},
      {"*1\r\n$536870913\r\n", kBulk},
      {"*1\r\n$99999999999999999999\r\n", kBulk},
      {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$-10\r\n", kBulk},
      {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$2000000000\r\n", kBulk},
      {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\n$blabla\r\n", kBulk},
      {"*1\r\n$1\rX", kBulk},
      {"*1\r\n$3\r\nfooXY", kBulk},
      {"*1\r\n$3\r\nfoo\rX", kBulk},
      {"*1\r\nfoo\r\n", "Protocol error: expected '$', got 'f'"},
      {"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n",
       "Protocol error: expected '$', got 'f'"},
      {"*2\r\n$1\r\na\r\n:1\r\n", "Protocol error: expected '$', got ':'"},
      {"*1\r\n\r\n", "Protocol error: expected '$', got '\r'"},
      {"set \"a\r\n", kQuotes},
      {"set 'a\r\n", kQuotes},
      {"set \"a\"b\r\n", kQuotes},
      {"set 'a'b\r\n", kQuotes},
      {"get \"a\\\"\r\n", kQuotes},
      {"get \"a\\\r\n", kQuotes},
      {"set \"\"\"test-key\"\"\" test-value\r\nping\r\n", kQuotes},
      {Repeat('x', 65537) + "\r\n", "Protocol error: too big inline request"},
      {Repeat('x', 65537), "Protocol error: too big inline request"},
      {"*" + Repeat('1', 65536), "Protocol error: too big mbulk count string"},
      {"*" + Repeat('1', 65536) + "\r\n",
       "Protocol error: too big mbulk count string"},
      {"*1\r\n$" + Repeat('1', 65536),
       "Protocol error: too big bulk count string"},
      {"*1\r\nX" + Repeat('1', 65536),
       "Protocol error: too big bulk count string"},
  };
  for (const ErrorCase& c : cases) {
    const Fed fed = FeedWhole(c.in, c.limits);
    EXPECT_EQ(fed.last, ParseStatus::kError) << absl::CHexEscape(c.in);
    EXPECT_EQ(fed.error, c.error) << absl::CHexEscape(c.in);
    ExpectSameAnySplit(c.in, c.limits);
  }
}

TEST(RespParserTest, StaysFailedAfterAnError) {
  RespParser parser;
  Command cmd;
  cmd.Add("untouched");
  size_t consumed = 0;
  EXPECT_EQ(parser.error(), "");
  EXPECT_EQ(parser.Next("*x\r\n*1\r\n$4\r\nPING\r\n", &consumed, &cmd),
            ParseStatus::kError);
  EXPECT_EQ(parser.Next("*1\r\n$4\r\nPING\r\n", &consumed, &cmd),
            ParseStatus::kError);
  EXPECT_EQ(consumed, 0u);
  EXPECT_EQ(parser.error(), "Protocol error: invalid multibulk length");
  EXPECT_THAT(cmd.args(), ElementsAre("untouched"));
}

TEST(RespParserTest, EnforcesLimitsAtTheirBoundaries) {
  const RespLimits limits{
      .max_bulk_len = 5, .max_args = 3, .max_inline_len = 8};
  const struct {
    std::string in;
    std::vector<Args> commands;
    std::string error;  // empty: no error, more input wanted
  } cases[] = {
      {"*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n", {{"a", "b", "c"}}, ""},
      {"*4\r\n", {}, "Protocol error: invalid multibulk length"},
      {"*1\r\n$5\r\nhello\r\n", {{"hello"}}, ""},
      {"*1\r\n$6\r\n", {}, "Protocol error: invalid bulk length"},
      {"12345678\r\n", {{"12345678"}}, ""},
      {"1234 678\n", {{"1234", "678"}}, ""},
      {"12345678\r", {}, ""},
      {"123456789\r\n", {}, "Protocol error: too big inline request"},
      {"123456789", {}, "Protocol error: too big inline request"},
      {"*0000001\r\n", {}, "Protocol error: invalid multibulk length"},
      {"*00000001\r\n", {}, "Protocol error: too big mbulk count string"},
      {"*00000001", {}, "Protocol error: too big mbulk count string"},
      {"*1\r\n$0000001\r\n", {}, "Protocol error: invalid bulk length"},
      {"*1\r\n$00000001\r\n", {}, "Protocol error: too big bulk count string"},
      {"*1\r\n$00000001", {}, "Protocol error: too big bulk count string"},
  };
  for (const auto& c : cases) {
    const Fed fed = FeedWhole(c.in, limits);
    EXPECT_EQ(fed.commands, c.commands) << absl::CHexEscape(c.in);
    EXPECT_EQ(fed.error, c.error) << absl::CHexEscape(c.in);
    EXPECT_EQ(fed.last,
              c.error.empty() ? ParseStatus::kNeedMore : ParseStatus::kError)
        << absl::CHexEscape(c.in);
    ExpectSameAnySplit(c.in, limits);
  }
}

// Lengths of every width, on both sides of the one-pass header parser's
// 18-digit reach: each is taken (and its line consumed) or refused the same
// way whether the line arrives whole or byte by byte.
TEST(RespParserTest, ParsesHeaderNumbersOfEveryWidth) {
  constexpr size_t kNoLimit = std::numeric_limits<size_t>::max();
  const RespLimits limits{
      .max_bulk_len = kNoLimit, .max_args = kNoLimit, .max_inline_len = 64};
  std::vector<std::string> ok = {"0", "9223372036854775807"};
  for (size_t digits = 1; digits <= 18; ++digits) {
    ok.push_back(Repeat('9', digits));
    ok.push_back("1" + Repeat('0', digits - 1));
  }
  for (const std::string& n : ok) {
    for (const std::string& in : {"*1\r\n$" + n + "\r\n", "*" + n + "\r\n"}) {
      const Fed fed = FeedWhole(in, limits);
      EXPECT_EQ(fed.last, ParseStatus::kNeedMore) << in;
      EXPECT_THAT(fed.leftover, IsEmpty()) << in;
      ExpectSameAnySplit(in, limits);
    }
  }
  for (const std::string& n : {std::string("9223372036854775808"),
                               Repeat('9', 20), "0" + Repeat('1', 17)}) {
    EXPECT_EQ(FeedWhole("*1\r\n$" + n + "\r\n", limits).error,
              "Protocol error: invalid bulk length");
    EXPECT_EQ(FeedWhole("*" + n + "\r\n", limits).error,
              "Protocol error: invalid multibulk length");
  }
  EXPECT_THAT(FeedWhole("*-9223372036854775808\r\n", limits).error, IsEmpty());
  EXPECT_EQ(FeedWhole("*-9223372036854775809\r\n", limits).error,
            "Protocol error: invalid multibulk length");
  // The header line cap holds on the one-pass path too.
  const RespLimits tight{.max_inline_len = 2};
  EXPECT_THAT(FeedWhole("*9\r\n", tight).error, IsEmpty());
  EXPECT_EQ(FeedWhole("*10\r\n", tight).error,
            "Protocol error: too big mbulk count string");
  EXPECT_EQ(FeedWhole("*1\r\n$10\r\n", tight).error,
            "Protocol error: too big bulk count string");
}

TEST(RespParserTest, AcceptsTheDefaultLimitsExactly) {
  const Fed big = FeedWhole("*1048576\r\n$536870912\r\n");
  EXPECT_EQ(big.last, ParseStatus::kNeedMore);
  EXPECT_THAT(big.leftover, IsEmpty());
  const std::string line = Repeat('x', 65536);
  EXPECT_THAT(FeedWhole(line + "\r\n").commands, ElementsAre(Args{line}));
  // Byte by byte: the line is searched once, not once per byte (this would
  // take minutes if the search restarted from the line's start each time).
  EXPECT_THAT(Feed(Bytes(line + "\n")).commands, ElementsAre(Args{line}));
}

// A 64 MiB value fed 1 KiB at a time: the parser takes every byte it is
// given (it never hands more than a CRLF back), so across the 65,536 calls
// it sees each input byte once: linear work, however small the reads.
TEST(RespParserTest, LargeBulkInSmallPiecesIsParsedInOnePass) {
  constexpr size_t kValue = size_t{64} << 20;
  constexpr size_t kPiece = 1024;
  std::string value(kValue, '\0');
  for (size_t i = 0; i < kValue; ++i) value[i] = static_cast<char>(i * 131);
  const std::string in =
      absl::StrCat(EncodeCommand({"SET", "big", value}), "PING\r\n");

  RespParser parser;
  Command cmd;
  std::string buffer;
  std::vector<Args> got;
  size_t presented = 0;
  size_t calls = 0;
  size_t most_left = 0;
  bool big_ok = false;
  for (size_t at = 0; at < in.size(); at += kPiece) {
    const absl::string_view piece = absl::string_view(in).substr(at, kPiece);
    buffer.append(piece.data(), piece.size());
    for (;;) {
      size_t consumed = 0;
      presented += buffer.size();
      ++calls;
      const ParseStatus status = parser.Next(buffer, &consumed, &cmd);
      buffer.erase(0, consumed);
      if (status != ParseStatus::kCommand) {
        ASSERT_EQ(status, ParseStatus::kNeedMore);
        most_left = std::max(most_left, buffer.size());
        break;
      }
      if (cmd.size() == 3) {
        big_ok =
            cmd.arg(0) == "SET" && cmd.arg(1) == "big" && cmd.arg(2) == value;
      } else {
        got.push_back(ArgsOf(cmd));
      }
    }
  }
  EXPECT_TRUE(big_ok);
  EXPECT_THAT(got, ElementsAre(Args{"PING"}));
  EXPECT_LE(most_left, 2u);
  EXPECT_LE(presented, in.size() + 2 * calls);
  EXPECT_GE(calls, kValue / kPiece);
}

TEST(RespParserTest, RecyclesCommandStorage) {
  // The parser swaps its buffer with the caller's: after two requests, the
  // same two buffers take turns and no request allocates.
  std::string in;
  for (int i = 0; i < 4; ++i) in += EncodeCommand({"SET", "key", "value"});
  RespParser parser;
  Command cmd;
  std::vector<const char*> storage;
  absl::string_view rest = in;
  for (int i = 0; i < 4; ++i) {
    size_t consumed = 0;
    ASSERT_EQ(parser.Next(rest, &consumed, &cmd), ParseStatus::kCommand);
    rest.remove_prefix(consumed);
    storage.push_back(cmd.arg(0).data());
  }
  EXPECT_EQ(storage[2], storage[0]);
  EXPECT_EQ(storage[3], storage[1]);
}

TEST(RespParserTest, RandomCommandsInRandomPieces) {
  std::mt19937_64 rng(20240611);
  for (int round = 0; round < 200; ++round) {
    std::string in;
    std::vector<Args> want;
    const int n = 1 + static_cast<int>(rng() % 8);
    for (int c = 0; c < n; ++c) {
      Args args;
      std::vector<absl::string_view> views;
      const int argc = 1 + static_cast<int>(rng() % 5);
      for (int a = 0; a < argc; ++a) {
        std::string arg(rng() % 40, '\0');
        for (char& b : arg) b = static_cast<char>(rng());
        args.push_back(std::move(arg));
      }
      for (const std::string& a : args) views.push_back(a);
      in += EncodeCommand(views);
      want.push_back(std::move(args));
    }
    std::vector<absl::string_view> pieces;
    for (size_t at = 0; at < in.size();) {
      const size_t len = 1 + rng() % 32;
      pieces.push_back(absl::string_view(in).substr(at, len));
      at += len;
    }
    const Fed fed = Feed(pieces);
    ASSERT_EQ(fed.commands, want) << "round " << round;
    ASSERT_EQ(fed.last, ParseStatus::kNeedMore);
    ASSERT_THAT(fed.leftover, IsEmpty());
  }
}

// --- Replies ---------------------------------------------------------------

TEST(RespEncodeTest, WritesExactBytes) {
  std::string out;
  AppendSimpleString(&out, "OK");
  AppendError(&out, "ERR unknown command 'FOO'");
  AppendInteger(&out, -42);
  AppendInteger(&out, INT64_MIN);
  AppendBulk(&out, absl::string_view("a\0\r\n", 4));
  AppendBulk(&out, "");
  AppendNullBulk(&out);
  AppendArrayHeader(&out, 2);
  AppendNullArray(&out);
  AppendArrayHeader(&out, 0);
  EXPECT_EQ(out, absl::StrCat("+OK\r\n", "-ERR unknown command 'FOO'\r\n",
                              ":-42\r\n", ":-9223372036854775808\r\n",
                              absl::string_view("$4\r\na\0\r\n\r\n", 10),
                              "$0\r\n\r\n", "$-1\r\n", "*2\r\n", "*-1\r\n",
                              "*0\r\n"));
}

TEST(RespEncodeTest, LineRepliesCannotBreakTheStream) {
  std::string out;
  AppendError(&out, "ERR bad\r\nthing\n");
  AppendSimpleString(&out, "a\rb");
  EXPECT_EQ(out, "-ERR bad  thing \r\n+a b\r\n");
}

TEST(RespEncodeTest, EncodeCommandIsAMultibulk) {
  EXPECT_EQ(EncodeCommand({"GET", "k"}), "*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
  EXPECT_EQ(EncodeCommand({}), "*0\r\n");
  const std::string bin("\0\r\n", 3);
  const Fed fed = FeedWhole(EncodeCommand({"SET", bin, ""}));
  EXPECT_THAT(fed.commands, ElementsAre(Args{"SET", bin, ""}));
}

RespValue Value(RespValue::Type type, std::string str = "", int64_t integer = 0,
                std::vector<RespValue> elements = {}) {
  RespValue v;
  v.type = type;
  v.str = std::move(str);
  v.integer = integer;
  v.elements = std::move(elements);
  return v;
}
RespValue Simple(std::string s) { return Value(RespValue::kSimple, s); }
RespValue Error(std::string s) { return Value(RespValue::kError, s); }
RespValue Integer(int64_t v) { return Value(RespValue::kInteger, "", v); }
RespValue Bulk(std::string s) { return Value(RespValue::kBulk, s); }
RespValue Null() { return Value(RespValue::kNull); }
RespValue Array(std::vector<RespValue> e) {
  return Value(RespValue::kArray, "", 0, std::move(e));
}

// Every encoder, nested arrays included, and what ParseReply makes of it.
std::string EncodedSample(std::vector<RespValue>* values) {
  std::string out;
  AppendSimpleString(&out, "PONG");
  values->push_back(Simple("PONG"));
  AppendError(&out, "WRONGTYPE Operation against a key");
  values->push_back(Error("WRONGTYPE Operation against a key"));
  AppendInteger(&out, 0);
  values->push_back(Integer(0));
  AppendInteger(&out, INT64_MAX);
  values->push_back(Integer(INT64_MAX));
  AppendBulk(&out, std::string("\0\r\n$", 4));
  values->push_back(Bulk(std::string("\0\r\n$", 4)));
  AppendNullBulk(&out);
  values->push_back(Null());
  AppendNullArray(&out);
  values->push_back(Null());
  AppendArrayHeader(&out, 0);
  values->push_back(Array({}));
  AppendArrayHeader(&out, 3);
  AppendBulk(&out, "a");
  AppendArrayHeader(&out, 2);
  AppendInteger(&out, -1);
  AppendNullBulk(&out);
  AppendError(&out, "ERR x");
  values->push_back(
      Array({Bulk("a"), Array({Integer(-1), Null()}), Error("ERR x")}));
  return out;
}

TEST(RespReplyTest, EncodersRoundTrip) {
  std::vector<RespValue> want;
  const std::string in = EncodedSample(&want);
  absl::string_view rest = in;
  for (const RespValue& v : want) {
    size_t consumed = 0;
    absl::StatusOr<std::optional<RespValue>> got = ParseReply(rest, &consumed);
    ASSERT_TRUE(got.ok()) << got.status();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ(**got, v);
    rest.remove_prefix(consumed);
  }
  EXPECT_THAT(rest, IsEmpty());
}

TEST(RespReplyTest, EveryPrefixNeedsMore) {
  std::vector<RespValue> want;
  const std::string in = EncodedSample(&want);
  absl::string_view rest = in;
  for (const RespValue& v : want) {
    size_t whole = 0;
    ASSERT_TRUE(ParseReply(rest, &whole).ok());
    for (size_t len = 0; len < whole; ++len) {
      size_t consumed = 99;
      absl::StatusOr<std::optional<RespValue>> got =
          ParseReply(rest.substr(0, len), &consumed);
      ASSERT_TRUE(got.ok()) << got.status() << " at " << len;
      EXPECT_FALSE(got->has_value()) << len;
      EXPECT_EQ(consumed, 0u);
    }
    size_t consumed = 0;
    EXPECT_EQ(ParseReply(rest.substr(0, whole), &consumed)->value(), v);
    rest.remove_prefix(whole);
  }
}

TEST(RespReplyTest, RejectsWhatIsNotResp) {
  const std::vector<std::string> bad = {
      "?x\r\n",      "+a\nb\r\n", "+ok\n",       ":12a\r\n",       ":\r\n",
      ":01\r\n",     "$-2\r\n",   "$x\r\n",      "$3\r\nabcd\r\n", "*-2\r\n",
      "*1\r\n!\r\n", "+ok\rX",    "$1\r\na\n\n",
  };
  for (const std::string& in : bad) {
    size_t consumed = 7;
    const absl::StatusOr<std::optional<RespValue>> got =
        ParseReply(in, &consumed);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
        << absl::CHexEscape(in);
    EXPECT_EQ(consumed, 0u);
  }
}

TEST(RespReplyTest, BoundsNesting) {
  std::string ok;
  for (int i = 0; i < 64; ++i) AppendArrayHeader(&ok, 1);
  AppendInteger(&ok, 1);
  size_t consumed = 0;
  EXPECT_TRUE(ParseReply(ok, &consumed).ok());
  EXPECT_EQ(consumed, ok.size());
  const std::string deep = "*1\r\n" + ok;
  EXPECT_EQ(ParseReply(deep, &consumed).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(RespReplyTest, HugeDeclaredLengthsOnlyWait) {
  size_t consumed = 0;
  absl::StatusOr<std::optional<RespValue>> got =
      ParseReply("$9223372036854775807\r\nabc", &consumed);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
  got = ParseReply("*9223372036854775807\r\n:1\r\n", &consumed);
  ASSERT_TRUE(got.ok());
  EXPECT_FALSE(got->has_value());
}

}  // namespace
}  // namespace veloq::kv
