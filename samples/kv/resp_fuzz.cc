// libFuzzer target for the RESP request parser (and, for crashes only, the
// reply decoder). For every input it checks, aborting on a violation:
//   - Feeding the input whole, split in two at a point the first byte picks,
//     in pieces whose size the second byte picks, and byte by byte (inputs up
//     to 256 bytes) gives the same commands, final status, error message and
//     unconsumed bytes. A parser that lost or invented state across reads,
//     or whose fast path disagreed with its general one, fails this.
//   - Every command re-encodes (EncodeCommand) to a request that parses back
//     to exactly that command.
//   - An error is one of the parser's documented messages.
// It runs once with small limits, which reach every limit check with short
// inputs, and once with the defaults.
//
// Build and run (seeds in samples/kv/testdata/resp_corpus):
//   clang++ -std=c++20 -g -O1 -fsanitize=fuzzer,address,undefined \
//     -I. samples/kv/resp.cc samples/kv/resp_fuzz.cc <absl libs> -o resp_fuzz
//   ./resp_fuzz -max_total_time=60 corpus_dir samples/kv/testdata/resp_corpus

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "samples/kv/resp.h"

namespace veloq::kv {
namespace {

struct Outcome {
  std::vector<Command> commands;
  ParseStatus last = ParseStatus::kNeedMore;
  std::string error;
  std::string leftover;

  friend bool operator==(const Outcome& a, const Outcome& b) = default;
};

void Check(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "resp_fuzz: %s\n", what);
    std::abort();
  }
}

// Feeds the chunks in order as a connection would: append, call Next until
// it stops, drop what it consumed.
Outcome Feed(absl::Span<const absl::string_view> chunks,
             const RespLimits& limits) {
  RespParser parser(limits);
  Outcome out;
  std::string buffer;
  Command cmd;
  for (absl::string_view chunk : chunks) {
    buffer.append(chunk.data(), chunk.size());
    for (;;) {
      size_t consumed = 0;
      const bool failed = out.last == ParseStatus::kError;
      out.last = parser.Next(buffer, &consumed, &cmd);
      Check(consumed <= buffer.size(), "consumed more than it was given");
      Check(!failed || (out.last == ParseStatus::kError && consumed == 0),
            "a failed parser went on");
      buffer.erase(0, consumed);
      if (out.last != ParseStatus::kCommand) break;
      Check(!cmd.empty(), "an empty command");
      out.commands.push_back(cmd);
    }
  }
  out.error = parser.error();
  out.leftover = std::move(buffer);
  return out;
}

std::vector<absl::string_view> Pieces(absl::string_view in, size_t size) {
  std::vector<absl::string_view> pieces;
  for (size_t at = 0; at < in.size(); at += size) {
    pieces.push_back(in.substr(at, size));
  }
  return pieces;
}

bool IsDocumentedError(const std::string& e) {
  constexpr absl::string_view kExpected = "Protocol error: expected '$', got '";
  return e == "Protocol error: invalid multibulk length" ||
         e == "Protocol error: invalid bulk length" ||
         e == "Protocol error: unbalanced quotes in request" ||
         e == "Protocol error: too big inline request" ||
         e == "Protocol error: too big mbulk count string" ||
         e == "Protocol error: too big bulk count string" ||
         (e.size() == kExpected.size() + 2 && absl::StartsWith(e, kExpected) &&
          e.back() == '\'');
}

void FuzzParser(absl::string_view in, const RespLimits& limits) {
  const Outcome whole = Feed({in}, limits);
  Check((whole.last == ParseStatus::kError) == !whole.error.empty(),
        "error() disagrees with the status");
  Check(whole.error.empty() || IsDocumentedError(whole.error),
        "an undocumented error message");

  const size_t cut =
      in.empty() ? 0 : static_cast<uint8_t>(in[0]) * in.size() / 255;
  const absl::string_view two[] = {in.substr(0, cut), in.substr(cut)};
  Check(Feed(two, limits) == whole, "split in two differs from whole");
  const size_t piece = in.size() < 2 ? 1 : 1 + static_cast<uint8_t>(in[1]) % 16;
  Check(Feed(Pieces(in, piece), limits) == whole,
        "small pieces differ from whole");
  if (in.size() <= 256) {
    Check(Feed(Pieces(in, 1), limits) == whole,
          "byte by byte differs from whole");
  }

  for (const Command& cmd : whole.commands) {
    const std::string request = EncodeCommand(cmd.args());
    const Outcome again = Feed({request}, RespLimits{});
    Check(again.commands.size() == 1 && again.commands[0] == cmd &&
              again.last == ParseStatus::kNeedMore && again.leftover.empty(),
          "a command does not survive EncodeCommand");
  }
}

void FuzzReply(absl::string_view in) {
  size_t consumed = 0;
  const absl::StatusOr<std::optional<RespValue>> got =
      ParseReply(in, &consumed);
  Check(consumed <= in.size(), "reply consumed more than it was given");
  Check((got.ok() && got->has_value()) == (consumed > 0),
        "reply consumed without a value");
}

}  // namespace
}  // namespace veloq::kv

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view in(reinterpret_cast<const char*>(data), size);
  veloq::kv::FuzzParser(in, veloq::kv::RespLimits{
                                .max_bulk_len = 64,
                                .max_args = 8,
                                .max_inline_len = 16,
                            });
  veloq::kv::FuzzParser(in, veloq::kv::RespLimits{});
  veloq::kv::FuzzReply(in);
  return 0;
}
