#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "io/http/http.h"
#include "io/net/socket_address.h"
#include "runtime/clock.h"
#include "runtime/spawn.h"
#include "runtime/task.h"

namespace veloq::io {

struct HttpServerOptions {
  // Where to listen. Port 0 picks a free port (HttpServer::port()).
  SocketAddress address = SocketAddress::Loopback4(0);
  HttpLimits limits;
  // Connections served at once; more are answered 503 and closed.
  size_t max_connections = 64;
  // A connection with no request in progress is closed after this long.
  runtime::Duration idle_timeout = std::chrono::seconds(30);
  // From a request's first byte to its last: past it the client gets 408
  // and the connection closes (a trickling client cannot hold a slot).
  runtime::Duration request_timeout = std::chrono::seconds(10);
  // Each write of up to write_buffer_bytes; a client that does not read
  // is dropped.
  runtime::Duration write_timeout = std::chrono::seconds(10);
  // Per connection: what one read takes in, and the response buffer
  // (larger responses go out in pieces of this size).
  size_t read_buffer_bytes = 8 << 10;
  size_t write_buffer_bytes = 16 << 10;
};

// HttpServer is a small HTTP/1.1 server for a shard's own endpoints
// (/metrics, /debug/...): exact paths mapped to handlers.
//
//   absl::StatusOr<HttpServer> server = HttpServer::Bind({});  // 127.0.0.1:0
//   server->Route("/metrics", [](const HttpRequest& r) -> Task<HttpResponse> {
//     co_return HttpResponse::Text(200, RenderMetrics());
//   });
//   server->Start();
//   ... server->port() ...
//   co_await server->Stop();
//
// Each connection is one task on the server's shard: it reads requests
// (HttpRequestParser; pipelined ones in order), awaits the handler of the
// request's path, writes the response, and keeps the connection open when
// the request allows it (HTTP/1.1 keep-alive) until idle_timeout. A HEAD
// request runs the path's handler (request.method is "HEAD") and gets the
// headers without the body. An unknown path is 404. A request the parser
// refuses gets its status (400, 405, 413, 414, 431, 501, 505), one not
// complete within request_timeout 408, each with "Connection: close"; the
// connection then closes (after reading what the client still sends,
// briefly, so that the answer is not lost to a reset), and the server goes
// on serving others. A connection over max_connections gets 503. Every
// response carries a Date header unless the handler set one.
//
// Handlers run on the server's shard, one request at a time per
// connection; a handler must not block the shard (RunBlocking for that)
// and must not throw. The HttpRequest it gets lives until its task
// finishes. Handlers are shared by the requests in flight: replacing a
// route does not disturb a request that is already running the old one.
//
// Stopping: Stop() closes the listener, closes idle connections at once,
// lets requests already being handled finish (answered with "Connection:
// close"), and cancels those still running after `grace`. Destroying the
// server without Stop() cancels everything at once; the runtime stopping
// cancels it too (cancelled handlers end their connections unanswered).
//
// Thread safety: shard-local. Bind on the shard that will serve; every
// method is then called there (checked in debug builds), and every
// connection is served there. To serve on another shard, Bind there (e.g.
// inside SpawnOn).
//
// Lifetime: connections hold a reference to the server's shared state
// (routes, options), so the HttpServer may be destroyed (which cancels
// them) before they have finished; a handler, and what it captures, lives
// until the last request running it is done. The HttpServer must outlive
// a Stop() in progress.
class HttpServer {
 public:
  using Handler =
      std::function<runtime::Task<HttpResponse>(const HttpRequest& request)>;

  // Binds the listener on the calling shard (immediate); nothing is
  // accepted before Start. Bind errors (address in use...) as a Status.
  static absl::StatusOr<HttpServer> Bind(const HttpServerOptions& options);

  HttpServer(HttpServer&&) noexcept;
  HttpServer& operator=(HttpServer&&) noexcept;
  // Cancels the accept loop and every connection (no waiting).
  ~HttpServer();

  // Serves requests for exactly `path` (percent-decoded, no query:
  // "/metrics") with `handler`, replacing any handler it had; an empty
  // handler removes the route. GET and HEAD (and POST, when
  // limits.allow_post) reach it; it sees request.method. Any time.
  void Route(std::string path, Handler handler);

  // Starts accepting, as a task on the calling shard. REQUIRES: once,
  // before Stop.
  void Start();

  // Stops accepting and waits until every connection has closed (see
  // above). If Stop's own task is cancelled, it cancels the connections
  // and returns without waiting. REQUIRES: the server outlives it.
  runtime::Task<void> Stop(runtime::Duration grace = std::chrono::seconds(5));

  // The bound address, with the port the kernel picked for port 0.
  const SocketAddress& address() const;
  uint16_t port() const { return address().port(); }
  // Connections open now.
  size_t connections() const;

 private:
  struct State;
  explicit HttpServer(std::shared_ptr<State> state);
  void CheckShard() const;
  void CancelAll();

  std::shared_ptr<State> state_;
  runtime::JoinHandle<void> accept_;
};

}  // namespace veloq::io
