#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace veloq::kv {

// The RESP2 protocol as a Redis server speaks it, with no networking: the
// request parser (Command, RespParser), the reply encoders (Append*), and a
// client-side reply decoder with a request encoder (RespValue, ParseReply,
// EncodeCommand) for tests and in-process clients.

// RespLimits bounds what one request may make the server buffer. The
// defaults are Redis's (proto-max-bulk-len, the multibulk count cap it
// enforces through INT_MAX and client-query-buffer-limit, and
// PROTO_INLINE_MAX_SIZE).
struct RespLimits {
  // Longest bulk argument; a longer `$len` is "invalid bulk length".
  size_t max_bulk_len = size_t{512} << 20;
  // Most arguments in one multibulk; more is "invalid multibulk length".
  size_t max_args = size_t{1} << 20;
  // Longest inline request line (without its "\r\n" or "\n"), and longest
  // `*count` / `$len` header line (from the '*' or '$' to the '\r').
  size_t max_inline_len = size_t{64} << 10;
};

// Command is the arguments of one request, in order: arg(0) is the command
// name as the client sent it (case preserved). The bytes of all arguments
// live in one buffer and the arguments are end offsets into it, so a Command
// reused across requests (Clear keeps both capacities) costs no allocation
// per argument or per request once warm. Arguments are binary-safe: any
// byte, "\r\n" and '\0' included.
//
// A value type: copyable, movable, comparable. Thread-compatible. Views
// returned by arg(), args() and iteration point into the Command and stay
// valid until it is next modified, moved from or destroyed.
class Command {
 public:
  class Iterator;

  Command() = default;

  size_t size() const { return ends_.size(); }
  bool empty() const { return ends_.empty(); }
  // Total bytes of all arguments.
  size_t bytes() const { return data_.size(); }

  // REQUIRES: i < size() (aborts otherwise).
  absl::string_view arg(size_t i) const;

  // Every argument, as a vector of views (allocates: for tests and cold
  // paths; the hot path uses arg() or iteration).
  std::vector<absl::string_view> args() const;

  Iterator begin() const;
  Iterator end() const;

  // Appends one argument (a copy of `arg`).
  void Add(absl::string_view arg);

  // Removes every argument; keeps the storage for reuse.
  void Clear() {
    data_.clear();
    ends_.clear();
  }

  friend bool operator==(const Command& a, const Command& b) = default;

 private:
  friend class RespParser;

  // The parser builds arguments in place: bytes go to the open argument
  // (the bytes after the last end), and EndArg closes it.
  void AppendToArg(const char* bytes, size_t n) { data_.append(bytes, n); }
  void AppendToArg(char c) { data_.push_back(c); }
  void EndArg() { ends_.push_back(data_.size()); }

  std::string data_;
  std::vector<size_t> ends_;  // ends_[i] is one past the last byte of arg i
};

// Iterates a Command's arguments in order, yielding absl::string_view.
class Command::Iterator {
 public:
  using iterator_category = std::forward_iterator_tag;
  using value_type = absl::string_view;
  using difference_type = std::ptrdiff_t;
  using pointer = void;
  using reference = absl::string_view;

  Iterator() = default;
  absl::string_view operator*() const { return cmd_->arg(i_); }
  Iterator& operator++() {
    ++i_;
    return *this;
  }
  Iterator operator++(int) {
    Iterator old = *this;
    ++i_;
    return old;
  }
  friend bool operator==(const Iterator& a, const Iterator& b) = default;

 private:
  friend class Command;
  Iterator(const Command* cmd, size_t i) : cmd_(cmd), i_(i) {}

  const Command* cmd_ = nullptr;
  size_t i_ = 0;
};

inline Command::Iterator Command::begin() const { return Iterator(this, 0); }
inline Command::Iterator Command::end() const { return Iterator(this, size()); }

