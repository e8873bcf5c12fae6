#include "samples/kv/store.h"

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <new>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/status/status.h"

namespace veloq::kv {

bool ParseInt64(absl::string_view text, int64_t* value) {
  // At most 20 characters: "-9223372036854775808".
  if (text.empty() || text.size() > 20) return false;
  if (text.size() == 1 && text[0] == '0') {
    *value = 0;
    return true;
  }
  const bool negative = text[0] == '-';
  size_t i = negative ? 1 : 0;
  if (i == text.size() || text[i] < '1' || text[i] > '9') return false;
  uint64_t magnitude = 0;
  for (; i < text.size(); ++i) {
    const char c = text[i];
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (magnitude > (std::numeric_limits<uint64_t>::max() - digit) / 10) {
      return false;
    }
    magnitude = magnitude * 10 + digit;
  }
  constexpr uint64_t kMax = std::numeric_limits<int64_t>::max();
  if (negative) {
    if (magnitude > kMax + 1) return false;
    // Two's complement negation in unsigned arithmetic, so that INT64_MIN
    // (whose magnitude has no int64 value) converts too.
    *value = static_cast<int64_t>(~magnitude + 1);
  } else {
    if (magnitude > kMax) return false;
    *value = static_cast<int64_t>(magnitude);
  }
  return true;
}

// A key's heap block: this header, then the key bytes, then `capacity` bytes
// for the value (the first value_size of them in use).
struct Store::Record {
  int64_t deadline_ms;  // kNoDeadline, or the deadline (also in expiry_)
  uint32_t heap_index;  // the record's position in expiry_ when it has one
  uint32_t key_size;
  size_t value_size;
  size_t capacity;

