#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <array>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "io/buf_ring.h"
#include "io/buffer/buf_pool.h"
#include "io/buffer/fixed_buf.h"
#include "io/result.h"
#include "io/stable_slab.h"
#include "runtime/cancellation.h"
#include "runtime/clock.h"
#include "runtime/internal/task_header.h"
#include "runtime/internal/timer_queue.h"
#include "runtime/metrics.h"
#include "runtime/parker.h"
#include "runtime/runtime.h"

struct io_uring_sqe;
struct io_uring_buf_ring;

namespace veloq::io {

enum class Backend {
  kAuto,   // io_uring, or epoll if io_uring cannot be set up
  kUring,  // io_uring only (error if unavailable)
  kEpoll,  // the portable readiness-based fallback
};

struct DriverOptions {
  // kAuto also honours VELOQ_DRIVER=uring|epoll in the environment.
  Backend backend = Backend::kAuto;
  // io_uring: submission queue entries (the completion queue is twice that).
  uint32_t entries = 256;
  // io_uring: ops waiting for a free SQE, held in user space; submitters
  // beyond this suspend until the backlog drains (backpressure; nothing is
  // dropped).
  size_t backlog_limit = 1024;
  // Slots in the registered-file table (RegisterFile).
  uint32_t registered_files = 64;
  // io_uring: slots in the registered-buffer table (pools register each
  // arena in one slot; BufferRegistrar).
  uint32_t registered_buffers = 64;
  // The shard's default buffer pool (Driver::buffers()), created on first
  // use and registered with this driver: 7 MB arenas, growing to 16.
  HybridPool::Options buffers = {.max_arenas = 16};
  BufPoolOptions buffer_policy;
  // io_uring: ask for these setup flags; each is dropped (and logged) if the
  // kernel refuses it.
  bool single_issuer = true;
  bool defer_taskrun = true;
  bool coop_taskrun = true;
  // io_uring with DEFER_TASKRUN or COOP_TASKRUN: IORING_SETUP_TASKRUN_FLAG,
  // the kernel flags pending completions in the SQ ring, so a poll enters
  // the kernel only when it has completions to run (false: every poll with
  // ops in flight enters, as without the flag).
  bool taskrun_flag = true;
  // io_uring: Wake() posts a CQE straight into this ring with a ringless
  // IORING_OP_MSG_RING (IORING_REGISTER_SEND_MSG_RING, Linux 6.13) when the
  // kernel has it; otherwise (or false here) it writes the ring's eventfd.
  bool msg_ring_wake = true;
};

// What an op is, as a fault injector sees it.
struct OpInfo {
  enum class Kind : uint8_t {
    kNop,
    kRead,
    kWrite,
    kTimeout,
    kReadSelect,
    kAccept,
    kConnect,
    kRecv,
    kSend,
    kSendMsg,
    kRecvMsg,
    kShutdown,
    kClose,
    kOpenAt,
    kFsync,
    kFallocate,
    kStatx,
    kRenameAt,
    kUnlinkAt,
    kMkdirAt,
    kReadv,
    kWritev,
    kSendZc,
    kAcceptMulti,
    kRecvMulti,
  };
  Kind kind;
  int fd;
  uint64_t offset;
  size_t length;
  uint64_t sequence;  // ops this driver started before this one
  // The buffer is registered with this driver (io_uring: a *_FIXED op).
  bool fixed_buffer = false;
};

// What to do to one op.
struct Fault {
  enum class Action : uint8_t {
    kNone,   // run it normally
    kFail,   // complete it at once with -error, without running it
    kShort,  // run it with at most max_length bytes (a short read/write)
    kDelay,  // start it after `delay`
  };
  Action action = Action::kNone;
  int error = 0;
  size_t max_length = 0;
  runtime::Duration delay{0};
};

// Decides, op by op, whether to inject a fault; testing/fault_injection.h
// has seeded and scripted ones. Called on the driver's shard, once per op,
// in start order, so a deterministic injector gives a deterministic run.
class FaultInjector {
 public:
  virtual ~FaultInjector() = default;
  virtual Fault OnOp(const OpInfo& op) = 0;
};

namespace internal {

struct OpSlot;

// The per-op static vtable: everything a backend needs to run one kind of
// op, so backends hold no per-kind switch and a new op is one more table
// (io/ops.cc). The op's payload lives inline in its OpSlot.
struct OpVTable {
  OpInfo::Kind kind;
  // io_uring: fills the SQE for the op (fd, buffer, length, offset).
  void (*prep)(::io_uring_sqe* sqe, OpSlot& slot);
  // Readiness backends: the epoll event to wait for on slot.fd before
  // running the op (EPOLLIN / EPOLLOUT), or 0 to run it at once. A regular
  // file (which epoll refuses) runs on the blocking pool instead.
  uint32_t wait_events;
  // Readiness backends and the blocking pool: performs the op now and
  // returns the kernel-style result (-EAGAIN: not ready, wait again).
  int32_t (*run)(OpSlot& slot);
  // Readiness backends: run it on the blocking pool (file system calls).
  bool blocking = false;
  // Readiness backends: try `run` once before waiting for readiness (socket
  // ops, which are often ready at once).
  bool try_first = false;
};

// What some ops carry besides a buffer: addresses, paths, a statx record,
// a msghdr, vectored buffers. Allocated only by the ops that need it,
// owned by the op until it completes, handed back with the result.
struct OpExtra {
  sockaddr_storage addr{};
  socklen_t addrlen = 0;
  std::string path;
  std::string path2;
  struct statx stx {};
  msghdr msg{};
  iovec iov{};
  std::vector<iovec> iovs;
  std::vector<FixedBuf> bufs;
};

// Everything an op is started with (moved into its OpSlot).
struct OpArgs {
  int fd = -1;
  uint64_t offset = 0;
  FixedBuf buf;
  size_t begin = 0;
  size_t length = 0;
  int64_t timeout_ns = 0;
  int fixed_index = -1;
  BufRing* ring = nullptr;
  uint32_t op_flags = 0;  // accept4 / send / open / fsync / ... flags
  uint32_t mode = 0;      // open / mkdir mode, fallocate mode, statx mask
  uint64_t len2 = 0;      // fallocate length
  std::unique_ptr<OpExtra> extra;
  // The per-op deadline in ns (-1: none); see Driver::Op::Deadline.
  int64_t deadline_ns = -1;

