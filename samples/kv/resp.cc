#include "samples/kv/resp.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <utility>

#include "absl/base/optimization.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace veloq::kv {
namespace {

// Storage a parser keeps between requests. A request with a bigger value
// (up to max_bulk_len) gets its buffer back to the allocator once it has
// been handed over, so one large SET does not pin its size per connection.
constexpr size_t kRetainedBytes = size_t{1} << 20;
constexpr size_t kRetainedArgs = size_t{1} << 12;

// isspace() in the C locale, which sdssplitargs uses to skip blanks.
bool IsBlank(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' ||
         c == '\r';
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Redis's string2ll: an optional '-', then "0" alone or digits without a
// leading zero, fitting in int64_t. Nothing else: no '+', no blanks, no
// "-0", no empty string.
std::optional<int64_t> ParseInt(absl::string_view s) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  if (s == "0") return 0;
  const bool negative = s[0] == '-';
  if (negative) s.remove_prefix(1);
  if (s.empty() || s[0] < '1' || s[0] > '9') return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (!IsDigit(c)) return std::nullopt;
    const uint64_t d = static_cast<uint64_t>(c - '0');
    if (v > (std::numeric_limits<uint64_t>::max() - d) / 10) {
      return std::nullopt;
    }
    v = v * 10 + d;
  }
  constexpr uint64_t kMaxPositive = std::numeric_limits<int64_t>::max();
  if (negative) {
    if (v > kMaxPositive + 1) return std::nullopt;
    return static_cast<int64_t>(0 - v);
  }
  if (v > kMaxPositive) return std::nullopt;
  return static_cast<int64_t>(v);
}

// The common header line, `*N\r\n` or `$N\r\n` with N a plain non-negative
// number, parsed in one pass from p[0] (the type byte) on. Returns the
// line's length with its CRLF, or 0 when the line is anything else
// (incomplete, negative, malformed, over a limit): the caller then takes
// the general path, which accepts exactly the lines accepted here, with the
// same value, and also decides the rest. Raw pointers: the hot path.
size_t ParseSimpleHeader(const char* p, const char* end, size_t max_line,
                         size_t max_value, size_t* value) {
  const char* const digits = p + 1;
  // 18 digits cannot overflow uint64_t.
  const char* const limit = end - digits > 18 ? digits + 18 : end;
  const char* q = digits;
  uint64_t v = 0;
  while (q < limit && IsDigit(*q)) {
    v = v * 10 + static_cast<uint64_t>(*q - '0');
    ++q;
  }
  if (q == digits || (*digits == '0' && q - digits > 1)) return 0;
  if (end - q < 2 || q[0] != '\r' || q[1] != '\n') return 0;
  if (static_cast<size_t>(q - p) > max_line || v > max_value) return 0;
  *value = v;
  return static_cast<size_t>(q - p) + 2;
}

// Appends `prefix`, `s` with CR and LF turned into spaces, and CRLF.
void AppendLine(std::string* out, char prefix, absl::string_view s) {
  out->push_back(prefix);
  const size_t start = out->size();
  out->append(s.data(), s.size());
  std::replace_if(
      out->begin() + static_cast<std::ptrdiff_t>(start), out->end(),
      [](char c) { return c == '\r' || c == '\n'; }, ' ');
  out->append("\r\n");
}

}  // namespace

absl::string_view Command::arg(size_t i) const {
  if (ABSL_PREDICT_FALSE(i >= ends_.size())) std::abort();
  const size_t begin = i == 0 ? 0 : ends_[i - 1];
  return absl::string_view(data_.data() + begin, ends_[i] - begin);
}

std::vector<absl::string_view> Command::args() const {
  return std::vector<absl::string_view>(begin(), end());
}

void Command::Add(absl::string_view arg) {
  AppendToArg(arg.data(), arg.size());
  EndArg();
}

