#include "samples/kv/partition.h"

#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "runtime/log.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"
#include "samples/kv/commands.h"

namespace veloq::kv {
namespace {

thread_local Partition* local_partition = nullptr;

}  // namespace

int64_t WallClockMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Logs every key the store expires as a DEL, so a replay with a frozen
// clock removes it at the same point (see commands.h, RewriteForLog).
class Partition::LogExpiries : public ExpiryObserver {
 public:
  explicit LogExpiries(AppendLog* log) : log_(log) {}
  void OnExpired(absl::string_view key) override {
    const absl::string_view args[] = {"DEL", key};
    log_->Append(args);
  }

 private:
  AppendLog* log_;
};

Partition::Partition(PartitionOptions options) : options_(std::move(options)) {}

Partition::~Partition() {
  if (local_partition == this) local_partition = nullptr;
}

Partition* Partition::Local() { return local_partition; }

runtime::Task<absl::Status> Partition::OnStart() {
  if (!options_.aof_dir.empty()) {
    const std::string path =
        absl::StrCat(options_.aof_dir, "/appendonly-", shard(), ".aof");
    absl::StatusOr<uint64_t> replayed =
        co_await AppendLog::Replay(path, store_);
    if (!replayed.ok()) co_return replayed.status();
    absl::StatusOr<std::unique_ptr<AppendLog>> log =
        co_await AppendLog::Open(path, options_.fsync);
    if (!log.ok()) co_return log.status();
    log_ = *std::move(log);
    expiry_logger_ = std::make_unique<LogExpiries>(log_.get());
    store_.SetExpiryObserver(expiry_logger_.get());
    if (*replayed > 0) {
      log::Info(log::Module::kKv,
                "shard {}: replayed {} records from {} ({} keys)", shard(),
                *replayed, path, store_.Size(WallClockMs()));
    }
  }
  local_partition = this;
  metrics::Registry& r = metrics::Registry::Current();
  metrics_.push_back(r.AddCallback(
      "veloq_kv_keys", metrics::Type::kGauge, "Keys in this shard's partition",
      [this](metrics::Emitter& e) {
        e.Emit(uint64_t{store_.Size(WallClockMs())});
      }));
  metrics_.push_back(
      r.AddCallback("veloq_kv_commands_total", metrics::Type::kCounter,
                    "Commands this shard's partition executed",
                    [this](metrics::Emitter& e) { e.Emit(commands_); }));
  SendEvery<Partition>(std::chrono::milliseconds(100), ExpireTick{});
  co_return absl::OkStatus();
}

runtime::Task<void> Partition::OnStop() {
  if (local_partition == this) local_partition = nullptr;
  if (log_ != nullptr) {
    absl::Status s = co_await log_->Close();
    if (!s.ok()) {
      log::Error(log::Module::kKv, "shard {}: closing the append log: {}",
                 shard(), s.ToString());
    }
  }
}

void Partition::Execute(absl::Span<const absl::string_view> args,
                        int64_t now_ms, std::string* reply) {
  ++commands_;
  const size_t before = reply->size();
  kv::Execute(store_, args, now_ms, reply);
  if (log_ == nullptr || reply->size() == before || (*reply)[before] == '-') {
    return;
  }
  if (!IsWrite(args)) return;
  rewrite_.clear();
  RewriteForLog(args, now_ms, &rewrite_);
  if (rewrite_.empty()) return;
  views_.assign(rewrite_.begin(), rewrite_.end());
  log_->Append(views_);
}

absl::string_view Partition::FirstKey(
    absl::Span<const absl::string_view> args) {
  if (args.empty()) return {};
  const CommandSpec* spec = LookupCommand(args[0]);
  if (spec == nullptr || spec->first_key <= 0) return {};
  const size_t at = static_cast<size_t>(spec->first_key);
  return at < args.size() ? args[at] : absl::string_view();
}

uint64_t Partition::durability_needed() const {
  if (log_ == nullptr || log_->policy() != AppendFsync::kAlways) return 0;
  return log_->appended();
}

void Partition::Handle(RemoteBatch b) {
  BatchReply out;
  out.ends.reserve(b.commands.size());
  // Room for the common replies (+OK, :n, short bulks) of every command.
  out.bytes.reserve(b.commands.size() * 16);
  const int64_t now = WallClockMs();
  const uint64_t durable_before = durability_needed();
  if (b.commands.size() > 1) {
    prefetch_keys_.clear();
    CommandBatch::Reader ahead(b.commands);
    while (ahead.Next(&batch_args_)) {
      const absl::string_view key = FirstKey(batch_args_);
      if (!key.empty()) prefetch_keys_.push_back(key);
    }
    Prefetch(prefetch_keys_);
  }
  CommandBatch::Reader reader(b.commands);
  while (reader.Next(&batch_args_)) {
    Execute(batch_args_, now, &out.bytes);
    out.ends.push_back(static_cast<uint32_t>(out.bytes.size()));
  }
  const uint64_t need = durability_needed();
  if (need == durable_before || need == 0) {
    b.reply.Set(std::move(out));
    return;
  }
  // Answer once the batch's writes are on disk, without holding up this
  // partition's next batches (they join the same group commit).
  runtime::Spawn(
      [](AppendLog* log, uint64_t seq, actors::Promise<BatchReply> p,
         BatchReply r) -> runtime::Task<void> {
        absl::Status s = co_await log->WaitDurable(seq);
        if (s.ok()) {
          p.Set(std::move(r));
        } else {
          p.Set(s);
        }
      }(log_.get(), need, std::move(b.reply), std::move(out)),
      "kv-durable")
      .Detach();
}

PartitionStats Partition::Handle(StatsQuery) {
  PartitionStats s;
  s.store = store_.Stats(WallClockMs());
  s.commands = commands_;
  s.aof_records = log_ != nullptr ? log_->appended() : 0;
  return s;
}

void Partition::Handle(ExpireTick) {
  // Bounded work per tick; come back next tick for the rest.
  (void)store_.ExpireSome(WallClockMs(), 200);
}

}  // namespace veloq::kv
