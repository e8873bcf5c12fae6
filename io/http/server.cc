#include "io/http/server.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <unordered_map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "io/buffer/fixed_buf.h"
#include "io/net/buffered.h"
#include "io/net/tcp.h"
#include "runtime/cancellation.h"
#include "runtime/log.h"
#include "runtime/shard.h"
#include "runtime/timer.h"

namespace veloq::io {

namespace {

using namespace std::chrono_literals;

// A closing connection reads (and drops) what the client still sends for
// this long, or this much (see LingeringClose).
constexpr runtime::Duration kLinger = 1s;
constexpr size_t kMaxLingerBytes = 64 << 10;
// How often Stop looks whether the connections are gone.
constexpr runtime::Duration kStopPoll = 5ms;

// Shuts the sending side (the client reads our answer, then end of stream)
// and reads what the client still sends before the socket closes: closing
// with unread bytes makes the kernel send a reset, which can destroy the
// answer before the client has read it (RFC 9112 9.6). Bounded in time and
// bytes, so a client that keeps sending cannot hold the connection.
runtime::Task<void> LingeringClose(const TcpStream& stream, FixedBuf buf) {
  if (!stream.Shutdown(SHUT_WR).ok()) co_return;
  const runtime::TimePoint deadline = runtime::Now() + kLinger;
  size_t drained = 0;
  while (drained < kMaxLingerBytes) {
    const runtime::Duration left = deadline - runtime::Now();
    if (left <= runtime::Duration::zero()) co_return;
    BufResult r = co_await stream.Read(std::move(buf), left);
    buf = std::move(r.buf);
    if (!r.res.ok() || r.res.value() == 0) co_return;
    drained += static_cast<size_t>(r.res.value());
  }
}

// Encodes `response` (with a Date, unless the handler set one) and sends
// it.
runtime::Task<absl::Status> Respond(BufferedWriter<TcpStream>& out,
                                    HttpResponse response, bool keep_alive,
                                    bool head_request,
                                    runtime::Duration timeout) {
  const bool dated = std::any_of(
      response.headers.begin(), response.headers.end(),
      [](const auto& h) { return absl::EqualsIgnoreCase(h.first, "date"); });
  if (!dated) {
    response.headers.emplace_back("Date",
                                  HttpDate(std::chrono::system_clock::now()));
  }
  const std::string wire = Encode(response, keep_alive, head_request);
  absl::Status s = co_await out.Write(wire, timeout);
  if (!s.ok()) co_return s;
  co_return co_await out.Flush(timeout);
}

// Sends the connection's last response ("Connection: close") and closes.
runtime::Task<void> RespondAndClose(BufferedWriter<TcpStream>& out,
                                    const TcpStream& stream, FixedBuf buf,
                                    HttpResponse response, bool head_request,
                                    runtime::Duration timeout) {
  runtime::Task<absl::Status> respond = Respond(
      out, std::move(response), /*keep_alive=*/false, head_request, timeout);
  const absl::Status sent = co_await respond;
  if (!sent.ok()) co_return;
  runtime::Task<void> linger = LingeringClose(stream, std::move(buf));
  co_await linger;
}

// Answers a connection over the limit with 503. Best effort and brief (the
// accept loop waits on it): no lingering, so a client that already sent
// its request may see a reset instead.
runtime::Task<void> Reject(TcpStream stream, runtime::Duration timeout) {
  HttpResponse busy = HttpErrorResponse(503, "too many connections");
  busy.headers.emplace_back("Retry-After", "1");
  const std::string wire = Encode(busy, /*keep_alive=*/false,
                                  /*head_request=*/false);
  FixedBuf buf = FixedBuf::Copy(wire);
  const BufStatus sent = co_await stream.WriteAll(std::move(buf), timeout);
  if (sent.status.ok()) (void)stream.Shutdown(SHUT_WR);
}

}  // namespace

struct HttpServer::State {
  struct Conn {
    runtime::JoinHandle<void> task;
    bool busy = false;  // between a complete request and its response sent
  };

  // Erases a connection's entry when its task ends, however it ends. That
  // drops the task's JoinHandle while the task still runs, which detaches
  // it: its frame goes when it finishes.
  class ConnGuard {
   public:
    ConnGuard(State* state, uint64_t id) : state_(state), id_(id) {}
    ConnGuard(const ConnGuard&) = delete;
    ConnGuard& operator=(const ConnGuard&) = delete;
    ~ConnGuard() { state_->conns.erase(id_); }

   private:
    State* state_;
    uint64_t id_;
  };

