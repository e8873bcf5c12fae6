#include "samples/kv/server.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "actors/promise.h"
#include "io/buffer/fixed_buf.h"
#include "io/driver.h"
#include "runtime/shard.h"
#include "samples/kv/commands.h"
#include "spdlog/spdlog.h"

namespace veloq::kv {
namespace {

using runtime::Task;

constexpr size_t kReadSize = 16 << 10;
// The most one write sends; a longer reply goes out in pieces.
constexpr size_t kMaxWrite = 16 << 20;
// The most a connection reserves up front for one shard's batch; a bigger
// batch grows as it fills.
constexpr size_t kMaxBatchReserve = 64 << 10;

// How a request's reply is assembled from its parts.
enum class Merge : uint8_t {
  kDone,    // `text` is the reply
  kSingle,  // one part: the owner's reply is the reply
  kArray,   // MGET: *n, then the parts in key order
  kSum,     // DEL EXISTS UNLINK DBSIZE: the sum of integer parts
  kOk,      // MSET FLUSHALL: +OK when every part is +OK
  kInfo,    // INFO: filled in after the partitions' stats arrive
  kQuit,    // QUIT: +OK, then close
};

struct Slot {
  const CommandSpec* spec = nullptr;  // the command's, or null if unknown
  Merge merge = Merge::kDone;
  std::string text;                // kDone / kSingle reply, or an error
  std::vector<std::string> parts;  // kArray
  int64_t sum = 0;                 // kSum
  bool failed = false;             // an error part: `text` holds it
  std::string info_section;        // kInfo: the section asked for
};

// Where one remote sub-command's reply goes.
struct Route {
  uint32_t slot;
  uint32_t part;
};

void ArityError(std::string* out, absl::string_view name) {
  AppendError(out, absl::StrCat("ERR wrong number of arguments for '", name,
                                "' command"));
}

void UnknownCommand(std::string* out, const Command& c) {
  std::string msg =
      absl::StrCat("ERR unknown command '", c.arg(0).substr(0, 128),
                   "', with args beginning with: ");
  for (size_t i = 1; i < c.size(); ++i) {
    absl::StrAppend(&msg, "'", c.arg(i).substr(0, 128), "' ");
  }
  AppendError(out, msg);
}

uint32_t OwnerOf(absl::string_view key, uint32_t shards) {
  return actors::ShardFor(std::string_view(key.data(), key.size()), shards);
}

bool ArityOk(const CommandSpec& spec, size_t argc) {
  return spec.arity > 0 ? argc == static_cast<size_t>(spec.arity)
                        : argc >= static_cast<size_t>(-spec.arity);
}

// Applies one part's reply to its slot.
void ApplyPart(Slot& s, uint32_t part, absl::string_view reply) {
  if (!reply.empty() && reply[0] == '-') {
    if (s.merge == Merge::kSingle) {
      s.text.assign(reply.data(), reply.size());
    } else if (!s.failed) {
      s.failed = true;
      s.text.assign(reply.data(), reply.size());
    }
    return;
  }
  switch (s.merge) {
    case Merge::kSingle:
      s.text.assign(reply.data(), reply.size());
      return;
    case Merge::kArray:
      s.parts[part].assign(reply.data(), reply.size());
      return;
    case Merge::kSum: {
      int64_t v = 0;
      if (reply.size() >= 3 && reply[0] == ':' &&
          absl::SimpleAtoi(reply.substr(1, reply.size() - 3), &v)) {
        s.sum += v;
      }
      return;
    }
    default:
      return;
  }
}

std::string ConfigValue(const ServerState& st, absl::string_view name) {
  const ServerConfig& c = st.config;
  if (name == "save") return "";
  if (name == "appendonly") return c.partition.aof_dir.empty() ? "no" : "yes";
  if (name == "appendfsync") {
    return std::string(AppendFsyncName(c.partition.fsync));
  }
  if (name == "maxclients") return absl::StrCat(c.maxclients);
  if (name == "port") return absl::StrCat(st.bound_port);
  if (name == "bind") return c.bind;
  if (name == "databases") return "1";
  if (name == "proto-max-bulk-len") return absl::StrCat(c.limits.max_bulk_len);
  if (name == "dir") return c.partition.aof_dir;
  return std::string();
}

constexpr absl::string_view kConfigNames[] = {
    "save", "appendonly", "appendfsync",        "maxclients", "port",
    "bind", "databases",  "proto-max-bulk-len", "dir"};

// CONFIG GET with an exact name or "*" (the forms clients use).
void ConfigGet(const ServerState& st, absl::string_view pattern,
               std::string* out) {
  const std::string p = absl::AsciiStrToLower(pattern);
  std::vector<absl::string_view> hits;
  for (absl::string_view n : kConfigNames) {
    if (p == "*" || p == n) hits.push_back(n);
  }
  AppendArrayHeader(out, hits.size() * 2);
  for (absl::string_view n : hits) {
    AppendBulk(out, n);
    AppendBulk(out, ConfigValue(st, n));
  }
}

class Connection {
 public:
  Connection(io::TcpStream stream, ServerState* state)
      : stream_(std::move(stream)), st_(state), parser_(state->config.limits) {}

