#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace veloq::io {

// HTTP/1.1 messages as the server sees them: a request parser and a
// response encoder. No I/O here; io/http/server.h does the sockets.
//
// Only what an observability endpoint needs: GET and HEAD (POST when
// allowed), bodies framed by Content-Length (no chunked requests), one
// response per request. Everything outside that is refused with the status
// RFC 9110/9112 asks for, never a crash.

// What a request may carry. Over a limit, the parser fails with the status
// given for it.
struct HttpLimits {
  // The request line, with its line end: 414.
  size_t max_request_line = 8 << 10;
  // The request line and every header line, with their line ends: 431.
  size_t max_header_bytes = 16 << 10;
  // Header fields: 431.
  size_t max_headers = 64;
  // Content-Length: 413.
  size_t max_body = 64 << 10;
  // POST is a method like GET; otherwise it gets 405.
  bool allow_post = false;
};

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

// A parsed request. A value; any thread.
struct HttpRequest {
  std::string method;   // "GET", "HEAD" or "POST", case as sent
  std::string target;   // as sent: "/metrics?refresh=2"
  std::string path;     // percent-decoded, no query: "/metrics"
  std::string query;    // raw, after '?': "refresh=2" ("" if none)
  HttpHeaders headers;  // in order; names as sent, values without OWS
  std::string body;
  // Whether the connection may carry another request after this one:
  // HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
  // "Connection: keep-alive".
  bool keep_alive = true;

  // The first header named `name` (ASCII case-insensitive), or nullopt.
  std::optional<absl::string_view> Header(absl::string_view name) const;
  // The first query parameter named `name`, decoded ("a+b%21" is "a b!";
  // "?flag" has the value ""), or nullopt.
  std::optional<std::string> QueryParam(absl::string_view name) const;
};

// HttpRequestParser turns the bytes of one connection into requests.
// Feed it what the socket gives, in pieces of any size, and call Next until
// it says kNeedMore:
//
//   parser.Feed(bytes);
//   HttpRequest r;
//   while (parser.Next(&r) == HttpRequestParser::Progress::kRequest) ...
//
// Pipelined requests come out one per Next, in order. Lines may end in
// CRLF or a bare LF; empty lines before a request line are skipped.
//
// Errors are final: after kError, error_status() is the status to answer
// (400 malformed request line or header, missing or repeated Host in
// HTTP/1.1, bad Content-Length; 405 a method other than GET/HEAD (/POST);
// 413 body over the limit; 414 request line over the limit; 431 header
// section over the limit; 501 Transfer-Encoding; 505 an HTTP version other
// than 1.x), the stream is out of step and the connection must close. A
// request whose first bytes cannot start a request line (a TLS handshake,
// binary noise) fails at once, before its line ends.
//
// Cost: each byte is scanned once (a line at a time); memory is what was
// fed and not yet returned.
//
// Thread-compatible.
class HttpRequestParser {
 public:
  enum class Progress { kNeedMore, kRequest, kError };

  explicit HttpRequestParser(HttpLimits limits = {});

  // Appends bytes read from the connection (ignored after an error).
  void Feed(absl::string_view bytes);

  // The next request of what was fed: kRequest (moved to *out), kNeedMore
  // (feed more), or kError (see error_status; returned from then on).
  Progress Next(HttpRequest* out);

  // After kError: the status to answer and a short reason; else 0, "".
  int error_status() const { return error_status_; }
  const std::string& error_reason() const { return error_reason_; }

  // Bytes fed and not yet returned as part of a request (a request in
  // progress, or pipelined ones behind it).
  size_t buffered() const { return buf_.size(); }
  const HttpLimits& limits() const { return limits_; }

 private:
  enum class State { kRequestLine, kHeaders, kBody };

  Progress Fail(int status, std::string reason);
  // Checks the unfinished line at the end of buf_, whose bytes from
  // `from` on are new.
  Progress CheckPartialLine(size_t from);
  bool ParseRequestLine(absl::string_view line);
  bool ParseHeaderLine(absl::string_view line);
  // The blank line: Host, framing, keep-alive.
  bool FinishHead();

  HttpLimits limits_;
  std::string buf_;  // from the start of the current request on
  State state_ = State::kRequestLine;
  size_t line_start_ = 0;      // start of the line being read
  size_t scan_ = 0;            // buf_[line_start_, scan_) holds no '\n'
  bool method_ended_ = false;  // the request line's first space was seen
  int minor_version_ = 1;      // HTTP/1.<minor>
  size_t body_length_ = 0;     // from Content-Length
  HttpRequest pending_;
  int error_status_ = 0;
  std::string error_reason_;
};

// A response. A value; any thread.
struct HttpResponse {
  int status = 200;
  std::string content_type = "text/plain; charset=utf-8";  // "": none
  std::string body;
  // Extra header fields, in order. Content-Length, Connection and
  // Transfer-Encoding belong to the encoder: any given here are dropped.
  HttpHeaders headers;

  // `status` with a text/plain body.
  static HttpResponse Text(int status, std::string body);
};

// The wire form of `response`: the status line, Content-Type,
// Content-Length (the body's length, also for HEAD), "Connection:
// keep-alive" or "close", the extra headers, then the body (none when
// `head_request`, or for 204 and 304).
//
// A status outside 200..599 is sent as 500 (1xx would break the framing).
// Header names that are not tokens are dropped and control characters in
// values (CR, LF...) become spaces, so a handler cannot split a response.
std::string Encode(const HttpResponse& response, bool keep_alive,
                   bool head_request);

// The reason phrase of `status` ("Not Found"); "" for codes without one.
absl::string_view HttpStatusText(int status);

// A text/plain response for an error: "404 Not Found: <detail>\n".
HttpResponse HttpErrorResponse(int status, absl::string_view detail);

// An IMF-fixdate for the Date header: "Sun, 06 Nov 1994 08:49:37 GMT".
std::string HttpDate(std::chrono::system_clock::time_point t);

// Decodes %XX escapes ('+' too, as a space, when `plus_is_space`).
// InvalidArgument for a '%' not followed by two hex digits.
absl::StatusOr<std::string> PercentDecode(absl::string_view s,
                                          bool plus_is_space = false);

// "a=1&b=x+y&flag" -> {{"a","1"}, {"b","x y"}, {"flag",""}}: decoded, in
// order, empty pieces skipped. InvalidArgument for a bad escape.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view query);

}  // namespace veloq::io
