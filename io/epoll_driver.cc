#include "io/epoll_driver.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <thread>

#include "mesh/message.h"
#include "runtime/runtime.h"
#include "runtime/shard.h"
#include "spdlog/spdlog.h"

namespace veloq::io {
namespace {

constexpr uint64_t kWakeTag = ~uint64_t{0};

// backend_data layout for an op: [0] the driver, [1] the packed handle,
// [2] 1 while the op runs on the blocking pool.
}  // namespace

absl::StatusOr<std::unique_ptr<EpollDriver>> EpollDriver::Create() {
  std::unique_ptr<EpollDriver> d(new EpollDriver());
  d->epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (d->epoll_fd_ < 0) return absl::ErrnoToStatus(errno, "epoll_create1");
  d->wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (d->wake_fd_ < 0) return absl::ErrnoToStatus(errno, "eventfd");
  struct epoll_event ev = {};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  if (::epoll_ctl(d->epoll_fd_, EPOLL_CTL_ADD, d->wake_fd_, &ev) != 0) {
    return absl::ErrnoToStatus(errno, "epoll_ctl(eventfd)");
  }
  d->events_ = new epoll_event[kMaxEvents];
  d->MakeCurrent();
  return d;
}

EpollDriver::~EpollDriver() {
  Shutdown();
  delete[] events_;
  if (wake_fd_ >= 0) ::close(wake_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

std::string EpollDriver::Describe() const {
  return "epoll (completion emulated on readiness; file I/O on the blocking "
         "pool)";
}

void EpollDriver::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(wake_fd_, &one, sizeof(one));
}

void EpollDriver::OnTimer(runtime::internal::TimerEntry* e) {
  auto* slot_data = static_cast<uint64_t*>(e->context);
  EpollDriver* d = reinterpret_cast<EpollDriver*>(slot_data[0]);
  const Handle h = Handle::Unpack(slot_data[1]);
  internal::OpSlot* slot = d->ops_.Get(h);
  if (slot == nullptr) return;
  if (slot->vt->kind == OpInfo::Kind::kTimeout) {
    d->Complete(h, -ETIME);
    return;
  }
  // A deadline: stop waiting for readiness; Complete turns -ECANCELED into
  // -ETIMEDOUT because the deadline has passed.
  d->Unwatch(h, *slot);
  d->Complete(h, -ECANCELED);
}

void EpollDriver::StartOp(Handle h, internal::OpSlot& slot) {
  slot.backend_data[0] = reinterpret_cast<uint64_t>(this);
  slot.backend_data[1] = h.Pack();
  slot.timer.context = slot.backend_data;
  slot.timer.fire = &EpollDriver::OnTimer;
  const internal::OpVTable& vt = *slot.vt;
  if (vt.kind == OpInfo::Kind::kTimeout) {
    slot.timer.deadline =
        std::chrono::steady_clock::now() + runtime::Duration(slot.timeout_ns);
    timers_.Insert(&slot.timer);
    return;
  }
  if (vt.blocking) {
    RunOnBlockingPool(h, slot);  // file system calls
    return;
  }
  if (vt.wait_events == 0) {
    Complete(h, vt.run(slot));
    return;
  }
  if (slot.fd < 0) {
    Complete(h, -EBADF);
    return;
  }
  if (vt.try_first && !HasWaiters(slot.fd, vt.wait_events == EPOLLOUT)) {
    // Sockets are often ready: try before paying for an epoll round trip
    // (only with nobody queued ahead, to keep per-fd order).
    const int32_t res = vt.run(slot);
    if (res != -EAGAIN && res != -EWOULDBLOCK) {
      Complete(h, res);
      return;
    }
  }
  int error = 0;
  if (!Watch(slot.fd, h, vt.wait_events == EPOLLOUT, &error)) {
    if (error == EPERM) {
      RunOnBlockingPool(h, slot);  // a regular file: epoll cannot watch it
    } else {
      Complete(h, -error);
    }
    return;
  }
  if (slot.has_deadline) {
    slot.timer.deadline = slot.deadline;
    timers_.Insert(&slot.timer);
  }
}

bool EpollDriver::HasWaiters(int fd, bool write) const {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return false;
  return !(write ? it->second.writers : it->second.readers).empty();
}

bool EpollDriver::Watch(int fd, Handle h, bool write, int* error) {
  auto it = fds_.find(fd);
  const bool fresh = it == fds_.end();
  FdWaiters& w = fresh ? fds_[fd] : it->second;
  (write ? w.writers : w.readers).push_back(h);
  const uint32_t want = (w.readers.empty() ? 0u : uint32_t{EPOLLIN}) |
                        (w.writers.empty() ? 0u : uint32_t{EPOLLOUT});
  if (want == w.events) return true;
  struct epoll_event ev = {};
  ev.events = want;
  ev.data.u64 = static_cast<uint32_t>(fd);
  const int op = w.events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  if (::epoll_ctl(epoll_fd_, op, fd, &ev) != 0) {
    *error = errno;
    (write ? w.writers : w.readers).pop_back();
    if (w.readers.empty() && w.writers.empty()) fds_.erase(fd);
    return false;
  }
  w.events = want;
  return true;
}

void EpollDriver::UpdateInterest(int fd, FdWaiters& w) {
  const uint32_t want = (w.readers.empty() ? 0u : uint32_t{EPOLLIN}) |
                        (w.writers.empty() ? 0u : uint32_t{EPOLLOUT});
  if (want == w.events) return;
  if (want == 0) {
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
    fds_.erase(fd);
    return;
  }
  struct epoll_event ev = {};
  ev.events = want;
  ev.data.u64 = static_cast<uint32_t>(fd);
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_MOD, fd, &ev);
  w.events = want;
}

void EpollDriver::Unwatch(Handle h, const internal::OpSlot& slot) {
  if (slot.timer.queued()) {
    timers_.Remove(const_cast<runtime::internal::TimerEntry*>(&slot.timer));
  }
  if (slot.vt->wait_events == 0) return;
  auto it = fds_.find(slot.fd);
  if (it == fds_.end()) return;
  auto& q = slot.vt->wait_events == EPOLLOUT ? it->second.writers
                                             : it->second.readers;
  auto pos = std::find(q.begin(), q.end(), h);
  if (pos == q.end()) return;
  q.erase(pos);
  UpdateInterest(slot.fd, it->second);
}

bool EpollDriver::TryIo(Handle h, internal::OpSlot& slot) {
  const int32_t res = slot.vt->run(slot);
  if (res == -EAGAIN || res == -EWOULDBLOCK) return false;
  if (slot.timer.queued()) timers_.Remove(&slot.timer);
  Complete(h, res);
  return true;
}

void EpollDriver::OnReady(int fd, uint32_t events) {
  auto it = fds_.find(fd);
  if (it == fds_.end()) return;
  FdWaiters& w = it->second;
  const bool error = (events & (EPOLLERR | EPOLLHUP)) != 0;
  // Serve the oldest waiter of each ready direction.
  if ((events & EPOLLIN || error) && !w.readers.empty()) {
    const Handle h = w.readers.front();
    internal::OpSlot* slot = ops_.Get(h);
    if (slot == nullptr || TryIo(h, *slot)) w.readers.pop_front();
  }
  if ((events & EPOLLOUT || error) && !w.writers.empty()) {
    const Handle h = w.writers.front();
    internal::OpSlot* slot = ops_.Get(h);
    if (slot == nullptr || TryIo(h, *slot)) w.writers.pop_front();
  }
  UpdateInterest(fd, w);
}

void EpollDriver::RunOnBlockingPool(Handle h, internal::OpSlot& slot) {
  slot.backend_data[2] = 1;
  runtime::Shard* shard = runtime::Shard::Current();
  runtime::Runtime* rt = &shard->runtime();
  const uint32_t home = shard->id();
  // The slot is stable and the shard does not touch the fields `run` reads
  // until the op completes, which happens only after this job posts back.
  internal::OpSlot* op = &slot;
  pool_ops_.fetch_add(1, std::memory_order_relaxed);
  rt->blocking_pool().Submit(mesh::Message([=, this] {
    const int32_t res = op->vt->run(*op);
    rt->Post(home, mesh::Message([this, h, res] { Complete(h, res); }));
    pool_ops_.fetch_sub(1, std::memory_order_release);
  }));
}

void EpollDriver::CancelOp(Handle h, internal::OpSlot& slot) {
  if (slot.backend_data[2] != 0) return;  // on the pool: it will finish
  Unwatch(h, slot);
  Complete(h, -ECANCELED);
}

size_t EpollDriver::Dispatch(int n) {
  size_t done = 0;
  for (int i = 0; i < n; ++i) {
    if (events_[i].data.u64 == kWakeTag) {
      uint64_t v;
      [[maybe_unused]] ssize_t r = ::read(wake_fd_, &v, sizeof(v));
      continue;
    }
    const uint64_t before = completed();
    OnReady(static_cast<int>(events_[i].data.u64), events_[i].events);
    done += completed() - before;
  }
  return done;
}

size_t EpollDriver::Poll(size_t budget) {
  const int want = static_cast<int>(std::min<size_t>(budget, kMaxEvents));
  size_t done = 0;
  if (!fds_.empty()) {
    const int n = ::epoll_wait(epoll_fd_, events_, want, 0);
    if (n > 0) done += Dispatch(n);
  }
  if (!timers_.empty()) {
    done += timers_.FireExpired(std::chrono::steady_clock::now(), budget);
  }
  return done;
}

void EpollDriver::Park(std::optional<runtime::TimePoint> deadline) {
  if (!timers_.empty() && (!deadline || timers_.NextDeadline() < *deadline)) {
    deadline = timers_.NextDeadline();
  }
  struct timespec ts;
  struct timespec* tsp = nullptr;
  if (deadline) {
    ts = runtime::TimespecUntil<struct timespec>(*deadline);
    tsp = &ts;
  }
  const int n = ::epoll_pwait2(epoll_fd_, events_, kMaxEvents, tsp, nullptr);
  if (n > 0) Dispatch(n);
  if (!timers_.empty()) {
    timers_.FireExpired(std::chrono::steady_clock::now(), ~size_t{0});
  }
}

void EpollDriver::Shutdown() {
  // Finish every waiting op (frees the orphans), then wait for the ones on
  // the blocking pool: they write into their slots' buffers.
  std::vector<std::pair<int, FdWaiters>> fds(fds_.begin(), fds_.end());
  for (auto& [fd, w] : fds) {
    for (Handle h : w.readers) Complete(h, -ECANCELED);
    for (Handle h : w.writers) Complete(h, -ECANCELED);
    ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  }
  fds_.clear();
  // Timeout ops and deadlines left: fire them all now.
  timers_.FireExpired(runtime::TimePoint::max(), ~size_t{0});
  for (int i = 0; i < 10000 && pool_ops_.load(std::memory_order_acquire) > 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ReleaseBuffers();
}

}  // namespace veloq::io
