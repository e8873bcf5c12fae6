#pragma once

// Per-shard metrics: counters, gauges and histograms that a shard updates
// with plain loads and stores, and a scrape that gathers every shard's
// values through the mesh and renders them in the Prometheus text exposition
// format (version 0.0.4).
//
//   metrics::Counter requests("veloq_requests_total", "Requests handled",
//                             {{"op", "get"}});
//   requests.Inc();                                  // one add, no atomics
//
//   auto handle = metrics::Registry::Current().AddCallback(  // pull model
//       "veloq_shard_ticks_total", metrics::Type::kCounter, "Loop ticks",
//       [](metrics::Emitter& e) { e.Emit(runtime::Shard::Current()->
//                                            stats().ticks); });
//
//   std::string body = co_await metrics::ScrapeAll();  // GET /metrics
//
// Model. Every thread (so every shard) has its own Registry. An instrument
// registers itself with one registry when constructed and unregisters when
// destroyed (RAII); its value lives in the instrument, written only by the
// owning shard. Nothing on the update path touches another shard's memory,
// takes a lock or uses an atomic. A scrape asks each shard for a Snapshot —
// a plain value copied out on that shard — and merges the snapshots into one
// text, adding a shard="<id>" label to every sample.
//
// Names follow the exposition format: family names match
// [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and do not
// start with "__"; "shard" is reserved (added by the renderer), and so is
// "le" in histogram families. Label values are any text (the format wants
// UTF-8; not checked), escaped when rendered. Misuse — a bad name, a reserved
// label, the same series registered twice on one registry, one family
// registered with two types or two help texts — aborts with a message (it is a
// programming error).
//
// Costs: an update is plain arithmetic on the instrument's own fields
// (Histogram::Observe adds a binary search over its bounds). Registering
// and unregistering an instrument or callback are O(log families + log
// series of the family) and allocate. A Snapshot copies every series' labels
// and value and runs every callback; rendering is linear in the output.
//
// Thread safety: a Registry and the instruments and callbacks registered
// with it are shard-local: create, update, read and destroy them on the
// thread that created the Registry (for Registry::Current(), the calling
// thread; under simulation too, each shard keeps its own thread). Debug
// builds check this. Snapshot and the other value types are
// thread-compatible plain values; move them between shards freely.
// RenderPrometheus is a pure function, callable anywhere.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "runtime/task.h"

namespace veloq::metrics {

class Registry;

// The Prometheus metric types Veloq emits.
enum class Type : uint8_t { kCounter, kGauge, kHistogram };

// "counter", "gauge" or "histogram", as written on a # TYPE line.
std::string_view TypeName(Type type);

// One label: name and value.
using Label = std::pair<std::string, std::string>;
// A series' labels. Instruments and emitters keep them sorted by name (the
// order they are rendered in, after shard="<id>").
using Labels = std::vector<Label>;

// The content type of RenderPrometheus's output, for the HTTP response.
inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

// A histogram's state: bucket bounds and per-bucket (not cumulative)
// counts. Invariants: `bounds` are finite and strictly increasing (+Inf is
// implied, never listed); counts.size() == bounds.size() + 1, counts[i]
// holds observations v with bounds[i-1] < v <= bounds[i], and the last
// entry those above every bound (and NaN).
struct HistogramValue {
  std::vector<double> bounds;
  std::vector<uint64_t> counts;
  double sum = 0;

