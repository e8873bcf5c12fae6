#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace veloq::kv {

// Parses Redis's strict integer syntax (its string2ll): an optional '-', then
// decimal digits with no leading zero ("0" itself is fine), no '+', no
// spaces, within int64. It is what INCR accepts as a stored number, and what
// the commands accept as integer arguments. Returns false on anything else.
[[nodiscard]] bool ParseInt64(absl::string_view text, int64_t* value);

// How Store::Set treats an existing key (SET's NX and XX).
enum class SetCondition {
  kAlways,
  kIfAbsent,   // NX: write only if the key has no live value
  kIfPresent,  // XX: write only if it has one
};

struct SetOptions {
  SetCondition condition = SetCondition::kAlways;
  // Absolute deadline in ms (same clock as now_ms). A deadline <= now_ms
  // writes and at once removes the key, as Redis does for a past PXAT.
  // Without one the key's deadline is cleared, unless keep_ttl.
  std::optional<int64_t> expire_at_ms;
  bool keep_ttl = false;  // KEEPTTL. REQUIRES: !expire_at_ms.
  bool get = false;       // GET: report the previous live value
};

struct SetResult {
  bool written = false;  // false when NX or XX stopped the write
  // With SetOptions::get: the previous live value, or nullopt if there was
  // none. Always nullopt without it.
  std::optional<std::string> old_value;
};

// EXPIRE's options (Redis 7). Each set flag is one more condition that must
// hold for the new deadline to be applied; a key without a deadline counts as
// having an infinite one for gt and lt. Which combinations are legal (nx
// alone; xx with gt or lt; not gt with lt) is the command parser's business.
struct ExpireCondition {
  bool nx = false;  // only if the key has no deadline
  bool xx = false;  // only if it has one
  bool gt = false;  // only if the new deadline is later than the current
  bool lt = false;  // only if the new deadline is earlier than the current
};

// Counters for INFO. Key counts are of live keys.
struct StoreStats {
  uint64_t keys = 0;          // live keys (DBSIZE)
  uint64_t expires = 0;       // live keys that have a deadline
  uint64_t hits = 0;          // read lookups that found a live key
  uint64_t misses = 0;        // read lookups that did not
  uint64_t expired_keys = 0;  // keys reclaimed because their deadline passed
  uint64_t bytes_used = 0;    // estimate: records, hash table, expiry index
};

// Receives the keys a Store removes because of a deadline, so that a server
// with an append-only log can log each as DEL, as Redis propagates its
// expirations. With those DELs the log replays exactly under a frozen clock
// (see RewriteForLog in commands.h). Reported: keys reclaimed by lazy or
// active expiry (even during a read), and keys removed by a write whose
// deadline has already passed (SET ... PXAT, EXPIRE with a past time).
//
// Called on the Store's shard, during the Store call that removes the key,
// before the call returns. The view is valid only during OnExpired, which
// must not call back into the Store.
class ExpiryObserver {
 public:
  virtual ~ExpiryObserver() = default;
  virtual void OnExpired(absl::string_view key) = 0;
};

