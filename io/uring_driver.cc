#include "io/uring_driver.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/shard.h"
#include "spdlog/spdlog.h"

namespace veloq::io {
namespace {

// user_data of the driver's own eventfd read and of cancel requests; op
// handles never have these values (their generation field is small).
constexpr uint64_t kWakeTag = ~uint64_t{0};
constexpr uint64_t kCancelTag = ~uint64_t{0} - 1;
// user_data of an op's linked timeout (its CQE is informational only).
constexpr uint64_t kLinkTimeoutTag = ~uint64_t{0} - 2;

}  // namespace

std::string UringFeatures::ToString() const {
  return absl::StrCat("io_uring single_issuer=", single_issuer ? 1 : 0,
                      " defer_taskrun=", defer_taskrun ? 1 : 0,
                      " coop_taskrun=", coop_taskrun ? 1 : 0, " features=0x",
                      absl::Hex(kernel_features));
}

thread_local UringDriver* tls_driver = nullptr;

UringDriver* UringDriver::Current() { return tls_driver; }

absl::StatusOr<std::unique_ptr<UringDriver>> UringDriver::Create(
    const DriverOptions& options) {
  std::unique_ptr<UringDriver> d(new UringDriver());
  absl::Status s = d->Init(options);
  if (!s.ok()) return s;
  tls_driver = d.get();
  spdlog::info("driver: {}", d->features_.ToString());
  return d;
}

absl::Status UringDriver::Init(const DriverOptions& options) {
  options_ = options;
  // Ask for the most, then drop flags the kernel refuses (EINVAL), in the
  // order of how much they are worth; detect, never assume.
  struct Attempt {
    bool single, defer, coop;
  };
  const Attempt attempts[] = {
      {options.single_issuer, options.defer_taskrun && options.single_issuer,
       options.coop_taskrun},
      {options.single_issuer, false, options.coop_taskrun},
      {false, false, options.coop_taskrun},
      {false, false, false},
  };
  int rc = -EINVAL;
  for (const Attempt& a : attempts) {
    io_uring_params p;
    std::memset(&p, 0, sizeof(p));
    if (a.single) p.flags |= IORING_SETUP_SINGLE_ISSUER;
    if (a.defer) p.flags |= IORING_SETUP_DEFER_TASKRUN;
    if (a.coop) p.flags |= IORING_SETUP_COOP_TASKRUN;
    rc = io_uring_queue_init_params(options.entries, &ring_, &p);
    if (rc == 0) {
      features_.single_issuer = a.single;
      features_.defer_taskrun = a.defer;
      features_.coop_taskrun = a.coop;
      features_.kernel_features = p.features;
      break;
    }
    if (rc != -EINVAL) break;  // ENOSYS, EPERM, ENOMEM: not a flag problem
  }
  if (rc != 0) {
    return absl::ErrnoToStatus(-rc, "io_uring_queue_init_params");
  }
  ring_ready_ = true;
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::ErrnoToStatus(errno, "eventfd");
  ArmWake();
  return absl::OkStatus();
}

UringDriver::~UringDriver() {
  if (tls_driver == this) tls_driver = nullptr;
  if (!ring_ready_) return;
  Shutdown();
  io_uring_queue_exit(&ring_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
}

void UringDriver::Shutdown() {
  if (!ring_ready_ || destroying_) return;
  // Cancel everything in flight and wait for each CQE: until it arrives the
  // kernel may still write into the op's buffer.
  io_uring_sqe* sqe = GetSqe();
  if (sqe != nullptr) {
    io_uring_prep_cancel64(sqe, 0, IORING_ASYNC_CANCEL_ANY);
    io_uring_sqe_set_data64(sqe, kCancelTag);
  }
  backlog_.clear();
  destroying_ = true;  // reaping the wake read does not re-arm it
  // Bounded (10 s): a kernel that never answers a cancel must not hang
  // shutdown forever.
  for (int i = 0; i < 10000 && (ops_.size() > 0 || wake_armed_); ++i) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{0, 1'000'000};
    io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    size_t reaped = 0;
    Reap(~size_t{0}, &reaped);
  }
  if (ops_.size() > 0 || wake_armed_) {
    spdlog::error("driver: {} op(s) did not complete after cancellation",
                  ops_.size());
  }
}

void UringDriver::ArmWake() {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) return;  // re-armed on the next Poll
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(sqe, kWakeTag);
  ++pending_sqes_;
  wake_armed_ = true;
}

void UringDriver::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof(one));
}

io_uring_sqe* UringDriver::GetSqe() {
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  if (sqe == nullptr) {
    const int n = io_uring_submit(&ring_);
    if (n > 0) submitted_ += static_cast<uint64_t>(n);
    pending_sqes_ = 0;
    sqe = io_uring_get_sqe(&ring_);
  }
  return sqe;
}