  // Observations in all buckets.
  uint64_t count() const;
};

// A sample's value: a counter or gauge (an exact integer, or a double), or
// a histogram.
using Value = std::variant<uint64_t, int64_t, double, HistogramValue>;

struct Sample {
  Labels labels;  // sorted by name; no "shard"
  Value value;
};

struct FamilySnapshot {
  std::string name;
  Type type = Type::kGauge;
  std::string help;
  std::vector<Sample> samples;  // sorted by labels, no two equal labels
};

// What one registry held at one moment: a plain, copyable value, safe to
// move to another shard. `shard` becomes the shard="<id>" label.
struct Snapshot {
  uint32_t shard = 0;
  std::vector<FamilySnapshot> families;  // sorted by name, none empty
};

// Bucket bounds start, start*factor, ... (`count` of them), each rounded
// to 15 significant digits so that they render as written (1e-05, not
// 9.999999999999999e-06). REQUIRES: start > 0, factor > 1, count > 0.
std::vector<double> ExponentialBuckets(double start, double factor,
                                       size_t count);
// Bucket bounds start, start+width, ... (`count` of them), rounded the
// same way. REQUIRES: width > 0, count > 0.
std::vector<double> LinearBuckets(double start, double width, size_t count);

namespace internal {

struct Family;
struct CallbackEntry;

// Aborts with "veloq::metrics: <what>".
[[noreturn]] void Die(std::string_view what);

// What Counter, BasicGauge and Histogram share: one series (a family name
// plus labels) registered with a registry for the instrument's life.
// Movable: the moved-to object takes over the registration; the moved-from
// one is detached (still usable, no longer scraped).
class Series {
 public:
  Series(const Series&) = delete;
  Series& operator=(const Series&) = delete;
  Series& operator=(Series&&) = delete;

  // Whether the series is registered (false once moved from, or once its
  // registry has been destroyed).
  bool registered() const { return registry_ != nullptr; }

 protected:
  // Registers the series. Cost: O(log families + log series in the family)
  // and a few allocations. REQUIRES: on `registry`'s thread.
  Series(Registry& registry, std::string_view name, std::string_view help,
         Type type, Labels labels);
  Series(Series&& other) noexcept;
  // Unregisters: O(log families). REQUIRES: on the registry's thread.
  ~Series();

  // Debug builds: aborts unless called on the registry's thread. Inline so
  // that it costs nothing with NDEBUG.
  void DebugCheckThread() const {
#ifndef NDEBUG
    if (registry_ != nullptr) CheckThread();
#endif
  }

 private:
  friend class metrics::Registry;
  void CheckThread() const;
  // The current value, on the registry's thread (at snapshot time).
  virtual Value Read() const = 0;

  Registry* registry_ = nullptr;
  Family* family_ = nullptr;
  std::map<Labels, Series*>::iterator it_;
};

}  // namespace internal

// Counter is a monotonically increasing uint64 series ("..._total").
//
// Thread safety: shard-local (see the file comment).
class Counter final : public internal::Series {
 public:
  // Registers with Registry::Current() / with `registry`.
  Counter(std::string_view name, std::string_view help, Labels labels = {});
  Counter(Registry& registry, std::string_view name, std::string_view help,
          Labels labels = {});
  Counter(Counter&& other) noexcept
      : Series(std::move(other)), value_(other.value_) {}

  // Cost: one add to a plain field (plus a thread check in debug builds).
  void Inc(uint64_t n = 1) {
    DebugCheckThread();
    value_ += n;
  }
  uint64_t value() const { return value_; }

 private:
  Value Read() const override { return value_; }
  uint64_t value_ = 0;
};

// BasicGauge<T> is a series that goes up and down: Gauge (int64) for
// depths, counts and sizes; DoubleGauge for ratios and rates.
//
// Thread safety: shard-local (see the file comment).
template <typename T>
class BasicGauge final : public internal::Series {
  static_assert(std::is_same_v<T, int64_t> || std::is_same_v<T, double>);

 public:
  // Registers with Registry::Current() / with `registry`.
  BasicGauge(std::string_view name, std::string_view help, Labels labels = {});
  BasicGauge(Registry& registry, std::string_view name, std::string_view help,
             Labels labels = {})
      : Series(registry, name, help, Type::kGauge, std::move(labels)) {}
  BasicGauge(BasicGauge&& other) noexcept
      : Series(std::move(other)), value_(other.value_) {}

  // Cost: one store / add to a plain field.
  void Set(T v) {
    DebugCheckThread();
    value_ = v;
  }
  void Add(T delta) {
    DebugCheckThread();
    value_ += delta;
  }
  void Sub(T delta) { Add(-delta); }
  T value() const { return value_; }