  OpArgs() = default;
  OpArgs(OpArgs&&) noexcept = default;
  OpArgs& operator=(OpArgs&&) noexcept = default;
  // With a buffer range.
  OpArgs(int f, uint64_t off, BufSlice s)
      : fd(f),
        offset(off),
        buf(std::move(s.buf())),
        begin(s.begin()),
        length(s.size()) {}
};

// The table for `kind`.
const OpVTable& OpsFor(OpInfo::Kind kind);

// Per-op state in the driver's StableSlab. It owns the op's resources (its
// buffer) until the backend reports the op complete, even if the awaiting
// frame is destroyed first: the op is then orphaned, cancelled, and its slot
// (and buffer) freed only on completion.
struct OpSlot {
  int fd = -1;
  uint64_t offset = 0;
  runtime::Waiter waiter;  // empty once orphaned
  int32_t res = 0;
  uint32_t flags = 0;
  bool done = false;
  bool orphaned = false;
  bool has_deadline = false;
  bool user_cancelled = false;  // cancelled by its task, not the deadline
  bool delayed = false;         // held back by a fault injector
  int fixed_index = -1;         // registered-file slot of `fd`, or -1
  int buf_index = -1;           // registered-buffer slot of `buf`, or -1
  FixedBuf buf;                 // owned by the op until it completes
  size_t begin = 0;             // the op's range of buf: [begin, +length)
  size_t length = 0;            // bytes to transfer
  BufRing* ring = nullptr;      // kReadSelect: where the buffer comes from
  uint32_t op_flags = 0;        // see OpArgs
  uint32_t mode = 0;
  uint64_t len2 = 0;
  std::unique_ptr<OpExtra> extra;
  int64_t timeout_ns = 0;         // kTimeout: the duration
  runtime::TimePoint deadline{};  // per-op deadline (steady clock)
  // Backend scratch space, stable for the op's life.
  uint64_t backend_data[4] = {};
  runtime::internal::TimerEntry timer;  // epoll: timeout / deadline
  const OpVTable* vt = nullptr;
  // Multishot ops: results not yet taken, and whether a Next() waits.
  bool multishot = false;
  bool shot_waiting = false;
  // (A vector and a read position: unlike std::deque, an empty one does
  // not allocate, and every op has one.)
  std::vector<std::pair<int32_t, uint32_t>> shots;
  size_t shot_head = 0;
  bool has_shots() const { return shot_head < shots.size(); }
  int32_t zc_res = 0;  // kSendZc: the send's result, until the notification

