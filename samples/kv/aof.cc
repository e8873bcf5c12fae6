#include "samples/kv/aof.h"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "io/buffer/fixed_buf.h"
#include "io/driver.h"
#include "runtime/log.h"
#include "runtime/spawn.h"
#include "runtime/timer.h"
#include "samples/kv/commands.h"
#include "samples/kv/resp.h"

namespace veloq::kv {

using runtime::Task;

absl::StatusOr<AppendFsync> ParseAppendFsync(absl::string_view s) {
  if (s == "always") return AppendFsync::kAlways;
  if (s == "everysec") return AppendFsync::kEverySec;
  if (s == "no") return AppendFsync::kNo;
  return absl::InvalidArgumentError(
      absl::StrCat("appendfsync: '", s, "' is not always, everysec or no"));
}

absl::string_view AppendFsyncName(AppendFsync f) {
  switch (f) {
    case AppendFsync::kAlways:
      return "always";
    case AppendFsync::kEverySec:
      return "everysec";
    case AppendFsync::kNo:
      return "no";
  }
  return "?";
}

Task<absl::StatusOr<std::unique_ptr<AppendLog>>> AppendLog::Open(
    std::string path, AppendFsync policy) {
  io::OpenOptions o;
  o.read = false;
  o.write = true;
  o.create = true;
  absl::StatusOr<io::File> f = co_await io::File::Open(path, o);
  if (!f.ok()) co_return f.status();
  absl::StatusOr<io::FileMetadata> m = co_await f->Metadata();
  if (!m.ok()) co_return m.status();
  std::unique_ptr<AppendLog> log(new AppendLog(*std::move(f), m->size, policy));
  if (policy == AppendFsync::kEverySec) {
    log->syncer_ = runtime::Spawn(SyncEverySecond(log.get()), "aof-sync");
    log->syncer_running_ = true;
  }
  co_return log;
}

Task<absl::StatusOr<uint64_t>> AppendLog::Replay(std::string path,
                                                 Store& store) {
  absl::StatusOr<io::File> f = co_await io::File::Open(
      path, io::OpenOptions{.read = true, .write = true});
  if (!f.ok()) {
    if (absl::IsNotFound(f.status())) co_return 0;
    co_return f.status();
  }
  constexpr size_t kChunk = 1 << 20;
  RespParser parser;
  Command cmd;
  std::string pending;      // unconsumed bytes
  uint64_t file_pos = 0;    // bytes read so far
  uint64_t record_end = 0;  // end of the last whole record
  uint64_t records = 0;
  std::string reply;
  std::vector<absl::string_view> args;
  for (;;) {
    absl::StatusOr<io::FixedBuf> buf =
        co_await f->ReadFullAt(io::FixedBuf::Heap(kChunk), kChunk, file_pos);
    if (!buf.ok()) co_return buf.status();
    const size_t got = buf->size();
    file_pos += got;
    pending.append(buf->data(), got);
    size_t pos = 0;
    for (;;) {
      size_t used = 0;
      ParseStatus st =
          parser.Next(absl::string_view(pending).substr(pos), &used, &cmd);
      pos += used;
      if (st == ParseStatus::kNeedMore) break;
      if (st == ParseStatus::kError) {
        co_return absl::DataLossError(
            absl::StrCat(path, ": corrupt record after offset ", record_end,
                         " (", parser.error(), ")"));
      }
      args.assign(cmd.begin(), cmd.end());
      const CommandSpec* spec = LookupCommand(args[0]);
      if (spec == nullptr || !spec->write) {
        co_return absl::DataLossError(absl::StrCat(
            path, ": record after offset ", record_end, " is not a write"));
      }
      reply.clear();
      Execute(store, args, kReplayNowMs, &reply);
      ++records;
      record_end = file_pos - (pending.size() - pos);
    }
    pending.erase(0, pos);
    if (got < kChunk) break;  // end of file
  }
  if (record_end < file_pos) {
    log::Warn(log::Module::kKv,
              "{}: dropping a torn last record ({} bytes after offset {})",
              path, file_pos - record_end, record_end);
    absl::Status s = co_await f->SetLen(record_end);
    if (!s.ok()) co_return s;
  }
  co_return records;
}

AppendLog::~AppendLog() {
  for (Waiter& w : waiters_) {
    w.done.Set(absl::CancelledError("append log closed"));
  }
}

uint64_t AppendLog::Append(absl::Span<const absl::string_view> args) {
  AppendArrayHeader(&pending_, args.size());
  for (absl::string_view a : args) AppendBulk(&pending_, a);
  ++appended_;
  StartFlush();
  return appended_;
}

void AppendLog::StartFlush() {
  if (flushing_) return;
  flushing_ = true;
  flusher_ = runtime::Spawn(FlushLoop(this), "aof-flush");
}

Task<absl::Status> AppendLog::WaitDurable(uint64_t seq) {
  if (seq <= durable_) co_return absl::OkStatus();
  auto [promise, future] = actors::MakePromise<void>();
  waiters_.push_back(Waiter{seq, std::move(promise)});
  co_return co_await future;
}

void AppendLog::Resolve(uint64_t upto, const absl::Status& s) {
  while (!waiters_.empty() && waiters_.front().seq <= upto) {
    waiters_.front().done.Set(s);
    waiters_.pop_front();
  }
}

// Writes what accumulated (letting this tick's appends join first), syncs
// for kAlways, answers the waiters; again while more came meanwhile.
Task<void> AppendLog::FlushLoop(AppendLog* log) {
  co_await runtime::Yield();
  while (!log->pending_.empty()) {
    const uint64_t upto = log->appended_;
    io::FixedBuf buf = io::Driver::CurrentOrDie().buffers().Copy(log->pending_);
    const size_t n = log->pending_.size();
    absl::Status s =
        co_await log->file_.WriteAllAt(std::move(buf), log->offset_);
    if (s.ok()) {
      log->pending_.erase(0, n);
      log->offset_ += n;
      log->written_ = upto;
      if (log->policy_ == AppendFsync::kAlways) {
        s = co_await log->file_.DataSync();
      }
    }
    if (!s.ok()) {
      log::Error(log::Module::kKv, "append log {}: {} (retrying in 100 ms)",
                 log->file_.path(), s.ToString());
      log->Resolve(log->appended_,
                   absl::UnavailableError(
                       absl::StrCat("append log write failed: ", s.message())));
      (void)co_await runtime::Sleep(std::chrono::milliseconds(100));
      if (runtime::IsCancelled()) break;
      continue;
    }
    log->durable_ = upto;
    log->Resolve(upto, absl::OkStatus());
  }
  log->flushing_ = false;
}

Task<void> AppendLog::SyncEverySecond(AppendLog* log) {
  uint64_t synced = 0;
  for (;;) {
    absl::Status slept = co_await runtime::Sleep(std::chrono::seconds(1));
    if (!slept.ok()) co_return;  // cancelled: Close syncs
    if (log->written_ == synced) continue;
    const uint64_t upto = log->written_;
    absl::Status s = co_await log->file_.DataSync();
    if (s.ok()) {
      synced = upto;
    } else {
      log::Error(log::Module::kKv, "append log {}: fdatasync: {}",
                 log->file_.path(), s.ToString());
    }
  }
}

Task<absl::Status> AppendLog::Close() {
  if (closed_) co_return absl::OkStatus();
  closed_ = true;
  if (syncer_running_) {
    syncer_.Cancel();
    co_await std::move(syncer_);
    syncer_running_ = false;
  }
  if (flushing_) co_await std::move(flusher_);
  absl::Status s = absl::OkStatus();
  if (!pending_.empty()) {
    const size_t n = pending_.size();
    s = co_await file_.WriteAllAt(io::FixedBuf::Copy(pending_), offset_);
    if (s.ok()) {
      pending_.clear();
      offset_ += n;
    }
  }
  absl::Status synced = co_await file_.DataSync();
  if (s.ok()) s = synced;
  Resolve(appended_, s);
  co_return s;
}

}  // namespace veloq::kv
