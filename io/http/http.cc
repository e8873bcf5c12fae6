#include "io/http/http.h"

#include <algorithm>
#include <cstdint>
#include <ctime>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"

namespace veloq::io {
namespace {

// tchar (RFC 9110 5.6.2).
bool IsTokenChar(unsigned char c) {
  return absl::ascii_isalnum(c) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) !=
             absl::string_view::npos;
}

bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (unsigned char c : s) {
    if (!IsTokenChar(c)) return false;
  }
  return true;
}

// field-vchar / SP / HTAB (RFC 9110 5.5): anything but controls and DEL.
bool IsFieldValueChar(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

// Visible ASCII but '#' (a fragment never travels). Lenient on purpose:
// characters RFC 3986 wants escaped ('"', '<', '{'...) are common in the
// wild and harmless to an exact-path router.
bool IsTargetChar(unsigned char c) { return c > 0x20 && c < 0x7f && c != '#'; }

absl::string_view TrimOws(absl::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
    s.remove_suffix(1);
  }
  return s;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The path of an absolute-form target ("http://host:80/x?y" -> "/x?y"),
// which servers must accept (RFC 9112 3.2.2); nullopt for other schemes.
std::optional<absl::string_view> StripScheme(absl::string_view target) {
  for (absl::string_view scheme : {"http://", "https://"}) {
    if (target.size() >= scheme.size() &&
        absl::EqualsIgnoreCase(target.substr(0, scheme.size()), scheme)) {
      absl::string_view rest = target.substr(scheme.size());
      const size_t slash = rest.find_first_of("/?");
      if (slash == absl::string_view::npos) return absl::string_view("/");
      return rest.substr(slash);
    }
  }
  return std::nullopt;
}

// Whether a header named by the encoder may also come from the handler.
bool IsFramingHeader(absl::string_view name) {
  return absl::EqualsIgnoreCase(name, "content-length") ||
         absl::EqualsIgnoreCase(name, "connection") ||
         absl::EqualsIgnoreCase(name, "transfer-encoding");
}

// Header values from handlers: controls become spaces.
void AppendSanitized(std::string* out, absl::string_view value) {
  for (unsigned char c : value) {
    out->push_back(IsFieldValueChar(c) ? static_cast<char>(c) : ' ');
  }
}

void AppendHeader(std::string* out, absl::string_view name,
                  absl::string_view value) {
  absl::StrAppend(out, name, ": ");
  AppendSanitized(out, value);
  out->append("\r\n");
}

}  // namespace

std::optional<absl::string_view> HttpRequest::Header(
    absl::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (absl::EqualsIgnoreCase(n, name)) return absl::string_view(v);
  }
  return std::nullopt;
}

std::optional<std::string> HttpRequest::QueryParam(
    absl::string_view name) const {
  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> params =
      ParseQuery(query);
  if (!params.ok()) return std::nullopt;
  for (auto& [n, v] : *params) {
    if (n == name) return std::move(v);
  }
  return std::nullopt;
}

HttpRequestParser::HttpRequestParser(HttpLimits limits) : limits_(limits) {}

void HttpRequestParser::Feed(absl::string_view bytes) {
  if (error_status_ == 0) buf_.append(bytes.data(), bytes.size());
}

HttpRequestParser::Progress HttpRequestParser::Fail(int status,
                                                    std::string reason) {
  error_status_ = status;
  error_reason_ = std::move(reason);
  buf_.clear();
  return Progress::kError;
}

