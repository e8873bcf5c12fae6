#include "io/uring_driver.h"

#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "runtime/log.h"
#include "runtime/shard.h"

namespace veloq::io {
namespace {

// user_data of the driver's own eventfd read and of cancel requests; op
// handles never have these values (their generation field is small).
constexpr uint64_t kWakeTag = ~uint64_t{0};
constexpr uint64_t kCancelTag = ~uint64_t{0} - 1;
// user_data of an op's linked timeout (its CQE is informational only).
constexpr uint64_t kLinkTimeoutTag = ~uint64_t{0} - 2;
// user_data of a wake-up another thread posted with MSG_RING. Not counted in
// in_kernel_: no SQE of this ring produced it.
constexpr uint64_t kMsgWakeTag = ~uint64_t{0} - 3;

// IORING_REGISTER_SEND_MSG_RING (Linux 6.13), newer than liburing 2.3's
// headers: io_uring_register(-1, 31, sqe, 1) runs one IORING_OP_MSG_RING
// (IORING_MSG_DATA) synchronously, without a ring of the caller's own.
constexpr unsigned kRegisterSendMsgRing = 31;

// Posts a CQE with `user_data` (res 0) to the ring `ring_fd`. Returns 0 or
// -errno (EINVAL: the kernel lacks the opcode).
int SendMsgRing(int ring_fd, uint64_t user_data) {
  io_uring_sqe sqe;
  std::memset(&sqe, 0, sizeof(sqe));
  sqe.opcode = IORING_OP_MSG_RING;
  sqe.fd = ring_fd;
  sqe.addr = IORING_MSG_DATA;
  sqe.off = user_data;
  const long r =
      ::syscall(__NR_io_uring_register, -1, kRegisterSendMsgRing, &sqe, 1);
  return r < 0 ? -errno : 0;
}

}  // namespace

std::string UringFeatures::ToString() const {
  return absl::StrCat("io_uring single_issuer=", single_issuer ? 1 : 0,
                      " defer_taskrun=", defer_taskrun ? 1 : 0,
                      " coop_taskrun=", coop_taskrun ? 1 : 0,
                      " taskrun_flag=", taskrun_flag ? 1 : 0,
                      " msg_ring_wake=", msg_ring_wake ? 1 : 0,
                      " registered_buffers=", registered_buffers,
                      " features=0x", absl::Hex(kernel_features));
}

std::string UringDriver::Describe() const { return features_.ToString(); }

absl::StatusOr<std::unique_ptr<UringDriver>> UringDriver::Create(
    const DriverOptions& options) {
  std::unique_ptr<UringDriver> d(new UringDriver());
  absl::Status s = d->Init(options);
  if (!s.ok()) return s;
  d->MakeCurrent();
  return d;
}

absl::Status UringDriver::Init(const DriverOptions& options) {
  options_ = options;
  // Ask for the most, then drop flags the kernel refuses (EINVAL), in the
  // order of how much they are worth; detect, never assume.
  // TASKRUN_FLAG needs COOP_TASKRUN or DEFER_TASKRUN; each set of flags is
  // tried with it first, then without.
  struct Attempt {
    bool single, defer, coop, flag;
  };
  const Attempt bases[] = {
      {options.single_issuer, options.defer_taskrun && options.single_issuer,
       options.coop_taskrun, false},
      {options.single_issuer, false, options.coop_taskrun, false},
      {false, false, options.coop_taskrun, false},
      {false, false, false, false},
  };
  Attempt attempts[2 * std::size(bases)];
  size_t count = 0;
  for (Attempt a : bases) {
    if (options.taskrun_flag && (a.defer || a.coop)) {
      a.flag = true;
      attempts[count++] = a;
      a.flag = false;
    }
    attempts[count++] = a;
  }
  int rc = -EINVAL;
  for (size_t i = 0; i < count; ++i) {
    const Attempt& a = attempts[i];
    io_uring_params p;
    std::memset(&p, 0, sizeof(p));
    if (a.single) p.flags |= IORING_SETUP_SINGLE_ISSUER;
    if (a.defer) p.flags |= IORING_SETUP_DEFER_TASKRUN;
    if (a.coop) p.flags |= IORING_SETUP_COOP_TASKRUN;
    if (a.flag) p.flags |= IORING_SETUP_TASKRUN_FLAG;
    rc = io_uring_queue_init_params(options.entries, &ring_, &p);
    if (rc == 0) {
      features_.single_issuer = a.single;
      features_.defer_taskrun = a.defer;
      features_.coop_taskrun = a.coop;
      features_.taskrun_flag = a.flag;
      features_.kernel_features = p.features;
      break;
    }
    if (rc != -EINVAL) break;  // ENOSYS, EPERM, ENOMEM: not a flag problem
  }
  if (rc != 0) {
    return absl::ErrnoToStatus(-rc, "io_uring_queue_init_params");
  }
  ring_ready_ = true;
  ring_fd_ = ring_.ring_fd;
  // Room for the wake read and a few cancels beyond the ops.
  cq_limit_ = ring_.cq.ring_entries > 8 ? ring_.cq.ring_entries - 4
                                        : ring_.cq.ring_entries / 2;
  if (options.registered_files > 0) {
    const int r =
        io_uring_register_files_sparse(&ring_, options.registered_files);
    if (r < 0) return absl::ErrnoToStatus(-r, "io_uring_register_files_sparse");
  }
  SetRegisteredFileSlots(options.registered_files);
  if (options.registered_buffers > 0) {
    // A sparse table: pools fill slots as they add arenas. Without it (old
    // kernel, memlock limit) buffers simply stay unregistered.
    const int r =
        io_uring_register_buffers_sparse(&ring_, options.registered_buffers);
    if (r == 0) {
      buf_slots_.assign(options.registered_buffers, false);
      features_.registered_buffers = options.registered_buffers;
    } else {
      log::Info(log::Module::kIo, "driver: no registered-buffer table ({})",
                std::strerror(-r));
    }
  }
  // The eventfd read stays armed even when MSG_RING wakes work: it is the
  // fallback if a send fails (it costs nothing while nobody writes).
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC);
  if (wake_fd_ < 0) return absl::ErrnoToStatus(errno, "eventfd");
  ArmWake();
  features_.msg_ring_wake = options.msg_ring_wake && ProbeMsgRingWake();
  return absl::OkStatus();
}