  char* data() { return buf.data() + begin; }
};

}  // namespace internal

using internal::OpArgs;
using internal::OpExtra;

// Driver is a shard's Proactor: every I/O op of the shard goes through it,
// and it is the shard's runtime::Parker (the shard sleeps inside it).
//
// Ops reserve a slot in a StableSlab (entries never move; handles carry a
// generation, so a completion for a reused slot is recognised and dropped),
// hand it to the backend, and suspend; the backend reports the result with
// Complete(), which schedules the waiting task. Cancelling the task asks the
// backend to finish the op early (-ECANCELED); a per-op deadline makes it
// finish with -ETIMEDOUT.
//
// Backends: UringDriver (io_uring) and EpollDriver (readiness emulated as
// completion; regular-file I/O on the runtime's blocking pool). Create()
// picks one; both pass the same tests.
//
// Thread safety: shard-local, except Wake() (thread-safe). REQUIRES: created
// on the shard's thread.
class Driver : public runtime::Parker, public BufferRegistrar {
 public:
  // Creates the backend `options` asks for (see Backend) and logs one line
  // with the choice and its features.
  static absl::StatusOr<std::unique_ptr<Driver>> Create(
      const DriverOptions& options = {});
  // The driver of the calling shard (null if none).
  static Driver* Current();
  // The same, for code that cannot run without one (io/net, io/fs): aborts
  // with a message that says to install DriverParkers() if there is none.
  static Driver& CurrentOrDie();

  ~Driver() override;
  Driver(const Driver&) = delete;
  Driver& operator=(const Driver&) = delete;

  virtual const char* backend_name() const = 0;
  // One line: backend and what the kernel accepted.
  virtual std::string Describe() const = 0;

  size_t in_flight() const { return ops_.size(); }
  size_t InFlight() const override { return ops_.size(); }
  // Every op, queued or in the kernel, is in ops_; with none, only a Wake
  // (or the deadline) could end a Park. An io_uring SQE left unsubmitted
  // then (the wake read's re-arm, a cancel of a finished op) waits harmlessly
  // for the next enter.
  bool WaitsOnlyForWake() const override { return ops_.size() == 0; }

  // A file registered with the driver. With io_uring its ops name it by its
  // slot in the ring's fixed-file table (IOSQE_FIXED_FILE), so the kernel
  // skips the per-op fd lookup and reference counting; with epoll it is
  // the plain fd. Valid until UnregisterFile; the fd stays the caller's to
  // close, after unregistering.
  struct RegisteredFile {
    int index = -1;
    int fd = -1;
  };
  // Registers `fd`; ResourceExhausted when the table is full.
  absl::StatusOr<RegisteredFile> RegisterFile(int fd);
  absl::Status UnregisterFile(RegisteredFile f);

  // The shard's default buffer pool (created on first use from
  // DriverOptions::buffers, registered with this driver). Shard-local.
  BufPool& buffers();

  // BufferRegistrar: io_uring registers [data, data + size) in a slot of
  // its fixed-buffer table (a sparse table updated in place, so pools can
  // grow); epoll has no table (Unimplemented: buffers stay plain).
  absl::StatusOr<int> RegisterBuffer(char* data, size_t size) override;
  void UnregisterBuffer(int index) override;

  // For BufRing: a fresh buffer group id, and the kernel side of a
  // provided-buffer ring (io_uring). Unimplemented: the ring runs in user
  // space (epoll, or a kernel without IORING_REGISTER_PBUF_RING).
  uint16_t NextBufGroup() { return next_buf_group_++; }
  virtual absl::Status RegisterBufRing(::io_uring_buf_ring* ring,
                                       uint32_t entries, uint16_t group) {
    return absl::UnimplementedError("no provided-buffer rings");
  }
  virtual void UnregisterBufRing(uint16_t group) {}

  // Installs `f` (not owned; null removes it) to fail, shorten or delay the
  // ops started from now on. Shard-local.
  void SetFaultInjector(FaultInjector* f) { faults_ = f; }
  uint64_t completed() const { return completed_; }

