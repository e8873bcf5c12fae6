#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "actors/promise.h"
#include "io/fs/file.h"
#include "runtime/task.h"
#include "samples/kv/store.h"

namespace veloq::kv {

// When the append-only log reaches the disk (Redis's appendfsync).
enum class AppendFsync {
  kAlways,    // every reply to a write waits for its fdatasync (group commit)
  kEverySec,  // written at once, fdatasync once a second
  kNo,        // written at once, the kernel decides when it is durable
};
absl::StatusOr<AppendFsync> ParseAppendFsync(absl::string_view s);
absl::string_view AppendFsyncName(AppendFsync f);

// AppendLog is one shard's append-only log of write commands, in RESP (the
// format of Redis's AOF, so `redis-check-aof` reads it). Appends go to a
// memory buffer; one flush task at a time writes what has accumulated (so
// every write that arrived meanwhile shares one write and one fdatasync:
// group commit). With kAlways, WaitDurable(seq) returns once record `seq`
// is fdatasync'ed; with the other policies once it is written.
//
// A failed write or sync keeps the records buffered, answers the waiters
// with the error (their clients get an error reply, not a false OK), logs
// it, and retries after 100 ms.
//
// Affinity: shard-local (the shard that opened it).
class AppendLog {
 public:
  static runtime::Task<absl::StatusOr<std::unique_ptr<AppendLog>>> Open(
      std::string path, AppendFsync policy);

  // Replays the log at `path` into `store` (a missing file is an empty
  // log) and returns the number of records. A torn last record (the process
  // died mid-write) is dropped and the file cut back to the last whole one;
  // garbage anywhere else is DataLoss, naming the offset.
  static runtime::Task<absl::StatusOr<uint64_t>> Replay(std::string path,
                                                        Store& store);

  ~AppendLog();
  AppendLog(const AppendLog&) = delete;
  AppendLog& operator=(const AppendLog&) = delete;

  // Appends one record; returns its sequence number (from 1).
  uint64_t Append(absl::Span<const absl::string_view> args);
  uint64_t appended() const { return appended_; }
  AppendFsync policy() const { return policy_; }

  // OK once record `seq` is durable (see the class comment), or the write
  // error.
  runtime::Task<absl::Status> WaitDurable(uint64_t seq);

  // Writes and syncs everything appended so far; then the log takes no
  // more waiters' time. Call before destroying it.
  runtime::Task<absl::Status> Close();

 private:
  AppendLog(io::File file, uint64_t offset, AppendFsync policy)
      : file_(std::move(file)), offset_(offset), policy_(policy) {}
  static runtime::Task<void> FlushLoop(AppendLog* log);
  static runtime::Task<void> SyncEverySecond(AppendLog* log);
  void StartFlush();
  void Resolve(uint64_t upto, const absl::Status& s);

  io::File file_;
  uint64_t offset_;  // end of the file
  AppendFsync policy_;
  std::string pending_;    // records not yet handed to the kernel
  uint64_t appended_ = 0;  // last record appended
  uint64_t durable_ = 0;   // last record durable per the policy
  uint64_t written_ = 0;   // last record written (not necessarily synced)
  bool flushing_ = false;  // a FlushLoop is running
  bool closed_ = false;
  bool syncer_running_ = false;
  struct Waiter {
    uint64_t seq;
    actors::Promise<void> done;
  };
  std::deque<Waiter> waiters_;  // in seq order
  runtime::JoinHandle<void> flusher_;
  runtime::JoinHandle<void> syncer_;
};

}  // namespace veloq::kv