bool UringDriver::ProbeMsgRingWake() {
  const int r = SendMsgRing(ring_fd_, kMsgWakeTag);
  if (r != 0) {
    log::Info(log::Module::kIo, "driver: no ringless MSG_RING wake ({})",
              std::strerror(-r));
    return false;
  }
  // Wait for the probe's CQE (with DEFER_TASKRUN it is task work that only
  // an enter runs); the ring holds nothing else yet but the eventfd read.
  for (int i = 0; i < 100; ++i) {
    io_uring_cqe* cqe = nullptr;
    __kernel_timespec ts{.tv_sec = 0, .tv_nsec = 10'000'000};
    const int n =
        io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, &ts, nullptr);
    if (n > 0) submitted_ += static_cast<uint64_t>(n);
    pending_sqes_ = 0;
    if (cqe != nullptr && io_uring_cqe_get_data64(cqe) == kMsgWakeTag) {
      io_uring_cqe_seen(&ring_, cqe);
      return true;
    }
  }
  log::Warn(log::Module::kIo,
            "driver: a MSG_RING wake was accepted but its CQE never came; "
            "waking through the eventfd");
  return false;
}

UringDriver::~UringDriver() {
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
    ++pending_sqes_;
    ++in_kernel_;
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
    log::Error(log::Module::kIo,
               "driver: {} op(s) did not complete after cancellation",
               ops_.size());
  }
  ReleaseBuffers();
}

absl::StatusOr<int> UringDriver::DoRegisterBuffer(char* data, size_t size) {
  for (size_t i = 0; i < buf_slots_.size(); ++i) {
    if (buf_slots_[i]) continue;
    iovec iov{data, size};
    __u64 tag = 0;
    const int r = io_uring_register_buffers_update_tag(
        &ring_, static_cast<unsigned>(i), &iov, &tag, 1);
    if (r < 0) return absl::ErrnoToStatus(-r, "io_uring register buffer");
    buf_slots_[i] = true;
    return static_cast<int>(i);
  }
  if (buf_slots_.empty()) {
    return absl::UnimplementedError("no registered-buffer table");
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "registered-buffer table full (", buf_slots_.size(), " slots)"));
}

void UringDriver::DoUnregisterBuffer(int index) {
  if (index < 0 || static_cast<size_t>(index) >= buf_slots_.size() ||
      !buf_slots_[index]) {
    return;
  }
  iovec iov{nullptr, 0};
  __u64 tag = 0;
  const int r = io_uring_register_buffers_update_tag(
      &ring_, static_cast<unsigned>(index), &iov, &tag, 1);
  if (r < 0) {
    log::Warn(log::Module::kIo, "driver: unregistering buffer slot {}: {}",
              index, std::strerror(-r));
  }
  buf_slots_[index] = false;
}

absl::Status UringDriver::RegisterBufRing(io_uring_buf_ring* br,
                                          uint32_t entries, uint16_t group) {
  io_uring_buf_reg reg;
  std::memset(&reg, 0, sizeof(reg));
  reg.ring_addr = reinterpret_cast<uint64_t>(br);
  reg.ring_entries = entries;
  reg.bgid = group;
  const int r = io_uring_register_buf_ring(&ring_, &reg, 0);
  if (r < 0) return absl::ErrnoToStatus(-r, "io_uring_register_buf_ring");
  return absl::OkStatus();
}