HttpRequestParser::Progress HttpRequestParser::Next(HttpRequest* out) {
  if (error_status_ != 0) return Progress::kError;
  while (state_ != State::kBody) {
    if (state_ == State::kRequestLine && scan_ == 0) {
      // Empty lines before a request line are skipped (RFC 9112 2.2).
      size_t n = 0;
      while (n < buf_.size() && (buf_[n] == '\r' || buf_[n] == '\n')) ++n;
      buf_.erase(0, n);
    }
    const size_t from = scan_;
    const size_t nl = buf_.find('\n', from);
    if (nl == std::string::npos) {
      scan_ = buf_.size();
      return CheckPartialLine(from);
    }
    absl::string_view line(buf_.data() + line_start_, nl - line_start_);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    line_start_ = scan_ = nl + 1;
    if (state_ == State::kRequestLine) {
      if (nl + 1 > limits_.max_request_line) {
        return Fail(414, "request line too long");
      }
      if (!ParseRequestLine(line)) return Progress::kError;
      state_ = State::kHeaders;
    } else if (nl + 1 > limits_.max_header_bytes) {
      return Fail(431, "header section too large");
    } else if (line.empty()) {
      if (!FinishHead()) return Progress::kError;
      state_ = State::kBody;
    } else if (!ParseHeaderLine(line)) {
      return Progress::kError;
    }
  }
  if (buf_.size() - line_start_ < body_length_) return Progress::kNeedMore;
  pending_.body.assign(buf_, line_start_, body_length_);
  buf_.erase(0, line_start_ + body_length_);
  *out = std::move(pending_);
  pending_ = HttpRequest();
  state_ = State::kRequestLine;
  line_start_ = scan_ = 0;
  method_ended_ = false;
  minor_version_ = 1;
  body_length_ = 0;
  return Progress::kRequest;
}

HttpRequestParser::Progress HttpRequestParser::CheckPartialLine(size_t from) {
  if (state_ == State::kRequestLine) {
    if (buf_.size() > limits_.max_request_line) {
      return Fail(414, "request line too long");
    }
    // The method comes first: a byte that can be neither part of it nor the
    // space after it means this is not HTTP, whatever follows. (Only the
    // new bytes are looked at: each byte once.)
    for (size_t i = from; i < buf_.size() && !method_ended_; ++i) {
      const unsigned char c = buf_[i];
      if (c == ' ') {
        method_ended_ = true;
      } else if (!IsTokenChar(c)) {
        return Fail(400, "malformed method");
      }
    }
  } else if (buf_.size() > limits_.max_header_bytes) {
    return Fail(431, "header section too large");
  }
  return Progress::kNeedMore;
}

bool HttpRequestParser::ParseRequestLine(absl::string_view line) {
  // method SP request-target SP HTTP-version, single spaces.
  const size_t sp1 = line.find(' ');
  const size_t sp2 = line.rfind(' ');
  if (sp1 == absl::string_view::npos || sp1 == sp2) {
    Fail(400, "malformed request line");
    return false;
  }
  const absl::string_view method = line.substr(0, sp1);
  const absl::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const absl::string_view version = line.substr(sp2 + 1);
  if (!IsToken(method)) {
    Fail(400, "malformed method");
    return false;
  }
  if (target.empty()) {
    Fail(400, "empty request target");
    return false;
  }
  for (unsigned char c : target) {
    if (!IsTargetChar(c)) {
      Fail(400, "bad character in request target");
      return false;
    }
  }
  if (version.size() != 8 || !absl::StartsWith(version, "HTTP/") ||
      !absl::ascii_isdigit(version[5]) || version[6] != '.' ||
      !absl::ascii_isdigit(version[7])) {
    Fail(400, "malformed HTTP version");
    return false;
  }
  if (version[5] != '1') {
    Fail(505, absl::StrCat(version, " is not supported"));
    return false;
  }
  minor_version_ = version[7] - '0';
  const bool allowed = method == "GET" || method == "HEAD" ||
                       (limits_.allow_post && method == "POST");
  if (!allowed) {
    Fail(405, absl::StrCat("method ", method, " is not allowed"));
    return false;
  }

  absl::string_view origin = target;
  if (target.front() != '/') {
    std::optional<absl::string_view> stripped = StripScheme(target);
    if (!stripped) {
      Fail(400, "request target is not a path");
      return false;
    }
    origin = *stripped;
  }
  const size_t q = origin.find('?');
  absl::StatusOr<std::string> path = PercentDecode(origin.substr(0, q));
  if (!path.ok() || path->find('\0') != std::string::npos) {
    Fail(400, "bad escape in path");
    return false;
  }
  pending_.query = q == absl::string_view::npos
                       ? std::string()
                       : std::string(origin.substr(q + 1));
  if (!ParseQuery(pending_.query).ok()) {
    Fail(400, "bad escape in query");
    return false;
  }
  pending_.method = std::string(method);
  pending_.target = std::string(target);
  pending_.path = *std::move(path);
  return true;
}

