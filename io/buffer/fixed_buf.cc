#include "io/buffer/fixed_buf.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "mesh/message.h"
#include "runtime/log.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"

namespace veloq::io {
namespace internal {
namespace {}  // namespace

void Die(const std::string& what) {
  log::Critical(log::Module::kIo, "{}", what);
  std::fprintf(stderr, "%s\n", what.c_str());
  std::abort();
}

// A block on its way home. Run on the owner's shard it frees the block
// there; destroyed unrun (the runtime is being torn down and its threads
// have been joined) it frees it in place, which is then race-free.
struct HomeTicket {
  BufOwner* owner;
  BlockRef block;

  HomeTicket(BufOwner* o, const BlockRef& b) : owner(o), block(b) {}
  HomeTicket(HomeTicket&& t) noexcept
      : owner(std::exchange(t.owner, nullptr)), block(t.block) {}
  HomeTicket& operator=(HomeTicket&&) = delete;
  ~HomeTicket() {
    if (owner != nullptr) owner->FreeLocal(block);
  }
  void operator()() {
    BufOwner* o = std::exchange(owner, nullptr);
    ++o->remote_frees_;
    o->FreeLocal(block);
  }
};

BufOwner::BufOwner()
    : shard_(runtime::Shard::Current()),
      runtime_(shard_ != nullptr ? &shard_->runtime() : nullptr),
      shard_id_(shard_ != nullptr ? shard_->id() : 0),
      thread_token_(&tls_buf_thread_token) {}

void BufOwner::SendHome(BlockRef b) {
  if (shard_ == nullptr) {
    Die("FixedBuf freed on a thread that is not its pool's, and the pool "
        "belongs to no runtime, so the buffer cannot go home");
  }
  if (runtime_->stopped()) {
    // The shard threads have been joined (teardown): free in place.
    FreeLocal(b);
    return;
  }
  mesh::Message m{HomeTicket(this, b)};
  runtime::Shard* here = runtime::Shard::Current();
  if (here != nullptr && &here->runtime() == runtime_) {
    here->Send(shard_id_, std::move(m));
  } else {
    runtime_->Post(shard_id_, std::move(m));
  }
}

}  // namespace internal

namespace {
constexpr size_t kPage = 4096;
using internal::Die;
}  // namespace

FixedBuf FixedBuf::Heap(size_t capacity) {
  if (capacity >= (size_t{1} << 32)) {
    Die(fmt::format("FixedBuf::Heap: {} bytes (a buffer holds < 4 GiB)",
                    capacity));
  }
  const size_t rounded = (capacity + kPage - 1) / kPage * kPage;
  char* p = static_cast<char*>(
      std::aligned_alloc(kPage, rounded == 0 ? kPage : rounded));
  if (p == nullptr) {
    Die(fmt::format("FixedBuf::Heap: out of memory ({} bytes)", capacity));
  }
  return FixedBuf(p, capacity, nullptr, 0, -1);
}

FixedBuf FixedBuf::Copy(absl::string_view s) {
  FixedBuf b = Heap(s.size());
  b.Assign(s);
  return b;
}

void FixedBuf::FreeHeap(char* p) { std::free(p); }

void FixedBuf::set_size(size_t n) {
  if (n > cap()) {
    internal::Die(
        fmt::format("FixedBuf::set_size({}) past capacity {}", n, cap()));
  }
  set_sz(n);
}

size_t FixedBuf::Assign(absl::string_view s) {
  clear();
  return Append(s);
}

size_t FixedBuf::Append(absl::string_view s) {
  const size_t n = std::min<size_t>(s.size(), cap() - sz());
  if (n > 0) std::memcpy(im_.data + sz(), s.data(), n);
  set_sz(sz() + n);
  return n;
}

bool FixedBuf::RegisteredWith(const BufferRegistrar* r) const {
  return reg_index() >= 0 && im_.owner != nullptr && r != nullptr &&
         im_.owner->OnOwnerThread() && im_.owner->registrar() == r;
}

BufSlice::BufSlice(FixedBuf buf, size_t begin, size_t end)
    : buf_(std::move(buf)), begin_(begin), end_(end) {
  if (begin > end || end > buf_.capacity()) {
    internal::Die(
        fmt::format("BufSlice [{}, {}) outside a buffer of capacity {}", begin,
                    end, buf_.capacity()));
  }
}

}  // namespace veloq::io
