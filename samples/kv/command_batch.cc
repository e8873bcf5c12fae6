#include "samples/kv/command_batch.h"

#include <cstring>

namespace veloq::kv {
namespace {

void Put(char* at, uint64_t v) { std::memcpy(at, &v, sizeof(v)); }

uint64_t Get(const char* at) {
  uint64_t v;
  std::memcpy(&v, at, sizeof(v));
  return v;
}

}  // namespace

void CommandBatch::Add(absl::Span<const absl::string_view> args) {
  size_t arg_bytes = 0;
  for (absl::string_view a : args) arg_bytes += a.size();
  size_t at = data_.size();
  data_.resize(at + Footprint(args.size(), arg_bytes));
  char* out = data_.data();
  Put(out + at, args.size());
  at += 8;
  for (absl::string_view a : args) {
    Put(out + at, a.size());
    at += 8;
    if (!a.empty()) std::memcpy(out + at, a.data(), a.size());
    at += a.size();
  }
  ++count_;
}

bool CommandBatch::Reader::Next(std::vector<absl::string_view>* args) {
  args->clear();
  if (pos_ >= data_.size()) return false;
  const char* in = data_.data();
  const uint64_t argc = Get(in + pos_);
  pos_ += 8;
  for (uint64_t i = 0; i < argc; ++i) {
    const uint64_t len = Get(in + pos_);
    pos_ += 8;
    args->emplace_back(in + pos_, len);
    pos_ += len;
  }
  return true;
}

}  // namespace veloq::kv