bool HttpRequestParser::ParseHeaderLine(absl::string_view line) {
  if (line.front() == ' ' || line.front() == '\t') {
    Fail(400, "obsolete header line folding");
    return false;
  }
  const size_t colon = line.find(':');
  if (colon == absl::string_view::npos) {
    Fail(400, "header line without ':'");
    return false;
  }
  // No whitespace between name and colon (RFC 9112 5.1): IsToken refuses it.
  const absl::string_view name = line.substr(0, colon);
  if (!IsToken(name)) {
    Fail(400, "malformed header name");
    return false;
  }
  const absl::string_view value = TrimOws(line.substr(colon + 1));
  for (unsigned char c : value) {
    if (!IsFieldValueChar(c)) {
      Fail(400, "control character in header value");
      return false;
    }
  }
  if (pending_.headers.size() >= limits_.max_headers) {
    Fail(431, "too many header fields");
    return false;
  }
  pending_.headers.emplace_back(std::string(name), std::string(value));
  return true;
}

bool HttpRequestParser::FinishHead() {
  int hosts = 0;
  bool close = false;
  bool keep_alive = false;
  std::optional<absl::string_view> length;
  for (const auto& [name, value] : pending_.headers) {
    if (absl::EqualsIgnoreCase(name, "host")) {
      ++hosts;
    } else if (absl::EqualsIgnoreCase(name, "transfer-encoding")) {
      // Only Content-Length framing; chunked request bodies are not needed
      // by anything this serves (RFC 9112 6.1: 501).
      Fail(501, "Transfer-Encoding is not supported");
      return false;
    } else if (absl::EqualsIgnoreCase(name, "content-length")) {
      if (length && *length != value) {
        Fail(400, "conflicting Content-Length");
        return false;
      }
      length = value;
    } else if (absl::EqualsIgnoreCase(name, "connection")) {
      for (absl::string_view option : absl::StrSplit(value, ',')) {
        option = TrimOws(option);
        close = close || absl::EqualsIgnoreCase(option, "close");
        keep_alive = keep_alive || absl::EqualsIgnoreCase(option, "keep-alive");
      }
    }
  }
  if (hosts > 1 || (hosts == 0 && minor_version_ >= 1)) {
    Fail(400, hosts == 0 ? "missing Host" : "more than one Host");
    return false;
  }
  body_length_ = 0;
  if (length) {
    if (length->empty() ||
        !std::all_of(length->begin(), length->end(), absl::ascii_isdigit)) {
      Fail(400, "malformed Content-Length");
      return false;
    }
    // Leading zeros aside, 20 digits could overflow: already too large.
    const absl::string_view digits = length->substr(
        std::min(length->find_first_not_of('0'), length->size()));
    uint64_t n = 0;
    bool too_large = digits.size() > 19;
    for (size_t i = 0; i < digits.size() && !too_large; ++i) {
      n = n * 10 + static_cast<uint64_t>(digits[i] - '0');
    }
    if (too_large || n > limits_.max_body) {
      Fail(413, absl::StrCat("body over ", limits_.max_body, " bytes"));
      return false;
    }
    body_length_ = static_cast<size_t>(n);
  }
  pending_.keep_alive = !close && (minor_version_ >= 1 || keep_alive);
  return true;
}

