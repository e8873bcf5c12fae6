#include "io/fs/file.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "runtime/run_blocking.h"

namespace veloq::io {
namespace {

absl::Status Failed(Result r, absl::string_view what, absl::string_view path) {
  if (r.ok()) return absl::OkStatus();
  return absl::ErrnoToStatus(r.error(), absl::StrCat(what, " ", path));
}

int FlagsOf(const OpenOptions& o) {
  int flags = o.read && o.write ? O_RDWR : o.write ? O_WRONLY : O_RDONLY;
  if (o.create) flags |= O_CREAT;
  if (o.create && o.exclusive) flags |= O_EXCL;
  if (o.truncate) flags |= O_TRUNC;
  if (o.append) flags |= O_APPEND;
  if (o.direct) flags |= O_DIRECT;
  if (o.dsync) flags |= O_DSYNC;
  return flags;
}

FileMetadata FromStatx(const struct statx& s) {
  FileMetadata m;
  m.size = s.stx_size;
  m.blocks = s.stx_blocks;
  m.mode = s.stx_mode;
  m.block_size = s.stx_blksize;
  m.modified_ns = s.stx_mtime.tv_sec * 1'000'000'000LL + s.stx_mtime.tv_nsec;
  return m;
}

}  // namespace

runtime::Task<absl::StatusOr<File>> File::Open(std::string path,
                                               OpenOptions options) {
  if (!options.read && !options.write) {
    co_return absl::InvalidArgumentError(
        absl::StrCat("open ", path, ": neither read nor write"));
  }
  Driver::XOp op = Drv().OpenAt(path, FlagsOf(options), options.mode);
  Driver::XResult r = co_await op;
  if (!r.res.ok()) co_return Failed(r.res, "open", path);
  co_return File(OwnedFd(r.res.value()), std::move(path));
}

runtime::Task<absl::Status> File::WriteAllAt(FixedBuf buf,
                                             uint64_t offset) const {
  const size_t n = buf.size();
  size_t done = 0;
  while (done < n) {
    BufResult r =
        co_await WriteAt(BufSlice(std::move(buf), done, n), offset + done);
    buf = std::move(r.buf);
    if (!r.res.ok()) co_return Failed(r.res, "write", path_);
    if (r.res.value() == 0) {
      co_return absl::DataLossError(absl::StrCat("write ", path_, ": 0 bytes"));
    }
    done += static_cast<size_t>(r.res.value());
  }
  co_return absl::OkStatus();
}

runtime::Task<absl::StatusOr<FixedBuf>> File::ReadFullAt(
    FixedBuf buf, size_t n, uint64_t offset) const {
  if (n > buf.capacity()) {
    co_return absl::InvalidArgumentError(absl::StrCat(
        "read ", path_, ": ", n, " bytes into a buffer of ", buf.capacity()));
  }
  buf.clear();
  while (buf.size() < n) {
    const size_t have = buf.size();
    BufResult r =
        co_await ReadAt(BufSlice(std::move(buf), have, n), offset + have);
    buf = std::move(r.buf);
    if (!r.res.ok()) co_return Failed(r.res, "read", path_);
    if (r.res.value() == 0) {
      buf.set_size(have);
      break;  // end of file
    }
  }
  co_return std::move(buf);
}

runtime::Task<absl::Status> File::Sync() const {
  Result r = co_await Drv().Fsync(fd_.get(), false);
  co_return Failed(r, "fsync", path_);
}

runtime::Task<absl::Status> File::DataSync() const {
  Result r = co_await Drv().Fsync(fd_.get(), true);
  co_return Failed(r, "fdatasync", path_);
}

runtime::Task<absl::Status> File::Allocate(uint64_t offset,
                                           uint64_t len) const {
  Result r = co_await Drv().Fallocate(fd_.get(), 0, offset, len);
  co_return Failed(r, "fallocate", path_);
}

runtime::Task<absl::Status> File::SetLen(uint64_t len) const {
  const int fd = fd_.get();
  auto call = [fd, len] {
    return ::ftruncate(fd, static_cast<off_t>(len)) == 0 ? 0 : -errno;
  };
  Result r(co_await runtime::RunBlocking(std::move(call)));
  co_return Failed(r, "ftruncate", path_);
}

runtime::Task<absl::StatusOr<FileMetadata>> File::Metadata() const {
  Driver::XOp op = Drv().Statx(fd_.get(), "");
  Driver::XResult r = co_await op;
  if (!r.res.ok()) co_return Failed(r.res, "statx", path_);
  co_return FromStatx(r.extra->stx);
}

runtime::Task<absl::Status> Rename(std::string from, std::string to) {
  Driver::XOp op = Driver::CurrentOrDie().RenameAt(from, to);
  Driver::XResult r = co_await op;
  co_return Failed(r.res, "rename", absl::StrCat(from, " -> ", to));
}

runtime::Task<absl::Status> Remove(std::string path, bool dir) {
  Driver::XOp op =
      Driver::CurrentOrDie().UnlinkAt(path, dir ? AT_REMOVEDIR : 0);
  Driver::XResult r = co_await op;
  co_return Failed(r.res, "remove", path);
}

runtime::Task<absl::Status> CreateDir(std::string path, mode_t mode) {
  Driver::XOp op = Driver::CurrentOrDie().MkdirAt(path, mode);
  Driver::XResult r = co_await op;
  co_return Failed(r.res, "mkdir", path);
}

runtime::Task<absl::StatusOr<FileMetadata>> Metadata(std::string path) {
  Driver::XOp op = Driver::CurrentOrDie().Statx(AT_FDCWD, path);
  Driver::XResult r = co_await op;
  if (!r.res.ok()) co_return Failed(r.res, "statx", path);
  co_return FromStatx(r.extra->stx);
}

runtime::Task<absl::StatusOr<std::vector<DirEntry>>> ReadDir(std::string path) {
  // io_uring has no getdents: the blocking pool does the whole listing.
  auto list = [path]() -> absl::StatusOr<std::vector<DirEntry>> {
    const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
      return absl::ErrnoToStatus(errno, absl::StrCat("opendir ", path));
    std::vector<DirEntry> out;
    alignas(8) char buf[16384];
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof(buf));
      if (n < 0) {
        const int err = errno;
        ::close(fd);
        return absl::ErrnoToStatus(err, absl::StrCat("getdents64 ", path));
      }
      if (n == 0) break;
      for (long at = 0; at < n;) {
        // struct linux_dirent64: ino (8), off (8), reclen (2), type (1), name
        unsigned short reclen;
        std::memcpy(&reclen, buf + at + 16, sizeof(reclen));
        const unsigned char type = static_cast<unsigned char>(buf[at + 18]);
        const char* name = buf + at + 19;
        if (std::strcmp(name, ".") != 0 && std::strcmp(name, "..") != 0) {
          out.push_back(DirEntry{name, type});
        }
        at += reclen;
      }
    }
    ::close(fd);
    return out;
  };
  co_return co_await runtime::RunBlocking(std::move(list));
}

}  // namespace veloq::io
