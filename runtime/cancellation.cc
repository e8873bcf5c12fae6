#include "runtime/cancellation.h"

namespace veloq::runtime {

bool IsCancelled() {
  internal::TaskHeader* t = internal::CurrentTask();
  return t != nullptr && t->cancelled();
}

absl::Status CancelledStatus() {
  return absl::CancelledError("task cancelled");
}

CancellationToken CancellationToken::Current() {
  return CancellationToken(internal::CurrentTask());
}

void CancellationHook::OnCancel() {
  task_ = nullptr;  // CancelTask already cleared the task's hook slot
  Cancelled();
}

namespace internal {

void CancelTask(TaskHeader* t) {
  if (t->cancelled() || t->done()) return;
  t->flags |= TaskHeader::kCancelled;
  if (CancelHook* h = t->hook) {
    t->hook = nullptr;
    h->OnCancel();
  }
}

}  // namespace internal
}  // namespace veloq::runtime
