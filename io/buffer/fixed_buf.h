#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace veloq::runtime {
class Runtime;
class Shard;
}  // namespace veloq::runtime

namespace veloq::io {

class BufferRegistrar;
class FixedBuf;

namespace internal {

class PoolCore;
class RingCore;

// Logs `what` (spdlog and stderr) and aborts: the clear message for misuse
// of buffers and pools.
[[noreturn]] void Die(const std::string& what);

class BufOwner;

// A block of buffer memory as its owner hands it out.
// 16 bytes, so it travels in two registers.
struct BlockRef {
  char* data = nullptr;
  uint32_t capacity = 0;
  uint32_t ctx = 0;  // the owner's tag (pools: region << 16 | their own)
};

// A FixedBuf's fields, as one trivially copyable record: built and moved
// as whole words (pools cache freed blocks in this form).
struct BufImage {
  static constexpr uint64_t kNoTag = uint64_t{0xffffffff} << 32;
  char* data = nullptr;
  BufOwner* owner = nullptr;  // null: heap memory (free())
  uint64_t cap_size = 0;      // size << 32 | capacity
  uint64_t tag = kNoTag;      // reg_index << 32 | ctx
};

// The address of this thread-local identifies the calling thread.
inline thread_local char tls_buf_thread_token = 0;

// BufOwner is the small vtable behind every FixedBuf: the pool (or
// provided-buffer ring) that a block goes back to.
//
// Lifetime: reference counted by the owner handle (the BufPool or BufRing
// object users hold) plus one per block handed out, so an owner's memory
// outlives every FixedBuf cut from it, whatever the destruction order.
//
// Affinity: an owner belongs to one shard (or, created off-runtime, to one
// thread). Blocks are handed out and taken back only there; a FixedBuf
// destroyed anywhere else goes home over the mesh (Runtime::Post from a
// thread that is not a shard) and is freed by its owner, so owners need no
// lock. The count is touched only on the owner's thread, or after the
// runtime's threads have been joined (a home message destroyed unrun at
// teardown frees its block in place).
class BufOwner {
 public:
  BufOwner(const BufOwner&) = delete;
  BufOwner& operator=(const BufOwner&) = delete;

  // Takes `b` back. Any thread: routes home when called elsewhere.
  void Release(BlockRef b) {
    if (OnOwnerThread()) {
      FreeLocal(b);
    } else {
      SendHome(b);
    }
  }
  // The registrar the owner's memory is registered with, or null.
  // Owner's thread.
  virtual const BufferRegistrar* registrar() const { return nullptr; }

  // One more block out / the owner handle's own reference.
  void Ref() { ++refs_; }
  void Unref() {
    if (--refs_ == 0) delete this;
  }
  // Whether the caller is on the owner's thread (a shard is one thread).
  bool OnOwnerThread() const { return &tls_buf_thread_token == thread_token_; }

 protected:
  // Binds the owner to the calling shard (or thread, off-runtime).
  BufOwner();
  virtual ~BufOwner() = default;
  // Frees `b` on the owner's thread (then drops the block's reference).
  virtual void FreeLocal(BlockRef b) = 0;

  uint64_t remote_frees_ = 0;  // blocks that came home over the mesh

 private:
  friend struct HomeTicket;
  void SendHome(BlockRef b);

  uint64_t refs_ = 1;
  runtime::Shard* shard_;      // null: owned by a thread outside any runtime
  runtime::Runtime* runtime_;  // the shard's runtime
  uint32_t shard_id_ = 0;
  const char* thread_token_;  // the owning thread
};

}  // namespace internal

// FixedBuf is a move-only handle on a block of I/O memory: pointer,
// capacity, length (the bytes that hold data), the kernel registration
// index and the owner it returns to on destruction. 32 bytes; a buffer
// holds less than 4 GiB.
//
// Ownership passes with the handle: an I/O op takes a FixedBuf by value,
// the kernel may touch the memory until the op completes, and the op hands
// the buffer back with its result. The memory never moves; it is 4 KB
// aligned when it comes from a pool (O_DIRECT ready).
//
// Buffers come from a BufPool (registered with the shard's driver), a
// BufRing (kernel-selected receive buffers) or FixedBuf::Heap (plain
// memory, for tests and one-off sizes).
//
// Thread safety: a FixedBuf is a value; it may move to any shard or thread.
// Destroying it anywhere is safe (see internal::BufOwner for how it goes
// home). Registered fast paths apply only on the owner's shard.
class FixedBuf {
 public:
  FixedBuf() = default;
  FixedBuf(FixedBuf&& o) noexcept : im_(o.im_) {
    o.im_.data = nullptr;
    o.im_.owner = nullptr;
    o.im_.cap_size = 0;
  }
  FixedBuf& operator=(FixedBuf&& o) noexcept {
    if (this != &o) {
      Reset();
      im_ = o.im_;
      o.im_.data = nullptr;
      o.im_.owner = nullptr;
      o.im_.cap_size = 0;
    }
    return *this;
  }
  ~FixedBuf() {
    if (im_.data != nullptr) Reset();
  }