  // Ops waiting in user space for room in the kernel's queues (io_uring's
  // backlog; 0 for epoll). Shard-local.
  virtual size_t backlog() const { return 0; }

  // The seeds' OpRegistry: every op in flight, with the resources the
  // driver owns until its completion (buffer, timespec), its waiter and its
  // result, in a StableSlab so that each entry's address is stable.
  using OpRegistry = StableSlab<internal::OpSlot>;
  using Handle = OpRegistry::Handle;

  // The awaitable of ops without a buffer: co_await yields the op's Result.
  // (BufOp, for ops with one, yields the buffer back with it.)
  class Op : private runtime::CancellationHook {
   public:
    Op(Op&&) = delete;
    ~Op();
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h);
    Result await_resume();
    // The op's buffer, back from the kernel (after co_await).
    FixedBuf TakeBuffer() { return std::move(buffer_); }
    // Gives the op a deadline: if it has not completed `d` after it starts,
    // it is cancelled and yields -ETIMEDOUT. Call before co_await.
    //
    // (g++ 12 copies an awaitable reached through a reference, so write
    // `auto op = ...; op.Deadline(d); co_await op;`, or pass the deadline
    // where the API takes one, e.g. io/net's `Read(buf, deadline)`.)
    Op& Deadline(runtime::Duration d) {
      args_.deadline_ns = d.count();
      return *this;
    }

   protected:
    friend class Driver;
    using Kind = OpInfo::Kind;
    Op(Driver* d, Kind kind, OpArgs args = {})
        : driver_(d), kind_(kind), args_(std::move(args)) {}
    void Cancelled() override;
    // Creates the slot and hands the op to the backend.
    void Start();

    Driver* const driver_;
    const Kind kind_;
    OpArgs args_;      // moved into the slot at Start
    FixedBuf buffer_;  // back from the slot after completion
    std::unique_ptr<OpExtra> extra_;
    runtime::Waiter waiter_;
    Handle handle_{};
    bool started_ = false;  // has a slot
    bool waiting_ = false;  // waiting for the backend to admit it
    bool cancelled_early_ = false;
  };

  // What XOp yields.
  class XResult {
   public:
    XResult(Result r, FixedBuf b, std::unique_ptr<OpExtra> x)
        : res(r), buf(std::move(b)), extra(std::move(x)) {}
    XResult(XResult&&) noexcept = default;
    XResult& operator=(XResult&&) noexcept = default;

    Result res;
    FixedBuf buf;
    std::unique_ptr<OpExtra> extra;
  };

  // The awaitable of ops with a buffer: co_await yields a BufResult, the
  // op's result and the buffer back from the kernel.
  class BufOp : public Op {
   public:
    BufResult await_resume() {
      Result r = Op::await_resume();
      return BufResult(r, TakeBuffer());
    }
    BufOp& Deadline(runtime::Duration d) {
      Op::Deadline(d);
      return *this;
    }

   private:
    friend class Driver;
    using Op::Op;
  };

  // The awaitable of ops with extra state (addresses, paths, statx...).
  class XOp : public Op {
   public:
    XResult await_resume() {
      Result r = Op::await_resume();
      return XResult(r, TakeBuffer(), std::move(extra_));
    }
    XOp& Deadline(runtime::Duration d) {
      Op::Deadline(d);
      return *this;
    }

   private:
    friend class Driver;
    using Op::Op;
  };

  // A no-op round trip through the backend.
  Op Nop() { return Op(this, Op::Kind::kNop); }