// Store is one shard's keyspace: binary-safe string keys mapped to string
// values, each with an optional deadline (absolute ms).
//
// Thread safety: shard-local. A Store belongs to the shard (thread) that
// first calls it, SetExpiryObserver included (construction and destruction
// may happen elsewhere); debug builds abort if another thread calls it. The
// server routes every key to its owning shard (hash of the key), so a Store
// never needs a lock.
//
// Time: every call that reads or writes keys takes `now_ms`, the caller's
// clock in ms (Unix time for a server, anything monotonic in tests), on the
// same scale as the deadlines. A key whose deadline is <= now_ms is expired:
// no call returns it, counts it or acts on it. REQUIRES: now_ms < INT64_MAX.
//
// Expiry is both lazy and active. Any call that finds an expired key
// reclaims it on the spot. ExpireSome reclaims expired keys in deadline
// order from a min-heap of the keys that have a deadline (the expiry index),
// so a call's work is bounded by its budget, whatever the table's size.
// Size and Stats reclaim every expired key first (their work is amortized:
// each key is reclaimed once).
//
// Memory: each key is one heap block (a 32-byte header, the key bytes, the
// value bytes and some slack), and the hash table holds one pointer per key:
// about 9 bytes of table per key at full load, plus 16 bytes of expiry index
// per key with a deadline. Lookups hash the caller's string_view directly
// (one probe, no temporary std::string). Overwriting a value of similar size
// reuses the block; APPEND grows it geometrically.
//
// Views: a string_view returned by Get points into the store and stays valid
// only until the next call on this Store. Arguments must not point into the
// store (copy such a view before passing it back).
//
// Limits: keys are shorter than 4 GiB (RESP parsers cap bulk strings at 512
// MiB, as Redis does); deadlines are clamped to INT64_MAX - 1.
class Store {
 public:
  Store();
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Starts loading the memory that lookups of `keys` will touch, and
  // returns without waiting for it: first every key's probe position (the
  // table's control bytes and slots), then the records those slots point
  // to. A run of commands (a pipelined read, a batch from another shard)
  // prefetches its keys before executing them, so their cache misses
  // overlap instead of coming one at a time — a lookup in a table much
  // bigger than the cache misses on the control bytes, the slot and the
  // record, in turn. Changes nothing observable; counts nothing.
  void Prefetch(absl::Span<const absl::string_view> keys) const;

  // The live value of `key`, or nullopt. Counts a hit or a miss.
  std::optional<absl::string_view> Get(absl::string_view key, int64_t now_ms);

  // SET with its options. Counts a hit or a miss when options.get.
  SetResult Set(absl::string_view key, absl::string_view value,
                const SetOptions& options, int64_t now_ms);

  // GETDEL: removes `key` and returns the value it had, or nullopt.
  // Counts a hit or a miss.
  std::optional<std::string> GetDel(absl::string_view key, int64_t now_ms);

  // DEL: true if a live key was removed.
  bool Del(absl::string_view key, int64_t now_ms);

  // EXISTS for one key. Counts a hit or a miss.
  bool Exists(absl::string_view key, int64_t now_ms);

  // INCRBY: adds `delta` to the integer held in `key` (a missing key holds 0)
  // and returns the new value. The deadline is kept. Errors, leaving the key
  // unchanged: InvalidArgument("value is not an integer or out of range")
  // when the value does not parse with ParseInt64, and
  // OutOfRange("increment or decrement would overflow").
  [[nodiscard]] absl::StatusOr<int64_t> IncrBy(absl::string_view key,
                                               int64_t delta, int64_t now_ms);

  // APPEND: appends to the value (a missing key starts empty) and returns
  // the new length. The deadline is kept.
  size_t Append(absl::string_view key, absl::string_view value, int64_t now_ms);

  // STRLEN: the value's length, 0 for a missing key. Counts a hit or a miss.
  size_t Strlen(absl::string_view key, int64_t now_ms);

  // PEXPIREAT: gives `key` the deadline `deadline_ms` if it is live and every
  // condition holds; a deadline <= now_ms removes the key instead. Returns
  // true if the deadline was applied (or the key removed), false if the key
  // is missing or a condition failed.
  bool ExpireAt(absl::string_view key, int64_t deadline_ms,
                const ExpireCondition& condition, int64_t now_ms);

  // PERSIST: removes the deadline; true if there was one.
  bool Persist(absl::string_view key, int64_t now_ms);

  // PTTL: ms left before the deadline (> 0), -1 if the key has no deadline,
  // -2 if it is missing. Counts a hit or a miss.
  int64_t Pttl(absl::string_view key, int64_t now_ms);

  // DBSIZE: the number of live keys.
  size_t Size(int64_t now_ms);

  // FLUSHDB: removes every key and frees their memory. Counters other than
  // the key counts are kept, as Redis keeps them.
  void Flush();

  // Active expiry: reclaims up to `budget` expired keys, earliest deadline
  // first, and returns how many it reclaimed. Work is O(budget * log n). A
  // result below `budget` means no expired key is left. The server calls it
  // from a periodic timer (Redis: 10 times a second, repeating while a call
  // uses its whole budget and the tick's time slice lasts).
  size_t ExpireSome(int64_t now_ms, size_t budget);