HttpResponse HttpResponse::Text(int status, std::string body) {
  HttpResponse r;
  r.status = status;
  r.body = std::move(body);
  return r;
}

absl::string_view HttpStatusText(int status) {
  struct Known {
    int status;
    const char* text;
  };
  static constexpr Known kKnown[] = {
      {200, "OK"},
      {201, "Created"},
      {202, "Accepted"},
      {204, "No Content"},
      {301, "Moved Permanently"},
      {302, "Found"},
      {304, "Not Modified"},
      {307, "Temporary Redirect"},
      {400, "Bad Request"},
      {401, "Unauthorized"},
      {403, "Forbidden"},
      {404, "Not Found"},
      {405, "Method Not Allowed"},
      {408, "Request Timeout"},
      {409, "Conflict"},
      {413, "Content Too Large"},
      {414, "URI Too Long"},
      {429, "Too Many Requests"},
      {431, "Request Header Fields Too Large"},
      {500, "Internal Server Error"},
      {501, "Not Implemented"},
      {503, "Service Unavailable"},
      {505, "HTTP Version Not Supported"},
  };
  for (const Known& k : kKnown) {
    if (k.status == status) return k.text;
  }
  return "";
}

std::string Encode(const HttpResponse& response, bool keep_alive,
                   bool head_request) {
  const int status =
      response.status >= 200 && response.status <= 599 ? response.status : 500;
  const bool has_body = status != 204 && status != 304;
  std::string out =
      absl::StrCat("HTTP/1.1 ", status, " ", HttpStatusText(status), "\r\n");
  if (!response.content_type.empty()) {
    AppendHeader(&out, "Content-Type", response.content_type);
  }
  if (has_body) {
    absl::StrAppend(&out, "Content-Length: ", response.body.size(), "\r\n");
  }
  absl::StrAppend(&out, "Connection: ", keep_alive ? "keep-alive" : "close",
                  "\r\n");
  for (const auto& [name, value] : response.headers) {
    if (!IsToken(name) || IsFramingHeader(name)) continue;
    AppendHeader(&out, name, value);
  }
  out.append("\r\n");
  if (has_body && !head_request) out.append(response.body);
  return out;
}

HttpResponse HttpErrorResponse(int status, absl::string_view detail) {
  return HttpResponse::Text(
      status,
      absl::StrCat(status, " ", HttpStatusText(status), ": ", detail, "\n"));
}

std::string HttpDate(std::chrono::system_clock::time_point t) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed",
                                          "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr",
                                            "May", "Jun", "Jul", "Aug",
                                            "Sep", "Oct", "Nov", "Dec"};
  const std::time_t secs = std::chrono::system_clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return absl::StrFormat("%s, %02d %s %04d %02d:%02d:%02d GMT",
                         kDays[tm.tm_wday], tm.tm_mday, kMonths[tm.tm_mon],
                         tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
}

absl::StatusOr<std::string> PercentDecode(absl::string_view s,
                                          bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      const int hi = i + 2 < s.size() ? HexValue(s[i + 1]) : -1;
      const int lo = hi >= 0 ? HexValue(s[i + 2]) : -1;
      if (lo < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("bad percent-escape at offset ", i));
      }
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view query) {
  std::vector<std::pair<std::string, std::string>> out;
  for (absl::string_view piece : absl::StrSplit(query, '&')) {
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    absl::StatusOr<std::string> name =
        PercentDecode(piece.substr(0, eq), /*plus_is_space=*/true);
    if (!name.ok()) return name.status();
    absl::StatusOr<std::string> value =
        eq == absl::string_view::npos
            ? std::string()
            : PercentDecode(piece.substr(eq + 1), /*plus_is_space=*/true);
    if (!value.ok()) return value.status();
    out.emplace_back(*std::move(name), *std::move(value));
  }
  return out;
}

}  // namespace veloq::io
