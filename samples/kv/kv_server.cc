// kv_server: a sharded Redis-protocol (RESP2) key-value server on Veloq.
//
//   bazel run -c opt //samples/kv:kv_server -- --port=6379 --shards=2
//   redis-cli -p 6379 set greeting hello
//
// Every shard accepts connections (SO_REUSEPORT) and owns the keys that
// hash to it; see docs/kv.md.
#include <sched.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "actors/sharded_service.h"
#include "io/driver.h"
#include "io/http/debug_server.h"
#include "io/net/server.h"
#include "io/net/socket_address.h"
#include "runtime/log.h"
#include "runtime/metrics.h"
#include "runtime/runtime.h"
#include "samples/kv/aof.h"
#include "samples/kv/partition.h"
#include "samples/kv/server.h"

ABSL_FLAG(std::string, bind, "127.0.0.1", "address to listen on");
ABSL_FLAG(uint16_t, port, 6379, "TCP port (0: any free port)");
ABSL_FLAG(uint32_t, shards, 0, "shards (0: one per CPU)");
ABSL_FLAG(uint32_t, maxclients, 10000, "most connected clients");
ABSL_FLAG(std::string, aof, "",
          "directory for the per-shard append-only logs (empty: off)");
ABSL_FLAG(std::string, appendfsync, "everysec", "always, everysec or no");
ABSL_FLAG(uint64_t, proto_max_bulk_len, 512ull << 20,
          "longest bulk argument accepted");
ABSL_FLAG(uint64_t, max_args, 1 << 20, "most arguments in one request");
ABSL_FLAG(std::string, backend, "auto", "I/O driver: auto, uring or epoll");
ABSL_FLAG(int32_t, metrics_port, -1,
          "serve /metrics (Prometheus) and /debug/shards, /debug/tasks on "
          "this port (-1: off; 0: any free port)");
ABSL_FLAG(std::string, metrics_bind, "127.0.0.1",
          "address of the metrics endpoint");
ABSL_FLAG(uint32_t, idle_spin_us, 50,
          "how long an idle shard polls before it sleeps (0: sleep at once; "
          "lower it when clients share the cores)");
ABSL_FLAG(std::string, idle_yield, "auto",
          "while spinning, yield the core to other runnable threads: on, off, "
          "or auto (on when there are at least as many shards as CPUs this "
          "process may run on, as with the default --shards: every core then "
          "also runs whatever else is on the machine, clients included; use "
          "off when the clients are elsewhere)");