void UringDriver::Prep(io_uring_sqe* sqe, internal::OpSlot& slot) {
  using Kind = internal::OpSlot::Kind;
  switch (slot.kind) {
    case Kind::kNop:
      io_uring_prep_nop(sqe);
      break;
    case Kind::kRead:
      io_uring_prep_read(sqe, slot.fd, slot.buffer.data(),
                         static_cast<unsigned>(slot.buffer.size()),
                         slot.offset);
      break;
    case Kind::kWrite:
      io_uring_prep_write(sqe, slot.fd, slot.buffer.data(),
                          static_cast<unsigned>(slot.buffer.size()),
                          slot.offset);
      break;
    case Kind::kTimeout:
      io_uring_prep_timeout(sqe, &slot.ts, 0, 0);
      break;
  }
}

bool UringDriver::PrepAndLink(Handle h, internal::OpSlot& slot) {
  // An op with a deadline needs two adjacent SQEs in one submission (the op
  // with IOSQE_IO_LINK, then its timeout); make room for both first.
  const unsigned need = slot.has_deadline ? 2 : 1;
  if (io_uring_sq_space_left(&ring_) < need) {
    const int n = io_uring_submit(&ring_);
    if (n > 0) submitted_ += static_cast<uint64_t>(n);
    pending_sqes_ = 0;
    if (io_uring_sq_space_left(&ring_) < need) return false;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  Prep(sqe, slot);
  io_uring_sqe_set_data64(sqe, h.Pack());
  ++pending_sqes_;
  if (slot.has_deadline) {
    sqe->flags |= IOSQE_IO_LINK;
    const auto left = slot.deadline - std::chrono::steady_clock::now();
    const int64_t ns = left.count() > 0 ? left.count() : 0;
    slot.ts.tv_sec = ns / 1'000'000'000;
    slot.ts.tv_nsec = ns % 1'000'000'000;
    io_uring_sqe* t = io_uring_get_sqe(&ring_);
    io_uring_prep_link_timeout(t, &slot.ts, 0);
    io_uring_sqe_set_data64(t, kLinkTimeoutTag);
    ++pending_sqes_;
  }
  return true;
}

void UringDriver::Enqueue(Handle h) {
  if (backlog_.empty() && PrepAndLink(h, *ops_.Get(h))) return;
  backlog_.push_back(h);
}

void UringDriver::FlushBacklog() {
  while (!backlog_.empty()) {
    const Handle h = backlog_.front();
    internal::OpSlot* slot = ops_.Get(h);
    if (slot == nullptr || slot->done) {
      backlog_.pop_front();
      continue;
    }
    if (slot->orphaned) {
      // Never reached the kernel: nothing can write into it; free it now.
      backlog_.pop_front();
      ops_.Remove(h);
      continue;
    }
    if (!PrepAndLink(h, *slot)) return;
    backlog_.pop_front();
  }
  // Admit ops that waited for backlog space.
  while (!waiting_.empty() && backlog_.size() < options_.backlog_limit) {
    Op* op = waiting_.front();
    waiting_.pop_front();
    op->waiting_ = false;
    op->Start();
  }
}

void UringDriver::SubmitCancel(Handle h) {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) return;  // the kernel is saturated; the op completes
  io_uring_prep_cancel64(sqe, h.Pack(), 0);
  io_uring_sqe_set_data64(sqe, kCancelTag);
  ++pending_sqes_;
}

void UringDriver::Reap(size_t budget, size_t* reaped) {
  io_uring_cqe* cqes[64];
  while (*reaped < budget) {
    const unsigned want =
        static_cast<unsigned>(std::min<size_t>(64, budget - *reaped));
    const unsigned n = io_uring_peek_batch_cqe(&ring_, cqes, want);
    if (n == 0) return;
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t tag = io_uring_cqe_get_data64(cqes[i]);
      if (tag == kWakeTag) {
        wake_armed_ = false;
        if (!destroying_) ArmWake();
        continue;
      }
      if (tag == kCancelTag || tag == kLinkTimeoutTag) continue;
      const Handle h = Handle::Unpack(tag);
      internal::OpSlot* slot = ops_.Get(h);
      if (slot == nullptr) continue;  // a stale completion: ignored
      ++completed_;
      slot->res = cqes[i]->res;
      // A linked timeout cancels the op: report that as a timeout, unless
      // the task itself asked for the cancellation.
      if (slot->res == -ECANCELED && slot->has_deadline &&
          !slot->user_cancelled &&
          std::chrono::steady_clock::now() >= slot->deadline) {
        slot->res = -ETIMEDOUT;
      }
      slot->cqe_flags = cqes[i]->flags;
      slot->done = true;
      if (slot->orphaned) {
        ops_.Remove(h);  // the buffer is safe to free now
      } else {
        runtime::internal::ScheduleLocal(slot->waiter);
      }
    }
    io_uring_cq_advance(&ring_, n);
    *reaped += n;
  }
}