  static runtime::Task<void> AcceptLoop(std::shared_ptr<State> self);
  static runtime::Task<void> Serve(std::shared_ptr<State> self, uint64_t id,
                                   TcpStream stream);

  HttpServerOptions options;
  runtime::Shard* shard = nullptr;
  SocketAddress address;
  std::optional<TcpListener> listener;  // reset by Stop
  absl::flat_hash_map<std::string, std::shared_ptr<const Handler>> routes;
  // Node-based: a connection keeps a reference to its own entry.
  std::unordered_map<uint64_t, Conn> conns;
  uint64_t next_id = 0;
  bool stopping = false;
};

runtime::Task<void> HttpServer::State::AcceptLoop(std::shared_ptr<State> self) {
  AcceptStream incoming = self->listener->Incoming();  // multishot on io_uring
  for (;;) {
    absl::StatusOr<TcpStream> c = co_await incoming.Next();
    if (runtime::IsCancelled() || self->stopping) co_return;
    if (!c.ok()) {
      // EMFILE, a peer gone before accept...: not the server's end.
      log::Warn(log::Module::kNet, "http server: accept: {}",
                c.status().ToString());
      (void)co_await runtime::Sleep(10ms);
      continue;
    }
    TcpStream stream = *std::move(c);
    if (self->conns.size() >= self->options.max_connections) {
      runtime::Task<void> reject = Reject(
          std::move(stream),
          std::min<runtime::Duration>(self->options.write_timeout, 100ms));
      co_await reject;
      continue;
    }
    // A response is one write; Nagle would only hold back its tail.
    (void)stream.options().SetNoDelay(true);
    const uint64_t id = self->next_id++;
    runtime::Task<void> serve = Serve(self, id, std::move(stream));
    // The task starts on the next tick, after its entry exists.
    self->conns[id].task = runtime::Spawn(std::move(serve), "http_connection");
  }
}

runtime::Task<void> HttpServer::State::Serve(std::shared_ptr<State> self,
                                             uint64_t id, TcpStream stream) {
  ConnGuard guard(self.get(), id);
  auto entry = self->conns.find(id);
  if (entry == self->conns.end()) co_return;
  Conn& conn = entry->second;
  const HttpServerOptions& options = self->options;
  HttpRequestParser parser(options.limits);
  FixedBuf in = FixedBuf::Heap(options.read_buffer_bytes);
  BufferedWriter<TcpStream> out(stream,
                                FixedBuf::Heap(options.write_buffer_bytes));
  // Set when a request's first byte is in: by then it must be complete.
  std::optional<runtime::TimePoint> request_deadline;
  for (;;) {
    HttpRequest request;
    const HttpRequestParser::Progress progress = parser.Next(&request);

    if (progress == HttpRequestParser::Progress::kError) {
      HttpResponse error =
          HttpErrorResponse(parser.error_status(), parser.error_reason());
      if (parser.error_status() == 405) {
        error.headers.emplace_back("Allow", options.limits.allow_post
                                                ? "GET, HEAD, POST"
                                                : "GET, HEAD");
      }
      runtime::Task<void> last =
          RespondAndClose(out, stream, std::move(in), std::move(error),
                          /*head_request=*/false, options.write_timeout);
      co_await last;
      co_return;
    }

    if (progress == HttpRequestParser::Progress::kNeedMore) {
      if (self->stopping) co_return;
      const bool idle = parser.buffered() == 0;
      runtime::Duration timeout = options.idle_timeout;
      if (!idle) {
        if (!request_deadline) {
          request_deadline = runtime::Now() + options.request_timeout;
        }
        timeout = std::max<runtime::Duration>(
            *request_deadline - runtime::Now(), 1ms);
      }
      BufResult r = co_await stream.Read(std::move(in), timeout);
      in = std::move(r.buf);
      if (r.res.ok() && r.res.value() > 0) {
        parser.Feed(in.view());
        in.clear();
        continue;
      }
      // End of stream, a reset, cancellation (Stop, the runtime stopping)
      // or a deadline. Only a request left half-sent hears about it.
      if (r.res.error() == ETIMEDOUT && !idle) {
        runtime::Task<void> last = RespondAndClose(
            out, stream, std::move(in),
            HttpErrorResponse(408, "request not complete in time"),
            /*head_request=*/false, options.write_timeout);
        co_await last;
      }
      co_return;
    }

    // A request.
    request_deadline.reset();
    conn.busy = true;
    HttpResponse response;
    auto route = self->routes.find(request.path);
    if (route == self->routes.end()) {
      response = HttpErrorResponse(404, "no such path");
    } else {
      // Our own reference: the route may be replaced while this runs.
      const std::shared_ptr<const Handler> handler = route->second;
      runtime::Task<HttpResponse> handled = (*handler)(request);
      response = co_await handled;
    }
    const bool head_request = request.method == "HEAD";
    if (!request.keep_alive || self->stopping) {
      runtime::Task<void> last =
          RespondAndClose(out, stream, std::move(in), std::move(response),
                          head_request, options.write_timeout);
      co_await last;
      co_return;
    }
    runtime::Task<absl::Status> respond =
        Respond(out, std::move(response), /*keep_alive=*/true, head_request,
                options.write_timeout);
    const absl::Status sent = co_await respond;
    conn.busy = false;
    if (!sent.ok()) co_return;
  }
}

absl::StatusOr<HttpServer> HttpServer::Bind(const HttpServerOptions& options) {
  runtime::Shard* shard = runtime::Shard::Current();
  if (shard == nullptr) {
    return absl::FailedPreconditionError("HttpServer::Bind: not on a shard");
  }
  if (options.max_connections == 0 || options.read_buffer_bytes == 0 ||
      options.write_buffer_bytes == 0) {
    return absl::InvalidArgumentError(
        "HttpServer::Bind: max_connections and buffer sizes must be > 0");
  }
  absl::StatusOr<TcpListener> listener = TcpListener::Bind(options.address);
  if (!listener.ok()) return listener.status();
  absl::StatusOr<SocketAddress> bound = listener->LocalAddress();
  if (!bound.ok()) return bound.status();
  auto state = std::make_shared<State>();
  state->options = options;
  state->shard = shard;
  state->address = *bound;
  state->listener.emplace(*std::move(listener));
  return HttpServer(std::move(state));
}

HttpServer::HttpServer(std::shared_ptr<State> state)
    : state_(std::move(state)) {}

HttpServer::HttpServer(HttpServer&&) noexcept = default;

HttpServer& HttpServer::operator=(HttpServer&& other) noexcept {
  if (this != &other) {
    if (state_ != nullptr) CancelAll();
    state_ = std::move(other.state_);
    accept_ = std::move(other.accept_);
  }
  return *this;
}

HttpServer::~HttpServer() {
  if (state_ != nullptr) CancelAll();
}

void HttpServer::CancelAll() {
  CheckShard();
  state_->stopping = true;
  if (accept_) accept_.Cancel();
  for (auto& [id, conn] : state_->conns) conn.task.Cancel();
}

void HttpServer::CheckShard() const {
#ifndef NDEBUG
  if (runtime::Shard::Current() != state_->shard) {
    std::fprintf(stderr, "HttpServer used off the shard that bound it (%s)\n",
                 state_->address.ToString().c_str());
    std::abort();
  }
#endif
}

void HttpServer::Route(std::string path, Handler handler) {
  CheckShard();
  if (!handler) {
    state_->routes.erase(path);
    return;
  }
  state_->routes[std::move(path)] =
      std::make_shared<const Handler>(std::move(handler));
}

void HttpServer::Start() {
  CheckShard();
  if (accept_ || state_->stopping) std::abort();  // started twice
  runtime::Task<void> loop = State::AcceptLoop(state_);
  accept_ = runtime::Spawn(std::move(loop), "http_accept");
}

runtime::Task<void> HttpServer::Stop(runtime::Duration grace) {
  CheckShard();
  const std::shared_ptr<State> state = state_;
  state->stopping = true;
  if (accept_) {
    accept_.Cancel();
    co_await accept_;
    accept_.Detach();
  }
  state->listener.reset();  // new connections are refused from here on
  for (auto& [id, conn] : state->conns) {
    if (!conn.busy) conn.task.Cancel();
  }
  const runtime::TimePoint deadline = runtime::Now() + grace;
  bool cancelled_all = false;
  while (!state->conns.empty()) {
    if (!cancelled_all && runtime::Now() >= deadline) {
      for (auto& [id, conn] : state->conns) conn.task.Cancel();
      cancelled_all = true;
    }
    if (!(co_await runtime::Sleep(kStopPoll)).ok()) {
      // Stop itself was cancelled: it cannot wait any more.
      for (auto& [id, conn] : state->conns) conn.task.Cancel();
      co_return;
    }
  }
}

const SocketAddress& HttpServer::address() const { return state_->address; }

size_t HttpServer::connections() const { return state_->conns.size(); }

}  // namespace veloq::io
