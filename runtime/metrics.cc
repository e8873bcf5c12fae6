#include "runtime/metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <map>
#include <numeric>
#include <string>

#include "runtime/remote.h"
#include "runtime/shard.h"

namespace veloq::metrics {

namespace internal {

struct CallbackEntry {
  Family* family;
  std::function<void(Emitter&)> fn;
  CallbackHandle* owner;
};

struct Family {
  std::string name;
  Type type;
  std::string help;
  std::map<Labels, Series*> series;
  // In registration order: on equal labels the earlier callback wins.
  std::vector<std::unique_ptr<CallbackEntry>> callbacks;
};

void Die(std::string_view what) {
  std::fprintf(stderr, "veloq::metrics: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

}  // namespace internal

namespace {

using internal::Die;
using internal::Family;

// Concatenation of std::string_views (absl::StrCat takes absl::string_view,
// which this Abseil build does not alias to std::string_view).
std::string Cat(std::initializer_list<std::string_view> parts) {
  std::string out;
  for (std::string_view p : parts) out.append(p);
  return out;
}

void Append(std::string* out, std::initializer_list<std::string_view> parts) {
  for (std::string_view p : parts) out->append(p);
}

bool IsMetricName(std::string_view s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                       c == '_' || c == ':';
    if (!alpha && !(i > 0 && c >= '0' && c <= '9')) return false;
  }
  return true;
}

bool IsLabelName(std::string_view s) {
  return IsMetricName(s) && s.find(':') == std::string_view::npos;
}

std::string DescribeSeries(std::string_view family, const Labels& labels) {
  std::string out(family);
  out += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    Append(&out,
           {i == 0 ? "" : ",", labels[i].first, "=\"", labels[i].second, "\""});
  }
  out += '}';
  return out;
}

// Sorts `labels` by name and aborts on a name the format or Veloq reserves.
void CanonicalizeLabels(std::string_view family, Type type, Labels* labels) {
  std::sort(labels->begin(), labels->end());
  for (size_t i = 0; i < labels->size(); ++i) {
    const std::string& name = (*labels)[i].first;
    std::string_view why;
    if (!IsLabelName(name)) {
      why = "is not a valid label name";
    } else if (name.starts_with("__")) {
      why = "is reserved (starts with __)";
    } else if (name == "shard") {
      why = "is reserved (added by the renderer)";
    } else if (name == "le" && type == Type::kHistogram) {
      why = "is reserved in histograms";
    } else if (i > 0 && (*labels)[i - 1].first == name) {
      why = "appears twice";
    }
    if (!why.empty()) {
      Die(Cat({"label \"", name, "\" of ", DescribeSeries(family, *labels), " ",
               why}));
    }
  }
}

// Aborts unless `h` meets HistogramValue's invariants.
void CheckHistogram(std::string_view family, const HistogramValue& h) {
  if (h.counts.size() != h.bounds.size() + 1) {
    Die(Cat({"histogram ", family, ": ", std::to_string(h.counts.size()),
             " counts for ", std::to_string(h.bounds.size()),
             " bounds (want one more)"}));
  }
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    if (!std::isfinite(h.bounds[i]) ||
        (i > 0 && h.bounds[i - 1] >= h.bounds[i]))
      Die(Cat({"histogram ", family,
               ": bounds must be finite and strictly increasing"}));
  }
}

// --- Text format ---

// Formats like Go's strconv.FormatFloat(v, 'g', -1, 64), which the
// reference client (client_golang) writes: the shortest digits that read
// back as the same double, in exponent form when the exponent is < -4 or
// >= 6 ("1e-05", "0.0001", "100000", "1e+06"). Matching it keeps le label
// values equal to those of Go-instrumented services.
void AppendDouble(std::string* out, double v) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v > 0 ? "+Inf" : "-Inf");
    return;
  }
  char buf[64];
  std::to_chars_result r =
      std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  const char* e = std::find(buf, r.ptr, 'e');
  const char* digits = e + 1 + (e[1] == '+' ? 1 : 0);
  int exponent = 0;
  std::from_chars(digits, r.ptr, exponent);
  if (exponent >= -4 && exponent < 6) {
    r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  }
  out->append(buf, r.ptr);
}

template <typename Int>
void AppendInt(std::string* out, Int v) {
  char buf[24];
  const std::to_chars_result r = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, r.ptr);
}

// Label values escape backslash, double quote and newline; help texts
// backslash and newline only.
void AppendEscaped(std::string* out, std::string_view s, bool quote) {
  for (const char c : s) {
    if (c == '\\') {
      out->append("\\\\");
    } else if (c == '\n') {
      out->append("\\n");
    } else if (c == '"' && quote) {
      out->append("\\\"");
    } else {
      out->push_back(c);
    }
  }
}

