#include "io/owned_fd.h"

#include <unistd.h>

#include "io/driver.h"
#include "runtime/shard.h"
#include "runtime/spawn.h"

namespace veloq::io {
namespace {

runtime::Task<void> CloseTask(Driver* d, int fd) {
  Result r = co_await d->Close(fd);
  if (r.error() == ECANCELED) ::close(fd);  // cancelled before it ran
}

}  // namespace

void OwnedFd::Reset() {
  if (fd_ < 0) return;
  const int fd = std::exchange(fd_, -1);
  runtime::Shard* shard = runtime::Shard::Current();
  Driver* d = Driver::Current();
  if (shard == nullptr || d == nullptr || shard->stopping()) {
    ::close(fd);
    return;
  }
  runtime::Spawn(CloseTask(d, fd), "close").Detach();
}

}  // namespace veloq::io
