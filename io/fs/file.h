#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "io/buffer/fixed_buf.h"
#include "io/driver.h"
#include "io/owned_fd.h"
#include "io/result.h"
#include "runtime/task.h"

namespace veloq::io {

// How to open a File (the flags of open(2), spelled out).
struct OpenOptions {
  bool read = true;
  bool write = false;
  bool create = false;     // O_CREAT
  bool exclusive = false;  // with create: O_EXCL (EEXIST if it exists)
  bool truncate = false;   // O_TRUNC
  bool append = false;     // O_APPEND
  bool direct = false;     // O_DIRECT: 4 KB-aligned buffers, offsets, sizes
  bool dsync = false;      // O_DSYNC: each write is durable when it returns
  mode_t mode = 0644;      // permissions of a created file

  static OpenOptions ReadOnly() { return {}; }
  static OpenOptions CreateOrTruncate() {
    return {.read = true, .write = true, .create = true, .truncate = true};
  }
  static OpenOptions Append() {
    return {.read = false, .write = true, .create = true, .append = true};
  }
};

// What Metadata returns (from statx).
struct FileMetadata {
  uint64_t size = 0;
  uint64_t blocks = 0;  // 512-byte blocks allocated
  uint32_t mode = 0;    // type and permissions (st_mode)
  uint32_t block_size = 0;
  int64_t modified_ns = 0;  // since the epoch
  bool is_dir() const { return S_ISDIR(mode); }
  bool is_regular() const { return S_ISREG(mode); }
};

// File is an open file on the calling shard's driver. Reads and writes take
// a FixedBuf by value at an offset and give it back with the result (bytes,
// or -errno); the helpers return Statuses. On io_uring every op is a ring
// op (registered buffers use READ_FIXED / WRITE_FIXED); the epoll driver
// runs them on the runtime's blocking pool, so a slow disk never blocks a
// shard either way. Destroying the File closes it in the background.
//
// O_DIRECT: buffers from a pool are 4 KB aligned; a misaligned buffer,
// offset or length fails with -EINVAL (InvalidArgument).
//
// Affinity: as TcpStream.
class File {
 public:
  static runtime::Task<absl::StatusOr<File>> Open(std::string path,
                                                  OpenOptions options);

  File(File&&) noexcept = default;
  File& operator=(File&&) noexcept = default;

  // One pread into the buffer's capacity (or the slice): bytes, 0 at end.
  Driver::BufOp ReadAt(FixedBuf buf, uint64_t offset) const {
    return Drv().Read(fd_.get(), std::move(buf), offset);
  }
  Driver::BufOp ReadAt(BufSlice buf, uint64_t offset) const {
    return Drv().Read(fd_.get(), std::move(buf), offset);
  }
  // One pwrite of [0, size()) (or the slice); may be short.
  Driver::BufOp WriteAt(FixedBuf buf, uint64_t offset) const {
    return Drv().Write(fd_.get(), std::move(buf), offset);
  }
  Driver::BufOp WriteAt(BufSlice buf, uint64_t offset) const {
    return Drv().Write(fd_.get(), std::move(buf), offset);
  }
  // Appends at the file position (for files opened with append).
  Driver::BufOp Write(FixedBuf buf) const {
    return Drv().Write(fd_.get(), std::move(buf), Driver::kNoOffset);
  }
  // Vectored: preadv fills the buffers in order (each one's size() set);
  // pwritev sends each one's data. Buffers back in extra->bufs.
  Driver::XOp ReadvAt(std::vector<FixedBuf> bufs, uint64_t offset) const {
    return Drv().Readv(fd_.get(), std::move(bufs), offset);
  }
  Driver::XOp WritevAt(std::vector<FixedBuf> bufs, uint64_t offset) const {
    return Drv().Writev(fd_.get(), std::move(bufs), offset);
  }

  // Writes all of [0, size()) at `offset`, looping over short writes.
  runtime::Task<absl::Status> WriteAllAt(FixedBuf buf, uint64_t offset) const;
  // Reads until the buffer holds `n` bytes or the file ends; the buffer's
  // size() says how many it got.
  runtime::Task<absl::StatusOr<FixedBuf>> ReadFullAt(FixedBuf buf, size_t n,
                                                     uint64_t offset) const;

  // fsync / fdatasync.
  runtime::Task<absl::Status> Sync() const;
  runtime::Task<absl::Status> DataSync() const;
  // fallocate(mode 0): reserves [offset, offset + len).
  runtime::Task<absl::Status> Allocate(uint64_t offset, uint64_t len) const;
  // ftruncate (the blocking pool: io_uring has no op for it here).
  runtime::Task<absl::Status> SetLen(uint64_t len) const;
  runtime::Task<absl::StatusOr<FileMetadata>> Metadata() const;

  int fd() const { return fd_.get(); }
  const std::string& path() const { return path_; }

 private:
  File(OwnedFd fd, std::string path)
      : fd_(std::move(fd)), path_(std::move(path)) {}
  static Driver& Drv() { return Driver::CurrentOrDie(); }
  OwnedFd fd_;
  std::string path_;
};

// A directory entry.
struct DirEntry {
  std::string name;
  unsigned char type = 0;  // DT_REG, DT_DIR, ... (DT_UNKNOWN: ask Metadata)
};

// File-system calls, as ring ops where io_uring has them (else the blocking
// pool). Errors are Statuses that name the path: NotFound for ENOENT,
// AlreadyExists for EEXIST, and so on.
runtime::Task<absl::Status> Rename(std::string from, std::string to);
// A file (or, with dir = true, an empty directory).
runtime::Task<absl::Status> Remove(std::string path, bool dir = false);
runtime::Task<absl::Status> CreateDir(std::string path, mode_t mode = 0755);
runtime::Task<absl::StatusOr<FileMetadata>> Metadata(std::string path);
// The entries of a directory (getdents64 on the blocking pool), without
// "." and "..", in the order the file system returns them.
runtime::Task<absl::StatusOr<std::vector<DirEntry>>> ReadDir(std::string path);

}  // namespace veloq::io