 private:
  Value Read() const override { return value_; }
  T value_ = 0;
};

using Gauge = BasicGauge<int64_t>;
using DoubleGauge = BasicGauge<double>;

// Histogram counts observations into buckets fixed at construction
// (ExponentialBuckets, LinearBuckets, or any strictly increasing finite
// bounds; a trailing +Inf is accepted and dropped, it is always implied).
// A value equal to a bound falls in that bound's bucket (le is "<=").
// Rendered as <name>_bucket{le="..."} (cumulative, ending with le="+Inf"),
// <name>_sum and <name>_count.
//
// Thread safety: shard-local (see the file comment).
class Histogram final : public internal::Series {
 public:
  // Registers with Registry::Current() / with `registry`.
  Histogram(std::string_view name, std::string_view help,
            std::vector<double> bounds, Labels labels = {});
  Histogram(Registry& registry, std::string_view name, std::string_view help,
            std::vector<double> bounds, Labels labels = {});
  Histogram(Histogram&& other) noexcept
      : Series(std::move(other)), data_(std::move(other.data_)) {}

  // Cost: a binary search over the bounds, one increment and one add.
  // NaN counts in the +Inf bucket (and makes the sum NaN).
  void Observe(double v) {
    DebugCheckThread();
    // The first bound >= v; for NaN, which compares >= to no bound, the
    // +Inf bucket (as client_golang does).
    const auto it =
        std::partition_point(data_.bounds.begin(), data_.bounds.end(),
                             [v](double bound) { return !(bound >= v); });
    ++data_.counts[it - data_.bounds.begin()];
    data_.sum += v;
  }

  uint64_t count() const { return data_.count(); }
  double sum() const { return data_.sum; }

 private:
  Value Read() const override { return data_; }
  HistogramValue data_;
};

// Emitter receives the samples a callback reports at scrape time.
//
// Thread safety: shard-local; valid only during the callback.
class Emitter {
 public:
  Emitter(const Emitter&) = delete;
  Emitter& operator=(const Emitter&) = delete;

  // One counter or gauge sample. Integers stay exact (unsigned as uint64,
  // signed as int64); floating point as double. Labels are sorted here.
  // REQUIRES: the family is a counter or gauge; valid label names.
  template <typename T>
  requires std::is_arithmetic_v<T>
  void Emit(Labels labels, T value) {
    if constexpr (std::is_floating_point_v<T>) {
      Add(std::move(labels), Value(std::in_place_type<double>, value));
    } else if constexpr (std::is_signed_v<T>) {
      Add(std::move(labels), Value(std::in_place_type<int64_t>, value));
    } else {
      Add(std::move(labels), Value(std::in_place_type<uint64_t>, value));
    }
  }
  template <typename T>
  requires std::is_arithmetic_v<T>
  void Emit(T value) { Emit(Labels(), value); }

  // One histogram sample. REQUIRES: the family is a histogram; `h` meets
  // HistogramValue's invariants.
  void EmitHistogram(Labels labels, HistogramValue h);

 private:
  friend class Registry;
  Emitter(const internal::Family& family, std::vector<Sample>* out)
      : family_(family), out_(out) {}
  void Add(Labels labels, Value value);

  const internal::Family& family_;
  std::vector<Sample>* const out_;
};

// CallbackHandle keeps a callback registered (Registry::AddCallback) for
// its life; destroying or Reset()ting it unregisters the callback. Empty
// when default-constructed or moved from.
//
// Thread safety: shard-local to the registry's thread.
class [[nodiscard]] CallbackHandle {
 public:
  CallbackHandle() = default;
  CallbackHandle(CallbackHandle&& other) noexcept;
  CallbackHandle& operator=(CallbackHandle&& other) noexcept;
  CallbackHandle(const CallbackHandle&) = delete;
  CallbackHandle& operator=(const CallbackHandle&) = delete;
  ~CallbackHandle() { Reset(); }

  // Unregisters the callback (no-op if empty). O(callbacks in the family).
  void Reset();
  bool registered() const { return registry_ != nullptr; }

