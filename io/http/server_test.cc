#include "io/http/server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "io/net/buffered.h"
#include "io/net/tcp.h"
#include "runtime/run_blocking.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using namespace std::chrono_literals;
using runtime::Spawn;
using runtime::Task;
using veloq::testing::RunOnRuntime;

class HttpServerTest : public veloq::testing::DriverBackendTest {
 protected:
  veloq::testing::TestRuntimeOptions Options() {
    veloq::testing::TestRuntimeOptions o = DriverBackendTest::Options(1);
    o.deadline = std::chrono::seconds(20);
    return o;
  }
};

VELOQ_INSTANTIATE_DRIVER_BACKENDS(HttpServerTest);

constexpr absl::string_view kGetHello =
    "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n";

// "hello <name>\n", name from ?name= (default "world").
Task<HttpResponse> Hello(const HttpRequest& request) {
  const std::string name = request.QueryParam("name").value_or("world");
  HttpResponse r = HttpResponse::Text(200, absl::StrCat("hello ", name, "\n"));
  co_return r;
}

// Answers after 100 ms.
Task<HttpResponse> Slow(const HttpRequest& request) {
  (void)co_await runtime::Sleep(100ms);
  HttpResponse r = HttpResponse::Text(200, "slow\n");
  co_return r;
}

// Never answers unless cancelled.
Task<HttpResponse> Hang(const HttpRequest& request) {
  const absl::Status slept = co_await runtime::Sleep(1h);
  HttpResponse r = HttpResponse::Text(slept.ok() ? 200 : 503, "hang\n");
  co_return r;
}

absl::StatusOr<HttpServer> StartServer(HttpServerOptions options = {}) {
  absl::StatusOr<HttpServer> server = HttpServer::Bind(options);
  if (!server.ok()) return server;
  server->Route("/hello", Hello);
  server->Route("/slow", Slow);
  server->Route("/hang", Hang);
  server->Start();
  return server;
}

Task<absl::Status> Send(const TcpStream& s, absl::string_view wire) {
  FixedBuf buf = FixedBuf::Copy(wire);
  BufStatus w = co_await s.WriteAll(std::move(buf));
  co_return w.status;
}

// Everything the server sends until it closes the connection.
Task<absl::StatusOr<std::string>> ReadToEnd(const TcpStream& s) {
  std::string out;
  for (;;) {
    FixedBuf buf = FixedBuf::Heap(4096);
    BufResult r = co_await s.Read(std::move(buf), 5s);
    if (!r.res.ok()) co_return SocketError(r.res, "read");
    if (r.res.value() == 0) co_return out;
    absl::StrAppend(&out, r.buf.view());
  }
}

// One response, read by its framing.
struct Reply {
  int status = 0;
  std::string head;  // header lines, each ending in "\n"
  std::string body;
  bool Has(absl::string_view line) const {
    return absl::StrContains(head, absl::StrCat(line, "\n"));
  }
};

Task<absl::StatusOr<Reply>> ReadReply(BufferedReader<TcpStream>* in,
                                      bool head_request = false) {
  Reply reply;
  absl::StatusOr<absl::string_view> line = co_await in->ReadLine(5s);
  if (!line.ok()) co_return line.status();
  if (line->size() < 12 || !absl::StartsWith(*line, "HTTP/1.1 ") ||
      !absl::SimpleAtoi(line->substr(9, 3), &reply.status)) {
    co_return absl::InternalError(absl::StrCat("status line: ", *line));
  }
  size_t length = 0;
  for (;;) {
    line = co_await in->ReadLine(5s);
    if (!line.ok()) co_return line.status();
    if (line->empty()) break;
    absl::StrAppend(&reply.head, *line, "\n");
    if (absl::StartsWithIgnoreCase(*line, "content-length:")) {
      const absl::string_view n = absl::StripAsciiWhitespace(line->substr(15));
      if (!absl::SimpleAtoi(n, &length)) {
        co_return absl::InternalError(absl::StrCat("length: ", *line));
      }
    }
  }
  if (!head_request && length > 0) {
    absl::StatusOr<absl::string_view> body =
        co_await in->ReadExactly(length, 5s);
    if (!body.ok()) co_return body.status();
    reply.body = std::string(*body);
  }
  co_return reply;
}

