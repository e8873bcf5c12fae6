#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "samples/kv/store.h"

namespace veloq::kv {

// The key commands: their table (arity, key positions, routing kind) and
// their execution against one shard's Store, replying in RESP2.
//
// Thread safety: the table is immutable (LookupCommand, IsWrite and
// RewriteForLog are thread-safe); Execute is shard-local to the Store's
// owner, like the Store.

// One command's static description, in Redis's conventions.
struct CommandSpec {
  // How the server routes a command to shards.
  enum class Kind {
    // Every key lives on one owner shard: send the whole command there.
    // GET SET SETNX SETEX PSETEX GETSET GETDEL APPEND STRLEN INCR DECR
    // INCRBY DECRBY EXPIRE PEXPIRE EXPIREAT PEXPIREAT TTL PTTL PERSIST.
    kKeyed,
    // Keys may live on several shards. The server splits the command into
    // single-key sub-commands, each sent to the key's owner, and merges the
    // replies in key order:
    //   MGET k1..kn    -> GET ki;      reply *n then each bulk (or $-1) as is
    //   MSET k1 v1 ... -> SET ki vi;   reply +OK (every sub-reply is +OK)
    //   DEL k1..kn     -> DEL ki;      reply :sum of the integer replies
    //   UNLINK k1..kn  -> UNLINK ki;   reply :sum
    //   EXISTS k1..kn  -> EXISTS ki;   reply :sum (a repeated key counts
    //                                  each time, as in Redis)
    // For MSET, DEL, UNLINK and EXISTS the server may instead send one
    // sub-command per shard holding that shard's keys (same merge); MGET's
    // array would then need reordering. When all keys are on one shard the
    // whole command can go there. MSET across shards is not atomic.
    kMultiKey,
    // Runs on every shard; the server merges: DBSIZE -> :sum;
    // FLUSHALL, FLUSHDB -> +OK once every shard replied +OK.
    kShardWide,
    // Handled by the server itself, never by Execute: PING ECHO SELECT QUIT
    // COMMAND CLIENT CONFIG INFO HELLO RESET.
    kConnection,
  };

  absl::string_view name;  // lowercase, as Redis 7 names it in errors
  // Counting the command name: > 0 exactly that many arguments, < 0 at
  // least -arity.
  int arity;
  bool write;  // changes the keyspace: append it to the log (RewriteForLog)
  // Positions of the keys in args: first, last (-1: the last argument) and
  // the step between keys (MSET: 2). All 0 for commands without keys.
  int first_key;
  int last_key;
  int key_step;
  Kind kind;
};

// The spec of the command `name` (any letter case), or nullptr for a
// command Veloq does not know. No allocation; thread-safe.
const CommandSpec* LookupCommand(absl::string_view name);

// Whether args (args[0] the command name) change the keyspace. False for
// unknown commands and empty args.
bool IsWrite(absl::Span<const absl::string_view> args);

// Executes a kKeyed, kMultiKey or kShardWide command on `store` and appends
// its RESP2 reply to *reply (which is not cleared: pipelined replies can
// share one buffer). Errors are replied with Redis 7's texts: wrong arity,
// unknown command, "ERR syntax error", "ERR value is not an integer or out of
// range", "ERR increment or decrement would overflow", "ERR invalid expire
// time in 'set' command", ...
//
// Multi-key and shard-wide commands act on this store only: they are the
// sub-commands of the split described in CommandSpec::Kind (or the whole
// command when all its keys are here). The executor supports PEXPIREAT and
// SET ... PXAT/EXAT, the forms RewriteForLog produces.
//
// Shard affinity: runs on the Store's owning shard. REQUIRES: args is not
// empty; every key in args is owned by this shard; args[0] is not a kConnection
// command (the server handles those; Execute aborts on them). `now_ms` is the
// clock the Store uses. A GET hit allocates nothing beyond *reply's growth.
void Execute(Store& store, absl::Span<const absl::string_view> args,
             int64_t now_ms, std::string* reply);

// Execute for a server that has already looked the command up (to route
// it): skips the second lookup. REQUIRES: spec == LookupCommand(args[0]).
void Execute(Store& store, const CommandSpec& spec,
             absl::Span<const absl::string_view> args, int64_t now_ms,
             std::string* reply);

// The log form of a write, for an append-only log that replays exactly.
// Commands whose effect depends on the clock get absolute deadlines, as in
// Redis's AOF:
//   EXPIRE k s [opts], PEXPIRE k ms [opts], EXPIREAT k s [opts]
//                                     -> PEXPIREAT k <deadline ms> [opts]
//   SET k v ... EX s | PX ms | EXAT s -> SET k v ... PXAT <deadline ms>
//   SETEX k s v, PSETEX k ms v        -> SET k v PXAT <deadline ms>
// A write whose deadline is already <= now_ms gives empty *out_args (log
// nothing): its only possible effect was removing the key, which the Store
// reported to its ExpiryObserver. Everything else is copied unchanged,
// including commands that fail (they change nothing, and fail again on
// replay). `now_ms` is the clock the command was executed with. *out_args
// is replaced. Thread-safe.
//
// The logging protocol that makes replay exact:
//  1. Each Store has an ExpiryObserver that appends "DEL key" to the log:
//     every expiry the live run observed is then logged where it happened.
//  2. After Execute, the server appends RewriteForLog(args) of each write
//     (IsWrite); it may skip writes whose reply is an error.
//  3. On restart it Executes the log in order with now_ms = kReplayNowMs,
//     then serves with the real clock.
void RewriteForLog(absl::Span<const absl::string_view> args, int64_t now_ms,
                   std::vector<std::string>* out_args);

// The clock to replay a log with: during replay no key is expired, as Redis
// expires nothing while loading its AOF. Expiries the live run observed are
// in the log as DELs; deadlines that passed unobserved are reclaimed once
// the server runs with the real clock. Replaying with the restart time
// instead would drop, for example, a key whose first deadline passed before
// the restart although a later logged PEXPIREAT had extended it.
inline constexpr int64_t kReplayNowMs = std::numeric_limits<int64_t>::min();

}  // namespace veloq::kv
