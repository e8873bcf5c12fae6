#pragma once

#include <liburing.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/driver.h"

namespace veloq::io {

// What the kernel accepted at setup.
struct UringFeatures {
  bool single_issuer = false;
  bool defer_taskrun = false;
  bool coop_taskrun = false;
  // IORING_SETUP_TASKRUN_FLAG: Poll reads IORING_SQ_TASKRUN instead of
  // entering the kernel to look for deferred completions.
  bool taskrun_flag = false;
  // Wake() sends a ringless MSG_RING (else it writes the eventfd).
  bool msg_ring_wake = false;
  uint32_t registered_buffers = 0;  // slots in the fixed-buffer table
  uint32_t kernel_features = 0;     // io_uring_params.features
  std::string ToString() const;
};

// UringDriver is the io_uring backend of Driver.
//
// Ops fill SQEs (user_data: the slot's generation-tagged handle); Poll()
// submits the tick's batch with one io_uring_enter (which with DEFER_TASKRUN
// also runs the deferred completions) and reaps up to `budget` CQEs without
// a syscall. A CQE for a recycled slot is ignored. With nothing to submit,
// Poll enters the kernel only when it has completions to run: with
// IORING_SETUP_TASKRUN_FLAG, when the kernel has set IORING_SQ_TASKRUN (or
// IORING_SQ_CQ_OVERFLOW) in the SQ ring; without it (and with DEFER_TASKRUN),
// whenever an op is in flight. So a shard that polls while it spins, with
// sockets waiting for data, reads a flag per poll instead of making a syscall.
//
// Backpressure: ops in the kernel are bounded by the completion queue's
// size (so it never overflows) and by the SQ (GetSqe submits and retries);
// an op that finds no room waits in a user-space backlog bounded by
// DriverOptions::backlog_limit, past which submitters suspend
// (Driver::CanAdmit). Nothing is dropped; nothing grows without bound.
//
// Park(): one io_uring_enter that submits and waits for a CQE or the
// deadline. Wake() (any thread) makes a CQE appear in this ring: where the
// kernel has IORING_REGISTER_SEND_MSG_RING (6.13) it sends an
// IORING_OP_MSG_RING to this ring without a ring of its own (one syscall
// that posts the CQE, or with DEFER_TASKRUN queues it as task work, and
// wakes the waiter); otherwise, or if that send fails, it writes an eventfd
// that the ring always has a read armed on. Wakes coalesce: while one
// MSG_RING wake is outstanding (sent, its CQE not yet reaped) further
// Wake()s send nothing, since that CQE already makes the next Park return;
// so foreign CQEs never take more than one of the CQ entries the op budget
// leaves free, and the CQ still cannot overflow. Measured
// (BM_SubmitToRoundTripParkedIoInFlight vs ...EventfdWake, 2-core VM):
// 23.0-27.5 us against 24.4-28.8 us a round trip. Init probes the send by
// messaging its own ring and waiting for the CQE. With no op in flight the
// shard does not park here at all (WaitsOnlyForWake): it sleeps on its
// mesh park word's futex.
//
// Cancellation submits IORING_OP_ASYNC_CANCEL; deadlines are linked
// timeouts (IOSQE_IO_LINK + IORING_OP_LINK_TIMEOUT in one submission).
// Shutdown() cancels everything in flight and waits for every CQE, so the
// kernel never writes into a freed buffer.
//
// Thread safety: as Driver. REQUIRES: created on the shard's thread
// (SINGLE_ISSUER binds the ring to it).
class UringDriver final : public Driver {
 public:
  static absl::StatusOr<std::unique_ptr<UringDriver>> Create(
      const DriverOptions& options = {});
  ~UringDriver() override;

  const char* backend_name() const override { return "io_uring"; }
  std::string Describe() const override;
  const UringFeatures& features() const { return features_; }
  size_t backlog() const override { return backlog_.size(); }
  // SQEs handed to the kernel so far.
  uint64_t submitted() const { return submitted_; }
  // Polls that entered the kernel (to submit, or to run deferred
  // completions) so far.
  uint64_t poll_enters() const { return poll_enters_; }