void UringDriver::UnregisterBufRing(uint16_t group) {
  const int r = io_uring_unregister_buf_ring(&ring_, group);
  if (r < 0) {
    log::Warn(log::Module::kIo, "driver: unregistering buffer ring {}: {}",
              group, std::strerror(-r));
  }
}

void UringDriver::ArmWake() {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) return;  // re-armed on the next Poll
  io_uring_prep_read(sqe, wake_fd_, &wake_value_, sizeof(wake_value_), 0);
  io_uring_sqe_set_data64(sqe, kWakeTag);
  ++pending_sqes_;
  ++in_kernel_;
  wake_armed_ = true;
}

void UringDriver::Wake() {
  if (features_.msg_ring_wake) {
    // One outstanding wake is enough: its CQE (or task work) makes the next
    // Park return, and Reap clears the flag before that Park can start.
    if (msg_wake_pending_.exchange(true, std::memory_order_acq_rel)) return;
    if (SendMsgRing(ring_fd_, kMsgWakeTag) == 0) return;
    msg_wake_pending_.store(false, std::memory_order_release);
  }
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

bool UringDriver::PrepAndLink(Handle h, internal::OpSlot& slot) {
  // An op with a deadline needs two adjacent SQEs in one submission (the op
  // with IOSQE_IO_LINK, then its timeout); make room for both first.
  const unsigned need = slot.has_deadline ? 2 : 1;
  // Bound what is in the kernel by the completion queue, so it can never
  // overflow: past that, ops wait in the user-space backlog.
  if (in_kernel_ + need > cq_limit_) return false;
  if (io_uring_sq_space_left(&ring_) < need) {
    const int n = io_uring_submit(&ring_);
    if (n > 0) submitted_ += static_cast<uint64_t>(n);
    pending_sqes_ = 0;
    if (io_uring_sq_space_left(&ring_) < need) return false;
  }
  io_uring_sqe* sqe = io_uring_get_sqe(&ring_);
  slot.vt->prep(sqe, slot);
  if (slot.fixed_index >= 0) {
    sqe->fd = slot.fixed_index;  // the registered slot, not the fd
    sqe->flags |= IOSQE_FIXED_FILE;
  }
  io_uring_sqe_set_data64(sqe, h.Pack());
  ++pending_sqes_;
  ++in_kernel_;
  if (slot.has_deadline) {
    sqe->flags |= IOSQE_IO_LINK;
    // The timespec must stay put until the SQE is consumed: the slot is
    // stable. (A deadline is never set on a kTimeout op, so backend_data is
    // free.)
    auto* ts = reinterpret_cast<__kernel_timespec*>(slot.backend_data);
    *ts = runtime::TimespecUntil<__kernel_timespec>(slot.deadline);
    io_uring_sqe* t = io_uring_get_sqe(&ring_);
    io_uring_prep_link_timeout(t, ts, 0);
    io_uring_sqe_set_data64(t, kLinkTimeoutTag);
    ++pending_sqes_;
    ++in_kernel_;
  }
  return true;
}

void UringDriver::StartOp(Handle h, internal::OpSlot& slot) {
  if (slot.vt->kind == OpInfo::Kind::kTimeout) {
    const int64_t ns = slot.timeout_ns;
    auto* ts = reinterpret_cast<__kernel_timespec*>(slot.backend_data);
    ts->tv_sec = ns / 1'000'000'000;
    ts->tv_nsec = ns % 1'000'000'000;
  }
  if (backlog_.empty() && PrepAndLink(h, slot)) return;
  backlog_.push_back(h);
}

absl::Status UringDriver::SetFixedFile(uint32_t index, int fd) {
  const int r = io_uring_register_files_update(&ring_, index, &fd, 1);
  if (r < 0) return absl::ErrnoToStatus(-r, "io_uring_register_files_update");
  return absl::OkStatus();
}

void UringDriver::CancelOp(Handle h, internal::OpSlot& slot) {
  (void)slot;
  SubmitCancel(h);
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
      // Never reached the kernel: nothing can write into it; finish it now.
      backlog_.pop_front();
      Complete(h, -ECANCELED);
      continue;
    }
    if (!PrepAndLink(h, *slot)) return;
    backlog_.pop_front();
  }
  AdmitWaiting();
}

void UringDriver::SubmitCancel(Handle h) {
  io_uring_sqe* sqe = GetSqe();
  if (sqe == nullptr) return;  // the kernel is saturated; the op completes
  io_uring_prep_cancel64(sqe, h.Pack(), 0);
  io_uring_sqe_set_data64(sqe, kCancelTag);
  ++pending_sqes_;
  ++in_kernel_;
}