size_t UringDriver::Poll(size_t budget) {
  FlushBacklog();
  if (!wake_armed_) ArmWake();
  // With DEFER_TASKRUN completions are posted only inside io_uring_enter;
  // enter only when an op is in flight (an idle tick makes no syscall).
  if (pending_sqes_ > 0 || (features_.defer_taskrun && ops_.size() > 0)) {
    // One io_uring_enter per tick: submits the batch and, with
    // DEFER_TASKRUN, runs the deferred completions.
    const int n = pending_sqes_ > 0 ? io_uring_submit_and_get_events(&ring_)
                                    : io_uring_get_events(&ring_);
    if (n > 0 && pending_sqes_ > 0) submitted_ += static_cast<uint64_t>(n);
    pending_sqes_ = 0;
  }
  size_t reaped = 0;
  Reap(budget, &reaped);
  return reaped;
}

void UringDriver::Park(std::optional<runtime::TimePoint> deadline) {
  FlushBacklog();
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts;
  __kernel_timespec* tsp = nullptr;
  if (deadline) {
    const auto left = *deadline - std::chrono::steady_clock::now();
    const int64_t ns = left.count() > 0 ? left.count() : 0;
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    tsp = &ts;
  }
  const int n = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
  if (n > 0) submitted_ += static_cast<uint64_t>(n);
  pending_sqes_ = 0;
  // The completions are reaped by the next Poll.
}

// ---- Ops ----

void UringDriver::Op::Start() {
  UringDriver& d = *driver_;
  handle_ = d.ops_.Insert();
  started_ = true;
  internal::OpSlot& slot = *d.ops_.Get(handle_);
  slot.kind = kind_;
  slot.fd = fd_;
  slot.offset = offset_;
  slot.buffer = std::move(buffer_);  // the op owns it until its CQE
  slot.ts.tv_sec = timeout_ns_ / 1'000'000'000;
  slot.ts.tv_nsec = timeout_ns_ % 1'000'000'000;
  if (deadline_ns_ >= 0 && kind_ != Kind::kTimeout) {
    slot.has_deadline = true;
    slot.deadline =
        std::chrono::steady_clock::now() + runtime::Duration(deadline_ns_);
  }
  slot.waiter = waiter_;
  d.Enqueue(handle_);
}

bool UringDriver::Op::await_suspend(std::coroutine_handle<> h) {
  if (!Arm()) {
    cancelled_early_ = true;
    return false;
  }
  waiter_ = runtime::Waiter{h, runtime::internal::CurrentTask()};
  UringDriver& d = *driver_;
  if (d.backlog_.size() >= d.options_.backlog_limit) {
    waiting_ = true;  // backpressure: no slot until the backlog drains
    d.waiting_.push_back(this);
    return true;
  }
  Start();
  return true;
}

Result UringDriver::Op::await_resume() {
  Disarm();
  if (cancelled_early_) return Result(-ECANCELED);
  internal::OpSlot& slot = *driver_->ops_.Get(handle_);
  const Result r(slot.res);
  buffer_ = std::move(slot.buffer);
  driver_->ops_.Remove(handle_);
  started_ = false;
  return r;
}

void UringDriver::Op::Cancelled() {
  UringDriver& d = *driver_;
  if (waiting_) {
    // Never got a slot: complete it here with -ECANCELED.
    waiting_ = false;
    d.waiting_.erase(std::find(d.waiting_.begin(), d.waiting_.end(), this));
    cancelled_early_ = true;
    runtime::internal::ScheduleLocal(waiter_);
    return;
  }
  if (started_) {
    if (internal::OpSlot* slot = d.ops_.Get(handle_)) {
      slot->user_cancelled = true;
    }
    d.SubmitCancel(handle_);
  }
}

UringDriver::Op::~Op() {
  UringDriver& d = *driver_;
  if (waiting_) {
    d.waiting_.erase(std::find(d.waiting_.begin(), d.waiting_.end(), this));
    return;
  }
  if (!started_) return;
  internal::OpSlot* slot = d.ops_.Get(handle_);
  if (slot == nullptr) return;
  if (slot->done) {
    d.ops_.Remove(handle_);
    return;
  }
  // The frame is going away with the op in flight (shutdown): orphan it.
  // The slot keeps the buffer until the kernel's CQE says it is done with
  // it; cancel so that happens soon.
  slot->orphaned = true;
  slot->waiter = {};
  d.SubmitCancel(handle_);
}

}  // namespace veloq::io