  // Reads at `offset` (kNoOffset: the file position, as for pipes and
  // sockets) into `buf`: a FixedBuf (its whole capacity) or a BufSlice (its
  // range). The buffer belongs to the op until it completes and comes back
  // in the BufResult, its size() set to the end of the bytes read. Result:
  // bytes (0 at end of file), or -errno. Registered buffers (from the
  // shard's pools) use IORING_OP_READ_FIXED.
  BufOp Read(int fd, FixedBuf buf, uint64_t offset) {
    return Read(fd, ReadSlice(std::move(buf)), offset);
  }
  BufOp Read(int fd, BufSlice buf, uint64_t offset) {
    return BufOp(this, Op::Kind::kRead, OpArgs(fd, offset, std::move(buf)));
  }
  // Writes `buf`: a FixedBuf (its data, [0, size())) or a BufSlice (its
  // range). May be short, as write(2). Result: bytes written.
  BufOp Write(int fd, FixedBuf buf, uint64_t offset) {
    return Write(fd, WriteSlice(std::move(buf)), offset);
  }
  BufOp Write(int fd, BufSlice buf, uint64_t offset) {
    return BufOp(this, Op::Kind::kWrite, OpArgs(fd, offset, std::move(buf)));
  }
  // The same on a registered file.
  BufOp Read(RegisteredFile f, FixedBuf buf, uint64_t offset) {
    OpArgs a(f.fd, offset, ReadSlice(std::move(buf)));
    a.fixed_index = f.index;
    return BufOp(this, Op::Kind::kRead, std::move(a));
  }
  BufOp Write(RegisteredFile f, FixedBuf buf, uint64_t offset) {
    OpArgs a(f.fd, offset, WriteSlice(std::move(buf)));
    a.fixed_index = f.index;
    return BufOp(this, Op::Kind::kWrite, std::move(a));
  }
  // Reads into a buffer the kernel picks from `ring` when data arrives (no
  // buffer is tied up while the op waits). The BufResult's buffer is that
  // one (it returns to the ring when destroyed); -ENOBUFS when the ring is
  // empty. REQUIRES: `ring` belongs to this driver and outlives the op.
  BufOp ReadSelect(int fd, BufRing& ring, uint64_t offset = kNoOffset) {
    OpArgs a;
    a.fd = fd;
    a.offset = offset;
    a.ring = &ring;
    return BufOp(this, Op::Kind::kReadSelect, std::move(a));
  }

  // Completes after `d` with -ETIME, or early with -ECANCELED.
  Op Timeout(runtime::Duration d) {
    OpArgs a;
    a.timeout_ns = d.count();
    return Op(this, Op::Kind::kTimeout, std::move(a));
  }

  // --- Sockets (fds created SOCK_NONBLOCK; io/net wraps these). ---
  // accept4(fd, flags | SOCK_NONBLOCK | SOCK_CLOEXEC): the new fd; the
  // peer's address in XResult::extra.
  XOp Accept(int fd);
  // connect(2): 0 or -errno (ECONNREFUSED, ETIMEDOUT with a deadline...).
  XOp Connect(int fd, const sockaddr* addr, socklen_t len);
  // recv(2) / send(2) with `flags` (MSG_*), into / from the buffer.
  // `deadline`: as Op::Deadline.
  BufOp Recv(int fd, BufSlice buf, int flags = 0,
             std::optional<runtime::Duration> deadline = {}) {
    OpArgs a(fd, 0, std::move(buf));
    a.op_flags = static_cast<uint32_t>(flags);
    if (deadline) a.deadline_ns = deadline->count();
    return BufOp(this, Op::Kind::kRecv, std::move(a));
  }
  BufOp Send(int fd, BufSlice buf, int flags = 0,
             std::optional<runtime::Duration> deadline = {}) {
    OpArgs a(fd, 0, std::move(buf));
    a.op_flags = static_cast<uint32_t>(flags | MSG_NOSIGNAL);
    if (deadline) a.deadline_ns = deadline->count();
    return BufOp(this, Op::Kind::kSend, std::move(a));
  }
  // sendmsg to `addr` / recvmsg with the sender's address in extra.
  XOp SendTo(int fd, BufSlice buf, const sockaddr* addr, socklen_t len);
  XOp RecvFrom(int fd, BufSlice buf);
  // shutdown(2) as an op (named apart from Parker::Shutdown).
  Op ShutdownSocket(int fd, int how) {
    OpArgs a;
    a.fd = fd;
    a.op_flags = static_cast<uint32_t>(how);
    return Op(this, Op::Kind::kShutdown, std::move(a));
  }
  Op Close(int fd) {
    OpArgs a;
    a.fd = fd;
    return Op(this, Op::Kind::kClose, std::move(a));
  }

