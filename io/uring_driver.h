#pragma once

#include <liburing.h>

#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/result.h"
#include "io/stable_slab.h"
#include "runtime/cancellation.h"
#include "runtime/parker.h"

namespace veloq::io {

struct DriverOptions {
  // Submission queue entries (the completion queue is twice as big).
  uint32_t entries = 256;
  // Ops waiting for a free SQE, held in user space; submitters beyond this
  // suspend until the backlog drains (backpressure; nothing is dropped).
  size_t backlog_limit = 1024;
  // Ask for these io_uring setup flags; each is dropped (and logged) if the
  // kernel refuses it.
  bool single_issuer = true;
  bool defer_taskrun = true;
  bool coop_taskrun = true;
};

// What the kernel accepted at setup.
struct UringFeatures {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool coop_taskrun = false;
  uint32_t kernel_features = 0;  // io_uring_params.features
  std::string ToString() const;
};

class UringDriver;

namespace internal {

// Per-op state in the driver's StableSlab. It owns the op's resources (a
// buffer) until the completion arrives, even if the awaiting frame is
// destroyed first: then the op is orphaned, cancelled in the kernel, and the
// slot (and buffer) are freed only when its CQE comes back.
struct OpSlot {
  enum class Kind : uint8_t { kNop, kRead, kWrite, kTimeout };
  Kind kind = Kind::kNop;
  int fd = -1;
  uint64_t offset = 0;
  runtime::Waiter waiter;  // empty once orphaned
  int32_t res = 0;
  uint32_t cqe_flags = 0;
  bool done = false;
  bool orphaned = false;
  std::vector<char> buffer;        // owned by the op until its CQE
  struct __kernel_timespec ts {};  // timeout / linked-timeout: must stay put
  runtime::TimePoint deadline{};   // per-op deadline (linked timeout)
  bool has_deadline = false;
  bool user_cancelled = false;  // cancelled by its task, not the deadline
};

}  // namespace internal

// UringDriver is a shard's Proactor: a single-threaded io_uring instance
// that every I/O op of the shard goes through, and the shard's Parker.
//
// Ops: each awaitable reserves a slot in a StableSlab (the io_uring
// user_data is the slot's generation-tagged handle), fills an SQE, and
// suspends. Poll() submits the tick's SQEs with one io_uring_enter, reaps up
// to `budget` CQEs, stores each result in its slot and schedules the waiter.
// A CQE for a slot that was freed and reused is recognised by its generation
// and ignored.
//
// Park(): one io_uring_enter that submits and waits for a CQE or the
// deadline. Wake() (any thread) writes an eventfd that the ring always has a
// read armed on, so a wake-up is a CQE like any other.
//
// Cancellation: an op's awaiter arms a CancellationHook; cancelling the task
// submits IORING_OP_ASYNC_CANCEL for the op, whose CQE (-ECANCELED, or the
// real result if it won the race) resumes the task.
//
// Thread safety: shard-local, except Wake() (thread-safe). REQUIRES: created
// on the shard's thread (SINGLE_ISSUER binds the ring to it).
class UringDriver final : public runtime::Parker {
 public:
  static absl::StatusOr<std::unique_ptr<UringDriver>> Create(
      const DriverOptions& options = {});
  // Cancels in-flight ops and waits for their completions, so the kernel
  // never writes into freed buffers.
  ~UringDriver() override;

  UringDriver(const UringDriver&) = delete;
  UringDriver& operator=(const UringDriver&) = delete;

  // runtime::Parker
  void Park(std::optional<runtime::TimePoint> deadline) override;
  size_t Poll(size_t budget) override;
  void Wake() override;
  void Shutdown() override;

  const UringFeatures& features() const { return features_; }
  size_t in_flight() const { return ops_.size(); }
  size_t backlog() const { return backlog_.size(); }
  uint64_t submitted() const { return submitted_; }
  uint64_t completed() const { return completed_; }

  using Slab = StableSlab<internal::OpSlot>;
  using Handle = Slab::Handle;