// Appends shard="<id>",name="value",... : a series' labels, without the
// braces.
void AppendLabels(std::string* out, uint32_t shard, const Labels& labels) {
  out->append("shard=\"");
  AppendInt(out, shard);
  out->push_back('"');
  for (const Label& l : labels) {
    out->push_back(',');
    out->append(l.first);
    out->append("=\"");
    AppendEscaped(out, l.second, /*quote=*/true);
    out->push_back('"');
  }
}

void AppendHistogram(std::string* out, std::string_view name, uint32_t shard,
                     const Labels& labels, const HistogramValue& h) {
  // Built once: every bucket line repeats it.
  std::string label_text;
  AppendLabels(&label_text, shard, labels);
  // Writes name<suffix>{labels[,le="<le>"]} and the space before the value.
  auto begin = [&](std::string_view suffix, std::string_view le) {
    Append(out, {name, suffix, "{", label_text});
    if (!le.empty()) Append(out, {",le=\"", le, "\""});
    out->append("} ");
  };
  uint64_t cumulative = 0;
  std::string le;
  for (size_t i = 0; i < h.counts.size(); ++i) {
    cumulative += h.counts[i];
    le.clear();
    if (i < h.bounds.size()) {
      AppendDouble(&le, h.bounds[i]);
    } else {
      le = "+Inf";
    }
    begin("_bucket", le);
    AppendInt(out, cumulative);
    out->push_back('\n');
  }
  begin("_sum", {});
  AppendDouble(out, h.sum);
  out->push_back('\n');
  begin("_count", {});
  AppendInt(out, cumulative);
  out->push_back('\n');
}

void AppendSample(std::string* out, std::string_view name, uint32_t shard,
                  const Sample& sample) {
  if (const auto* h = std::get_if<HistogramValue>(&sample.value)) {
    AppendHistogram(out, name, shard, sample.labels, *h);
    return;
  }
  Append(out, {name, "{"});
  AppendLabels(out, shard, sample.labels);
  out->append("} ");
  if (const auto* u = std::get_if<uint64_t>(&sample.value)) {
    AppendInt(out, *u);
  } else if (const auto* i = std::get_if<int64_t>(&sample.value)) {
    AppendInt(out, *i);
  } else {
    AppendDouble(out, std::get<double>(sample.value));
  }
  out->push_back('\n');
}

metrics::Snapshot SnapshotThisShard() {
  return Registry::Current().Snapshot(runtime::Shard::Current()->id());
}

}  // namespace

std::string_view TypeName(Type type) {
  switch (type) {
    case Type::kCounter:
      return "counter";
    case Type::kGauge:
      return "gauge";
    case Type::kHistogram:
      return "histogram";
  }
  return "untyped";
}

uint64_t HistogramValue::count() const {
  return std::accumulate(counts.begin(), counts.end(), uint64_t{0});
}

namespace {

// `v` rounded to 15 significant digits (what a double holds exactly), so
// that computed bounds render as written: 1e-06 * 10 as 1e-05, not
// 9.999999999999999e-06.
double RoundBound(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.15g", v);
  return std::strtod(buf, nullptr);
}

}  // namespace

std::vector<double> ExponentialBuckets(double start, double factor,
                                       size_t count) {
  if (!(start > 0) || !(factor > 1) || count == 0)
    Die("ExponentialBuckets needs start > 0, factor > 1, count > 0");
  std::vector<double> b(count);
  for (size_t i = 0; i < count; ++i) {
    b[i] = RoundBound(start * std::pow(factor, static_cast<double>(i)));
  }
  return b;
}

std::vector<double> LinearBuckets(double start, double width, size_t count) {
  if (!(width > 0) || count == 0)
    Die("LinearBuckets needs width > 0, count > 0");
  std::vector<double> b(count);
  for (size_t i = 0; i < count; ++i) {
    b[i] = RoundBound(start + width * static_cast<double>(i));
  }
  return b;
}

// --- Series and instruments ---

