#include "io/buffer/buf_pool.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace veloq::io {
namespace internal {

// The shared state behind a BufPool handle and the buffers it handed out.
class PoolCore final : public BufOwner {
 public:
  PoolCore(std::unique_ptr<BackingPool> backing, BufferRegistrar* registrar,
           const BufPoolOptions& options)
      : backing_(std::move(backing)), registrar_(registrar), options_(options) {
    for (size_t i = 0; i < backing_->region_count(); ++i) RegisterRegion(i);
  }

  const BufferRegistrar* registrar() const override { return registrar_; }

  absl::StatusOr<FixedBuf> TryAllocate(size_t size) {
    if (std::optional<FixedBuf> b = AllocateNow(size)) return *std::move(b);
    ++stats_.exhausted;
    return absl::ResourceExhaustedError(
        absl::StrCat("buffer pool exhausted (", size, " bytes asked, ",
                     backing_->Usage().bytes_out, " out)"));
  }

  // Grows if allowed; nullopt when nothing can be had now.
  std::optional<FixedBuf> AllocateNow(size_t size) {
    std::optional<BlockRef> b = backing_->Allocate(size);
    while (!b.has_value() && options_.grow && closed_ == false) {
      const size_t before = backing_->region_count();
      if (!backing_->Grow().ok()) break;
      ++stats_.grows;
      for (size_t i = before; i < backing_->region_count(); ++i) {
        RegisterRegion(i);
      }
      b = backing_->Allocate(size);
    }
    if (!b.has_value()) return std::nullopt;
    return Hand(*b);
  }

  void Enqueue(BufPool::AcquireAwaiter* a) { waiters_.push_back(a); }
  void Dequeue(BufPool::AcquireAwaiter* a) { std::erase(waiters_, a); }

  // The handle is gone: unregister, fail waiters, drop its reference.
  void Close() {
    closed_ = true;
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

  BufPoolStats stats() const {
    BufPoolStats s = stats_;
    s.usage = backing_->Usage();
    s.registered_regions = static_cast<size_t>(std::count_if(
        reg_index_.begin(), reg_index_.end(), [](int i) { return i >= 0; }));
    s.waiters = waiters_.size();
    s.remote_frees = remote_frees_;
    return s;
  }
  BackingPool& backing() { return *backing_; }
  const BufPoolOptions& options() const { return options_; }

 private:
  ~PoolCore() override = default;

  FixedBuf Hand(const BlockRef& b) {
    ++stats_.allocations;
    Ref();
    const int region = backing_->RegionOf(b);
    const int index =
        region >= 0 && static_cast<size_t>(region) < reg_index_.size()
            ? reg_index_[region]
            : -1;
    return FixedBuf(b.data, b.capacity, this, b.ctx, index);
  }

  void RegisterRegion(size_t i) {
    int index = -1;
    if (registrar_ != nullptr) {
      absl::StatusOr<int> r = registrar_->RegisterBuffer(
          backing_->region_data(i), backing_->region_size(i));
      if (r.ok()) {
        index = *r;
      } else if (!logged_refusal_) {
        logged_refusal_ = true;
        spdlog::info("buffer pool: memory not registered ({}); plain I/O",
                     r.status().ToString());
      }
    }
    reg_index_.resize(std::max(reg_index_.size(), i + 1), -1);
    reg_index_[i] = index;
  }

  void FreeLocal(const BlockRef& b) override {
    backing_->Free(b);
    // Serve waiters in order; a waiter whose request does not fit yet
    // holds the line (no starvation of large requests).
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

  std::unique_ptr<BackingPool> backing_;
  BufferRegistrar* registrar_;
  BufPoolOptions options_;
  std::vector<int> reg_index_;  // per region: kernel index, or -1
  std::deque<BufPool::AcquireAwaiter*> waiters_;
  BufPoolStats stats_;
  bool closed_ = false;
  bool logged_refusal_ = false;
};

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

absl::StatusOr<FixedBuf> BufPool::TryAllocate(size_t size) {
  return core_->TryAllocate(size);
}

BufPool::AcquireAwaiter BufPool::Acquire(size_t size) {
  return AcquireAwaiter(core_, size);
}

BufPoolStats BufPool::stats() const { return core_->stats(); }
void BufPool::Trim() { core_->backing().Trim(); }
BackingPool& BufPool::backing() { return core_->backing(); }

bool BufPool::AcquireAwaiter::await_ready() {
  if (std::optional<FixedBuf> b = core_->AllocateNow(size_)) {
    result_ = *std::move(b);
    return true;
  }
  if (core_->options().when_exhausted == BufPoolOptions::WhenExhausted::kFail) {
    result_ = core_->TryAllocate(size_);  // counts and words the error
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
