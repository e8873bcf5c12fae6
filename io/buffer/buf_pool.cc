#include "io/buffer/buf_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "runtime/log.h"

namespace veloq::io {
namespace internal {

PoolCore::PoolCore(std::unique_ptr<BackingPool> backing,
                   BufferRegistrar* registrar, const BufPoolOptions& options)
    : backing_(std::move(backing)),
      registrar_(registrar),
      options_(options),
      cache_(new BufImage[size_t{kClasses} * options.cache_depth]) {
  for (size_t i = 0; i < backing_->region_count(); ++i) RegisterRegion(i);
}

PoolCore::~PoolCore() = default;

FixedBuf PoolCore::AllocateSlow(size_t size) {
  std::optional<BlockRef> b = backing_->Allocate(size);
  if (!b.has_value()) {
    Trim();  // cached blocks of other classes may be what the backing needs
    b = backing_->Allocate(size);
  }
  while (!b.has_value() && options_.grow && !closed_) {
    const size_t before = backing_->region_count();
    if (!backing_->Grow().ok()) break;
    ++grows_;
    for (size_t i = before; i < backing_->region_count(); ++i) {
      RegisterRegion(i);
    }
    b = backing_->Allocate(size);
  }
  if (!b.has_value()) return FixedBuf();
  return Hand(*b);
}

absl::Status PoolCore::ExhaustedError(size_t size) {
  ++exhausted_;
  return absl::ResourceExhaustedError(
      absl::StrCat("buffer pool exhausted (", size, " bytes asked, ",
                   backing_->Usage().bytes_out, " out)"));
}

FixedBuf PoolCore::Hand(const BlockRef& b) {
  ++allocations_;
  Ref();
  return FixedBuf(b.data, b.capacity, this, b.ctx, RegIndexOf(b));
}

void PoolCore::RegisterRegion(size_t i) {
  int index = -1;
  if (registrar_ != nullptr) {
    absl::StatusOr<int> r = registrar_->RegisterBuffer(
        backing_->region_data(i), backing_->region_size(i));
    if (r.ok()) {
      index = *r;
    } else if (!logged_refusal_) {
      logged_refusal_ = true;
      log::Info(log::Module::kIo,
                "buffer pool: memory not registered ({}); plain I/O",
                r.status().ToString());
    }
  }
  reg_index_.resize(std::max(reg_index_.size(), i + 1), -1);
  reg_index_[i] = index;
}

void PoolCore::FreeToBacking(BlockRef b) {
  backing_->Free(b);
  // Serve waiters in order; a waiter whose request does not fit yet holds
  // the line (no starvation of large requests).
  while (!waiters_.empty()) {
    BufPool::AcquireAwaiter* a = waiters_.front();
    std::optional<BlockRef> got = backing_->Allocate(a->size_);
    if (!got.has_value()) break;
    waiters_.pop_front();
    a->queued_ = false;
    a->result_ = Hand(*got);
    runtime::internal::ScheduleLocal(a->waiter_);
  }
  Unref();
}

void PoolCore::Trim() {
  for (int c = 0; c < kClasses; ++c) {
    while (cached_[c] > 0) {
      const BufImage& im = cache_[c * options_.cache_depth + --cached_[c]];
      backing_->Free(BlockRef{im.data, static_cast<uint32_t>(im.cap_size),
                              static_cast<uint32_t>(im.tag)});
    }
  }
  backing_->Trim();
}

void PoolCore::Dequeue(BufPool::AcquireAwaiter* a) { std::erase(waiters_, a); }

void PoolCore::Close() {
  closed_ = true;
  Trim();
  if (registrar_ != nullptr) {
    for (int index : reg_index_) {
      if (index >= 0) registrar_->UnregisterBuffer(index);
    }
    registrar_ = nullptr;
  }
  std::fill(reg_index_.begin(), reg_index_.end(), -1);
  while (!waiters_.empty()) {
    BufPool::AcquireAwaiter* a = waiters_.front();
    waiters_.pop_front();
    a->queued_ = false;
    a->result_ = absl::FailedPreconditionError("buffer pool destroyed");
    runtime::internal::ScheduleLocal(a->waiter_);
  }
  Unref();
}

BufPoolStats PoolCore::stats() const {
  BufPoolStats s;
  s.usage = backing_->Usage();
  // Cached blocks are free as far as users are concerned.
  for (int c = 0; c < kClasses; ++c) {
    s.usage.blocks_out -= cached_[c];
    s.usage.bytes_out -= size_t{cached_[c]} << (kMinShift + c);
  }
  s.registered_regions = static_cast<size_t>(std::count_if(
      reg_index_.begin(), reg_index_.end(), [](int i) { return i >= 0; }));
  s.allocations = allocations_;
  s.exhausted = exhausted_;
  s.grows = grows_;
  s.remote_frees = remote_frees_;
  s.waiters = waiters_.size();
  return s;
}

}  // namespace internal

absl::StatusOr<BufPool> BufPool::Create(std::unique_ptr<BackingPool> backing,
                                        BufferRegistrar* registrar,
                                        const BufPoolOptions& options) {
  if (backing == nullptr) return absl::InvalidArgumentError("no backing pool");
  return BufPool(
      new internal::PoolCore(std::move(backing), registrar, options));
}

absl::StatusOr<BufPool> BufPool::Hybrid(const HybridPool::Options& o,
                                        BufferRegistrar* registrar,
                                        const BufPoolOptions& options) {
  absl::StatusOr<std::unique_ptr<HybridPool>> p = HybridPool::Create(o);
  if (!p.ok()) return p.status();
  return Create(*std::move(p), registrar, options);
}

absl::StatusOr<BufPool> BufPool::Buddy(const BuddyPool::Options& o,
                                       BufferRegistrar* registrar,
                                       const BufPoolOptions& options) {
  absl::StatusOr<std::unique_ptr<BuddyPool>> p = BuddyPool::Create(o);
  if (!p.ok()) return p.status();
  return Create(*std::move(p), registrar, options);
}

BufPool::BufPool(BufPool&& o) noexcept
    : core_(std::exchange(o.core_, nullptr)) {}

BufPool& BufPool::operator=(BufPool&& o) noexcept {
  if (this != &o) {
    if (core_ != nullptr) core_->Close();
    core_ = std::exchange(o.core_, nullptr);
  }
  return *this;
}

BufPool::~BufPool() {
  if (core_ != nullptr) core_->Close();
}

BufPool::AcquireAwaiter BufPool::Acquire(size_t size) {
  return AcquireAwaiter(core_, size);
}

BufPoolStats BufPool::stats() const { return core_->stats(); }
void BufPool::Trim() { core_->Trim(); }
BackingPool& BufPool::backing() { return core_->backing(); }

bool BufPool::AcquireAwaiter::await_ready() {
  FixedBuf b = core_->Allocate(size_);
  if (b.valid()) {
    result_ = std::move(b);
    return true;
  }
  if (core_->options().when_exhausted == BufPoolOptions::WhenExhausted::kFail) {
    result_ = core_->ExhaustedError(size_);
    return true;
  }
  return false;
}

bool BufPool::AcquireAwaiter::await_suspend(std::coroutine_handle<> h) {
  if (!Arm()) {
    result_ = runtime::CancelledStatus();
    return false;
  }
  waiter_ = runtime::Waiter{h, runtime::internal::CurrentTask()};
  queued_ = true;
  core_->Enqueue(this);
  return true;
}

absl::StatusOr<FixedBuf> BufPool::AcquireAwaiter::await_resume() {
  Disarm();
  return std::move(result_);
}

void BufPool::AcquireAwaiter::Cancelled() {
  if (!queued_) return;
  queued_ = false;
  core_->Dequeue(this);
  result_ = runtime::CancelledStatus();
  runtime::internal::ScheduleLocal(waiter_);
}

BufPool::AcquireAwaiter::~AcquireAwaiter() {
  if (queued_) core_->Dequeue(this);
}

}  // namespace veloq::io