ParseStatus RespParser::Next(absl::string_view in, size_t* consumed,
                             Command* cmd) {
  size_t pos = 0;
  Step step;
  do {
    step = Advance(in, &pos);
  } while (step == Step::kProgress);
  *consumed = pos;
  switch (step) {
    case Step::kCommand:
      std::swap(*cmd, building_);
      return ParseStatus::kCommand;
    case Step::kNeedMore:
      return ParseStatus::kNeedMore;
    default:
      return ParseStatus::kError;
  }
}

RespParser::Step RespParser::Advance(absl::string_view in, size_t* pos) {
  // Not in.substr: *pos <= in.size() holds, and this is the hot path.
  const absl::string_view rest(in.data() + *pos, in.size() - *pos);
  switch (state_) {
    case State::kStart:
      if (rest.empty()) return Step::kNeedMore;
      if (building_.data_.capacity() > kRetainedBytes ||
          building_.ends_.capacity() > kRetainedArgs) {
        building_ = Command();
      } else {
        building_.Clear();
      }
      Enter(rest[0] == '*' ? State::kCount : State::kInline);
      return Step::kProgress;
    case State::kInline:
      return ReadInline(rest, pos);
    case State::kCount:
      return ReadCount(rest, pos);
    case State::kBulkLen:
      return ReadBulkLen(rest, pos);
    case State::kBulkData:
      return ReadBulkData(rest, pos);
    case State::kBulkEnd:
      return ReadBulkEnd(rest, pos);
    case State::kError:
      return Step::kError;
  }
  return Step::kError;
}

RespParser::Step RespParser::ReadInline(absl::string_view rest, size_t* pos) {
  const size_t from = std::min(scanned_, rest.size());
  const void* nl = std::memchr(rest.data() + from, '\n', rest.size() - from);
  if (nl == nullptr) {
    scanned_ = rest.size();
    // The line is at least this long, whatever comes next: only a '\r' at
    // the very end may turn out to be part of its terminator.
    const size_t at_least =
        rest.size() - (!rest.empty() && rest.back() == '\r' ? 1 : 0);
    if (at_least > limits_.max_inline_len) {
      return Fail("Protocol error: too big inline request");
    }
    return Step::kNeedMore;
  }
  const size_t nl_at = static_cast<const char*>(nl) - rest.data();
  size_t len = nl_at;
  if (len > 0 && rest[len - 1] == '\r') --len;
  if (len > limits_.max_inline_len) {
    return Fail("Protocol error: too big inline request");
  }
  if (!SplitInline(rest.substr(0, len), &building_)) {
    return Fail("Protocol error: unbalanced quotes in request");
  }
  *pos += nl_at + 1;
  Enter(State::kStart);
  return building_.empty() ? Step::kProgress : Step::kCommand;
}

// sdssplitargs, bounded by the line's length instead of a NUL.
bool RespParser::SplitInline(absl::string_view line, Command* cmd) {
  const char* p = line.data();
  const char* const end = p + line.size();
  for (;;) {
    while (p < end && IsBlank(*p)) ++p;
    if (p == end) return true;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (p == end) return false;
        if (*p == '\\' && end - p >= 4 && p[1] == 'x' && HexValue(p[2]) >= 0 &&
            HexValue(p[3]) >= 0) {
          cmd->AppendToArg(
              static_cast<char>(HexValue(p[2]) * 16 + HexValue(p[3])));
          p += 3;
        } else if (*p == '\\' && end - p >= 2) {
          ++p;
          char c = *p;
          switch (c) {
            case 'n':
              c = '\n';
              break;
            case 'r':
              c = '\r';
              break;
            case 't':
              c = '\t';
              break;
            case 'b':
              c = '\b';
              break;
            case 'a':
              c = '\a';
              break;
            default:
              break;
          }
          cmd->AppendToArg(c);
        } else if (*p == '"') {
          // The closing quote must end the argument.
          if (p + 1 < end && !IsBlank(p[1])) return false;
          done = true;
        } else {
          cmd->AppendToArg(*p);
        }
      } else if (in_single) {
        if (p == end) return false;
        if (*p == '\\' && end - p >= 2 && p[1] == '\'') {
          ++p;
          cmd->AppendToArg('\'');
        } else if (*p == '\'') {
          if (p + 1 < end && !IsBlank(p[1])) return false;
          done = true;
        } else {
          cmd->AppendToArg(*p);
        }
      } else {
        if (p == end) break;
        switch (*p) {
          case ' ':
          case '\n':
          case '\r':
          case '\t':
            done = true;
            break;
          case '"':
            in_double = true;
            break;
          case '\'':
            in_single = true;
            break;
          default:
            cmd->AppendToArg(*p);
            break;
        }
      }
      ++p;
    }
    cmd->EndArg();
  }
}

