#include "io/driver.h"

#include <fcntl.h>
#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "io/epoll_driver.h"
#include "io/uring_driver.h"
#include "runtime/log.h"
#include "runtime/spawn.h"

namespace veloq::io {
namespace {

thread_local Driver* tls_driver = nullptr;

Backend FromEnvironment(Backend b) {
  if (b != Backend::kAuto) return b;
  const char* env = std::getenv("VELOQ_DRIVER");
  if (env == nullptr) return b;
  if (std::strcmp(env, "epoll") == 0) return Backend::kEpoll;
  if (std::strcmp(env, "uring") == 0) return Backend::kUring;
  log::Warn(log::Module::kIo,
            "driver: ignoring VELOQ_DRIVER={} (want uring or epoll)", env);
  return b;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Driver>> Driver::Create(
    const DriverOptions& options) {
  const Backend backend = FromEnvironment(options.backend);
  std::unique_ptr<Driver> d;
  if (backend != Backend::kEpoll) {
    absl::StatusOr<std::unique_ptr<UringDriver>> u =
        UringDriver::Create(options);
    if (u.ok()) {
      d = *std::move(u);
    } else if (backend == Backend::kUring) {
      return u.status();
    } else {
      log::Warn(log::Module::kIo,
                "driver: io_uring unavailable ({}); using epoll",
                u.status().ToString());
    }
  }
  if (d == nullptr) {
    absl::StatusOr<std::unique_ptr<EpollDriver>> e = EpollDriver::Create();
    if (!e.ok()) return e.status();
    d = *std::move(e);
  }
  d->SetRegisteredFileSlots(options.registered_files);
  d->options_ = options;
  d->MakeCurrent();
  d->RegisterMetrics();
  log::Info(log::Module::kIo, "driver: {}", d->Describe());
  return d;
}

Driver* Driver::Current() { return tls_driver; }

Driver& Driver::CurrentOrDie() {
  if (tls_driver == nullptr) {
    internal::Die(
        "io: no driver on this thread (install io::DriverParkers() in the "
        "Runtime)");
  }
  return *tls_driver;
}

runtime::Runtime::ParkerFactory DriverParkers(DriverOptions options) {
  return
      [options](uint32_t) -> absl::StatusOr<std::unique_ptr<runtime::Parker>> {
        absl::StatusOr<std::unique_ptr<Driver>> d = Driver::Create(options);
        if (!d.ok()) return d.status();
        return std::unique_ptr<runtime::Parker>(*std::move(d));
      };
}

Driver::Driver() = default;

Driver::~Driver() {
  if (tls_driver == this) tls_driver = nullptr;
}

void Driver::MakeCurrent() { tls_driver = this; }

namespace {

const char* OpKindName(OpInfo::Kind k) {
  using K = OpInfo::Kind;
  switch (k) {
    case K::kNop:
      return "nop";
    case K::kRead:
      return "read";
    case K::kWrite:
      return "write";
    case K::kTimeout:
      return "timeout";
    case K::kReadSelect:
      return "read_select";
    case K::kAccept:
      return "accept";
    case K::kConnect:
      return "connect";
    case K::kRecv:
      return "recv";
    case K::kSend:
      return "send";
    case K::kSendMsg:
      return "sendmsg";
    case K::kRecvMsg:
      return "recvmsg";
    case K::kShutdown:
      return "shutdown";
    case K::kClose:
      return "close";
    case K::kOpenAt:
      return "openat";
    case K::kFsync:
      return "fsync";
    case K::kFallocate:
      return "fallocate";
    case K::kStatx:
      return "statx";
    case K::kRenameAt:
      return "renameat";
    case K::kUnlinkAt:
      return "unlinkat";
    case K::kMkdirAt:
      return "mkdirat";
    case K::kReadv:
      return "readv";
    case K::kWritev:
      return "writev";
    case K::kSendZc:
      return "send_zc";
    case K::kAcceptMulti:
      return "accept_multishot";
    case K::kRecvMulti:
      return "recv_multishot";
  }
  return "unknown";
}

}  // namespace

void Driver::RegisterMetrics() {
  metrics::Registry& r = metrics::Registry::Current();
  using metrics::Emitter;
  using metrics::Type;
  // One series per op kind that has been used (unused kinds stay out of
  // the scrape).
  auto per_kind = [this](const std::array<uint64_t, kKinds>& counts) {
    return [this, &counts](Emitter& e) {
      for (size_t k = 0; k < kKinds; ++k) {
        if (started_by_kind_[k] == 0) continue;
        e.Emit({{"op", OpKindName(static_cast<OpInfo::Kind>(k))}}, counts[k]);
      }
    };
  };
  metrics_.push_back(r.AddCallback("veloq_io_ops_started_total", Type::kCounter,
                                   "I/O ops started, by op",
                                   per_kind(started_by_kind_)));
  metrics_.push_back(r.AddCallback("veloq_io_ops_completed_total",
                                   Type::kCounter, "I/O ops completed, by op",
                                   per_kind(completed_by_kind_)));
  metrics_.push_back(
      r.AddCallback("veloq_io_ops_failed_total", Type::kCounter,
                    "I/O ops completed with an error (negative result), by op",
                    per_kind(failed_by_kind_)));
  metrics_.push_back(r.AddCallback(
      "veloq_io_ops_in_flight", Type::kGauge, "I/O ops started, not completed",
      [this](Emitter& e) { e.Emit(uint64_t{ops_.size()}); }));
  metrics_.push_back(r.AddCallback(
      "veloq_io_backlog_depth", Type::kGauge,
      "I/O ops waiting in user space for room in the kernel's queues",
      [this](Emitter& e) { e.Emit(uint64_t{backlog()}); }));
  auto pool = [this](auto field) {
    return [this, field](Emitter& e) {
      if (buffers_.has_value()) e.Emit(field(buffers_->stats()));
    };
  };
  metrics_.push_back(
      r.AddCallback("veloq_buffers_bytes_mapped", Type::kGauge,
                    "Bytes of buffer arenas the shard's pool has mapped",
                    pool([](const BufPoolStats& s) {
                      return uint64_t{s.usage.arena_bytes};
                    })));
  metrics_.push_back(r.AddCallback(
      "veloq_buffers_bytes_out", Type::kGauge,
      "Capacity of the buffers handed out and not yet returned",
      pool([](const BufPoolStats& s) { return uint64_t{s.usage.bytes_out}; })));
  metrics_.push_back(r.AddCallback("veloq_buffers_out", Type::kGauge,
                                   "Buffers handed out",
                                   pool([](const BufPoolStats& s) {
                                     return uint64_t{s.usage.blocks_out};
                                   })));
  metrics_.push_back(
      r.AddCallback("veloq_buffers_exhausted_total", Type::kCounter,
                    "Buffer requests that found nothing free",
                    pool([](const BufPoolStats& s) { return s.exhausted; })));
}

BufPool& Driver::buffers() {
  if (!buffers_.has_value()) {
    absl::StatusOr<BufPool> p =
        BufPool::Hybrid(options_.buffers, this, options_.buffer_policy);
    if (!p.ok()) {
      internal::Die(
          absl::StrCat("driver: cannot create the shard's buffer pool: ",
                       p.status().ToString()));
    }
    buffers_.emplace(*std::move(p));
  }
  return *buffers_;
}

absl::StatusOr<int> Driver::RegisterBuffer(char* data, size_t size) {
  return DoRegisterBuffer(data, size);
}

void Driver::UnregisterBuffer(int index) { DoUnregisterBuffer(index); }

void Driver::Complete(Handle h, int32_t res, uint32_t flags) {
  internal::OpSlot* slot = ops_.Get(h);
  if (slot == nullptr || slot->done) return;  // stale or already reported
  if (slot->multishot) {
    CompleteShot(h, *slot, res, flags);
    return;
  }
  if (slot->vt->kind == OpInfo::Kind::kSendZc) {
    // SEND_ZC: the result comes with F_MORE, and the buffer is the
    // kernel's until the notification (F_NOTIF) that follows.
    if (flags & IORING_CQE_F_MORE) {
      slot->zc_res = res;
      return;
    }
    if (flags & IORING_CQE_F_NOTIF) {
      res = slot->zc_res;
      flags = 0;
    }
  }
  ++completed_;
  CountCompletion(slot->vt->kind, res);
  // A deadline cancels the op: report that as a timeout, unless the task
  // itself asked for the cancellation.
  if (res == -ECANCELED && slot->has_deadline && !slot->user_cancelled &&
      std::chrono::steady_clock::now() >= slot->deadline) {
    res = -ETIMEDOUT;
  }
  slot->res = res;
  slot->flags = flags;
  slot->done = true;
  if (slot->orphaned) {
    // A kernel-selected buffer nobody will take: back into its ring.
    if (slot->ring != nullptr && (flags & IORING_CQE_F_BUFFER) != 0) {
      slot->ring->Lend(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                       0);
    }
    ops_.Remove(h);  // nothing refers to the buffer any more
  } else {
    runtime::internal::ScheduleLocal(slot->waiter);
  }
}

void Driver::CompleteShot(Handle h, internal::OpSlot& slot, int32_t res,
                          uint32_t flags) {
  const bool last = (flags & IORING_CQE_F_MORE) == 0;
  if (last) {
    ++completed_;
    CountCompletion(slot.vt->kind, res);
  }
  if (slot.orphaned) {
    if (slot.ring != nullptr && (flags & IORING_CQE_F_BUFFER) != 0) {
      slot.ring->Lend(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                      0);  // dropped at once: back into the ring
    }
    if (last) ops_.Remove(h);
    return;
  }
  slot.shots.emplace_back(res, flags);
  if (last) slot.done = true;
  if (slot.shot_waiting) {
    slot.shot_waiting = false;
    runtime::internal::ScheduleLocal(slot.waiter);
  }
}

Driver::Multishot Driver::AcceptMultishot(int fd) {
  Handle h;
  internal::OpSlot& slot = *ops_.Emplace(&h);
  slot.fd = fd;
  slot.op_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  slot.vt = &internal::OpsFor(OpInfo::Kind::kAcceptMulti);
  slot.multishot = true;
  ++started_;
  StartOp(h, slot);
  return Multishot(this, h, nullptr);
}

Driver::Multishot Driver::RecvMultishot(int fd, BufRing& ring) {
  Handle h;
  internal::OpSlot& slot = *ops_.Emplace(&h);
  slot.fd = fd;
  slot.ring = &ring;
  slot.vt = &internal::OpsFor(OpInfo::Kind::kRecvMulti);
  slot.multishot = true;
  ++started_;
  StartOp(h, slot);
  return Multishot(this, h, &ring);
}

void Driver::Multishot::Stop() {
  if (driver_ == nullptr) return;
  Driver* d = std::exchange(driver_, nullptr);
  internal::OpSlot* slot = d->ops_.Get(handle_);
  if (slot == nullptr) return;
  // Results nobody will take: their ring buffers go back to the ring.
  for (size_t i = slot->shot_head; i < slot->shots.size(); ++i) {
    const auto [res, flags] = slot->shots[i];
    if (ring_ != nullptr && (flags & IORING_CQE_F_BUFFER) != 0) {
      ring_->Lend(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT), 0);
    }
  }
  slot->shots.clear();
  slot->shot_head = 0;
  if (slot->done) {
    d->ops_.Remove(handle_);
    return;
  }
  slot->orphaned = true;
  slot->waiter = {};
  slot->shot_waiting = false;
  d->CancelOp(handle_, *slot);
}

bool Driver::Multishot::NextAwaiter::await_ready() {
  if (m_->driver_ == nullptr) return true;
  const internal::OpSlot* slot = m_->driver_->ops_.Get(m_->handle_);
  return slot == nullptr || slot->has_shots() || slot->done;
}

bool Driver::Multishot::NextAwaiter::await_suspend(std::coroutine_handle<> h) {
  if (!Arm()) {
    cancelled_ = true;
    return false;
  }
  internal::OpSlot* slot = m_->driver_->ops_.Get(m_->handle_);
  slot->waiter = runtime::Waiter{h, runtime::internal::CurrentTask()};
  slot->shot_waiting = true;
  return true;
}

void Driver::Multishot::NextAwaiter::Cancelled() {
  internal::OpSlot* slot = m_->driver_->ops_.Get(m_->handle_);
  if (slot == nullptr || !slot->shot_waiting) return;
  slot->shot_waiting = false;
  cancelled_ = true;
  runtime::internal::ScheduleLocal(slot->waiter);
}

Driver::Multishot::NextAwaiter::~NextAwaiter() {
  Disarm();
  if (m_->driver_ == nullptr) return;
  if (internal::OpSlot* slot = m_->driver_->ops_.Get(m_->handle_)) {
    slot->shot_waiting = false;
  }
}

std::optional<Driver::Shot> Driver::Multishot::NextAwaiter::await_resume() {
  Disarm();
  if (cancelled_ || m_->driver_ == nullptr) return std::nullopt;
  Driver* d = m_->driver_;
  internal::OpSlot* slot = d->ops_.Get(m_->handle_);
  if (slot == nullptr) {
    m_->driver_ = nullptr;
    return std::nullopt;
  }
  if (!slot->has_shots()) {
    // Ended, and every result taken.
    d->ops_.Remove(m_->handle_);
    m_->driver_ = nullptr;
    return std::nullopt;
  }
  const auto [res, flags] = slot->shots[slot->shot_head++];
  if (slot->shot_head == slot->shots.size()) {
    slot->shots.clear();  // keeps its capacity for the next ones
    slot->shot_head = 0;
  }
  FixedBuf buf;
  if (m_->ring_ != nullptr && (flags & IORING_CQE_F_BUFFER) != 0) {
    buf =
        m_->ring_->Lend(static_cast<uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT),
                        res > 0 ? static_cast<size_t>(res) : 0);
  }
  return Shot(Result(res), flags, std::move(buf));
}

absl::StatusOr<Driver::RegisteredFile> Driver::RegisterFile(int fd) {
  if (fd < 0) return absl::InvalidArgumentError("RegisterFile: negative fd");
  for (size_t i = 0; i < fixed_files_.size(); ++i) {
    if (fixed_files_[i] != -1) continue;
    absl::Status s = SetFixedFile(static_cast<uint32_t>(i), fd);
    if (!s.ok()) return s;
    fixed_files_[i] = fd;
    return RegisteredFile{static_cast<int>(i), fd};
  }
  return absl::ResourceExhaustedError(absl::StrCat(
      "registered-file table full (", fixed_files_.size(), " slots)"));
}

absl::Status Driver::UnregisterFile(RegisteredFile f) {
  if (f.index < 0 || static_cast<size_t>(f.index) >= fixed_files_.size() ||
      fixed_files_[f.index] != f.fd) {
    return absl::NotFoundError("UnregisterFile: not registered");
  }
  absl::Status s = SetFixedFile(static_cast<uint32_t>(f.index), -1);
  if (!s.ok()) return s;
  fixed_files_[f.index] = -1;
  return absl::OkStatus();
}

void Driver::AdmitWaiting() {
  while (!waiting_.empty() && CanAdmit()) {
    Op* op = waiting_.front();
    waiting_.pop_front();
    op->waiting_ = false;
    op->Start();
  }
}

void Driver::Op::Start() {
  Driver& d = *driver_;
  internal::OpSlot& slot = *d.ops_.Emplace(&handle_);
  started_ = true;
  slot.fd = args_.fd;
  slot.offset = args_.offset;
  slot.buf = std::move(args_.buf);  // the op owns it until it completes
  slot.begin = args_.begin;
  slot.length = args_.length;
  slot.timeout_ns = args_.timeout_ns;
  slot.op_flags = args_.op_flags;
  slot.mode = args_.mode;
  slot.len2 = args_.len2;
  slot.extra = std::move(args_.extra);
  if (args_.deadline_ns >= 0 && kind_ != Kind::kTimeout) {
    slot.has_deadline = true;
    slot.deadline =
        std::chrono::steady_clock::now() + runtime::Duration(args_.deadline_ns);
  }
  slot.vt = &internal::OpsFor(kind_);
  slot.fixed_index = args_.fixed_index;
  slot.waiter = waiter_;
  if (slot.buf.RegisteredWith(&d)) slot.buf_index = slot.buf.reg_index();
  if (BufRing* ring = args_.ring; ring != nullptr) {
    if (ring->in_kernel()) {
      slot.ring = ring;  // the kernel picks the buffer when data arrives
      slot.length = ring->buffer_size();
    } else {
      // User-space ring: lend a buffer now and run a plain read into it.
      slot.buf = ring->LendAny();
      if (!slot.buf.valid()) {
        ++d.started_;
        d.Complete(handle_, -ENOBUFS);
        return;
      }
      slot.begin = 0;
      slot.length = slot.buf.capacity();
      slot.vt = &internal::OpsFor(Kind::kRead);
      if (slot.buf.RegisteredWith(&d)) slot.buf_index = slot.buf.reg_index();
    }
  }
  ++d.started_by_kind_[static_cast<size_t>(slot.vt->kind)];
  if (d.faults_ != nullptr && d.InjectFault(handle_, slot)) return;
  ++d.started_;
  d.StartOp(handle_, slot);
}

bool Driver::InjectFault(Handle h, internal::OpSlot& slot) {
  const OpInfo info{slot.vt->kind, slot.fd,  slot.offset,
                    slot.length,   started_, slot.buf_index >= 0};
  const Fault f = faults_->OnOp(info);
  switch (f.action) {
    case Fault::Action::kNone:
      return false;
    case Fault::Action::kShort:
      slot.length = std::min(slot.length, f.max_length);
      return false;
    case Fault::Action::kFail:
      ++started_;
      Complete(h, -f.error);
      return true;
    case Fault::Action::kDelay:
      // Held on the shard's timer queue; the backend sees it when it fires.
      slot.delayed = true;
      slot.backend_data[0] = reinterpret_cast<uint64_t>(this);
      slot.backend_data[1] = h.Pack();
      slot.timer.deadline = std::chrono::steady_clock::now() + f.delay;
      slot.timer.context = slot.backend_data;
      slot.timer.fire = &Driver::OnDelayDone;
      runtime::internal::InsertTimer(&slot.timer);
      return true;
  }
  return false;
}

void Driver::OnDelayDone(runtime::internal::TimerEntry* e) {
  auto* data = static_cast<uint64_t*>(e->context);
  Driver* d = reinterpret_cast<Driver*>(data[0]);
  const Handle h = Handle::Unpack(data[1]);
  internal::OpSlot* slot = d->ops_.Get(h);
  if (slot == nullptr || slot->done) return;
  slot->delayed = false;
  ++d->started_;
  d->StartOp(h, *slot);
}

void Driver::CancelAnywhere(Handle h, internal::OpSlot& slot) {
  if (slot.delayed) {
    runtime::internal::RemoveTimer(&slot.timer);
    slot.delayed = false;
    Complete(h, -ECANCELED);
    return;
  }
  CancelOp(h, slot);
}

bool Driver::Op::await_suspend(std::coroutine_handle<> h) {
  if (!Arm()) {
    cancelled_early_ = true;
    return false;
  }
  waiter_ = runtime::Waiter{h, runtime::internal::CurrentTask()};
  Driver& d = *driver_;
  if (!d.waiting_.empty() || !d.CanAdmit()) {
    waiting_ = true;  // backpressure: no slot until the backend has room
    d.waiting_.push_back(this);
    return true;
  }
  Start();
  return true;
}

namespace {

std::unique_ptr<OpExtra> NewExtra() { return std::make_unique<OpExtra>(); }

}  // namespace

Driver::XOp Driver::Accept(int fd) {
  OpArgs a;
  a.fd = fd;
  a.op_flags = SOCK_NONBLOCK | SOCK_CLOEXEC;
  a.extra = NewExtra();
  a.extra->addrlen = sizeof(sockaddr_storage);
  return XOp(this, Op::Kind::kAccept, std::move(a));
}

Driver::XOp Driver::Connect(int fd, const sockaddr* addr, socklen_t len) {
  OpArgs a;
  a.fd = fd;
  a.extra = NewExtra();
  std::memcpy(&a.extra->addr, addr,
              std::min<size_t>(len, sizeof(sockaddr_storage)));
  a.extra->addrlen = len;
  return XOp(this, Op::Kind::kConnect, std::move(a));
}

Driver::XOp Driver::SendTo(int fd, BufSlice buf, const sockaddr* addr,
                           socklen_t len) {
  OpArgs a(fd, 0, std::move(buf));
  a.op_flags = MSG_NOSIGNAL;
  a.extra = NewExtra();
  if (addr != nullptr) {
    std::memcpy(&a.extra->addr, addr,
                std::min<size_t>(len, sizeof(sockaddr_storage)));
    a.extra->addrlen = len;
  }
  return XOp(this, Op::Kind::kSendMsg, std::move(a));
}

Driver::XOp Driver::RecvFrom(int fd, BufSlice buf) {
  OpArgs a(fd, 0, std::move(buf));
  a.extra = NewExtra();
  a.extra->addrlen = sizeof(sockaddr_storage);
  return XOp(this, Op::Kind::kRecvMsg, std::move(a));
}

Driver::XOp Driver::OpenAt(std::string path, int flags, mode_t mode) {
  OpArgs a;
  a.op_flags = static_cast<uint32_t>(flags | O_CLOEXEC);
  a.mode = mode;
  a.extra = NewExtra();
  a.extra->path = std::move(path);
  return XOp(this, Op::Kind::kOpenAt, std::move(a));
}

Driver::XOp Driver::Statx(int fd, std::string path) {
  OpArgs a;
  a.fd = fd;
  a.extra = NewExtra();
  a.extra->path = std::move(path);
  a.op_flags = a.extra->path.empty() ? AT_EMPTY_PATH : 0;
  a.mode = STATX_BASIC_STATS;
  return XOp(this, Op::Kind::kStatx, std::move(a));
}

Driver::XOp Driver::RenameAt(std::string from, std::string to) {
  OpArgs a;
  a.extra = NewExtra();
  a.extra->path = std::move(from);
  a.extra->path2 = std::move(to);
  return XOp(this, Op::Kind::kRenameAt, std::move(a));
}

Driver::XOp Driver::UnlinkAt(std::string path, int flags) {
  OpArgs a;
  a.op_flags = static_cast<uint32_t>(flags);
  a.extra = NewExtra();
  a.extra->path = std::move(path);
  return XOp(this, Op::Kind::kUnlinkAt, std::move(a));
}

Driver::XOp Driver::MkdirAt(std::string path, mode_t mode) {
  OpArgs a;
  a.mode = mode;
  a.extra = NewExtra();
  a.extra->path = std::move(path);
  return XOp(this, Op::Kind::kMkdirAt, std::move(a));
}

namespace {

OpArgs VectorArgs(int fd, std::vector<FixedBuf> bufs, uint64_t offset,
                  bool write) {
  OpArgs a;
  a.fd = fd;
  a.offset = offset;
  a.extra = NewExtra();
  a.extra->bufs = std::move(bufs);
  for (FixedBuf& b : a.extra->bufs) {
    a.extra->iovs.push_back(iovec{b.data(), write ? b.size() : b.capacity()});
    a.length += a.extra->iovs.back().iov_len;
  }
  return a;
}

}  // namespace

Driver::XOp Driver::Readv(int fd, std::vector<FixedBuf> bufs, uint64_t offset) {
  return XOp(this, Op::Kind::kReadv,
             VectorArgs(fd, std::move(bufs), offset, false));
}

Driver::XOp Driver::Writev(int fd, std::vector<FixedBuf> bufs,
                           uint64_t offset) {
  return XOp(this, Op::Kind::kWritev,
             VectorArgs(fd, std::move(bufs), offset, true));
}

Result Driver::Op::await_resume() {
  Disarm();
  if (cancelled_early_) return Result(-ECANCELED);
  internal::OpSlot& slot = *driver_->ops_.Get(handle_);
  const Result r(slot.res);
  if (slot.ring != nullptr) {
    if ((slot.flags & IORING_CQE_F_BUFFER) != 0) {
      buffer_ = slot.ring->Lend(
          static_cast<uint16_t>(slot.flags >> IORING_CQE_BUFFER_SHIFT),
          r.ok() ? static_cast<size_t>(r.value()) : 0);
    }
  } else if (args_.ring != nullptr) {
    if (r.ok()) {
      buffer_ = std::move(slot.buf);
      buffer_.set_size(static_cast<size_t>(r.value()));
    }
  } else {
    buffer_ = std::move(slot.buf);
    if ((kind_ == Kind::kRead || kind_ == Kind::kRecv) && r.ok()) {
      buffer_.set_size(slot.begin + static_cast<size_t>(r.value()));
    }
  }
  extra_ = std::move(slot.extra);
  if (kind_ == Kind::kRecvMsg && r.ok()) {
    buffer_.set_size(slot.begin + static_cast<size_t>(r.value()));
    extra_->addrlen = extra_->msg.msg_namelen;
  }
  if (kind_ == Kind::kReadv && r.ok()) {
    // Spread the bytes over the buffers in order.
    size_t left = static_cast<size_t>(r.value());
    for (FixedBuf& b : extra_->bufs) {
      const size_t n = std::min(left, b.capacity());
      b.set_size(n);
      left -= n;
    }
  }
  driver_->ops_.Remove(handle_);
  started_ = false;
  return r;
}

void Driver::Op::Cancelled() {
  Driver& d = *driver_;
  if (waiting_) {
    // Never started: finish it here with -ECANCELED.
    waiting_ = false;
    std::erase(d.waiting_, this);
    cancelled_early_ = true;
    runtime::internal::ScheduleLocal(waiter_);
    return;
  }
  if (!started_) return;
  if (internal::OpSlot* slot = d.ops_.Get(handle_)) {
    if (slot->done) return;
    slot->user_cancelled = true;
    d.CancelAnywhere(handle_, *slot);
  }
}

Driver::Op::~Op() {
  Driver& d = *driver_;
  if (waiting_) {
    std::erase(d.waiting_, this);
    return;
  }
  if (!started_) return;
  internal::OpSlot* slot = d.ops_.Get(handle_);
  if (slot == nullptr) return;
  if (slot->done) {
    d.ops_.Remove(handle_);
    return;
  }
  // The frame is going away with the op in flight (shutdown): orphan it. The
  // slot keeps the buffer until the backend reports the op complete; cancel
  // so that happens soon.
  slot->orphaned = true;
  slot->waiter = {};
  d.CancelAnywhere(handle_, *slot);
}

}  // namespace veloq::io
