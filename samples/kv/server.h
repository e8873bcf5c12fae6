#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "actors/sharded_service.h"
#include "io/net/tcp.h"
#include "runtime/task.h"
#include "samples/kv/partition.h"
#include "samples/kv/resp.h"

namespace veloq::kv {

inline constexpr absl::string_view kVersion = "0.1.0";

struct ServerConfig {
  std::string bind = "127.0.0.1";
  uint16_t port = 6379;
  uint32_t maxclients = 10000;
  RespLimits limits;
  PartitionOptions partition;
};

// What every shard's connections share: the partitions, the configuration,
// and process-wide counters (atomics: any shard updates them).
struct ServerState {
  ServerConfig config;
  actors::ShardedService<Partition> partitions;
  std::atomic<uint32_t> clients{0};
  std::atomic<uint64_t> connections_received{0};
  std::atomic<uint64_t> rejected_connections{0};
  std::atomic<uint64_t> protocol_errors{0};
  int64_t started_ms = 0;
  uint16_t bound_port = 0;
  std::string backend;  // the I/O driver's description
};

// Starts a Partition on every shard (state->partitions) and waits until
// each has replayed its log: an error names the shard that failed.
runtime::Task<absl::Status> StartPartitions(ServerState* state);

// Serves one client connection until it quits, errs or goes away: reads,
// parses every complete request (pipelining), routes each to the owner of
// its key(s) — same-shard ones straight into the local partition, the rest
// as one RemoteBatch per owning shard per read — and writes the replies in
// request order. Malformed input gets "-ERR Protocol error: ..." and the
// connection is closed; nothing a client sends affects other clients.
// The connection keeps `state` alive until it ends (connections may outlive
// whoever started the server).
runtime::Task<void> ServeConnection(io::TcpStream stream,
                                    std::shared_ptr<ServerState> state);

}  // namespace veloq::kv