  // runtime::Parker
  void Park(std::optional<runtime::TimePoint> deadline) override;
  size_t Poll(size_t budget) override;
  void Wake() override;
  void Shutdown() override;
  bool SupportsMultishot() const override { return true; }

  absl::Status RegisterBufRing(io_uring_buf_ring* ring, uint32_t entries,
                               uint16_t group) override;
  void UnregisterBufRing(uint16_t group) override;

 private:
  UringDriver() = default;
  absl::Status Init(const DriverOptions& options);

  void StartOp(Handle h, internal::OpSlot& slot) override;
  void CancelOp(Handle h, internal::OpSlot& slot) override;
  absl::Status SetFixedFile(uint32_t index, int fd) override;
  absl::StatusOr<int> DoRegisterBuffer(char* data, size_t size) override;
  void DoUnregisterBuffer(int index) override;
  bool CanAdmit() const override {
    return backlog_.size() < options_.backlog_limit;
  }

  // Returns an SQE, submitting the queue first if it is full; null if the
  // kernel still has no room.
  io_uring_sqe* GetSqe();
  // Fills the SQE(s) for slot `h` (and its linked timeout); false if the SQ
  // has no room even after a submit.
  bool PrepAndLink(Handle h, internal::OpSlot& slot);
  void SubmitCancel(Handle h);
  void ArmWake();
  // TASKRUN_FLAG: the kernel has deferred completions for this ring to run
  // (or overflowed CQEs to flush), which only an io_uring_enter does. The
  // kernel sets the flag whenever its list of such work becomes non-empty
  // and clears it only as an enter takes the list (setting it again if it
  // leaves some), so it stays set until the work runs: a flag set just
  // after the read is seen by the next poll. A shard does not sleep on
  // it: Park enters the kernel unless a CQE is already there to reap, and
  // a shard with no op in flight (which parks on its futex instead) has
  // only wake-up and cancel CQEs to come, which nobody waits for.
  bool KernelHasCompletionsToRun() const {
    return (IO_URING_READ_ONCE(*ring_.sq.kflags) &
            (IORING_SQ_TASKRUN | IORING_SQ_CQ_OVERFLOW)) != 0;
  }
  // Sends the MSG_RING probe and waits for its CQE; true if it arrived.
  bool ProbeMsgRingWake();
  // Up to `want` CQEs already in the CQ ring, oldest first, without a
  // syscall (liburing's io_uring_peek_batch_cqe enters the kernel when the
  // CQ is empty and TASKRUN is flagged: here every enter goes through Poll).
  unsigned PeekReady(io_uring_cqe** cqes, unsigned want);
  void Reap(size_t budget, size_t* reaped);
  void FlushBacklog();

  io_uring ring_{};
  bool ring_ready_ = false;
  int ring_fd_ = -1;  // set once in Init; read by Wake on any thread
  int wake_fd_ = -1;
  // A MSG_RING wake was sent and its CQE not yet reaped (set by Wake on any
  // thread, cleared by Reap on the shard's).
  std::atomic<bool> msg_wake_pending_{false};
  uint64_t wake_value_ = 0;  // the kernel reads the eventfd into this
  bool wake_armed_ = false;  // that read is in flight
  bool destroying_ = false;
  UringFeatures features_;
  std::vector<bool> buf_slots_;  // registered-buffer table: in use
  // Ops with a slot that found the SQ full, in order.
  std::deque<Handle> backlog_;
  unsigned pending_sqes_ = 0;
  // Set by Park, whose io_uring_enter just ran the deferred completions:
  // without TASKRUN_FLAG, the Poll right after it enters only to submit
  // (one syscall less a wake).
  bool just_parked_ = false;
  // SQEs prepared whose CQE has not been reaped yet (every SQE yields
  // exactly one CQE); kept <= cq_limit_ so the CQ cannot overflow.
  uint32_t in_kernel_ = 0;
  uint32_t cq_limit_ = 0;
  uint64_t submitted_ = 0;
  uint64_t poll_enters_ = 0;
};

}  // namespace veloq::io