RespParser::LineEnd RespParser::FindHeaderEnd(absl::string_view rest,
                                              size_t* cr) {
  const size_t from = std::min(scanned_, rest.size());
  const void* found = std::memchr(rest.data() + from, '\r', rest.size() - from);
  if (found == nullptr) {
    scanned_ = rest.size();
    return rest.size() > limits_.max_inline_len ? LineEnd::kTooLong
                                                : LineEnd::kNeedMore;
  }
  *cr = static_cast<const char*>(found) - rest.data();
  scanned_ = *cr;
  if (*cr > limits_.max_inline_len) return LineEnd::kTooLong;
  // The byte after '\r' must be here too before the line is judged.
  return *cr + 1 < rest.size() ? LineEnd::kFound : LineEnd::kNeedMore;
}

RespParser::Step RespParser::ReadCount(absl::string_view rest, size_t* pos) {
  // A line already partly searched stays on the general path. So a stream
  // split inside a header line takes the general path and one that is not
  // takes the fast path: split-invariance tests (and the fuzz target) then
  // check the two paths against each other.
  size_t count;
  size_t line =
      scanned_ == 0
          ? ParseSimpleHeader(rest.data(), rest.data() + rest.size(),
                              limits_.max_inline_len, limits_.max_args, &count)
          : 0;
  if (line == 0) {
    size_t cr;
    switch (FindHeaderEnd(rest, &cr)) {
      case LineEnd::kNeedMore:
        return Step::kNeedMore;
      case LineEnd::kTooLong:
        return Fail("Protocol error: too big mbulk count string");
      case LineEnd::kFound:
        break;
    }
    const std::optional<int64_t> n =
        ParseInt(rest.substr(1, cr > 0 ? cr - 1 : 0));
    if (rest[cr + 1] != '\n' || !n.has_value() ||
        (*n > 0 && static_cast<uint64_t>(*n) > limits_.max_args)) {
      return Fail("Protocol error: invalid multibulk length");
    }
    count = *n > 0 ? static_cast<size_t>(*n) : 0;
    line = cr + 2;
  }
  *pos += line;
  if (count == 0) {
    Enter(State::kStart);
    return Step::kProgress;
  }
  args_left_ = count;
  Enter(State::kBulkLen);
  return Step::kProgress;
}