// The status of the first response in `wire`, or 0.
int StatusOf(absl::string_view wire) {
  int status = 0;
  if (wire.size() < 12 || !absl::SimpleAtoi(wire.substr(9, 3), &status)) {
    return 0;
  }
  return status;
}

Task<absl::Status> KeepAliveAndPipelining() {
  absl::StatusOr<HttpServer> server = StartServer();
  if (!server.ok()) co_return server.status();
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->address().ToString(),
            absl::StrCat("127.0.0.1:", server->port()));
  absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(server->address());
  if (!c.ok()) co_return c.status();
  BufferedReader<TcpStream> in(*c, FixedBuf::Heap(64 << 10));

  absl::Status st =
      co_await Send(*c, "GET /hello?name=veloq HTTP/1.1\r\nHost: t\r\n\r\n");
  if (!st.ok()) co_return st;
  absl::StatusOr<Reply> first = co_await ReadReply(&in);
  if (!first.ok()) co_return first.status();
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, "hello veloq\n");
  EXPECT_TRUE(first->Has("Connection: keep-alive")) << first->head;
  EXPECT_TRUE(first->Has("Content-Type: text/plain; charset=utf-8"));
  EXPECT_TRUE(absl::StrContains(first->head, "Date: ")) << first->head;
  EXPECT_EQ(server->connections(), 1u);

  // The same connection again, then two requests in one write.
  st = co_await Send(*c, kGetHello);
  if (!st.ok()) co_return st;
  absl::StatusOr<Reply> second = co_await ReadReply(&in);
  if (!second.ok()) co_return second.status();
  EXPECT_EQ(second->body, "hello world\n");
  const std::string two = absl::StrCat(
      "GET /hello?name=one HTTP/1.1\r\nHost: t\r\n\r\n",
      "GET /hello?name=two HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  st = co_await Send(*c, two);
  if (!st.ok()) co_return st;
  absl::StatusOr<Reply> one = co_await ReadReply(&in);
  if (!one.ok()) co_return one.status();
  absl::StatusOr<Reply> other = co_await ReadReply(&in);
  if (!other.ok()) co_return other.status();
  EXPECT_EQ(one->body, "hello one\n");
  EXPECT_EQ(other->body, "hello two\n");
  EXPECT_TRUE(other->Has("Connection: close"));
  // ...and then the server closes.
  absl::StatusOr<size_t> more = co_await in.Fill(5s);
  EXPECT_TRUE(more.ok() && *more == 0) << "want end of stream";
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, KeepAliveServesRequestsOnOneConnectionInOrder) {
  absl::Status s =
      RunOnRuntime(Options(), [] { return KeepAliveAndPipelining(); });
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> HeadAndNotFound() {
  absl::StatusOr<HttpServer> server = StartServer();
  if (!server.ok()) co_return server.status();
  absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(server->address());
  if (!c.ok()) co_return c.status();
  BufferedReader<TcpStream> in(*c, FixedBuf::Heap(64 << 10));
  // HEAD: GET's headers, no body. Had a body come, the next status line
  // would not parse.
  absl::Status st =
      co_await Send(*c,
                    "HEAD /hello HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /nothing/here HTTP/1.1\r\nHost: t\r\n\r\n"
                    "HEAD /nothing/here HTTP/1.1\r\nHost: t\r\n\r\n"
                    "GET /hello HTTP/1.1\r\nHost: t\r\n\r\n");
  if (!st.ok()) co_return st;
  absl::StatusOr<Reply> head = co_await ReadReply(&in, /*head_request=*/true);
  if (!head.ok()) co_return head.status();
  EXPECT_EQ(head->status, 200);
  EXPECT_TRUE(head->Has("Content-Length: 12")) << head->head;
  absl::StatusOr<Reply> missing = co_await ReadReply(&in);
  if (!missing.ok()) co_return missing.status();
  EXPECT_EQ(missing->status, 404);
  EXPECT_EQ(missing->body, "404 Not Found: no such path\n");
  EXPECT_TRUE(missing->Has("Connection: keep-alive"));
  absl::StatusOr<Reply> missing_head =
      co_await ReadReply(&in, /*head_request=*/true);
  if (!missing_head.ok()) co_return missing_head.status();
  EXPECT_EQ(missing_head->status, 404);
  absl::StatusOr<Reply> hello = co_await ReadReply(&in);
  if (!hello.ok()) co_return hello.status();
  EXPECT_EQ(hello->body, "hello world\n");
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, HeadHasNoBodyAndUnknownPathsAre404) {
  absl::Status s = RunOnRuntime(Options(), [] { return HeadAndNotFound(); });
  EXPECT_TRUE(s.ok()) << s;
}

// Sends `wire` on a fresh connection; what comes back before the server
// closes.
Task<absl::StatusOr<std::string>> OneShot(SocketAddress addr,
                                          absl::string_view wire) {
  absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(addr);
  if (!c.ok()) co_return c.status();
  absl::Status st = co_await Send(*c, wire);
  if (!st.ok()) co_return st;
  co_return co_await ReadToEnd(*c);
}

Task<absl::Status> GarbageThenGood() {
  absl::StatusOr<HttpServer> server = StartServer();
  if (!server.ok()) co_return server.status();
  const SocketAddress addr = server->address();
  // Not HTTP: 400, "Connection: close", then end of stream.
  absl::StatusOr<std::string> garbage =
      co_await OneShot(addr, "garbage\r\n\r\n");
  if (!garbage.ok()) co_return garbage.status();
  EXPECT_TRUE(absl::StartsWith(*garbage, "HTTP/1.1 400 Bad Request\r\n"))
      << *garbage;
  EXPECT_TRUE(absl::StrContains(*garbage, "Connection: close\r\n"));
  // Binary noise (a TLS hello) is refused before any line end.
  absl::StatusOr<std::string> tls =
      co_await OneShot(addr, absl::string_view("\x16\x03\x01\x02\x00\x01", 6));
  if (!tls.ok()) co_return tls.status();
  EXPECT_EQ(StatusOf(*tls), 400) << *tls;
  // The server still serves the next client.
  absl::StatusOr<std::string> good = co_await OneShot(
      addr, "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  if (!good.ok()) co_return good.status();
  EXPECT_EQ(StatusOf(*good), 200) << *good;
  EXPECT_TRUE(absl::EndsWith(*good, "\r\n\r\nhello world\n")) << *good;
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, GarbageGets400AndTheServerServesTheNextClient) {
  absl::Status s = RunOnRuntime(Options(), [] { return GarbageThenGood(); });
  EXPECT_TRUE(s.ok()) << s;
}

struct WireCase {
  const char* wire;
  int status;
  const char* header;  // a header line the answer must carry, or ""
};

// (Outside the coroutine: no braced lists inside one, for g++ 12.)
constexpr WireCase kWireCases[] = {
    {"DELETE /hello HTTP/1.1\r\nHost: t\r\n\r\n", 405, "Allow: GET, HEAD"},
    {"GET /hello HTTP/2.0\r\nHost: t\r\n\r\n", 505, ""},
    {"GET /hello HTTP/1.1\r\n\r\n", 400, ""},
    {"GET /hello HTTP/1.1\r\nHost: t\r\nContent-Length: 101\r\n\r\n", 413, ""},
    {"GET /hello HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n",
     501, ""},
    // HTTP/1.0 without keep-alive: answered, then closed.
    {"GET /hello HTTP/1.0\r\n\r\n", 200, "Connection: close"},
};

Task<absl::Status> ErrorStatuses() {
  HttpServerOptions options;
  options.limits.max_body = 100;
  absl::StatusOr<HttpServer> server = StartServer(options);
  if (!server.ok()) co_return server.status();
  for (const WireCase& c : kWireCases) {
    absl::StatusOr<std::string> got =
        co_await OneShot(server->address(), c.wire);
    if (!got.ok()) co_return got.status();
    EXPECT_EQ(StatusOf(*got), c.status) << c.wire << " -> " << *got;
    EXPECT_TRUE(absl::StrContains(*got, absl::StrCat(c.header, "\r\n")))
        << *got;
  }
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, EachRefusalGetsItsStatusAndCloses) {
  absl::Status s = RunOnRuntime(Options(), [] { return ErrorStatuses(); });
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> Timeouts() {
  HttpServerOptions options;
  options.idle_timeout = 100ms;
  options.request_timeout = 100ms;
  absl::StatusOr<HttpServer> server = StartServer(options);
  if (!server.ok()) co_return server.status();
  // Silent: closed after the idle timeout, without a word.
  absl::StatusOr<TcpStream> idle =
      co_await TcpStream::Connect(server->address());
  if (!idle.ok()) co_return idle.status();
  absl::StatusOr<std::string> nothing = co_await ReadToEnd(*idle);
  if (!nothing.ok()) co_return nothing.status();
  EXPECT_EQ(*nothing, "");
  // Half a request: 408.
  absl::StatusOr<std::string> late =
      co_await OneShot(server->address(), "GET /hello HTTP/1.1\r\nHost:");
  if (!late.ok()) co_return late.status();
  EXPECT_EQ(StatusOf(*late), 408) << *late;
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, IdleAndSlowClientsAreClosed) {
  absl::Status s = RunOnRuntime(Options(), [] { return Timeouts(); });
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> ConnectionCap() {
  HttpServerOptions options;
  options.max_connections = 1;
  absl::StatusOr<HttpServer> server = StartServer(options);
  if (!server.ok()) co_return server.status();
  absl::StatusOr<TcpStream> first =
      co_await TcpStream::Connect(server->address());
  if (!first.ok()) co_return first.status();
  BufferedReader<TcpStream> in(*first, FixedBuf::Heap(64 << 10));
  absl::Status st = co_await Send(*first, kGetHello);
  if (!st.ok()) co_return st;
  absl::StatusOr<Reply> served = co_await ReadReply(&in);
  if (!served.ok()) co_return served.status();
  EXPECT_EQ(served->status, 200);
  // The first connection is open (keep-alive): the second is turned away.
  absl::StatusOr<TcpStream> second =
      co_await TcpStream::Connect(server->address());
  if (!second.ok()) co_return second.status();
  absl::StatusOr<std::string> busy = co_await ReadToEnd(*second);
  if (!busy.ok()) co_return busy.status();
  EXPECT_EQ(StatusOf(*busy), 503) << *busy;
  // Once the first closes, there is room again.
  { TcpStream gone = *std::move(first); }
  for (int i = 0; i < 100 && server->connections() > 0; ++i) {
    (void)co_await runtime::Sleep(5ms);
  }
  absl::StatusOr<std::string> again = co_await OneShot(
      server->address(),
      "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  if (!again.ok()) co_return again.status();
  EXPECT_EQ(StatusOf(*again), 200) << *again;
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, ConnectionsOverTheCapGet503) {
  absl::Status s = RunOnRuntime(Options(), [] { return ConnectionCap(); });
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> GracefulStop() {
  absl::StatusOr<HttpServer> server = StartServer();
  if (!server.ok()) co_return server.status();
  const SocketAddress addr = server->address();
  // One request in flight (100 ms handler), one idle keep-alive connection.
  absl::StatusOr<TcpStream> busy = co_await TcpStream::Connect(addr);
  if (!busy.ok()) co_return busy.status();
  absl::Status st =
      co_await Send(*busy, "GET /slow HTTP/1.1\r\nHost: t\r\n\r\n");
  if (!st.ok()) co_return st;
  absl::StatusOr<TcpStream> idle = co_await TcpStream::Connect(addr);
  if (!idle.ok()) co_return idle.status();
  BufferedReader<TcpStream> idle_in(*idle, FixedBuf::Heap(64 << 10));
  st = co_await Send(*idle, kGetHello);
  if (!st.ok()) co_return st;
  absl::StatusOr<Reply> hello = co_await ReadReply(&idle_in);
  if (!hello.ok()) co_return hello.status();
  EXPECT_EQ(server->connections(), 2u);

  auto stopping = Spawn(server->Stop(), "stop");
  // The request in flight finishes, told that the connection closes.
  BufferedReader<TcpStream> busy_in(*busy, FixedBuf::Heap(64 << 10));
  absl::StatusOr<Reply> slow = co_await ReadReply(&busy_in);
  if (!slow.ok()) co_return slow.status();
  EXPECT_EQ(slow->status, 200);
  EXPECT_EQ(slow->body, "slow\n");
  EXPECT_TRUE(slow->Has("Connection: close"));
  (void)busy->Shutdown(SHUT_WR);  // ends the server's lingering read
  // The idle one is closed at once.
  absl::StatusOr<std::string> rest = co_await ReadToEnd(*idle);
  if (!rest.ok()) co_return rest.status();
  EXPECT_EQ(*rest, "");
  co_await stopping;
  EXPECT_EQ(server->connections(), 0u);
  // The listener is gone (its close is in the background).
  (void)co_await runtime::Sleep(10ms);
  absl::StatusOr<TcpStream> refused = co_await TcpStream::Connect(addr);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable)
      << refused.status();
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, StopFinishesRequestsInFlightAndClosesIdleOnes) {
  absl::Status s = RunOnRuntime(Options(), [] { return GracefulStop(); });
  EXPECT_TRUE(s.ok()) << s;
}

Task<absl::Status> StopAfterGrace() {
  absl::StatusOr<HttpServer> server = StartServer();
  if (!server.ok()) co_return server.status();
  absl::StatusOr<TcpStream> c = co_await TcpStream::Connect(server->address());
  if (!c.ok()) co_return c.status();
  absl::Status st = co_await Send(*c, "GET /hang HTTP/1.1\r\nHost: t\r\n\r\n");
  if (!st.ok()) co_return st;
  (void)co_await runtime::Sleep(20ms);  // the handler is waiting
  const runtime::TimePoint start = runtime::Now();
  runtime::Task<void> stop = server->Stop(50ms);
  co_await stop;
  EXPECT_LT(runtime::Now() - start, std::chrono::seconds(2));
  EXPECT_EQ(server->connections(), 0u);
  // Cancelled mid-request: closed without an answer.
  absl::StatusOr<std::string> got = co_await ReadToEnd(*c);
  if (!got.ok()) co_return got.status();
  EXPECT_EQ(*got, "");
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, StopCancelsWhatOutlivesTheGrace) {
  absl::Status s = RunOnRuntime(Options(), [] { return StopAfterGrace(); });
  EXPECT_TRUE(s.ok()) << s;
}

// Random bytes and damaged requests, each on its own connection: every
// answer is a well-formed status line (or none, for a request cut short),
// and the server still serves a good request afterwards.
Task<absl::Status> RandomDamage() {
  HttpServerOptions options;
  options.request_timeout = 200ms;
  absl::StatusOr<HttpServer> server = StartServer(options);
  if (!server.ok()) co_return server.status();
  std::mt19937 rng(static_cast<uint32_t>(veloq::testing::TestSeed(7)));
  const std::string valid = absl::StrCat(
      "GET /hello?name=x HTTP/1.1\r\nHost: t\r\nAccept: */*\r\n\r\n",
      kGetHello);
  for (int i = 0; i < 40; ++i) {
    std::string wire;
    if (i % 2 == 0) {
      const size_t n = 1 + rng() % 64;
      for (size_t k = 0; k < n; ++k) wire.push_back(static_cast<char>(rng()));
    } else {
      wire = valid;
      for (int d = 0; d < 3; ++d) {
        wire[rng() % wire.size()] = static_cast<char>(rng());
      }
    }
    absl::StatusOr<TcpStream> c =
        co_await TcpStream::Connect(server->address());
    if (!c.ok()) co_return c.status();
    absl::Status st = co_await Send(*c, wire);
    if (!st.ok()) co_return st;
    (void)c->Shutdown(SHUT_WR);  // no more: a partial request ends here
    absl::StatusOr<std::string> got = co_await ReadToEnd(*c);
    if (!got.ok()) co_return got.status();
    if (!got->empty()) {
      const int status = StatusOf(*got);
      EXPECT_TRUE(absl::StrContains(" 200 400 404 405 408 413 414 431 501 505 ",
                                    absl::StrCat(" ", status, " ")))
          << status << " for " << absl::CEscape(wire);
    }
  }
  absl::StatusOr<std::string> good = co_await OneShot(
      server->address(),
      "GET /hello HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  if (!good.ok()) co_return good.status();
  EXPECT_EQ(StatusOf(*good), 200) << *good;
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, RandomDamageNeverStopsTheServer) {
  absl::Status s = RunOnRuntime(Options(), [] { return RandomDamage(); });
  EXPECT_TRUE(s.ok()) << s;
}

// Runs `command` through the shell; its stdout.
std::string Shell(const std::string& command) {
  std::string out;
  FILE* f = ::popen(command.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

Task<absl::Status> Curl() {
  absl::StatusOr<HttpServer> server = StartServer();
  if (!server.ok()) co_return server.status();
  const std::string url =
      absl::StrCat("http://127.0.0.1:", server->port(), "/hello?name=curl");
  const std::string curl = "curl --silent --noproxy '*' --max-time 10 ";
  // Two GETs in one run: the second reuses the connection (0 connects).
  auto get_twice = [command = absl::StrCat(
                        curl,
                        "--write-out ' %{http_code} %{num_connects}\\n' '", url,
                        "' '", url, "'")] { return Shell(command); };
  const std::string twice = co_await runtime::RunBlocking(std::move(get_twice));
  EXPECT_EQ(twice, "hello curl\n 200 1\nhello curl\n 200 0\n");
  // HEAD (curl -I): headers only.
  auto head = [command = absl::StrCat(curl, "--head '", url, "'")] {
    return Shell(command);
  };
  const std::string headers = co_await runtime::RunBlocking(std::move(head));
  EXPECT_TRUE(absl::StartsWith(headers, "HTTP/1.1 200 OK\r\n")) << headers;
  EXPECT_TRUE(absl::StrContains(headers, "Content-Length: 11\r\n")) << headers;
  EXPECT_FALSE(absl::StrContains(headers, "hello curl")) << headers;
  // A missing page and a refused method.
  const std::string codes_only =
      absl::StrCat(curl, "--write-out '%{http_code}\\n' --output /dev/null ");
  auto errors =
      [command = absl::StrCat(codes_only, "'http://127.0.0.1:", server->port(),
                              "/missing'; ", codes_only, "--request DELETE '",
                              url, "'")] { return Shell(command); };
  const std::string codes = co_await runtime::RunBlocking(std::move(errors));
  EXPECT_EQ(codes, "404\n405\n");
  co_return absl::OkStatus();
}

TEST_P(HttpServerTest, RealCurl) {
  if (::access("/usr/bin/curl", X_OK) != 0) {
    GTEST_SKIP() << "/usr/bin/curl is not installed";
  }
  absl::Status s = RunOnRuntime(Options(), [] { return Curl(); });
  EXPECT_TRUE(s.ok()) << s;
}

}  // namespace
}  // namespace veloq::io
