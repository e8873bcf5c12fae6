#include "io/http/http.h"

#include <chrono>
#include <cstddef>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace veloq::io {
namespace {

constexpr size_t kWhole = ~size_t{0};

struct Parsed {
  std::vector<HttpRequest> requests;
  int error = 0;         // the parser's error_status, 0 if none
  size_t left_over = 0;  // buffered() at the end
};

// Feeds `wire` in pieces of `piece` bytes, taking every request out after
// each piece, as a connection would.
Parsed ParseAll(absl::string_view wire, size_t piece = kWhole,
                HttpLimits limits = {}) {
  HttpRequestParser parser(limits);
  Parsed out;
  for (size_t at = 0; at < wire.size(); at += std::min(piece, wire.size())) {
    parser.Feed(wire.substr(at, piece));
    for (;;) {
      HttpRequest r;
      const HttpRequestParser::Progress p = parser.Next(&r);
      if (p == HttpRequestParser::Progress::kRequest) {
        out.requests.push_back(std::move(r));
        continue;
      }
      if (p == HttpRequestParser::Progress::kError) {
        out.error = parser.error_status();
        return out;
      }
      break;
    }
  }
  out.left_over = parser.buffered();
  return out;
}

TEST(HttpParserTest, ParsesARequest) {
  Parsed p = ParseAll(
      "GET /metrics%2Fall?refresh=2&name=a+b HTTP/1.1\r\n"
      "Host: localhost:9100\r\n"
      "User-Agent:  curl/7.88 \t\r\n"
      "Accept: */*\r\n"
      "\r\n");
  ASSERT_EQ(p.error, 0);
  ASSERT_EQ(p.requests.size(), 1u);
  const HttpRequest& r = p.requests[0];
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/metrics%2Fall?refresh=2&name=a+b");
  EXPECT_EQ(r.path, "/metrics/all");
  EXPECT_EQ(r.query, "refresh=2&name=a+b");
  ASSERT_EQ(r.headers.size(), 3u);
  EXPECT_EQ(r.headers[1].first, "User-Agent");
  EXPECT_EQ(r.headers[1].second, "curl/7.88");  // OWS trimmed
  EXPECT_EQ(r.Header("user-agent"), "curl/7.88");
  EXPECT_EQ(r.Header("HOST"), "localhost:9100");
  EXPECT_EQ(r.Header("Cookie"), std::nullopt);
  EXPECT_EQ(r.QueryParam("refresh"), "2");
  EXPECT_EQ(r.QueryParam("name"), "a b");
  EXPECT_EQ(r.QueryParam("missing"), std::nullopt);
  EXPECT_TRUE(r.body.empty());
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(p.left_over, 0u);
}

TEST(HttpParserTest, AcceptsBareLineFeedsLeadingBlankLinesAndAbsoluteForm) {
  Parsed p = ParseAll(
      "\r\n\r\nGET http://example.com:80/x?y=1 HTTP/1.1\nHost: e\n\n"
      "HEAD https://example.com HTTP/1.1\r\nHost: e\r\n\r\n");
  ASSERT_EQ(p.error, 0);
  ASSERT_EQ(p.requests.size(), 2u);
  EXPECT_EQ(p.requests[0].path, "/x");
  EXPECT_EQ(p.requests[0].query, "y=1");
  EXPECT_EQ(p.requests[1].method, "HEAD");
  EXPECT_EQ(p.requests[1].path, "/");
}

// Three pipelined requests (one with a body), whole and one byte at a time:
// the same requests, in order, nothing left over.
TEST(HttpParserTest, PipelinedRequestsWholeOrByteByByte) {
  const std::string wire =
      "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
      "POST /b?x=1 HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n"
      "hello\r\nbody"
      "HEAD /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n";
  HttpLimits limits;
  limits.allow_post = true;
  for (size_t piece : {kWhole, size_t{1}, size_t{7}}) {
    SCOPED_TRACE(piece);
    Parsed p = ParseAll(wire, piece, limits);
    ASSERT_EQ(p.error, 0);
    ASSERT_EQ(p.requests.size(), 3u);
    EXPECT_EQ(p.requests[0].method, "GET");
    EXPECT_EQ(p.requests[0].path, "/a");
    EXPECT_EQ(p.requests[1].method, "POST");
    EXPECT_EQ(p.requests[1].body, "hello\r\nbody");
    EXPECT_EQ(p.requests[1].QueryParam("x"), "1");
    EXPECT_EQ(p.requests[2].method, "HEAD");
    EXPECT_FALSE(p.requests[2].keep_alive);
    EXPECT_EQ(p.left_over, 0u);
  }
}

TEST(HttpParserTest, NeedsMoreUntilTheRequestIsComplete) {
  HttpRequestParser parser;
  HttpRequest r;
  parser.Feed("GET / HTTP/1.1\r\nHost: h\r\n");
  EXPECT_EQ(parser.Next(&r), HttpRequestParser::Progress::kNeedMore);
  EXPECT_EQ(parser.buffered(), 25u);
  parser.Feed("\r");
  EXPECT_EQ(parser.Next(&r), HttpRequestParser::Progress::kNeedMore);
  parser.Feed("\nGET /next");  // the next request has begun
  EXPECT_EQ(parser.Next(&r), HttpRequestParser::Progress::kRequest);
  EXPECT_EQ(r.path, "/");
  EXPECT_EQ(parser.Next(&r), HttpRequestParser::Progress::kNeedMore);
  EXPECT_EQ(parser.buffered(), 9u);
}

struct ErrorCase {
  const char* name;
  std::string wire;
  int status;
};

// Small limits, so that the limit cases stay readable.
HttpLimits SmallLimits() {
  HttpLimits l;
  l.max_request_line = 64;
  l.max_header_bytes = 128;
  l.max_headers = 4;
  l.max_body = 16;
  return l;
}

// Every refusal, with its status; the same whether the bytes come whole or
// one at a time.
TEST(HttpParserTest, EachMalformedRequestGetsItsStatus) {
  const std::string ok_line = "GET / HTTP/1.1\r\n";
  const std::vector<ErrorCase> cases = {
      {"no target or version", "GET\r\n\r\n", 400},
      {"HTTP/0.9 style", "GET /x\r\n\r\n", 400},
      {"double space", "GET  /x HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"bad method character", "G@T / HTTP/1.1\r\n\r\n", 400},
      {"garbage without a line end", "\x16\x03\x01\x02\x00\x01", 400},
      {"target not a path", "GET example.com HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"asterisk target", "GET * HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"control in target", "GET /a\x01 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"bad escape in path", "GET /a%zz HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"escaped NUL in path", "GET /a%00 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"bad escape in query", "GET /a?x=%4 HTTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"malformed version", "GET / HTTP/1\r\nHost: h\r\n\r\n", 400},
      {"not HTTP", "GET / FTP/1.1\r\nHost: h\r\n\r\n", 400},
      {"space before colon", ok_line + "Host : h\r\n\r\n", 400},
      {"header without colon", ok_line + "Host: h\r\nNoColon\r\n\r\n", 400},
      {"folded header", ok_line + "Host: h\r\nX: a\r\n  b\r\n\r\n", 400},
      {"control in value", ok_line + "Host: h\r\nX: a\x01\r\n\r\n", 400},
      {"bare CR in value", ok_line + "Host: h\r\nX: a\rb\r\n\r\n", 400},
      {"no Host in 1.1", ok_line + "\r\n", 400},
      {"two Hosts", ok_line + "Host: a\r\nHost: b\r\n\r\n", 400},
      {"bad Content-Length", ok_line + "Host: h\r\nContent-Length: 1x\r\n\r\n",
       400},
      {"negative Content-Length",
       ok_line + "Host: h\r\nContent-Length: -1\r\n\r\n", 400},
      {"conflicting Content-Length",
       ok_line + "Host: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
       400},
      {"DELETE", "DELETE / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
      {"POST not allowed", "POST / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
      {"lower-case get", "get / HTTP/1.1\r\nHost: h\r\n\r\n", 405},
      {"body over the limit", ok_line + "Host: h\r\nContent-Length: 17\r\n\r\n",
       413},
      {"huge Content-Length",
       ok_line + "Host: h\r\nContent-Length: 123456789012345678901234\r\n\r\n",
       413},
      {"request line over the limit",
       "GET /" + std::string(60, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"request line never ends", "GET /" + std::string(100, 'a'), 414},
      {"too many headers",
       ok_line + "Host: h\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
      {"header section over the limit",
       ok_line + "Host: h\r\nX: " + std::string(120, 'x') + "\r\n\r\n", 431},
      {"chunked body",
       ok_line + "Host: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
      {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505},
      {"HTTP/0.9", "GET / HTTP/0.9\r\nHost: h\r\n\r\n", 505},
  };
  for (const ErrorCase& c : cases) {
    SCOPED_TRACE(c.name);
    for (size_t piece : {kWhole, size_t{1}}) {
      Parsed p = ParseAll(c.wire, piece, SmallLimits());
      EXPECT_EQ(p.error, c.status) << "piece " << piece;
      EXPECT_TRUE(p.requests.empty());
    }
  }
}

TEST(HttpParserTest, ErrorsAreFinal) {
  HttpRequestParser parser;
  HttpRequest r;
  parser.Feed("BREW /pot HTTP/1.1\r\n");
  EXPECT_EQ(parser.Next(&r), HttpRequestParser::Progress::kError);
  EXPECT_EQ(parser.error_status(), 405);
  EXPECT_NE(parser.error_reason().find("BREW"), std::string::npos);
  parser.Feed("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_EQ(parser.Next(&r), HttpRequestParser::Progress::kError);
  EXPECT_EQ(parser.buffered(), 0u);
}

// Exactly at each limit passes; one byte (or header) more fails.
TEST(HttpParserTest, LimitsAreInclusive) {
  const HttpLimits l = SmallLimits();
  // Request line of exactly 64 bytes with its CRLF.
  const std::string line =
      "GET /" + std::string(64 - 16, 'a') + " HTTP/1.1\r\n";
  ASSERT_EQ(line.size(), 64u);
  EXPECT_EQ(ParseAll(line + "Host: h\r\n\r\n", kWhole, l).error, 0);
  const std::string longer =
      "GET /" + std::string(64 - 15, 'a') + " HTTP/1.1\r\n";
  EXPECT_EQ(ParseAll(longer + "Host: h\r\n\r\n", kWhole, l).error, 414);

  // Header section of exactly 128 bytes with the blank line.
  const std::string head = "GET / HTTP/1.1\r\nHost: h\r\nX: ";
  const std::string pad(128 - head.size() - 4, 'x');
  EXPECT_EQ(ParseAll(head + pad + "\r\n\r\n", kWhole, l).error, 0);
  EXPECT_EQ(ParseAll(head + pad + "x\r\n\r\n", kWhole, l).error, 431);
  EXPECT_EQ(ParseAll(head + pad + "x\r\n\r\n", 1, l).error, 431);

  // Four headers pass, a body of exactly 16 bytes passes.
  Parsed p = ParseAll(
      "GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\nContent-Length: "
      "16\r\n\r\n" +
          std::string(16, 'b'),
      1, l);
  ASSERT_EQ(p.error, 0);
  ASSERT_EQ(p.requests.size(), 1u);
  EXPECT_EQ(p.requests[0].body, std::string(16, 'b'));

  // Configurable: a larger body limit, and POST.
  HttpLimits big = l;
  big.max_body = 1 << 20;
  big.allow_post = true;
  Parsed post =
      ParseAll("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 100000\r\n\r\n" +
                   std::string(100000, 'p'),
               4096, big);
  ASSERT_EQ(post.error, 0);
  ASSERT_EQ(post.requests.size(), 1u);
  EXPECT_EQ(post.requests[0].body.size(), 100000u);
}

struct KeepAliveCase {
  const char* head;
  bool keep_alive;
};

TEST(HttpParserTest, KeepAliveRulesFor10And11) {
  const std::vector<KeepAliveCase> cases = {
      {"GET / HTTP/1.1\r\nHost: h\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: Keep-Alive, CLOSE\r\n", false},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n", true},
      {"GET / HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\n", true},
      {"GET / HTTP/1.0\r\n", false},  // no Host needed in 1.0
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: x, Keep-Alive\r\n", true},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\nConnection: close\r\n",
       false},
      {"GET / HTTP/1.2\r\nHost: h\r\n", true},  // a later 1.x: as 1.1
  };
  for (const KeepAliveCase& c : cases) {
    SCOPED_TRACE(c.head);
    Parsed p = ParseAll(absl::StrCat(c.head, "\r\n"));
    ASSERT_EQ(p.error, 0);
    ASSERT_EQ(p.requests.size(), 1u);
    EXPECT_EQ(p.requests[0].keep_alive, c.keep_alive);
  }
}

// Mutated and truncated requests, fed in random pieces: the parser never
// crashes, and ends either waiting, with requests, or with one of its
// statuses. Seeded; the same cases every run.
TEST(HttpParserTest, RandomDamageNeverBreaksTheParser) {
  const std::string valid =
      "GET /metrics?refresh=2 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n"
      "POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
      "HEAD / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n";
  const std::set<int> statuses = {0, 400, 405, 413, 414, 431, 501, 505};
  const std::string alphabet = " \r\n:%?/&=+-azAZ09\t\x01\x7f\x80\xff";
  HttpLimits limits = SmallLimits();
  limits.allow_post = true;
  std::mt19937 rng(1);
  for (int i = 0; i < 3000; ++i) {
    std::string wire = valid;
    const int damage = static_cast<int>(rng() % 4);
    for (int d = 0; d < damage; ++d) {
      const size_t at = rng() % wire.size();
      switch (rng() % 3) {
        case 0:
          wire[at] = alphabet[rng() % alphabet.size()];
          break;
        case 1:
          wire.erase(at, 1 + rng() % 8);
          break;
        default:
          wire.insert(at, 1 + rng() % 8, alphabet[rng() % alphabet.size()]);
      }
      if (wire.empty()) wire = valid;
    }
    wire.resize(rng() % (wire.size() + 1));
    const size_t piece = 1 + rng() % 32;
    Parsed p = ParseAll(wire, piece, limits);
    EXPECT_TRUE(statuses.count(p.error)) << p.error << " for " << wire;
    EXPECT_LE(p.requests.size(), 3u + damage) << wire;
  }
}

TEST(HttpQueryTest, PercentDecodeAndParseQuery) {
  EXPECT_EQ(*PercentDecode("/a%20b%2fc+d"), "/a b/c+d");
  EXPECT_EQ(*PercentDecode("a+b%2B", /*plus_is_space=*/true), "a b+");
  EXPECT_EQ(*PercentDecode("%e2%82%AC"), "\xe2\x82\xac");
  EXPECT_FALSE(PercentDecode("%").ok());
  EXPECT_FALSE(PercentDecode("%a").ok());
  EXPECT_FALSE(PercentDecode("%ag").ok());
  EXPECT_FALSE(PercentDecode("abc%").ok());

  absl::StatusOr<std::vector<std::pair<std::string, std::string>>> q =
      ParseQuery("refresh=2&&name=a+b%21&flag&=v&x=1=2");
  ASSERT_TRUE(q.ok()) << q.status();
  const std::vector<std::pair<std::string, std::string>> want = {
      {"refresh", "2"},
      {"name", "a b!"},
      {"flag", ""},
      {"", "v"},
      {"x", "1=2"}};
  EXPECT_EQ(*q, want);
  EXPECT_TRUE(ParseQuery("")->empty());
  EXPECT_FALSE(ParseQuery("a=%zz").ok());
}

TEST(HttpEncodeTest, StatusLineHeadersAndBody) {
  HttpResponse r = HttpResponse::Text(200, "hello\n");
  r.headers.emplace_back("X-Shard", "0");
  EXPECT_EQ(Encode(r, /*keep_alive=*/true, /*head_request=*/false),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 6\r\n"
            "Connection: keep-alive\r\n"
            "X-Shard: 0\r\n"
            "\r\n"
            "hello\n");
  // HEAD: the same headers (the GET body's length), no body.
  EXPECT_EQ(Encode(r, /*keep_alive=*/false, /*head_request=*/true),
            "HTTP/1.1 200 OK\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "Content-Length: 6\r\n"
            "Connection: close\r\n"
            "X-Shard: 0\r\n"
            "\r\n");
}

TEST(HttpEncodeTest, NoBodyStatusesAndBadStatuses) {
  HttpResponse r;
  r.status = 204;
  r.content_type = "";
  r.body = "ignored";
  EXPECT_EQ(Encode(r, true, false),
            "HTTP/1.1 204 No Content\r\nConnection: keep-alive\r\n\r\n");
  r.status = 42;
  EXPECT_EQ(Encode(r, true, false),
            "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 7\r\n"
            "Connection: keep-alive\r\n\r\nignored");
  r.status = 299;  // no reason phrase: the space stays
  EXPECT_EQ(Encode(r, true, true).substr(0, 15), "HTTP/1.1 299 \r\n");
}

// A handler cannot split the response or override the framing.
TEST(HttpEncodeTest, SanitizesHandlerHeaders) {
  HttpResponse r = HttpResponse::Text(200, "x");
  r.headers.emplace_back("X-Evil", "a\r\nSet-Cookie: b");
  r.headers.emplace_back("Bad Name", "v");
  r.headers.emplace_back("content-length", "999");
  r.headers.emplace_back("Connection", "upgrade");
  r.headers.emplace_back("Transfer-Encoding", "chunked");
  const std::string wire = Encode(r, true, false);
  EXPECT_NE(wire.find("X-Evil: a  Set-Cookie: b\r\n"), std::string::npos)
      << wire;
  EXPECT_EQ(wire.find("Bad Name"), std::string::npos);
  EXPECT_EQ(wire.find("999"), std::string::npos);
  EXPECT_EQ(wire.find("upgrade"), std::string::npos);
  EXPECT_EQ(wire.find("chunked"), std::string::npos);
  EXPECT_NE(wire.find("Content-Length: 1\r\n"), std::string::npos);
}

TEST(HttpEncodeTest, ErrorResponseAndDate) {
  HttpResponse e = HttpErrorResponse(404, "no such path");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.body, "404 Not Found: no such path\n");
  EXPECT_EQ(HttpStatusText(431), "Request Header Fields Too Large");
  EXPECT_EQ(HttpDate(std::chrono::system_clock::from_time_t(784111777)),
            "Sun, 06 Nov 1994 08:49:37 GMT");
}

}  // namespace
}  // namespace veloq::io