  Task<void> Run();

 private:
  // Parses what `in` holds into cmds_; false after a protocol error.
  bool Parse(absl::string_view in, size_t* consumed);
  // Executes cmds_[0, ncmds_) and leaves the replies in out_.
  Task<absl::Status> Dispatch();
  void Plan(size_t i, int64_t now, Partition* local);
  // Prefetches the local table for the keyed commands of cmds_ that this
  // shard owns (Store::Prefetch), before Plan runs them. REQUIRES: every
  // slots_[i].spec is set.
  void PrefetchLocalKeys(const Partition* local);
  void SendPart(uint32_t shard, uint32_t slot, uint32_t part,
                absl::Span<const absl::string_view> args);
  void RunPart(Partition* local, uint32_t slot, uint32_t part,
               absl::Span<const absl::string_view> args, int64_t now);
  void Connectionwide(size_t i, const CommandSpec& spec, Slot& s);
  Task<void> FillInfo();
  Task<absl::Status> Write();

  io::TcpStream stream_;
  ServerState* st_;
  RespParser parser_;
  std::string in_;  // unconsumed input
  std::vector<Command> cmds_;
  size_t ncmds_ = 0;
  std::vector<Slot> slots_;
  std::string out_;
  std::string scratch_;
  std::vector<CommandBatch> batches_;       // per shard
  std::vector<std::vector<Route>> routes_;  // per shard
  std::vector<absl::string_view> views_;    // scratch
  bool quit_ = false;
};

bool Connection::Parse(absl::string_view in, size_t* consumed) {
  size_t pos = 0;
  for (;;) {
    if (ncmds_ == cmds_.size()) cmds_.emplace_back();
    size_t used = 0;
    ParseStatus s = parser_.Next(in.substr(pos), &used, &cmds_[ncmds_]);
    pos += used;
    if (s == ParseStatus::kCommand) {
      ++ncmds_;
      continue;
    }
    *consumed = pos;
    return s != ParseStatus::kError;
  }
}

void Connection::RunPart(Partition* local, uint32_t slot, uint32_t part,
                         absl::Span<const absl::string_view> args,
                         int64_t now) {
  scratch_.clear();
  local->Execute(args, now, &scratch_);
  ApplyPart(slots_[slot], part, scratch_);
}

void Connection::SendPart(uint32_t shard, uint32_t slot, uint32_t part,
                          absl::Span<const absl::string_view> args) {
  CommandBatch& batch = batches_[shard];
  if (batch.empty()) {
    // Size the batch once a read: assume the commands still to plan are
    // like this one and spread evenly over the shards.
    size_t arg_bytes = 0;
    for (absl::string_view a : args) arg_bytes += a.size();
    const size_t shards = batches_.size();
    const size_t likely = (ncmds_ - slot + shards - 1) / shards;
    batch.Reserve(
        std::min(kMaxBatchReserve,
                 likely * CommandBatch::Footprint(args.size(), arg_bytes)));
  }
  batch.Add(args);
  routes_[shard].push_back(Route{slot, part});
}

void Connection::Connectionwide(size_t i, const CommandSpec& spec, Slot& s) {
  const Command& c = cmds_[i];
  const absl::string_view name = spec.name;
  std::string& out = s.text;
  if (name == "ping") {
    if (c.size() == 1) {
      AppendSimpleString(&out, "PONG");
    } else if (c.size() == 2) {
      AppendBulk(&out, c.arg(1));
    } else {
      ArityError(&out, name);
    }
  } else if (name == "echo") {
    AppendBulk(&out, c.arg(1));
  } else if (name == "select") {
    int64_t db = 0;
    if (!absl::SimpleAtoi(c.arg(1), &db)) {
      AppendError(&out, "ERR value is not an integer or out of range");
    } else if (db != 0) {
      AppendError(&out, "ERR DB index is out of range");
    } else {
      AppendSimpleString(&out, "OK");
    }
  } else if (name == "quit") {
    s.merge = Merge::kQuit;
  } else if (name == "reset") {
    AppendSimpleString(&out, "RESET");
  } else if (name == "command") {
    const std::string sub =
        c.size() > 1 ? absl::AsciiStrToLower(c.arg(1)) : std::string();
    if (sub == "count") {
      AppendInteger(&out, 0);
    } else {
      AppendArrayHeader(&out, 0);  // no command docs: clients cope
    }
  } else if (name == "client") {
    const std::string sub =
        c.size() > 1 ? absl::AsciiStrToLower(c.arg(1)) : std::string();
    if (sub == "setname" || sub == "setinfo" || sub == "no-evict" ||
        sub == "reply") {
      AppendSimpleString(&out, "OK");
    } else if (sub == "getname") {
      AppendNullBulk(&out);
    } else if (sub == "id") {
      AppendInteger(&out, stream_.fd());
    } else {
      AppendError(&out, absl::StrCat("ERR unknown subcommand '",
                                     c.size() > 1 ? c.arg(1) : "",
                                     "'. Try CLIENT HELP."));
    }
  } else if (name == "config") {
    const std::string sub =
        c.size() > 1 ? absl::AsciiStrToLower(c.arg(1)) : std::string();
    if (sub == "get" && c.size() == 3) {
      ConfigGet(*st_, c.arg(2), &out);
    } else if (sub == "resetstat") {
      AppendSimpleString(&out, "OK");
    } else {
      AppendError(&out,
                  absl::StrCat("ERR CONFIG ", c.size() > 1 ? c.arg(1) : "",
                               " is not supported"));
    }
  } else if (name == "hello") {
    if (c.size() > 1 && c.arg(1) != "2") {
      AppendError(&out, "NOPROTO unsupported protocol version");
    } else {
      AppendArrayHeader(&out, 8);
      AppendBulk(&out, "server");
      AppendBulk(&out, "veloq-kv");
      AppendBulk(&out, "version");
      AppendBulk(&out, kVersion);
      AppendBulk(&out, "proto");
      AppendInteger(&out, 2);
      AppendBulk(&out, "mode");
      AppendBulk(&out, "standalone");
    }
  } else if (name == "info") {
    s.merge = Merge::kInfo;
    s.info_section =
        c.size() > 1 ? absl::AsciiStrToLower(c.arg(1)) : std::string("all");
  } else {
    UnknownCommand(&out, c);
  }
}

void Connection::PrefetchLocalKeys(const Partition* local) {
  const uint32_t here = runtime::Shard::Current()->id();
  const uint32_t shards = st_->partitions.size();
  std::vector<absl::string_view>& keys = views_;
  keys.clear();
  for (size_t i = 0; i < ncmds_; ++i) {
    const Command& c = cmds_[i];
    const CommandSpec* spec = slots_[i].spec;
    if (spec == nullptr || spec->kind != CommandSpec::Kind::kKeyed ||
        static_cast<size_t>(spec->first_key) >= c.size()) {
      continue;
    }
    const absl::string_view key = c.arg(spec->first_key);
    if (OwnerOf(key, shards) == here) keys.push_back(key);
  }
  local->Prefetch(keys);
}

// Decides where request i runs; runs the parts that are local now.
void Connection::Plan(size_t i, int64_t now, Partition* local) {
  const Command& c = cmds_[i];
  Slot& s = slots_[i];
  s.merge = Merge::kDone;
  s.text.clear();
  s.failed = false;
  s.sum = 0;
  const CommandSpec* spec = s.spec;
  if (spec == nullptr) {
    UnknownCommand(&s.text, c);
    return;
  }
  if (!ArityOk(*spec, c.size())) {
    ArityError(&s.text, spec->name);
    return;
  }
  const uint32_t here = runtime::Shard::Current()->id();
  const uint32_t shards = st_->partitions.size();
  const uint32_t slot = static_cast<uint32_t>(i);
  switch (spec->kind) {
    case CommandSpec::Kind::kConnection:
      Connectionwide(i, *spec, s);
      return;
    case CommandSpec::Kind::kKeyed: {
      s.merge = Merge::kSingle;
      const uint32_t owner = OwnerOf(c.arg(spec->first_key), shards);
      std::vector<absl::string_view>& args = views_;
      args.assign(c.begin(), c.end());
      if (owner == here && local != nullptr) {
        RunPart(local, slot, 0, args, now);
      } else {
        SendPart(owner, slot, 0, args);
      }
      return;
    }
    case CommandSpec::Kind::kMultiKey: {
      const bool mset = spec->key_step == 2;
      if (mset && c.size() % 2 != 1) {
        ArityError(&s.text, spec->name);
        return;
      }
      const bool mget = spec->name == "mget";
      s.merge = mget ? Merge::kArray : mset ? Merge::kOk : Merge::kSum;
      const size_t keys = mset ? (c.size() - 1) / 2 : c.size() - 1;
      if (mget) {
        s.parts.resize(keys);
        for (auto& p : s.parts) p.clear();
      }
      const absl::string_view verb = mget ? "GET" : mset ? "SET" : c.arg(0);
      for (size_t k = 0; k < keys; ++k) {
        const size_t at = mset ? 1 + 2 * k : 1 + k;
        const absl::string_view key = c.arg(at);
        const uint32_t owner = OwnerOf(key, shards);
        const absl::string_view sub[3] = {verb, key,
                                          mset ? c.arg(at + 1) : key};
        const auto args = absl::MakeConstSpan(sub, mset ? 3 : 2);
        if (owner == here && local != nullptr) {
          RunPart(local, slot, static_cast<uint32_t>(k), args, now);
        } else {
          SendPart(owner, slot, static_cast<uint32_t>(k), args);
        }
      }
      return;
    }
    case CommandSpec::Kind::kShardWide: {
      s.merge = spec->name == "dbsize" ? Merge::kSum : Merge::kOk;
      std::vector<absl::string_view>& args = views_;
      args.assign(c.begin(), c.end());
      for (uint32_t shard = 0; shard < shards; ++shard) {
        if (shard == here && local != nullptr) {
          RunPart(local, slot, 0, args, now);
        } else {
          SendPart(shard, slot, 0, args);
        }
      }
      return;
    }
  }
}

Task<void> Connection::FillInfo() {
  std::vector<absl::StatusOr<PartitionStats>> stats =
      co_await st_->partitions.InvokeOnAll(StatsQuery{});
  StoreStats total;
  uint64_t commands = 0;
  std::string shards_section = "# Shards\r\n";
  for (size_t i = 0; i < stats.size(); ++i) {
    if (!stats[i].ok()) continue;
    const StoreStats& s = stats[i]->store;
    total.keys += s.keys;
    total.expires += s.expires;
    total.hits += s.hits;
    total.misses += s.misses;
    total.expired_keys += s.expired_keys;
    total.bytes_used += s.bytes_used;
    commands += stats[i]->commands;
    absl::StrAppend(&shards_section, "shard", i, ":keys=", s.keys,
                    ",expires=", s.expires, ",commands=", stats[i]->commands,
                    ",hits=", s.hits, ",misses=", s.misses,
                    ",aof_records=", stats[i]->aof_records, "\r\n");
  }
  const int64_t uptime = (WallClockMs() - st_->started_ms) / 1000;
  std::string server = absl::StrCat(
      "# Server\r\nredis_version:7.0.0\r\nveloq_kv_version:", kVersion,
      "\r\nredis_mode:standalone\r\narch_bits:64\r\nmultiplexing_api:",
      st_->backend, "\r\ntcp_port:", st_->bound_port,
      "\r\nuptime_in_seconds:", uptime, "\r\nshards:", stats.size(), "\r\n");
  std::string clients =
      absl::StrCat("# Clients\r\nconnected_clients:", st_->clients.load(),
                   "\r\nmaxclients:", st_->config.maxclients, "\r\n");
  std::string memory =
      absl::StrCat("# Memory\r\nused_memory:", total.bytes_used, "\r\n");
  std::string persistence =
      absl::StrCat("# Persistence\r\naof_enabled:",
                   st_->config.partition.aof_dir.empty() ? 0 : 1, "\r\n");
  std::string stats_section = absl::StrCat(
      "# Stats\r\ntotal_connections_received:",
      st_->connections_received.load(),
      "\r\ntotal_commands_processed:", commands,
      "\r\nrejected_connections:", st_->rejected_connections.load(),
      "\r\nexpired_keys:", total.expired_keys, "\r\nkeyspace_hits:", total.hits,
      "\r\nkeyspace_misses:", total.misses,
      "\r\nprotocol_errors:", st_->protocol_errors.load(), "\r\n");
  std::string keyspace =
      total.keys == 0
          ? std::string("# Keyspace\r\n")
          : absl::StrCat("# Keyspace\r\ndb0:keys=", total.keys,
                         ",expires=", total.expires, ",avg_ttl=0\r\n");
  for (size_t i = 0; i < ncmds_; ++i) {
    Slot& s = slots_[i];
    if (s.merge != Merge::kInfo) continue;
    const std::string& want = s.info_section;
    const bool all = want == "all" || want == "everything" || want == "default";
    std::string body;
    auto add = [&](absl::string_view name, const std::string& text) {
      if (!all && want != name) return;
      if (!body.empty()) body += "\r\n";
      body += text;
    };
    add("server", server);
    add("clients", clients);
    add("memory", memory);
    add("persistence", persistence);
    add("stats", stats_section);
    add("keyspace", keyspace);
    add("shards", shards_section);
    s.text.clear();
    AppendBulk(&s.text, body);
    s.merge = Merge::kDone;
  }
}

Task<absl::Status> Connection::Dispatch() {
  const uint32_t shards = st_->partitions.size();
  if (batches_.size() != shards) {
    batches_.resize(shards);
    routes_.resize(shards);
  }
  if (slots_.size() < ncmds_) slots_.resize(ncmds_);
  const int64_t now = WallClockMs();
  Partition* local = Partition::Local();
  const uint64_t durable_before =
      local != nullptr ? local->durability_needed() : 0;
  // Each command looked up once, for the prefetch and for Plan.
  for (size_t i = 0; i < ncmds_; ++i) {
    slots_[i].spec = LookupCommand(cmds_[i].arg(0));
  }
  if (local != nullptr && ncmds_ > 1) PrefetchLocalKeys(local);
  bool info = false;
  for (size_t i = 0; i < ncmds_; ++i) {
    Plan(i, now, local);
    info |= slots_[i].merge == Merge::kInfo;
    if (slots_[i].merge == Merge::kQuit) {
      ncmds_ = i + 1;  // nothing after QUIT runs
      break;
    }
  }
  // One message per owning shard.
  struct Out {
    uint32_t shard;
    actors::AskHandle<absl::StatusOr<BatchReply>> future;
  };
  absl::InlinedVector<Out, 4> outs;
  for (uint32_t shard = 0; shard < shards; ++shard) {
    if (batches_[shard].empty()) continue;
    auto [promise, future] = actors::MakePromise<BatchReply>();
    RemoteBatch batch{std::move(batches_[shard]), std::move(promise)};
    st_->partitions.on(shard).Tell(std::move(batch));
    outs.push_back(Out{shard, std::move(future)});
  }
  absl::Status durable = absl::OkStatus();
  if (local != nullptr && local->log() != nullptr) {
    const uint64_t need = local->durability_needed();
    if (need != durable_before) {
      durable = co_await local->log()->WaitDurable(need);
    }
  }
  for (Out& o : outs) {
    absl::StatusOr<BatchReply> r = co_await o.future;
    std::vector<Route>& routes = routes_[o.shard];
    if (!r.ok()) {
      const std::string err =
          absl::StrCat("-ERR shard ", o.shard,
                       " unavailable: ", r.status().message(), "\r\n");
      for (const Route& rt : routes) ApplyPart(slots_[rt.slot], rt.part, err);
    } else {
      uint32_t begin = 0;
      for (size_t k = 0; k < routes.size() && k < r->ends.size(); ++k) {
        const uint32_t end = r->ends[k];
        ApplyPart(slots_[routes[k].slot], routes[k].part,
                  absl::string_view(r->bytes).substr(begin, end - begin));
        begin = end;
      }
    }
    routes.clear();
  }
  if (info) co_await FillInfo();
  for (size_t i = 0; i < ncmds_; ++i) {
    Slot& s = slots_[i];
    if (s.failed) {
      out_ += s.text;
      continue;
    }
    switch (s.merge) {
      case Merge::kDone:
      case Merge::kSingle:
        out_ += s.text;
        break;
      case Merge::kArray:
        AppendArrayHeader(&out_, s.parts.size());
        for (const std::string& p : s.parts) out_ += p;
        break;
      case Merge::kSum:
        AppendInteger(&out_, s.sum);
        break;
      case Merge::kOk:
        AppendSimpleString(&out_, "OK");
        break;
      case Merge::kQuit:
        AppendSimpleString(&out_, "OK");
        quit_ = true;
        break;
      case Merge::kInfo:
        break;  // filled in above
    }
  }
  ncmds_ = 0;
  co_return durable;
}

Task<absl::Status> Connection::Write() {
  // In pieces of at most kMaxWrite: a buffer holds less than 4 GiB, and a
  // reply can be bigger (MGET of large values).
  io::BufPool& pool = io::Driver::CurrentOrDie().buffers();
  absl::Status status = absl::OkStatus();
  for (size_t at = 0; at < out_.size() && status.ok(); at += kMaxWrite) {
    io::FixedBuf buf = pool.Copy(absl::string_view(out_).substr(at, kMaxWrite));
    io::BufStatus w = co_await stream_.WriteAll(std::move(buf));
    status = w.status;
  }
  out_.clear();
  co_return status;
}

Task<void> Connection::Run() {
  (void)stream_.options().SetNoDelay(true);
  io::Driver& driver = io::Driver::CurrentOrDie();
  for (;;) {
    io::FixedBuf buf = driver.buffers().Allocate(kReadSize);
    if (!buf.valid()) buf = io::FixedBuf::Heap(kReadSize);
    io::BufResult r = co_await stream_.Read(std::move(buf));
    if (!r.res.ok() || r.res.value() <= 0) co_return;  // gone or closed
    bool ok;
    if (in_.empty()) {
      // Parse straight from the read; keep only what is left over.
      size_t used = 0;
      ok = Parse(r.buf.view(), &used);
      const absl::string_view rest = r.buf.view().substr(used);
      in_.append(rest.data(), rest.size());
    } else {
      in_.append(r.buf.view().data(), r.buf.view().size());
      size_t used = 0;
      ok = Parse(in_, &used);
      in_.erase(0, used);
    }
    absl::Status durable = co_await Dispatch();
    if (!durable.ok()) {
      // The writes of this read may not be on disk: never answer OK.
      out_.clear();
      AppendError(&out_, absl::StrCat("ERR ", durable.message()));
      (void)co_await Write();
      co_return;
    }
    if (!ok) {
      st_->protocol_errors.fetch_add(1, std::memory_order_relaxed);
      AppendError(&out_, absl::StrCat("ERR ", parser_.error()));
      quit_ = true;
    }
    if (!(co_await Write()).ok()) co_return;
    if (quit_) co_return;
  }
}

}  // namespace

Task<absl::Status> StartPartitions(ServerState* state) {
  state->partitions = co_await actors::ShardedService<Partition>::Start(
      state->config.partition);
  for (uint32_t s = 0; s < state->partitions.size(); ++s) {
    absl::StatusOr<PartitionStats> st =
        co_await state->partitions.InvokeOn(s, StatsQuery{});
    if (!st.ok()) {
      co_return absl::FailedPreconditionError(absl::StrCat(
          "shard ", s,
          " failed to start (see the log): ", st.status().message()));
    }
  }
  co_return absl::OkStatus();
}

Task<void> ServeConnection(io::TcpStream stream,
                           std::shared_ptr<ServerState> state) {
  state->connections_received.fetch_add(1, std::memory_order_relaxed);
  if (state->clients.fetch_add(1, std::memory_order_acq_rel) >=
      state->config.maxclients) {
    state->clients.fetch_sub(1, std::memory_order_acq_rel);
    state->rejected_connections.fetch_add(1, std::memory_order_relaxed);
    std::string msg;
    AppendError(&msg, "ERR max number of clients reached");
    (void)co_await stream.WriteAll(io::FixedBuf::Copy(msg));
    co_return;
  }
  {
    Connection c(std::move(stream), state.get());
    co_await c.Run();
  }
  state->clients.fetch_sub(1, std::memory_order_acq_rel);
}

}  // namespace veloq::kv