RespParser::Step RespParser::ReadBulkLen(absl::string_view rest, size_t* pos) {
  // Fast path: arguments with plain headers that are all here, back to back,
  // each copied in one step rather than through kBulkData and kBulkEnd. As
  // in ReadCount, a line already partly searched stays on the general path.
  const char* const begin = rest.data();
  const char* const end = begin + rest.size();
  const char* p = begin;
  size_t len = 0;
  size_t line = 0;
  while (scanned_ == 0 && p < end && *p == '$') {
    line = ParseSimpleHeader(p, end, limits_.max_inline_len,
                             limits_.max_bulk_len, &len);
    if (line == 0) break;
    const char* const data = p + line;
    if (static_cast<size_t>(end - data) < len + 2 || data[len] != '\r' ||
        data[len + 1] != '\n') {
      break;
    }
    building_.AppendToArg(data, len);
    p = data + len + 2;
    line = 0;
    if (EndBulk() == Step::kCommand) {
      *pos += static_cast<size_t>(p - begin);
      return Step::kCommand;
    }
  }
  *pos += static_cast<size_t>(p - begin);
  if (line != 0) {
    // A plain header whose argument is not all here yet (or is not followed
    // by CRLF, which kBulkEnd reports).
    *pos += line;
    bulk_left_ = len;
    Enter(State::kBulkData);
    return Step::kProgress;
  }
  if (p != begin) return Step::kProgress;  // back here for the next header

  size_t cr;
  switch (FindHeaderEnd(rest, &cr)) {
    case LineEnd::kNeedMore:
      return Step::kNeedMore;
    case LineEnd::kTooLong:
      return Fail("Protocol error: too big bulk count string");
    case LineEnd::kFound:
      break;
  }
  if (rest[0] != '$') {
    return Fail(absl::StrCat("Protocol error: expected '$', got '",
                             rest.substr(0, 1), "'"));
  }
  const std::optional<int64_t> n = ParseInt(rest.substr(1, cr - 1));
  if (rest[cr + 1] != '\n' || !n.has_value() || *n < 0 ||
      static_cast<uint64_t>(*n) > limits_.max_bulk_len) {
    return Fail("Protocol error: invalid bulk length");
  }
  *pos += cr + 2;
  bulk_left_ = static_cast<size_t>(*n);
  Enter(State::kBulkData);
  return Step::kProgress;
}

RespParser::Step RespParser::ReadBulkData(absl::string_view rest, size_t* pos) {
  const size_t take = std::min(bulk_left_, rest.size());
  building_.AppendToArg(rest.data(), take);
  *pos += take;
  bulk_left_ -= take;
  if (bulk_left_ > 0) return Step::kNeedMore;
  Enter(State::kBulkEnd);
  return Step::kProgress;
}

RespParser::Step RespParser::ReadBulkEnd(absl::string_view rest, size_t* pos) {
  if (rest.size() < 2) return Step::kNeedMore;
  // More bytes than the length said: the length was wrong.
  if (rest[0] != '\r' || rest[1] != '\n') {
    return Fail("Protocol error: invalid bulk length");
  }
  *pos += 2;
  return EndBulk();
}

RespParser::Step RespParser::EndBulk() {
  building_.EndArg();
  if (--args_left_ > 0) {
    Enter(State::kBulkLen);
    return Step::kProgress;
  }
  Enter(State::kStart);
  return Step::kCommand;
}

RespParser::Step RespParser::Fail(std::string message) {
  error_ = std::move(message);
  Enter(State::kError);
  return Step::kError;
}

void AppendSimpleString(std::string* out, absl::string_view s) {
  AppendLine(out, '+', s);
}

void AppendError(std::string* out, absl::string_view message) {
  AppendLine(out, '-', message);
}

void AppendInteger(std::string* out, int64_t v) {
  absl::StrAppend(out, ":", v, "\r\n");
}

void AppendBulk(std::string* out, absl::string_view s) {
  absl::StrAppend(out, "$", s.size(), "\r\n", s, "\r\n");
}

void AppendNullBulk(std::string* out) { out->append("$-1\r\n"); }

void AppendArrayHeader(std::string* out, size_t n) {
  absl::StrAppend(out, "*", n, "\r\n");
}

void AppendNullArray(std::string* out) { out->append("*-1\r\n"); }

std::string EncodeCommand(absl::Span<const absl::string_view> args) {
  size_t size = 16;
  for (absl::string_view a : args) size += a.size() + 16;
  std::string out;
  out.reserve(size);
  AppendArrayHeader(&out, args.size());
  for (absl::string_view a : args) AppendBulk(&out, a);
  return out;
}