namespace internal {

Series::Series(Registry& registry, std::string_view name, std::string_view help,
               Type type, Labels labels)
    : registry_(&registry) {
  registry.DebugCheckThread();
  registry.CheckNotSnapshotting("registering a series");
  CanonicalizeLabels(name, type, &labels);
  family_ = registry.Acquire(name, type, help);
  auto [it, inserted] = family_->series.try_emplace(std::move(labels), this);
  if (!inserted) {
    Die(Cat({"series ", DescribeSeries(name, it->first),
             " registered twice on one shard"}));
  }
  it_ = it;
}

Series::Series(Series&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      family_(std::exchange(other.family_, nullptr)),
      it_(other.it_) {
  if (registry_ != nullptr) {
    registry_->DebugCheckThread();
    it_->second = this;
  }
}

Series::~Series() {
  if (registry_ == nullptr) return;
  registry_->DebugCheckThread();
  registry_->CheckNotSnapshotting("unregistering a series");
  family_->series.erase(it_);
  registry_->Release(family_);
}

void Series::CheckThread() const { registry_->DebugCheckThread(); }

}  // namespace internal

Counter::Counter(std::string_view name, std::string_view help, Labels labels)
    : Counter(Registry::Current(), name, help, std::move(labels)) {}

Counter::Counter(Registry& registry, std::string_view name,
                 std::string_view help, Labels labels)
    : Series(registry, name, help, Type::kCounter, std::move(labels)) {}

Histogram::Histogram(std::string_view name, std::string_view help,
                     std::vector<double> bounds, Labels labels)
    : Histogram(Registry::Current(), name, help, std::move(bounds),
                std::move(labels)) {}

Histogram::Histogram(Registry& registry, std::string_view name,
                     std::string_view help, std::vector<double> bounds,
                     Labels labels)
    : Series(registry, name, help, Type::kHistogram, std::move(labels)) {
  if (!bounds.empty() && std::isinf(bounds.back()) && bounds.back() > 0) {
    bounds.pop_back();
  }
  data_.bounds = std::move(bounds);
  data_.counts.assign(data_.bounds.size() + 1, 0);
  CheckHistogram(name, data_);
}

// --- Callbacks ---

void Emitter::Add(Labels labels, Value value) {
  if (family_.type == Type::kHistogram) {
    Die(Cat({"histogram ", family_.name,
             ": a callback emitted a scalar (use EmitHistogram)"}));
  }
  CanonicalizeLabels(family_.name, family_.type, &labels);
  out_->push_back(Sample{std::move(labels), std::move(value)});
}

void Emitter::EmitHistogram(Labels labels, HistogramValue h) {
  if (family_.type != Type::kHistogram) {
    Die(Cat({TypeName(family_.type), " ", family_.name,
             ": a callback emitted a histogram"}));
  }
  CanonicalizeLabels(family_.name, family_.type, &labels);
  CheckHistogram(family_.name, h);
  out_->push_back(Sample{std::move(labels), Value(std::move(h))});
}

CallbackHandle::CallbackHandle(Registry* registry,
                               internal::CallbackEntry* entry)
    : registry_(registry), entry_(entry) {
  entry_->owner = this;
}

CallbackHandle::CallbackHandle(CallbackHandle&& other) noexcept
    : registry_(std::exchange(other.registry_, nullptr)),
      entry_(std::exchange(other.entry_, nullptr)) {
  if (entry_ != nullptr) entry_->owner = this;
}

CallbackHandle& CallbackHandle::operator=(CallbackHandle&& other) noexcept {
  if (this != &other) {
    Reset();
    registry_ = std::exchange(other.registry_, nullptr);
    entry_ = std::exchange(other.entry_, nullptr);
    if (entry_ != nullptr) entry_->owner = this;
  }
  return *this;
}

void CallbackHandle::Reset() {
  if (registry_ == nullptr) return;
  std::exchange(registry_, nullptr)->Remove(std::exchange(entry_, nullptr));
}

// --- Registry ---

Registry::Registry() : owner_(std::this_thread::get_id()) {}

Registry::~Registry() {
  // Detach what outlives us, so that its destruction later is a no-op.
  for (auto& [name, family] : families_) {
    for (auto& [labels, series] : family->series) {
      series->registry_ = nullptr;
      series->family_ = nullptr;
    }
    for (auto& entry : family->callbacks) {
      entry->owner->registry_ = nullptr;
      entry->owner->entry_ = nullptr;
    }
  }
}

Registry& Registry::Current() {
  static thread_local Registry registry;
  return registry;
}

void Registry::DebugCheckThread() const {
#ifndef NDEBUG
  if (std::this_thread::get_id() != owner_)
    Die("a registry or its metric used off the thread that created it");
#endif
}

void Registry::CheckNotSnapshotting(std::string_view what) const {
  if (snapshotting_) Die(Cat({what, " inside a scrape callback"}));
}

Family* Registry::Acquire(std::string_view name, Type type,
                          std::string_view help) {
  auto it = families_.find(name);
  if (it != families_.end()) {
    Family& f = *it->second;
    if (f.type != type || f.help != help) {
      Die(Cat({"family ", name, " registered as ", TypeName(f.type), " \"",
               f.help, "\" and as ", TypeName(type), " \"", help, "\""}));
    }
    return &f;
  }
  if (!IsMetricName(name))
    Die(Cat({"\"", name, "\" is not a valid metric name"}));
  auto family = std::make_unique<Family>();
  family->name = std::string(name);
  family->type = type;
  family->help = std::string(help);
  Family* f = family.get();
  families_.emplace(family->name, std::move(family));
  return f;
}

void Registry::Release(Family* family) {
  if (family->series.empty() && family->callbacks.empty()) {
    // By iterator: the key lives in *family.
    families_.erase(families_.find(family->name));
  }
}

CallbackHandle Registry::AddCallback(std::string family, Type type,
                                     std::string help,
                                     std::function<void(Emitter&)> fn) {
  DebugCheckThread();
  CheckNotSnapshotting("adding a callback");
  Family* f = Acquire(family, type, help);
  f->callbacks.push_back(std::make_unique<internal::CallbackEntry>(
      internal::CallbackEntry{f, std::move(fn), nullptr}));
  return CallbackHandle(this, f->callbacks.back().get());
}

void Registry::Remove(internal::CallbackEntry* entry) {
  DebugCheckThread();
  CheckNotSnapshotting("removing a callback");
  Family* f = entry->family;
  auto it = std::find_if(f->callbacks.begin(), f->callbacks.end(),
                         [entry](const auto& e) { return e.get() == entry; });
  f->callbacks.erase(it);
  Release(f);
}

metrics::Snapshot Registry::Snapshot(uint32_t shard) const {
  DebugCheckThread();
  CheckNotSnapshotting("taking a snapshot");
  // Cleared however this ends (a callback may throw).
  struct Guard {
    bool& flag;
    ~Guard() { flag = false; }
  };
  snapshotting_ = true;
  Guard guard{snapshotting_};
  metrics::Snapshot out;
  out.shard = shard;
  out.families.reserve(families_.size());
  for (const auto& [name, family] : families_) {
    FamilySnapshot fs;
    fs.name = name;
    fs.type = family->type;
    fs.help = family->help;
    fs.samples.reserve(family->series.size());
    for (const auto& [labels, series] : family->series) {
      fs.samples.push_back(Sample{labels, series->Read()});
    }
    if (!family->callbacks.empty()) {
      Emitter emitter(*family, &fs.samples);
      for (const auto& entry : family->callbacks) entry->fn(emitter);
      // Instruments first, then callbacks in registration order: a stable
      // sort and unique keep the first of equal labels.
      auto by_labels = [](const Sample& a, const Sample& b) {
        return a.labels < b.labels;
      };
      std::stable_sort(fs.samples.begin(), fs.samples.end(), by_labels);
      auto same = [](const Sample& a, const Sample& b) {
        return a.labels == b.labels;
      };
      fs.samples.erase(std::unique(fs.samples.begin(), fs.samples.end(), same),
                       fs.samples.end());
    }
    if (!fs.samples.empty()) out.families.push_back(std::move(fs));
  }
  return out;
}

// --- Rendering and scraping ---

std::string RenderPrometheus(const std::vector<Snapshot>& per_shard) {
  std::vector<const Snapshot*> shards;
  shards.reserve(per_shard.size());
  for (const Snapshot& s : per_shard) shards.push_back(&s);
  std::stable_sort(
      shards.begin(), shards.end(),
      [](const Snapshot* a, const Snapshot* b) { return a->shard < b->shard; });
  shards.erase(std::unique(shards.begin(), shards.end(),
                           [](const Snapshot* a, const Snapshot* b) {
                             return a->shard == b->shard;
                           }),
               shards.end());

  // Family name -> (shard, its family) in shard order.
  std::map<std::string_view,
           std::vector<std::pair<uint32_t, const FamilySnapshot*>>>
      families;
  for (const Snapshot* s : shards) {
    for (const FamilySnapshot& f : s->families) {
      families[f.name].emplace_back(s->shard, &f);
    }
  }

  std::string out;
  for (const auto& [name, parts] : families) {
    const FamilySnapshot& first = *parts.front().second;
    if (!first.help.empty()) {
      Append(&out, {"# HELP ", name, " "});
      AppendEscaped(&out, first.help, /*quote=*/false);
      out.push_back('\n');
    }
    Append(&out, {"# TYPE ", name, " ", TypeName(first.type), "\n"});
    for (const auto& [shard, family] : parts) {
      if (family->type != first.type) continue;
      for (const Sample& sample : family->samples) {
        AppendSample(&out, name, shard, sample);
      }
    }
  }
  return out;
}

runtime::Task<std::string> ScrapeAll() {
  runtime::Task<std::vector<metrics::Snapshot>> gather =
      runtime::InvokeOnAll(&SnapshotThisShard);
  std::vector<metrics::Snapshot> snapshots = co_await std::move(gather);
  co_return RenderPrometheus(snapshots);
}

}  // namespace veloq::metrics
