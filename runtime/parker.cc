#include "runtime/parker.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace veloq::runtime {

absl::StatusOr<std::unique_ptr<EventfdParker>> EventfdParker::Create() {
  // Blocking: with no deadline, Park is a single read(2). Only the owning
  // shard reads, so a read after poll(2) reported it readable never blocks.
  const int fd = ::eventfd(0, EFD_CLOEXEC);
  if (fd < 0) {
    return absl::InternalError(absl::StrCat("eventfd: ", std::strerror(errno)));
  }
  return std::unique_ptr<EventfdParker>(new EventfdParker(fd));
}

EventfdParker::~EventfdParker() { ::close(fd_); }

void EventfdParker::Park(std::optional<TimePoint> deadline) {
  uint64_t v;
  if (!deadline) {
    // EINTR is a spurious wake-up, which Park allows.
    [[maybe_unused]] ssize_t r = ::read(fd_, &v, sizeof(v));
    return;
  }
  struct timespec ts = TimespecUntil<struct timespec>(*deadline);
  struct pollfd pfd = {fd_, POLLIN, 0};
  if (::ppoll(&pfd, 1, &ts, nullptr) > 0) {
    [[maybe_unused]] ssize_t r = ::read(fd_, &v, sizeof(v));  // drains it
  }
}

void EventfdParker::Wake() {
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t r = ::write(fd_, &one, sizeof(one));
}

}  // namespace veloq::runtime