 private:
  friend class Registry;
  CallbackHandle(Registry* registry, internal::CallbackEntry* entry);

  Registry* registry_ = nullptr;
  internal::CallbackEntry* entry_ = nullptr;
};

// Registry holds one thread's (one shard's) families: their instruments and
// callbacks. An instrument or CallbackHandle may outlive its registry (a
// thread_local destroyed at thread exit): the registry detaches whatever is
// still registered, and its later destruction is a no-op.
//
// Invariants: (1) a family name has one type and one help text while
// anything is registered under it; the family disappears with its last
// series or callback. (2) No two instruments of a family have equal labels.
//
// Thread safety: shard-local to the thread that constructed it.
class Registry {
 public:
  Registry();
  ~Registry();
  Registry(const Registry&) = delete;
  Registry& operator=(const Registry&) = delete;

  // The calling thread's registry (created on first use, destroyed at
  // thread exit). On a shard: that shard's registry.
  static Registry& Current();

  // Registers `fn`, called at every Snapshot on this thread to report the
  // current samples of `family` through its Emitter (the pull model: values
  // kept elsewhere cost nothing until scraped). Samples whose labels equal
  // an instrument's, or an earlier-registered callback's, in the same family
  // are dropped. `fn` runs on this thread; it must not block, suspend, or
  // register or unregister metrics. Cost: O(log families).
  CallbackHandle AddCallback(std::string family, Type type, std::string help,
                             std::function<void(Emitter&)> fn);

  // Copies out every series and runs every callback: O(series + emitted
  // samples), one allocation per series for its labels (callback samples
  // are sorted: O(n log n) per family). `shard` is recorded as the
  // snapshot's shard id. Calling it from a callback aborts.
  metrics::Snapshot Snapshot(uint32_t shard) const;

  // Families registered now (with at least one series or callback).
  size_t family_count() const { return families_.size(); }

 private:
  friend class internal::Series;
  friend class CallbackHandle;

  // The family `name`, created if new. Aborts on a type or help mismatch.
  internal::Family* Acquire(std::string_view name, Type type,
                            std::string_view help);
  // Drops the family if nothing is registered under it any more.
  void Release(internal::Family* family);
  void Remove(internal::CallbackEntry* entry);
  void DebugCheckThread() const;
  void CheckNotSnapshotting(std::string_view what) const;

  std::map<std::string, std::unique_ptr<internal::Family>, std::less<>>
      families_;
  const std::thread::id owner_;
  mutable bool snapshotting_ = false;
};

// Renders snapshots in the Prometheus text format 0.0.4: families sorted by
// name, each with one "# HELP" (omitted if the help text is empty) and one
// "# TYPE" line, then its samples by shard and labels; every sample carries
// shard="<id>" as its first label. Where shards disagree on a family's type,
// the lowest shard's wins and the others' samples of it are left out; a
// second snapshot with an already-seen shard id is ignored. So no series
// appears twice (provided no family's name is another's name plus _bucket,
// _sum or _count). REQUIRES: the snapshots meet Snapshot's invariants (as
// Registry::Snapshot makes them). Cost: O(samples + families * log
// families), and the text. Thread-safe.
std::string RenderPrometheus(const std::vector<Snapshot>& per_shard);

// Takes a Snapshot of every shard's Registry::Current() on that shard (one
// mesh round trip per shard, all in flight at once; callbacks run on their
// shards, in a mesh message handler) and renders them. It waits for every
// shard: a shard busy in a long resume delays the scrape until it yields.
// Where things live: each snapshot is built on its shard, moved into the
// reply and destroyed here. REQUIRES: on a shard.
runtime::Task<std::string> ScrapeAll();

// Defined here, below Registry, whose Current() it calls.
template <typename T>
BasicGauge<T>::BasicGauge(std::string_view name, std::string_view help,
                          Labels labels)
    : BasicGauge(Registry::Current(), name, help, std::move(labels)) {}

}  // namespace veloq::metrics
