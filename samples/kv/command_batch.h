#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace veloq::kv {

// CommandBatch is a run of commands in one flat buffer: what a connection
// sends to a partition on another shard, one per owning shard per read.
// Adding a command copies its arguments in; however many commands a batch
// holds, it is one heap block (growing by doubling, or sized up front by
// Reserve), where a vector of Commands costs two blocks a command — each
// allocated on the sender's shard and freed on the owner's.
//
// Layout (private; nothing outside this class reads it): per command a
// uint64 argument count, then per argument a uint64 length and its bytes.
// The buffer is written only by Add, so Reader trusts it; it never crosses
// a process boundary.
//
// A value type: movable and copyable. Thread-compatible: built on one shard,
// moved to another, read there.
class CommandBatch {
 public:
  CommandBatch() = default;
  CommandBatch(const CommandBatch&) = default;
  CommandBatch& operator=(const CommandBatch&) = default;
  // A moved-from batch is empty.
  CommandBatch(CommandBatch&& o) noexcept
      : data_(std::move(o.data_)), count_(std::exchange(o.count_, 0)) {
    o.data_.clear();
  }
  CommandBatch& operator=(CommandBatch&& o) noexcept {
    if (this == &o) return *this;
    data_ = std::move(o.data_);
    count_ = std::exchange(o.count_, 0);
    o.data_.clear();
    return *this;
  }

  // Appends one command, a copy of `args` (arguments in order, args[0] the
  // command name). REQUIRES: `args` do not point into this batch.
  void Add(absl::Span<const absl::string_view> args);

  // Room for `bytes` more bytes of layout (the arguments' bytes plus 8 a
  // command and 8 an argument) before the next reallocation.
  void Reserve(size_t bytes) { data_.reserve(data_.size() + bytes); }
  // The layout bytes a command of `argc` arguments totalling `arg_bytes`
  // takes: what to pass Reserve.
  static size_t Footprint(size_t argc, size_t arg_bytes) {
    return 8 + 8 * argc + arg_bytes;
  }

  size_t size() const { return count_; }
  bool empty() const { return count_ == 0; }
  // The layout bytes held.
  size_t bytes() const { return data_.size(); }
  // Removes every command; keeps the capacity.
  void Clear() {
    data_.clear();
    count_ = 0;
  }

  // Reads a batch's commands in the order they were added. The views it
  // yields point into the batch: valid until the batch is modified, moved
  // from or destroyed.
  class Reader {
   public:
    explicit Reader(const CommandBatch& batch) : data_(batch.data_) {}
    // The next command's arguments into *args (replacing what it held);
    // false when every command has been read.
    bool Next(std::vector<absl::string_view>* args);

   private:
    absl::string_view data_;
    size_t pos_ = 0;
  };

 private:
  std::string data_;
  size_t count_ = 0;
};

}  // namespace veloq::kv