  // Counters for INFO, after reclaiming every expired key.
  StoreStats Stats(int64_t now_ms);

  // Reports removals by deadline to `observer` from now on; nullptr (the
  // default) reports nothing. Not owned: it must outlive its registration.
  void SetExpiryObserver(ExpiryObserver* observer);

 private:
  // Invariants: (1) a record has a deadline iff it is in expiry_, at
  // expiry_[record->heap_index], with the same deadline there. (2) expiry_
  // is a min-heap on deadline_ms. (3) record_bytes_ is the sum of the
  // records' block sizes. (4) No two records have the same key.
  struct Record;  // one key's heap block; defined in store.cc
  // The table's element. The pointer is mutable because a value that
  // outgrows its block moves to a new one under the same key (and hash).
  struct Slot {
    mutable Record* record;
  };
  // A lookup key that matches nothing: comparing it with a slot prefetches
  // the slot's record instead of reading it (Prefetch's second pass).
  struct RecordProbe {
    absl::string_view key;
  };
  struct SlotHash {
    using is_transparent = void;
    size_t operator()(absl::string_view key) const;
    size_t operator()(const Slot& slot) const;
    size_t operator()(const RecordProbe& probe) const {
      return (*this)(probe.key);
    }
  };
  struct SlotEq {
    using is_transparent = void;
    bool operator()(const Slot& a, const Slot& b) const;
    bool operator()(const Slot& a, absl::string_view b) const;
    bool operator()(absl::string_view a, const Slot& b) const;
    bool operator()(const Slot& a, const RecordProbe&) const {
      __builtin_prefetch(a.record);
      return false;
    }
    bool operator()(const RecordProbe& b, const Slot& a) const {
      return (*this)(a, b);
    }
  };
  using Table = absl::flat_hash_set<Slot, SlotHash, SlotEq>;
  // An expiry index entry; the deadline is copied here so that sifting
  // compares without touching the records.
  struct HeapEntry {
    int64_t deadline_ms;
    Record* record;
  };

  static constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

  // The live key's slot, or end(); reclaims the key if it has expired.
  Table::iterator Find(absl::string_view key, int64_t now_ms);
  // Find, counting a hit or a miss.
  Table::iterator FindForRead(absl::string_view key, int64_t now_ms);
  // The slot of `key`, inserting a record holding `initial` if the key is
  // missing. *fresh says whether the caller sees no previous live value
  // (inserted, or an expired key reclaimed in place: its deadline cleared).
  Table::iterator FindOrInsert(absl::string_view key, absl::string_view initial,
                               int64_t now_ms, bool* fresh);
  // Removes the key in `it` and frees its record.
  void Erase(Table::iterator it);
  // Erase for a key whose deadline has passed: counts and reports it.
  void EraseExpired(Table::iterator it);
  // Reports a removal by deadline to the observer, if any.
  void Report(const Record* record);

  Record* NewRecord(absl::string_view key, absl::string_view value,
                    size_t min_capacity);
  void FreeRecord(Record* record);
  // Replaces the value, in place when the block fits it well.
  void AssignValue(const Slot& slot, absl::string_view value);
  // Puts `fresh` (same key, new block) in the slot's place: it takes over
  // the deadline and heap position, and the old record is freed.
  void Rehome(const Slot& slot, Record* fresh);

  void SetDeadline(Record* record, int64_t deadline_ms);
  void ClearDeadline(Record* record);
  void HeapSiftUp(size_t i);
  void HeapSiftDown(size_t i);
  void HeapPlace(size_t i, const HeapEntry& entry);
  void HeapErase(size_t i);

  void CheckOwner();

  Table table_;
  std::vector<HeapEntry> expiry_;  // min-heap on deadline_ms
  uint64_t record_bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
  uint64_t expired_keys_ = 0;
  ExpiryObserver* observer_ = nullptr;
  std::thread::id owner_;  // debug builds: the shard thread, bound on use
};

}  // namespace veloq::kv