enum class ParseStatus {
  kCommand,   // *cmd holds the next request
  kNeedMore,  // every byte given was used or is needed again: read more
  kError,     // protocol error, see RespParser::error(); close the connection
};

// RespParser turns a connection's byte stream into Commands, one request at
// a time, the way Redis's processInputBuffer does: a request that starts
// with '*' is a multibulk (`*N\r\n` then N times `$len\r\n<len bytes>\r\n`);
// anything else is an inline request, one line split like sdssplitargs
// (blanks separate arguments; "double quotes" take \n \r \t \b \a \\ \" and
// \xHH escapes; 'single quotes' take \' only; a closing quote must be
// followed by a blank or the end of the line). Requests with no arguments
// (empty or blank inline lines, `*0\r\n`, `*-1\r\n` or any negative count)
// are skipped. Errors carry Redis's wording (see error()).
//
// Where it departs from Redis, it is stricter or binary-safe:
//   - After a bulk's bytes there must be "\r\n", and a header line's '\r'
//     must be followed by '\n' (Redis skips two bytes unchecked): an
//     "invalid bulk length" or "invalid multibulk length" error otherwise.
//   - An inline line may hold '\0' (Redis stops at it); it is an ordinary
//     byte of an argument.
//   - The length caps are checked on the line whenever it is seen, so the
//     outcome never depends on how the stream was split into reads.
//
// Streaming contract: the caller keeps a buffer of the bytes not yet
// consumed and passes all of them, oldest first, on every call (new bytes
// appended at the end). Next consumes what it has used, which may be more
// than zero bytes even when it returns kNeedMore: a bulk argument's bytes
// are copied out as they arrive, and a partial header or inline line is
// never scanned twice, so feeding a request in pieces costs time linear in
// its size whatever the piece size. The caller's buffer needs room for
// limits.max_inline_len + 2 unconsumed bytes at most: beyond that Next
// either consumes or fails.
//
// Thread-compatible: one parser per connection, one call at a time.
class RespParser {
 public:
  explicit RespParser(RespLimits limits = {}) : limits_(limits) {}

  RespParser(const RespParser&) = delete;
  RespParser& operator=(const RespParser&) = delete;

  // Parses from `in`, the unconsumed bytes (see the class comment), and sets
  // *consumed to how many leading bytes of `in` it used: drop them before
  // the next call. Stops at the first complete request:
  //   kCommand:  *cmd holds it (its previous contents and storage are taken
  //              by the parser for reuse, so pass the same Command or a
  //              cleared one to recycle allocations).
  //   kNeedMore: no complete request yet; call again with more bytes.
  //   kError:    a protocol error; error() says which. The parser stays in
  //              this state: every later call returns kError and consumes
  //              nothing. Reply with an error and close the connection.
  // *cmd is untouched unless kCommand is returned.
  [[nodiscard]] ParseStatus Next(absl::string_view in, size_t* consumed,
                                 Command* cmd);

  // Once Next has returned kError: Redis's message, without the "ERR "
  // prefix a server puts before it, e.g. "Protocol error: invalid bulk
  // length". One of:
  //   Protocol error: invalid multibulk length
  //   Protocol error: invalid bulk length
  //   Protocol error: expected '$', got 'X'   (X: the byte found)
  //   Protocol error: unbalanced quotes in request
  //   Protocol error: too big inline request
  //   Protocol error: too big mbulk count string
  //   Protocol error: too big bulk count string
  // Empty before any error.
  const std::string& error() const { return error_; }

  const RespLimits& limits() const { return limits_; }

 private:
  enum class State : uint8_t {
    kStart,     // before the first byte of a request
    kInline,    // in an inline line, not yet complete
    kCount,     // in the `*N\r\n` line
    kBulkLen,   // in a `$len\r\n` line
    kBulkData,  // copying a bulk argument's bytes
    kBulkEnd,   // expecting the "\r\n" after a bulk argument
    kError,
  };
  // What one step of the state machine did.
  enum class Step : uint8_t { kProgress, kCommand, kNeedMore, kError };
  enum class LineEnd : uint8_t { kFound, kNeedMore, kTooLong };