namespace {

constexpr int kMaxReplyDepth = 64;

// One reply decoder step: kDone with the value, or kNeedMore, or an error
// status.
enum class Decoded { kDone, kNeedMore };

// The line at in[*pos], up to "\r\n" (which it may not contain); advances
// *pos past the CRLF.
absl::StatusOr<Decoded> ReadReplyLine(absl::string_view in, size_t* pos,
                                      absl::string_view* line) {
  // Not in.substr: *pos <= in.size() holds, and this is the hot path.
  const absl::string_view rest(in.data() + *pos, in.size() - *pos);
  const size_t cr = rest.find('\r');
  if (cr == absl::string_view::npos || cr + 1 == rest.size()) {
    if (rest.find('\n') != absl::string_view::npos) {
      return absl::InvalidArgumentError("RESP line ends without \\r\\n");
    }
    return Decoded::kNeedMore;
  }
  if (rest[cr + 1] != '\n' ||
      rest.substr(0, cr).find('\n') != absl::string_view::npos) {
    return absl::InvalidArgumentError("RESP line ends without \\r\\n");
  }
  *line = rest.substr(0, cr);
  *pos += cr + 2;
  return Decoded::kDone;
}

absl::StatusOr<Decoded> DecodeValue(absl::string_view in, size_t* pos,
                                    int depth, RespValue* out) {
  if (*pos >= in.size()) return Decoded::kNeedMore;
  const char type = in[*pos];
  ++*pos;
  absl::string_view line;
  absl::StatusOr<Decoded> got = ReadReplyLine(in, pos, &line);
  if (!got.ok() || *got == Decoded::kNeedMore) return got;
  switch (type) {
    case '+':
    case '-':
      out->type = type == '+' ? RespValue::kSimple : RespValue::kError;
      out->str = std::string(line);
      return Decoded::kDone;
    case ':': {
      const std::optional<int64_t> v = ParseInt(line);
      if (!v.has_value()) {
        return absl::InvalidArgumentError(
            absl::StrCat("RESP: bad integer '", line, "'"));
      }
      out->type = RespValue::kInteger;
      out->integer = *v;
      return Decoded::kDone;
    }
    case '$': {
      const std::optional<int64_t> len = ParseInt(line);
      if (!len.has_value() || *len < -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("RESP: bad bulk length '", line, "'"));
      }
      if (*len == -1) {
        out->type = RespValue::kNull;
        return Decoded::kDone;
      }
      const uint64_t n = static_cast<uint64_t>(*len);
      if (in.size() - *pos < n + 2) return Decoded::kNeedMore;
      if (in.substr(*pos + n, 2) != "\r\n") {
        return absl::InvalidArgumentError("RESP: bulk without \\r\\n");
      }
      out->type = RespValue::kBulk;
      out->str = std::string(in.substr(*pos, n));
      *pos += n + 2;
      return Decoded::kDone;
    }
    case '*': {
      const std::optional<int64_t> count = ParseInt(line);
      if (!count.has_value() || *count < -1) {
        return absl::InvalidArgumentError(
            absl::StrCat("RESP: bad array length '", line, "'"));
      }
      if (*count == -1) {
        out->type = RespValue::kNull;
        return Decoded::kDone;
      }
      if (depth >= kMaxReplyDepth) {
        return absl::InvalidArgumentError("RESP: arrays nested too deep");
      }
      out->type = RespValue::kArray;
      // Every element takes at least 3 bytes, so the bytes at hand bound
      // what is worth reserving whatever the count claims.
      out->elements.reserve(std::min<uint64_t>(static_cast<uint64_t>(*count),
                                               (in.size() - *pos) / 3 + 1));
      for (int64_t i = 0; i < *count; ++i) {
        out->elements.emplace_back();
        got = DecodeValue(in, pos, depth + 1, &out->elements.back());
        if (!got.ok() || *got == Decoded::kNeedMore) return got;
      }
      return Decoded::kDone;
    }
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "RESP: unknown type byte 0x",
          absl::Hex(static_cast<unsigned char>(type), absl::kZeroPad2)));
  }
}

}  // namespace

absl::StatusOr<std::optional<RespValue>> ParseReply(absl::string_view in,
                                                    size_t* consumed) {
  *consumed = 0;
  size_t pos = 0;
  RespValue value;
  const absl::StatusOr<Decoded> got = DecodeValue(in, &pos, 0, &value);
  if (!got.ok()) return got.status();
  if (*got == Decoded::kNeedMore) return std::nullopt;
  *consumed = pos;
  return value;
}

}  // namespace veloq::kv