namespace veloq::kv {
namespace {

// Every log of one directory was written with one shard count: keys are
// placed by hash, so a different count would find them on the wrong shard.
absl::Status CheckManifest(const std::string& dir, uint32_t shards) {
  ::mkdir(dir.c_str(), 0755);
  const std::string path = dir + "/veloq-kv.manifest";
  const std::string want = absl::StrCat("shards=", shards, "\n");
  if (FILE* f = std::fopen(path.c_str(), "r")) {
    char line[64] = {};
    const size_t n = std::fread(line, 1, sizeof(line) - 1, f);
    std::fclose(f);
    if (std::string(line, n) != want) {
      return absl::FailedPreconditionError(absl::StrCat(
          dir, " holds logs written with ", std::string(line, n),
          "start with that --shards, or use another --aof directory"));
    }
    return absl::OkStatus();
  }
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) {
    return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  }
  std::fputs(want.c_str(), f);
  std::fclose(f);
  return absl::OkStatus();
}

int Main() {
  ServerConfig config;
  config.bind = absl::GetFlag(FLAGS_bind);
  config.port = absl::GetFlag(FLAGS_port);
  config.maxclients = absl::GetFlag(FLAGS_maxclients);
  config.limits.max_bulk_len = absl::GetFlag(FLAGS_proto_max_bulk_len);
  config.limits.max_args = absl::GetFlag(FLAGS_max_args);
  config.partition.aof_dir = absl::GetFlag(FLAGS_aof);
  absl::StatusOr<AppendFsync> fsync =
      ParseAppendFsync(absl::GetFlag(FLAGS_appendfsync));
  if (!fsync.ok()) {
    std::fprintf(stderr, "kv_server: %s\n", fsync.status().ToString().c_str());
    return 2;
  }
  config.partition.fsync = *fsync;
  io::DriverOptions dopts;
  const std::string backend = absl::GetFlag(FLAGS_backend);
  if (backend == "uring") {
    dopts.backend = io::Backend::kUring;
  } else if (backend == "epoll") {
    dopts.backend = io::Backend::kEpoll;
  } else if (backend != "auto") {
    std::fprintf(stderr, "kv_server: --backend: auto, uring or epoll\n");
    return 2;
  }
  uint32_t shards = absl::GetFlag(FLAGS_shards);
  if (shards == 0) shards = std::max(1u, std::thread::hardware_concurrency());
  const std::string yield_flag = absl::GetFlag(FLAGS_idle_yield);
  bool idle_yield = false;
  if (yield_flag == "on") {
    idle_yield = true;
  } else if (yield_flag == "auto") {
    cpu_set_t cpus;
    const int n = ::sched_getaffinity(0, sizeof(cpus), &cpus) == 0
                      ? CPU_COUNT(&cpus)
                      : static_cast<int>(std::thread::hardware_concurrency());
    idle_yield = static_cast<int>(shards) >= n;
  } else if (yield_flag != "off") {
    std::fprintf(stderr, "kv_server: --idle_yield: on, off or auto\n");
    return 2;
  }
  if (!config.partition.aof_dir.empty()) {
    absl::Status m = CheckManifest(config.partition.aof_dir, shards);
    if (!m.ok()) {
      std::fprintf(stderr, "kv_server: %s\n", m.ToString().c_str());
      return 1;
    }
  }
  absl::StatusOr<io::SocketAddress> addr = io::SocketAddress::Parse(
      absl::StrCat(config.bind.find(':') != std::string::npos
                       ? absl::StrCat("[", config.bind, "]")
                       : config.bind,
                   ":", config.port));
  if (!addr.ok()) {
    std::fprintf(stderr, "kv_server: --bind: %s\n",
                 addr.status().ToString().c_str());
    return 2;
  }
  std::optional<io::SocketAddress> metrics_addr;
  if (const int32_t mp = absl::GetFlag(FLAGS_metrics_port); mp >= 0) {
    const std::string mb = absl::GetFlag(FLAGS_metrics_bind);
    absl::StatusOr<io::SocketAddress> m = io::SocketAddress::Parse(absl::StrCat(
        mb.find(':') != std::string::npos ? absl::StrCat("[", mb, "]") : mb,
        ":", mp));
    if (!m.ok() || mp > 65535) {
      std::fprintf(
          stderr, "kv_server: --metrics_port/--metrics_bind: %s\n",
          m.ok() ? "port out of range" : m.status().ToString().c_str());
      return 2;
    }
    metrics_addr = *m;
  }
  auto rt = runtime::Runtime::Builder()
                .Shards(shards)
                .HandleSignals(true)
                .IdleSpin(std::chrono::microseconds(
                    absl::GetFlag(FLAGS_idle_spin_us)))
                .IdleYield(idle_yield)
                .Parkers(io::DriverParkers(dopts))
                .Build();
  if (!rt.ok()) {
    std::fprintf(stderr, "kv_server: %s\n", rt.status().ToString().c_str());
    return 1;
  }
  auto shared = std::make_shared<ServerState>();
  ServerState& state = *shared;
  state.config = config;
  state.started_ms = WallClockMs();
  absl::Status result = (*rt)->Run([&]() -> runtime::Task<absl::Status> {
    // Every partition has replayed its log before the port opens.
    absl::Status started = co_await StartPartitions(&state);
    if (!started.ok()) co_return started;
    std::optional<io::DebugServer> debug;
    if (metrics_addr.has_value()) {
      io::DebugServerOptions dso;
      dso.address = *metrics_addr;
      absl::StatusOr<io::DebugServer> d = io::DebugServer::Start(dso);
      if (!d.ok()) co_return d.status();
      debug.emplace(*std::move(d));
    }
    // Server-wide counters, on this shard (the root's).
    metrics::CallbackHandle clients = metrics::Registry::Current().AddCallback(
        "veloq_kv_clients", metrics::Type::kGauge, "Connected clients",
        [&state](metrics::Emitter& e) {
          e.Emit(uint64_t{state.clients.load(std::memory_order_relaxed)});
        });
    metrics::CallbackHandle errors = metrics::Registry::Current().AddCallback(
        "veloq_kv_protocol_errors_total", metrics::Type::kCounter,
        "Requests answered with a protocol error",
        [&state](metrics::Emitter& e) {
          e.Emit(state.protocol_errors.load(std::memory_order_relaxed));
        });
    absl::StatusOr<io::TcpServer> server =
        io::TcpServer::Bind(*addr, io::Spread::kReusePort);
    if (!server.ok()) co_return server.status();
    state.bound_port = server->address().port();
    state.backend = io::Driver::Current()->backend_name();
    std::printf(
        "veloq-kv %s: %u shards, listening on %s, driver %s "
        "(%s), aof %s, idle yield %s\n",
        std::string(kVersion).c_str(), shards,
        server->address().ToString().c_str(), state.backend.c_str(),
        io::Driver::Current()->Describe().c_str(),
        config.partition.aof_dir.empty()
            ? "off"
            : absl::StrCat(config.partition.aof_dir, " (appendfsync ",
                           AppendFsyncName(config.partition.fsync), ")")
                  .c_str(),
        idle_yield ? "on" : "off");
    if (debug.has_value()) {
      std::printf("metrics: http://%s/metrics, http://%s/debug/shards\n",
                  debug->address().ToString().c_str(),
                  debug->address().ToString().c_str());
    }
    std::fflush(stdout);
    // (A local, not a temporary in the co_await: g++ 12 destroys such
    // temporaries twice; docs/build.md.)
    auto handler = [shared](io::TcpStream s) {
      return ServeConnection(std::move(s), shared);
    };
    absl::Status served = co_await server->Serve(handler);
    log::Info(log::Module::kKv,
              "kv_server: stopping (no new connections; flushing logs)");
    if (debug.has_value()) co_await debug->Stop();
    co_return served;
  });
  if (!result.ok() && !absl::IsCancelled(result)) {
    std::fprintf(stderr, "kv_server: %s\n", result.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace veloq::kv

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "a sharded Redis-protocol key-value server (see docs/kv.md)");
  absl::ParseCommandLine(argc, argv);
  return veloq::kv::Main();
}
