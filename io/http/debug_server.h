#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/http/server.h"
#include "io/net/socket_address.h"
#include "runtime/task.h"

namespace veloq::io {

// The runtime's observability endpoint, served by the runtime itself on its
// own io/net (opt-in; 127.0.0.1 by default):
//
//   /metrics             every shard's metrics (runtime/metrics.h) in the
//                        Prometheus text format, gathered over the mesh
//   /debug/shards        an HTML page of per-shard load, queues, mesh
//                        traffic, actors and the oldest tasks, refreshing
//                        itself (?refresh=<seconds>, default 2)
//   /debug/shards.json   what the page shows, as JSON
//   /debug/tasks         every shard's live tasks (name, spawn site, age,
//                        cancelled), oldest first, as JSON (?limit=<n> per
//                        shard, default 100)
//   /debug/log           the log level of each module; ?set=<spec> changes
//                        them at run time (log::SetLevels syntax, e.g.
//                        "runtime=debug,io=warn"; a bad spec is a 400)
//
// A shard answers from its own thread, between tasks; a shard stuck in a
// task that never yields cannot, so the JSON pages wait at most
// `answer_timeout` for each and report it as "unresponsive" (with the
// counters it last published) — the page stays usable exactly when it is
// needed most. /metrics waits for every shard.
//
//   auto debug = io::DebugServer::Start({.address =
//   SocketAddress::Loopback4(9464)});
//
// Affinity: the server runs on the shard that started it (one shard serves
// the endpoint; it asks the others over the mesh). REQUIRES: on a shard
// whose Parker is an io::Driver.
struct DebugServerOptions {
  SocketAddress address = SocketAddress::Loopback4(0);
  // Per-shard cap on tasks listed by /debug/tasks (the oldest first).
  size_t max_tasks = 100;
  // How long a JSON page waits for a shard's answer.
  runtime::Duration answer_timeout = std::chrono::milliseconds(500);
};

class DebugServer {
 public:
  // Binds and starts serving on the calling shard.
  static absl::StatusOr<DebugServer> Start(DebugServerOptions options);

  DebugServer(DebugServer&&) noexcept = default;
  DebugServer& operator=(DebugServer&&) noexcept = default;

  uint16_t port() const { return server_.port(); }
  const SocketAddress& address() const { return server_.address(); }
  // Stops accepting and waits for open connections (see HttpServer::Stop).
  runtime::Task<void> Stop() { return server_.Stop(); }

 private:
  explicit DebugServer(HttpServer server) : server_(std::move(server)) {}
  HttpServer server_;
};

namespace internal {

// JSON helpers, exposed for tests.
// `s` as a JSON string literal (quotes included; control characters,
// quotes and backslashes escaped; bytes >= 0x80 passed through).
std::string JsonString(std::string_view s);

// /debug/tasks and /debug/shards.json bodies, gathered from every shard
// (REQUIRES: on a shard).
runtime::Task<std::string> TasksJson(size_t max_tasks,
                                     runtime::Duration answer_timeout);
runtime::Task<std::string> ShardsJson(runtime::Duration answer_timeout);

// /debug/log: one "module=level" line per module.
std::string LogLevels();

// The /debug/shards page (static HTML + script reading shards.json).
std::string ShardsPage(int refresh_seconds);

}  // namespace internal

}  // namespace veloq::io