unsigned UringDriver::PeekReady(io_uring_cqe** cqes, unsigned want) {
  // The acquire load of the CQ tail (in io_uring_cq_ready) orders the reads
  // of the CQEs before it; the head is written only by this thread.
  const unsigned n = std::min(io_uring_cq_ready(&ring_), want);
  const unsigned head = *ring_.cq.khead;
  const unsigned shift = (ring_.flags & IORING_SETUP_CQE32) != 0 ? 1 : 0;
  for (unsigned i = 0; i < n; ++i) {
    cqes[i] = &ring_.cq.cqes[((head + i) & ring_.cq.ring_mask) << shift];
  }
  return n;
}

void UringDriver::Reap(size_t budget, size_t* reaped) {
  io_uring_cqe* cqes[64];
  while (*reaped < budget) {
    const unsigned want =
        static_cast<unsigned>(std::min<size_t>(64, budget - *reaped));
    const unsigned n = PeekReady(cqes, want);
    if (n == 0) return;
    unsigned more = 0;
    unsigned foreign = 0;  // wake-ups posted by other threads
    for (unsigned i = 0; i < n; ++i) {
      const uint64_t tag = io_uring_cqe_get_data64(cqes[i]);
      // A CQE with F_MORE is not its SQE's last (multishot, SEND_ZC): the
      // op stays in the kernel.
      if (cqes[i]->flags & IORING_CQE_F_MORE) ++more;
      if (tag == kMsgWakeTag) {
        // Cleared on the shard's thread before it can park again: a Wake
        // that finds it set is covered by this CQE (the shard is running).
        msg_wake_pending_.store(false, std::memory_order_release);
        ++foreign;
        continue;
      }
      if (tag == kWakeTag) {
        wake_armed_ = false;
        if (!destroying_) ArmWake();
        continue;
      }
      if (tag == kCancelTag || tag == kLinkTimeoutTag) continue;
      // Stale completions (a recycled slot) are ignored by Complete.
      Complete(Handle::Unpack(tag), cqes[i]->res, cqes[i]->flags);
    }
    io_uring_cq_advance(&ring_, n);
    in_kernel_ -= n - more - foreign;
    *reaped += n;
  }
}

size_t UringDriver::Poll(size_t budget) {
  FlushBacklog();
  if (!wake_armed_) ArmWake();
  // With DEFER_TASKRUN completions are posted only inside io_uring_enter
  // (with COOP_TASKRUN alone, at the next kernel transition). With
  // TASKRUN_FLAG the kernel says when it has some to run; without it and
  // with DEFER_TASKRUN, enter whenever an op is in flight, except right
  // after a Park (whose enter just ran them). An idle tick makes no syscall
  // either way. This is the only enter of a tick besides a submit that
  // finds the SQ full (Reap never enters: PeekReady).
  bool get_events = false;
  if (features_.taskrun_flag) {
    get_events = KernelHasCompletionsToRun();
  } else if (features_.defer_taskrun) {
    get_events = ops_.size() > 0 && !just_parked_;
  }
  just_parked_ = false;
  if (pending_sqes_ > 0 || get_events) {
    // One io_uring_enter per tick: submits the batch and, with
    // DEFER_TASKRUN, runs the deferred completions.
    ++poll_enters_;
    const int n = pending_sqes_ > 0 ? io_uring_submit_and_get_events(&ring_)
                                    : io_uring_get_events(&ring_);
    if (n > 0 && pending_sqes_ > 0) submitted_ += static_cast<uint64_t>(n);
    pending_sqes_ = 0;
  }
  size_t reaped = 0;
  Reap(budget, &reaped);
  // Completions made room: move backlogged ops into SQEs now (submitted
  // with the next enter).
  if (reaped > 0 && !backlog_.empty()) FlushBacklog();
  return reaped;
}

void UringDriver::Park(std::optional<runtime::TimePoint> deadline) {
  FlushBacklog();
  io_uring_cqe* cqe = nullptr;
  __kernel_timespec ts;
  __kernel_timespec* tsp = nullptr;
  if (deadline) {
    ts = runtime::TimespecUntil<__kernel_timespec>(*deadline);
    tsp = &ts;
  }
  const int n = io_uring_submit_and_wait_timeout(&ring_, &cqe, 1, tsp, nullptr);
  if (n > 0) submitted_ += static_cast<uint64_t>(n);
  pending_sqes_ = 0;
  // The completions are reaped by the next Poll, which need not enter again
  // to run deferred ones: this enter just did.
  just_parked_ = true;
}

// ---- Ops ----

}  // namespace veloq::io