  char* key_data() { return reinterpret_cast<char*>(this + 1); }
  const char* key_data() const {
    return reinterpret_cast<const char*>(this + 1);
  }
  char* value_data() { return key_data() + key_size; }
  absl::string_view key() const { return {key_data(), key_size}; }
  absl::string_view value() const {
    return {key_data() + key_size, value_size};
  }
  size_t block_size() const { return sizeof(Record) + key_size + capacity; }
};

namespace {

// Blocks are rounded to the allocator's 16-byte grain; the slack becomes
// value capacity, so small overwrites and appends fit without moving.
constexpr size_t kBlockGrain = 16;

size_t RoundUp(size_t n, size_t grain) {
  return (n + grain - 1) / grain * grain;
}

// A value may stay in its block if the block is not far larger than the
// value: a key that once held 1 MiB and now holds 10 bytes gives the memory
// back.
bool FitsWell(size_t value_size, size_t capacity) {
  return value_size <= capacity && capacity <= 2 * value_size + 64;
}

// Formats v in decimal into buf (at least 20 bytes); returns the length.
size_t FormatInt64(int64_t v, char* buf) {
  return static_cast<size_t>(std::to_chars(buf, buf + 20, v).ptr - buf);
}

}  // namespace

size_t Store::SlotHash::operator()(absl::string_view key) const {
  return absl::Hash<absl::string_view>{}(key);
}
size_t Store::SlotHash::operator()(const Slot& slot) const {
  return (*this)(slot.record->key());
}
bool Store::SlotEq::operator()(const Slot& a, const Slot& b) const {
  return a.record->key() == b.record->key();
}
bool Store::SlotEq::operator()(const Slot& a, absl::string_view b) const {
  return a.record->key() == b;
}
bool Store::SlotEq::operator()(absl::string_view a, const Slot& b) const {
  return a == b.record->key();
}

void Store::Prefetch(absl::Span<const absl::string_view> keys) const {
  for (absl::string_view key : keys) table_.prefetch(key);
  // Probing again finds the control bytes and slots arriving (or there),
  // and each tag match prefetches its record; no record is read.
  for (absl::string_view key : keys) (void)table_.find(RecordProbe{key});
}

Store::Store() = default;

Store::~Store() {
  for (const Slot& slot : table_) FreeRecord(slot.record);
}

void Store::CheckOwner() {
#ifndef NDEBUG
  const std::thread::id self = std::this_thread::get_id();
  if (owner_ == std::thread::id()) {
    owner_ = self;
  } else if (owner_ != self) {
    std::fputs("veloq::kv::Store called off its owning shard\n", stderr);
    std::abort();
  }
#endif
}

Store::Record* Store::NewRecord(absl::string_view key, absl::string_view value,
                                size_t min_capacity) {
  static_assert(sizeof(Record) == 32, "the header is 32 bytes");
  if (key.size() > std::numeric_limits<uint32_t>::max()) {
    std::fputs("veloq::kv::Store: key of 4 GiB or more\n", stderr);
    std::abort();
  }
  const size_t header_and_key = sizeof(Record) + key.size();
  const size_t block = RoundUp(
      header_and_key + std::max(value.size(), min_capacity), kBlockGrain);
  Record* r = new (::operator new(block)) Record;
  r->deadline_ms = kNoDeadline;
  r->heap_index = 0;
  r->key_size = static_cast<uint32_t>(key.size());
  r->value_size = value.size();
  r->capacity = block - header_and_key;
  std::memcpy(r->key_data(), key.data(), key.size());
  if (!value.empty()) std::memcpy(r->value_data(), value.data(), value.size());
  record_bytes_ += block;
  return r;
}

void Store::FreeRecord(Record* record) {
  const size_t block = record->block_size();
  record_bytes_ -= block;
  record->~Record();
  ::operator delete(record, block);
}

void Store::Rehome(const Slot& slot, Record* fresh) {
  Record* old = slot.record;
  fresh->deadline_ms = old->deadline_ms;
  fresh->heap_index = old->heap_index;
  if (fresh->deadline_ms != kNoDeadline) {
    expiry_[fresh->heap_index].record = fresh;
  }
  slot.record = fresh;
  FreeRecord(old);
}

void Store::AssignValue(const Slot& slot, absl::string_view value) {
  Record* r = slot.record;
  if (!FitsWell(value.size(), r->capacity)) {
    Rehome(slot, NewRecord(r->key(), value, 0));
    return;
  }
  if (!value.empty()) std::memcpy(r->value_data(), value.data(), value.size());
  r->value_size = value.size();
}

Store::Table::iterator Store::Find(absl::string_view key, int64_t now_ms) {
  CheckOwner();
  auto it = table_.find(key);
  if (it != table_.end() && it->record->deadline_ms <= now_ms) {
    EraseExpired(it);
    return table_.end();
  }
  return it;
}

Store::Table::iterator Store::FindForRead(absl::string_view key,
                                          int64_t now_ms) {
  auto it = Find(key, now_ms);
  ++(it == table_.end() ? misses_ : hits_);
  return it;
}

Store::Table::iterator Store::FindOrInsert(absl::string_view key,
                                           absl::string_view initial,
                                           int64_t now_ms, bool* fresh) {
  CheckOwner();
  bool inserted = false;
  // One probe whether or not the key exists.
  auto it = table_.lazy_emplace(key, [&](const Table::constructor& construct) {
    inserted = true;
    construct(Slot{NewRecord(key, initial, 0)});
  });
  *fresh = inserted;
  if (!inserted && it->record->deadline_ms <= now_ms) {
    // Expired: reclaimed in place, so the key keeps its table slot.
    ++expired_keys_;
    Report(it->record);
    ClearDeadline(it->record);
    AssignValue(*it, initial);
    *fresh = true;
  }
  return it;
}

void Store::Erase(Table::iterator it) {
  Record* r = it->record;
  if (r->deadline_ms != kNoDeadline) HeapErase(r->heap_index);
  table_.erase(it);
  FreeRecord(r);
}

void Store::EraseExpired(Table::iterator it) {
  ++expired_keys_;
  Report(it->record);
  Erase(it);
}

void Store::Report(const Record* record) {
  if (observer_ != nullptr) observer_->OnExpired(record->key());
}

void Store::SetExpiryObserver(ExpiryObserver* observer) {
  CheckOwner();
  observer_ = observer;
}

std::optional<absl::string_view> Store::Get(absl::string_view key,
                                            int64_t now_ms) {
  auto it = FindForRead(key, now_ms);
  if (it == table_.end()) return std::nullopt;
  return it->record->value();
}

SetResult Store::Set(absl::string_view key, absl::string_view value,
                     const SetOptions& options, int64_t now_ms) {
  SetResult result;
  Table::iterator it;
  bool fresh = false;
  if (options.condition == SetCondition::kIfPresent) {
    it = options.get ? FindForRead(key, now_ms) : Find(key, now_ms);
    if (it == table_.end()) return result;
  } else {
    it = FindOrInsert(key, value, now_ms, &fresh);
    if (options.get) ++(fresh ? misses_ : hits_);
  }
  if (!fresh) {
    if (options.get) result.old_value.emplace(it->record->value());
    if (options.condition == SetCondition::kIfAbsent) return result;
    AssignValue(*it, value);
  }
  result.written = true;
  if (options.expire_at_ms.has_value()) {
    if (*options.expire_at_ms <= now_ms) {
      Report(it->record);
      Erase(it);
    } else {
      SetDeadline(it->record, *options.expire_at_ms);
    }
  } else if (!options.keep_ttl) {
    ClearDeadline(it->record);
  }
  return result;
}

std::optional<std::string> Store::GetDel(absl::string_view key,
                                         int64_t now_ms) {
  auto it = FindForRead(key, now_ms);
  if (it == table_.end()) return std::nullopt;
  std::optional<std::string> value(std::in_place, it->record->value());
  Erase(it);
  return value;
}

bool Store::Del(absl::string_view key, int64_t now_ms) {
  auto it = Find(key, now_ms);
  if (it == table_.end()) return false;
  Erase(it);
  return true;
}

bool Store::Exists(absl::string_view key, int64_t now_ms) {
  return FindForRead(key, now_ms) != table_.end();
}

absl::StatusOr<int64_t> Store::IncrBy(absl::string_view key, int64_t delta,
                                      int64_t now_ms) {
  bool fresh = false;
  auto it = FindOrInsert(key, "0", now_ms, &fresh);
  int64_t current = 0;
  if (!ParseInt64(it->record->value(), &current)) {
    return absl::InvalidArgumentError(
        "value is not an integer or out of range");
  }
  int64_t next = 0;
  if (__builtin_add_overflow(current, delta, &next)) {
    // A fresh key holds 0, which cannot overflow: nothing to undo.
    return absl::OutOfRangeError("increment or decrement would overflow");
  }
  char buf[20];
  AssignValue(*it, absl::string_view(buf, FormatInt64(next, buf)));
  return next;
}

size_t Store::Append(absl::string_view key, absl::string_view value,
                     int64_t now_ms) {
  bool fresh = false;
  auto it = FindOrInsert(key, value, now_ms, &fresh);
  if (fresh) return value.size();
  Record* r = it->record;
  const size_t size = r->value_size + value.size();
  if (size > r->capacity) {
    // Geometric growth keeps a run of appends linear.
    Rehome(*it,
           NewRecord(r->key(), r->value(), std::max(size, 2 * r->capacity)));
    r = it->record;
  }
  if (!value.empty()) {
    std::memcpy(r->value_data() + r->value_size, value.data(), value.size());
  }
  r->value_size = size;
  return size;
}

size_t Store::Strlen(absl::string_view key, int64_t now_ms) {
  auto it = FindForRead(key, now_ms);
  return it == table_.end() ? 0 : it->record->value_size;
}

bool Store::ExpireAt(absl::string_view key, int64_t deadline_ms,
                     const ExpireCondition& condition, int64_t now_ms) {
  auto it = Find(key, now_ms);
  if (it == table_.end()) return false;
  Record* r = it->record;
  const bool has = r->deadline_ms != kNoDeadline;
  if (condition.nx && has) return false;
  if (condition.xx && !has) return false;
  if (condition.gt && (!has || deadline_ms <= r->deadline_ms)) return false;
  if (condition.lt && has && deadline_ms >= r->deadline_ms) return false;
  if (deadline_ms <= now_ms) {
    Report(r);
    Erase(it);
  } else {
    SetDeadline(r, deadline_ms);
  }
  return true;
}

bool Store::Persist(absl::string_view key, int64_t now_ms) {
  auto it = Find(key, now_ms);
  if (it == table_.end() || it->record->deadline_ms == kNoDeadline) {
    return false;
  }
  ClearDeadline(it->record);
  return true;
}

int64_t Store::Pttl(absl::string_view key, int64_t now_ms) {
  auto it = FindForRead(key, now_ms);
  if (it == table_.end()) return -2;
  const int64_t deadline = it->record->deadline_ms;
  if (deadline == kNoDeadline) return -1;
  int64_t left = 0;
  // Saturates for a far-past clock (kReplayNowMs in commands.h).
  return __builtin_sub_overflow(deadline, now_ms, &left) ? kNoDeadline : left;
}

size_t Store::Size(int64_t now_ms) {
  ExpireSome(now_ms, std::numeric_limits<size_t>::max());
  return table_.size();
}

void Store::Flush() {
  CheckOwner();
  for (const Slot& slot : table_) FreeRecord(slot.record);
  table_.clear();  // frees the backing array when it is large
  std::vector<HeapEntry>().swap(expiry_);
}

size_t Store::ExpireSome(int64_t now_ms, size_t budget) {
  CheckOwner();
  size_t reclaimed = 0;
  while (reclaimed < budget && !expiry_.empty() &&
         expiry_.front().deadline_ms <= now_ms) {
    EraseExpired(table_.find(expiry_.front().record->key()));
    ++reclaimed;
  }
  return reclaimed;
}

StoreStats Store::Stats(int64_t now_ms) {
  StoreStats s;
  s.keys = Size(now_ms);
  s.expires = expiry_.size();
  s.hits = hits_;
  s.misses = misses_;
  s.expired_keys = expired_keys_;
  s.bytes_used = sizeof(*this) + record_bytes_ +
                 table_.capacity() * (sizeof(Slot) + 1) +
                 expiry_.capacity() * sizeof(HeapEntry);
  return s;
}

void Store::SetDeadline(Record* record, int64_t deadline_ms) {
  deadline_ms = std::min(deadline_ms, kNoDeadline - 1);
  if (record->deadline_ms == kNoDeadline) {
    if (expiry_.size() >= std::numeric_limits<uint32_t>::max()) {
      std::fputs("veloq::kv::Store: 2^32 keys with a deadline\n", stderr);
      std::abort();
    }
    record->deadline_ms = deadline_ms;
    expiry_.push_back({deadline_ms, record});
    record->heap_index = static_cast<uint32_t>(expiry_.size() - 1);
    HeapSiftUp(record->heap_index);
    return;
  }
  const int64_t old = record->deadline_ms;
  record->deadline_ms = deadline_ms;
  expiry_[record->heap_index].deadline_ms = deadline_ms;
  if (deadline_ms < old) {
    HeapSiftUp(record->heap_index);
  } else {
    HeapSiftDown(record->heap_index);
  }
}

void Store::ClearDeadline(Record* record) {
  if (record->deadline_ms == kNoDeadline) return;
  HeapErase(record->heap_index);
  record->deadline_ms = kNoDeadline;
}

void Store::HeapPlace(size_t i, const HeapEntry& entry) {
  expiry_[i] = entry;
  entry.record->heap_index = static_cast<uint32_t>(i);
}

void Store::HeapSiftUp(size_t i) {
  const HeapEntry moving = expiry_[i];
  while (i > 0) {
    const size_t parent = (i - 1) / 2;
    if (expiry_[parent].deadline_ms <= moving.deadline_ms) break;
    HeapPlace(i, expiry_[parent]);
    i = parent;
  }
  HeapPlace(i, moving);
}

void Store::HeapSiftDown(size_t i) {
  const HeapEntry moving = expiry_[i];
  const size_t n = expiry_.size();
  while (true) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n &&
        expiry_[child + 1].deadline_ms < expiry_[child].deadline_ms) {
      ++child;
    }
    if (moving.deadline_ms <= expiry_[child].deadline_ms) break;
    HeapPlace(i, expiry_[child]);
    i = child;
  }
  HeapPlace(i, moving);
}

void Store::HeapErase(size_t i) {
  const HeapEntry last = expiry_.back();
  expiry_.pop_back();
  if (i == expiry_.size()) return;
  HeapPlace(i, last);
  if (i > 0 && last.deadline_ms < expiry_[(i - 1) / 2].deadline_ms) {
    HeapSiftUp(i);
  } else {
    HeapSiftDown(i);
  }
}

}  // namespace veloq::kv
