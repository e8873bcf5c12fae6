#include "runtime/scope.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace veloq::runtime {

TaskScope::~TaskScope() {
  if (outstanding_ != 0) {
    std::fprintf(stderr,
                 "veloq: TaskScope destroyed with %zu running children; "
                 "co_await scope.Join() first\n",
                 outstanding_);
    std::abort();
  }
}

void TaskScope::Cancel() {
  cancelled_ = true;
  // CancelTask never completes a child inline, so the vector is stable.
  for (internal::TaskHeader* c : children_) internal::CancelTask(c);
}

void TaskScope::ChildDone(internal::TaskHeader* child, absl::Status s) {
  auto it = std::find(children_.begin(), children_.end(), child);
  if (it != children_.end()) {
    *it = children_.back();
    children_.pop_back();
  }
  if (!s.ok() && first_error_.ok()) {
    first_error_ = std::move(s);
    Cancel();
  }
  if (--outstanding_ == 0 && joiner_) {
    internal::ScheduleLocal(std::exchange(joiner_, {}));
  }
}

}  // namespace veloq::runtime