  // send with zero copy (IORING_OP_SEND_ZC): the kernel sends straight
  // from the buffer, which comes back only once the kernel is done with it
  // (the op completes on its notification). epoll: a plain send.
  BufOp SendZc(int fd, BufSlice buf,
               std::optional<runtime::Duration> deadline = {}) {
    OpArgs a(fd, 0, std::move(buf));
    a.op_flags = MSG_NOSIGNAL;
    if (deadline) a.deadline_ns = deadline->count();
    return BufOp(this, Op::Kind::kSendZc, std::move(a));
  }

  // --- Multishot ops (io_uring): one submission, many completions. ---
  // Whether this backend has them (epoll: no; io/net falls back to one op
  // per result).
  virtual bool SupportsMultishot() const { return false; }

  // One completion of a multishot op.
  class Shot {
   public:
    Shot(Result r, uint32_t f, FixedBuf b)
        : res(r), flags(f), buf(std::move(b)) {}
    Shot(Shot&&) noexcept = default;
    Shot& operator=(Shot&&) noexcept = default;
    Result res;
    uint32_t flags;
    FixedBuf buf;  // recv: the ring buffer the data landed in
  };

  // Multishot owns a running multishot op. Next() yields its completions
  // in order, and nullopt once the op has ended (its last completion had
  // no IORING_CQE_F_MORE: cancelled, an error, or the kernel stopped it,
  // e.g. when the buffer ring ran dry; re-arm by starting another).
  // Destroying it cancels the op; completions still in flight are dropped
  // (their ring buffers go back to the ring). Shard-local; movable.
  class Multishot {
   public:
    Multishot() = default;
    Multishot(Multishot&& o) noexcept
        : driver_(std::exchange(o.driver_, nullptr)),
          handle_(o.handle_),
          ring_(o.ring_) {}
    Multishot& operator=(Multishot&& o) noexcept {
      if (this != &o) {
        Stop();
        driver_ = std::exchange(o.driver_, nullptr);
        handle_ = o.handle_;
        ring_ = o.ring_;
      }
      return *this;
    }
    ~Multishot() { Stop(); }
    bool active() const { return driver_ != nullptr; }

    class NextAwaiter : private runtime::CancellationHook {
     public:
      explicit NextAwaiter(Multishot* m) : m_(m) {}
      NextAwaiter(NextAwaiter&&) = delete;
      ~NextAwaiter();
      bool await_ready();
      bool await_suspend(std::coroutine_handle<> h);
      std::optional<Shot> await_resume();

     private:
      void Cancelled() override;
      Multishot* m_;
      bool cancelled_ = false;
    };
    // co_await: std::optional<Shot>.
    NextAwaiter Next() { return NextAwaiter(this); }

   private:
    friend class Driver;
    Multishot(Driver* d, Handle h, BufRing* ring)
        : driver_(d), handle_(h), ring_(ring) {}
    // Cancels the op and orphans its slot (freed on its last completion).
    void Stop();
    Driver* driver_ = nullptr;
    Handle handle_{};
    BufRing* ring_ = nullptr;
  };

  // Accepts connection after connection on a listening socket (each shot:
  // the new fd, nonblocking, or -errno). REQUIRES: SupportsMultishot().
  Multishot AcceptMultishot(int fd);
  // Receives into buffers the kernel picks from `ring` (each shot: bytes,
  // 0 at end of stream, with Shot::buf; -ENOBUFS when the ring ran dry,
  // which ends the op). REQUIRES: SupportsMultishot(); `ring` outlives it.
  Multishot RecvMultishot(int fd, BufRing& ring);

  // --- Files and directories (io/fs wraps these). epoll runs them on the
  // runtime's blocking pool. ---
  XOp OpenAt(std::string path, int flags, mode_t mode);
  Op Fsync(int fd, bool data_only) {
    OpArgs a;
    a.fd = fd;
    a.op_flags = data_only ? 1u : 0u;
    return Op(this, Op::Kind::kFsync, std::move(a));
  }
  Op Fallocate(int fd, int mode, uint64_t offset, uint64_t len) {
    OpArgs a;
    a.fd = fd;
    a.mode = static_cast<uint32_t>(mode);
    a.offset = offset;
    a.len2 = len;
    return Op(this, Op::Kind::kFallocate, std::move(a));
  }
  // statx of `fd` (path empty) or of `path`; the record in extra->stx.
  XOp Statx(int fd, std::string path);
  XOp RenameAt(std::string from, std::string to);
  XOp UnlinkAt(std::string path, int flags);
  XOp MkdirAt(std::string path, mode_t mode);
  // Vectored read / write at `offset`: reads fill the buffers in order
  // (each one's size() set), writes send each one's data. The buffers come
  // back in extra->bufs.
  XOp Readv(int fd, std::vector<FixedBuf> bufs, uint64_t offset);
  XOp Writev(int fd, std::vector<FixedBuf> bufs, uint64_t offset);