  // Page-aligned memory from the heap, unregistered. Any thread.
  static FixedBuf Heap(size_t capacity);
  // A heap buffer holding a copy of `s`.
  static FixedBuf Copy(absl::string_view s);

  // Gives the memory back to its owner now; the handle becomes empty.
  void Reset() {
    if (im_.data == nullptr) return;
    if (im_.owner == nullptr) {
      FreeHeap(im_.data);
    } else {
      im_.owner->Release(internal::BlockRef{im_.data, cap(), ctx()});
    }
    im_.data = nullptr;
    im_.owner = nullptr;
    im_.cap_size = 0;
    im_.tag = kNoTag;
  }

  bool valid() const { return im_.data != nullptr; }
  explicit operator bool() const { return valid(); }
  char* data() { return im_.data; }
  const char* data() const { return im_.data; }
  size_t capacity() const { return cap(); }
  // Bytes that hold data: set by reads, by Assign, or by the user.
  size_t size() const { return sz(); }
  // REQUIRES: n <= capacity().
  void set_size(size_t n);
  void clear() { im_.cap_size = cap(); }

  // The data, [0, size()).
  absl::string_view view() const { return {im_.data, sz()}; }
  absl::Span<char> span() { return {im_.data, sz()}; }
  // All of the memory, [0, capacity()).
  absl::Span<char> whole() { return {im_.data, cap()}; }
  // Copies `s` in (at most capacity() bytes; returns how many).
  size_t Assign(absl::string_view s);
  // Appends as much of `s` as fits after size(); returns how many bytes.
  size_t Append(absl::string_view s);

  // The kernel's index for this memory (io_uring fixed buffers), or -1.
  int reg_index() const { return static_cast<int32_t>(im_.tag >> 32); }
  // Whether the memory is registered with `r` (the op's driver). The
  // registration is per shard, so a buffer used on a shard that is not its
  // owner's takes the plain path.
  bool RegisteredWith(const BufferRegistrar* r) const;

 private:
  friend class internal::PoolCore;
  friend class internal::RingCore;
  FixedBuf(char* data, size_t capacity, internal::BufOwner* owner, uint32_t ctx,
           int reg_index)
      : im_{data, owner, static_cast<uint32_t>(capacity),
            uint64_t{static_cast<uint32_t>(reg_index)} << 32 | ctx} {}
  explicit FixedBuf(const internal::BufImage& im) : im_(im) {}

  // Capacity and size share a word, as do ctx and reg_index, so building a
  // FixedBuf and moving it are whole-word stores and loads.
  static constexpr uint64_t kNoTag = internal::BufImage::kNoTag;
  uint32_t cap() const { return static_cast<uint32_t>(im_.cap_size); }
  uint32_t sz() const { return static_cast<uint32_t>(im_.cap_size >> 32); }
  void set_sz(uint64_t n) { im_.cap_size = n << 32 | cap(); }
  uint32_t ctx() const { return static_cast<uint32_t>(im_.tag); }

  static void FreeHeap(char* p);

  internal::BufImage im_;
};

// BufSlice is a FixedBuf together with a byte range [begin, end) of it: the
// part an op reads into or writes from, for partial transfers (the rest of
// a short write, the tail of ReadExact) without copying. It owns the
// buffer; Into() gives it back.
class BufSlice {
 public:
  // REQUIRES: begin <= end <= buf.capacity().
  BufSlice(FixedBuf buf, size_t begin, size_t end);
  BufSlice(BufSlice&&) noexcept = default;
  BufSlice& operator=(BufSlice&&) noexcept = default;

  char* data() { return buf_.data() + begin_; }
  size_t size() const { return end_ - begin_; }
  size_t begin() const { return begin_; }
  size_t end() const { return end_; }
  const FixedBuf& buf() const { return buf_; }
  FixedBuf& buf() { return buf_; }
  FixedBuf Into() && { return std::move(buf_); }

 private:
  FixedBuf buf_;
  size_t begin_;
  size_t end_;
};

// For reads: the whole capacity. For writes: the data.
inline BufSlice ReadSlice(FixedBuf b) {
  const size_t cap = b.capacity();
  return BufSlice(std::move(b), 0, cap);
}
inline BufSlice WriteSlice(FixedBuf b) {
  const size_t n = b.size();
  return BufSlice(std::move(b), 0, n);
}

// What the kernel-facing side of a shard (its driver) offers pools: it
// registers memory regions with the kernel so that ops on them skip the
// per-op page pinning (io_uring fixed buffers).
//
// Thread safety: shard-local (the driver's shard).
class BufferRegistrar {
 public:
  virtual ~BufferRegistrar() = default;
  // Registers [data, data + size) and returns its index; an error means the
  // memory stays unregistered (the pool keeps working, on the plain path).
  virtual absl::StatusOr<int> RegisterBuffer(char* data, size_t size) = 0;
  virtual void UnregisterBuffer(int index) = 0;
};

}  // namespace veloq::io
