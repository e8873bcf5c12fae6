#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "actors/actor.h"
#include "actors/promise.h"
#include "runtime/metrics.h"
#include "runtime/task.h"
#include "samples/kv/aof.h"
#include "samples/kv/command_batch.h"
#include "samples/kv/resp.h"
#include "samples/kv/store.h"

namespace veloq::kv {

// Commands for one partition, carried over the mesh as one message (a
// connection sends at most one per owner shard per read).
struct BatchReply {
  std::string bytes;           // the replies, back to back
  std::vector<uint32_t> ends;  // ends[i]: one past reply i in `bytes`
};
struct RemoteBatch {
  CommandBatch commands;
  actors::Promise<BatchReply> reply;
};
// INFO's per-shard figures.
struct PartitionStats {
  StoreStats store;
  uint64_t commands = 0;
  uint64_t aof_records = 0;
};
struct StatsQuery {};
struct ExpireTick {};

struct PartitionOptions {
  std::string aof_dir;  // empty: no log
  AppendFsync fsync = AppendFsync::kEverySec;
};

// Partition is one shard's share of the keyspace: its Store, its
// append-only log, and active expiry (every 100 ms). Connections on the
// same shard call Execute directly (Local()); other shards send a
// RemoteBatch. Commands are executed in the order they arrive, each to
// completion (no handler suspends), so the store needs no locking.
//
// Durability: with AppendFsync::kAlways a batch with writes is answered only
// after its records are fdatasync'ed (group commit in AppendLog).
//
// Affinity: an actor on its shard; Local() is the calling shard's.
class Partition : public actors::Actor {
 public:
  explicit Partition(PartitionOptions options);
  ~Partition() override;

  // The calling shard's running partition, or null (none, or stopping).
  static Partition* Local();

  // Executes a keyed command (or single-key sub-command, or a shard-wide
  // one) and appends its reply; logs it if it wrote.
  void Execute(absl::Span<const absl::string_view> args, int64_t now_ms,
               std::string* reply);
  // The key a command (as Execute takes it) touches first, or empty for an
  // unknown or keyless one: what to Prefetch for it.
  static absl::string_view FirstKey(absl::Span<const absl::string_view> args);
  // Starts loading the memory that commands on `keys` will touch
  // (Store::Prefetch): for a run of commands, before executing them.
  void Prefetch(absl::Span<const absl::string_view> keys) const {
    store_.Prefetch(keys);
  }
  // The log record a caller must wait for before replying (0: none).
  uint64_t durability_needed() const;
  AppendLog* log() const { return log_.get(); }

  void Handle(RemoteBatch b);
  PartitionStats Handle(StatsQuery);
  void Handle(ExpireTick);

 protected:
  runtime::Task<absl::Status> OnStart() override;
  runtime::Task<void> OnStop() override;

 private:
  class LogExpiries;

  PartitionOptions options_;
  Store store_;
  std::unique_ptr<AppendLog> log_;
  std::unique_ptr<LogExpiries> expiry_logger_;
  uint64_t commands_ = 0;
  std::vector<std::string> rewrite_;              // scratch for RewriteForLog
  std::vector<absl::string_view> views_;          // scratch for Execute
  std::vector<absl::string_view> batch_args_;     // scratch for Handle
  std::vector<absl::string_view> prefetch_keys_;  // scratch for Handle
  // veloq_kv_keys, veloq_kv_commands_total on this shard (registered by
  // OnStart; declared last, so dropped first).
  std::vector<metrics::CallbackHandle> metrics_;
};

// Milliseconds since the Unix epoch (expiry deadlines are absolute, so a
// replayed log means the same instants).
int64_t WallClockMs();

}  // namespace veloq::kv