  static constexpr uint64_t kNoOffset = ~uint64_t{0};

 protected:
  Driver();

  // Backend hooks, on the shard's thread.
  // Starts the op in slot `h`; the backend calls Complete(h, ...) later (or
  // right away).
  virtual void StartOp(Handle h, internal::OpSlot& slot) = 0;
  // Asks the backend to finish the op early; it still calls Complete.
  virtual void CancelOp(Handle h, internal::OpSlot& slot) = 0;
  // Whether a new op may start now (false: it waits; the backend calls
  // AdmitWaiting() when it has room again).
  virtual bool CanAdmit() const { return true; }
  // Puts `fd` in the backend's fixed-file slot `index` (-1 clears it). The
  // default (epoll) has no table: registration is bookkeeping only.
  virtual absl::Status SetFixedFile(uint32_t index, int fd) {
    return absl::OkStatus();
  }
  // Registered-file table size (set by the backend at creation).
  void SetRegisteredFileSlots(uint32_t n) { fixed_files_.assign(n, -1); }

  // Backend hooks for BufferRegistrar (defaults: no buffer table).
  virtual absl::StatusOr<int> DoRegisterBuffer(char* data, size_t size) {
    return absl::UnimplementedError("this driver has no buffer table");
  }
  virtual void DoUnregisterBuffer(int index) {}
  // Queues a multishot op's completion (or drops it, when orphaned).
  void CompleteShot(Handle h, internal::OpSlot& slot, int32_t res,
                    uint32_t flags);
  // Drops the default pool (backends call it from Shutdown, on the shard,
  // once no op is in flight).
  void ReleaseBuffers() { buffers_.reset(); }

  DriverOptions options_;

  // Reports the result of the op in slot `h` (ignored if `h` is stale).
  void Complete(Handle h, int32_t res, uint32_t flags = 0);
  // Starts ops that were waiting for room, while CanAdmit().
  void AdmitWaiting();
  // Makes this the calling thread's driver (Create does it).
  void MakeCurrent();

  OpRegistry ops_;

 private:
  // Applies the fault injector to a new op; true if it finished or held
  // the op back (the backend must not start it now).
  bool InjectFault(Handle h, internal::OpSlot& slot);
  static void OnDelayDone(runtime::internal::TimerEntry* e);
  // Cancels the op in slot `h` wherever it is (held back, or in the
  // backend).
  void CancelAnywhere(Handle h, internal::OpSlot& slot);

  std::deque<Op*> waiting_;
  uint64_t completed_ = 0;
  uint64_t started_ = 0;
  // Per op kind (metrics: veloq_io_ops_*_total{op=...}).
  static constexpr size_t kKinds =
      static_cast<size_t>(OpInfo::Kind::kRecvMulti) + 1;
  std::array<uint64_t, kKinds> started_by_kind_{};
  std::array<uint64_t, kKinds> completed_by_kind_{};
  std::array<uint64_t, kKinds> failed_by_kind_{};
  // This driver's metrics in its shard's registry (RegisterMetrics).
  std::vector<metrics::CallbackHandle> metrics_;
  void RegisterMetrics();
  void CountCompletion(OpInfo::Kind kind, int32_t res) {
    const size_t k = static_cast<size_t>(kind);
    ++completed_by_kind_[k];
    if (res < 0) ++failed_by_kind_[k];
  }
  FaultInjector* faults_ = nullptr;
  std::vector<int> fixed_files_;  // slot -> fd; -1 when free
  std::optional<BufPool> buffers_;
  uint16_t next_buf_group_ = 0;
};

// A Runtime::ParkerFactory that gives every shard a Driver built from
// `options` (on the shard's own thread):
//   Runtime::Builder().Parkers(io::DriverParkers()).Build();
runtime::Runtime::ParkerFactory DriverParkers(DriverOptions options = {});

}  // namespace veloq::io