  // Each step parses from in[*pos] in the current state and advances *pos
  // past what it consumed.
  Step Advance(absl::string_view in, size_t* pos);
  Step ReadInline(absl::string_view rest, size_t* pos);
  Step ReadCount(absl::string_view rest, size_t* pos);
  Step ReadBulkLen(absl::string_view rest, size_t* pos);
  Step ReadBulkData(absl::string_view rest, size_t* pos);
  Step ReadBulkEnd(absl::string_view rest, size_t* pos);
  // Closes the bulk argument just read: on to the next one, or done.
  Step EndBulk();

  // Finds the '\r' ending the header line at the start of `rest`, resuming
  // the search where the previous call left it.
  LineEnd FindHeaderEnd(absl::string_view rest, size_t* cr);
  // Appends the arguments of an inline request line (without its line end)
  // to *cmd; false on unbalanced quotes.
  static bool SplitInline(absl::string_view line, Command* cmd);
  void Enter(State state) {
    state_ = state;
    scanned_ = 0;
  }
  Step Fail(std::string message);

  RespLimits limits_;
  State state_ = State::kStart;
  // Bytes of the current line (header or inline) already searched for its
  // end, counted from the line's first byte, which is still unconsumed.
  size_t scanned_ = 0;
  size_t args_left_ = 0;  // bulk arguments still to read in this multibulk
  size_t bulk_left_ = 0;  // bytes of the current bulk argument still to read
  Command building_;      // the request being parsed
  std::string error_;
};

// Reply encoders: each appends one RESP2 value to *out.

// "+s\r\n". Any '\r' or '\n' in `s` is written as a space.
void AppendSimpleString(std::string* out, absl::string_view s);
// "-message\r\n". `message` comes without the '-' and the CRLF and starts
// with the error code by convention ("ERR unknown command 'FOO'",
// "WRONGTYPE ..."). Any '\r' or '\n' in it is written as a space, as Redis
// does, so a message can never break the reply stream.
void AppendError(std::string* out, absl::string_view message);
// ":v\r\n".
void AppendInteger(std::string* out, int64_t v);
// "$len\r\n<s>\r\n"; binary-safe.
void AppendBulk(std::string* out, absl::string_view s);
// "$-1\r\n", RESP2's nil.
void AppendNullBulk(std::string* out);
// "*n\r\n"; the n elements follow, each appended by its own encoder.
void AppendArrayHeader(std::string* out, size_t n);
// "*-1\r\n", the nil array.
void AppendNullArray(std::string* out);

// A request as a client sends it: `*N\r\n` and one bulk per argument.
std::string EncodeCommand(absl::Span<const absl::string_view> args);

// RespValue is one decoded RESP2 reply. A value type.
struct RespValue {
  enum Type { kSimple, kError, kInteger, kBulk, kNull, kArray };

  Type type = kNull;
  std::string str;      // kSimple, kBulk; kError: the message without the '-'
  int64_t integer = 0;  // kInteger
  std::vector<RespValue> elements;  // kArray

  friend bool operator==(const RespValue& a, const RespValue& b) = default;
};

// Decodes the reply at the start of `in`. Returns the value and sets
// *consumed to its length in bytes; std::nullopt (with *consumed = 0) when
// `in` holds only a prefix of a reply; InvalidArgument when `in` is not
// RESP2 (a bad type byte, length or integer, a line without "\r\n", or
// arrays nested deeper than 64). Both the nil bulk and the nil array decode
// as kNull. Stateless: an incomplete reply is decoded again from its start
// on the next call, which is fine for tests and in-process clients.
absl::StatusOr<std::optional<RespValue>> ParseReply(absl::string_view in,
                                                    size_t* consumed);

}  // namespace veloq::kv