  // The awaitable every op returns. co_await yields the op's Result; ops
  // that carry a buffer give it back through TakeBuffer() after the await.
  class Op : private runtime::CancellationHook {
   public:
    Op(Op&&) = delete;
    ~Op();
    bool await_ready() const noexcept { return false; }
    bool await_suspend(std::coroutine_handle<> h);
    Result await_resume();
    // The op's buffer, back from the kernel (after co_await).
    std::vector<char> TakeBuffer() { return std::move(buffer_); }

    // Gives the op a deadline (an io_uring linked timeout): if it has not
    // completed `d` after submission, the kernel cancels it and the op
    // yields -ETIMEDOUT. Call before co_await.
    Op& Deadline(runtime::Duration d) {
      deadline_ns_ = d.count();
      return *this;
    }

   private:
    friend class UringDriver;
    using Kind = internal::OpSlot::Kind;
    Op(UringDriver* d, Kind kind, int fd = -1, uint64_t offset = 0,
       std::vector<char> buffer = {}, int64_t timeout_ns = 0)
        : driver_(d),
          kind_(kind),
          fd_(fd),
          offset_(offset),
          timeout_ns_(timeout_ns),
          buffer_(std::move(buffer)) {}
    void Cancelled() override;
    // Creates the slot and hands the op to the kernel (or the backlog).
    void Start();

    UringDriver* const driver_;
    const Kind kind_;
    const int fd_;
    const uint64_t offset_;
    const int64_t timeout_ns_;
    int64_t deadline_ns_ = -1;
    std::vector<char> buffer_;
    runtime::Waiter waiter_;
    Handle handle_{};
    bool started_ = false;  // has a slot
    bool waiting_ = false;  // queued for backlog space, no slot yet
    bool cancelled_early_ = false;
  };

  // The driver of the calling shard (null if its Parker is not a
  // UringDriver).
  static UringDriver* Current();

  // A no-op round trip through the kernel.
  Op Nop() { return Op(this, Op::Kind::kNop); }
  // Reads up to buf.size() bytes at `offset` (~0: the file position). The
  // buffer belongs to the op until it completes (even if the awaiting task
  // is destroyed first); take it back with TakeBuffer(). Result: bytes
  // read, or -errno.
  Op Read(int fd, std::vector<char> buf, uint64_t offset) {
    return Op(this, Op::Kind::kRead, fd, offset, std::move(buf));
  }
  // Writes `buf` (may be short, as write(2)). Result: bytes written.
  Op Write(int fd, std::vector<char> buf, uint64_t offset) {
    return Op(this, Op::Kind::kWrite, fd, offset, std::move(buf));
  }
  // Completes after `d` with -ETIME, or early with -ECANCELED.
  Op Timeout(runtime::Duration d) {
    return Op(this, Op::Kind::kTimeout, -1, 0, {}, d.count());
  }

 private:
  UringDriver() = default;
  absl::Status Init(const DriverOptions& options);

  // Returns an SQE, submitting the queue first if it is full; null if the
  // kernel still has no room (the caller then uses the backlog).
  io_uring_sqe* GetSqe();
  static void Prep(io_uring_sqe* sqe, internal::OpSlot& slot);
  // Fills the SQE(s) for slot `h` (and its linked timeout); false if the SQ
  // has no room even after a submit.
  bool PrepAndLink(Handle h, internal::OpSlot& slot);
  // Puts slot `h` into an SQE, or at the end of the backlog.
  void Enqueue(Handle h);
  void SubmitCancel(Handle h);
  void ArmWake();
  void Reap(size_t budget, size_t* reaped);
  void FlushBacklog();

  io_uring ring_{};
  bool ring_ready_ = false;
  int wake_fd_ = -1;
  uint64_t wake_value_ = 0;  // the kernel reads the eventfd into this
  bool wake_armed_ = false;  // that read is in flight
  bool destroying_ = false;
  UringFeatures features_;
  DriverOptions options_;
  Slab ops_;
  // Ops with a slot that found the SQ full, in order.
  std::deque<Handle> backlog_;
  // Ops that found the backlog full (no slot yet), in order.
  std::deque<Op*> waiting_;
  unsigned pending_sqes_ = 0;
  uint64_t submitted_ = 0;
  uint64_t completed_ = 0;
};

}  // namespace veloq::io
