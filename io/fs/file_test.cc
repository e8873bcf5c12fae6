#include "io/fs/file.h"

#include <dirent.h>
#include <stdlib.h>

#include <algorithm>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "testing/driver_backends.h"
#include "testing/test_runtime.h"

namespace veloq::io {
namespace {

using runtime::Task;
using veloq::testing::RunOnRuntime;
using veloq::testing::TestRuntimeOptions;

std::string TempDir() {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string tmpl = std::string(base != nullptr ? base : "/tmp") + "/fsXXXXXX";
  char* dir = ::mkdtemp(tmpl.data());
  EXPECT_NE(dir, nullptr);
  return tmpl;
}

class FileTest : public veloq::testing::DriverBackendTest {
 protected:
  std::string dir_ = TempDir();
};

VELOQ_INSTANTIATE_DRIVER_BACKENDS(FileTest);

TEST_P(FileTest, WriteReadSizeSyncTruncate) {
  const std::string path = dir_ + "/data";
  auto r = RunOnRuntime(Options(), [path]() -> Task<absl::Status> {
    absl::StatusOr<File> f =
        co_await File::Open(path, OpenOptions::CreateOrTruncate());
    if (!f.ok()) co_return f.status();
    FixedBuf out = Driver::Current()->buffers().Allocate(8192);
    out.Assign(std::string(6000, 'q'));
    if (absl::Status s = co_await f->WriteAllAt(std::move(out), 100); !s.ok()) {
      co_return s;
    }
    if (absl::Status s = co_await f->Sync(); !s.ok()) co_return s;
    if (absl::Status s = co_await f->DataSync(); !s.ok()) co_return s;
    absl::StatusOr<FileMetadata> m = co_await f->Metadata();
    if (!m.ok() || m->size != 6100 || !m->is_regular()) {
      co_return absl::InternalError("metadata");
    }
    // Reading past the end gives what there is.
    absl::StatusOr<FixedBuf> in =
        co_await f->ReadFullAt(FixedBuf::Heap(8192), 8192, 0);
    if (!in.ok() || in->size() != 6100 || in->view()[100] != 'q') {
      co_return absl::InternalError("read");
    }
    if (absl::Status s = co_await f->SetLen(10); !s.ok()) co_return s;
    if (absl::Status s = co_await f->Allocate(0, 1 << 20); !s.ok()) co_return s;
    m = co_await f->Metadata();
    if (m->size != (1u << 20) || m->blocks < 2048) {
      co_return absl::InternalError("allocate");
    }
    co_return absl::OkStatus();
  });
  EXPECT_TRUE(r.ok()) << r;
}

TEST_P(FileTest, ClearErrors) {
  const std::string dir = dir_;
  auto r =
      RunOnRuntime(Options(), [dir]() -> Task<std::vector<absl::StatusCode>> {
        std::vector<absl::StatusCode> codes;
        codes.push_back(
            (co_await File::Open(dir + "/missing", OpenOptions::ReadOnly()))
                .status()
                .code());
        OpenOptions excl = OpenOptions::CreateOrTruncate();
        excl.exclusive = true;
        (void)co_await File::Open(dir + "/x", excl);
        absl::StatusOr<File> again = co_await File::Open(dir + "/x", excl);
        codes.push_back(again.status().code());
        EXPECT_NE(std::string(again.status().message()).find(dir + "/x"),
                  std::string::npos);  // the path is in the message
        codes.push_back((co_await Remove(dir + "/missing")).code());
        codes.push_back((co_await CreateDir(dir)).code());
        codes.push_back((co_await ReadDir(dir + "/missing")).status().code());
        co_return codes;
      });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r,
            (std::vector<absl::StatusCode>{
                absl::StatusCode::kNotFound, absl::StatusCode::kAlreadyExists,
                absl::StatusCode::kNotFound, absl::StatusCode::kAlreadyExists,
                absl::StatusCode::kNotFound}));
}

TEST_P(FileTest, DirectIoNeedsAlignedBuffers) {
  const std::string path = dir_ + "/direct";
  auto r = RunOnRuntime(Options(), [path]() -> Task<std::vector<int>> {
    OpenOptions o = OpenOptions::CreateOrTruncate();
    o.direct = true;
    absl::StatusOr<File> f = co_await File::Open(path, o);
    if (!f.ok()) {
      // tmpfs and some other file systems refuse O_DIRECT altogether.
      co_return std::vector<int>{-1};
    }
    std::vector<int> out;
    FixedBuf aligned = Driver::Current()->buffers().Allocate(4096);
    aligned.Assign(std::string(4096, 'd'));
    BufResult ok = co_await f->WriteAt(std::move(aligned), 0);
    out.push_back(ok.res.raw());
    FixedBuf odd = FixedBuf::Heap(4096);
    odd.Assign(std::string(100, 'd'));  // 100 bytes: not a block multiple
    BufResult bad = co_await f->WriteAt(std::move(odd), 0);
    out.push_back(bad.res.raw());
    co_return out;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  if (*r == std::vector<int>{-1})
    GTEST_SKIP() << "no O_DIRECT on this file system";
  EXPECT_EQ(*r, (std::vector<int>{4096, -EINVAL}));
}

TEST_P(FileTest, VectoredAndAppend) {
  const std::string path = dir_ + "/vec";
  auto r = RunOnRuntime(Options(), [path]() -> Task<std::string> {
    absl::StatusOr<File> f =
        co_await File::Open(path, OpenOptions::CreateOrTruncate());
    std::vector<FixedBuf> out;
    out.push_back(FixedBuf::Copy("abc"));
    out.push_back(FixedBuf::Copy("defgh"));
    Driver::XResult w = co_await f->WritevAt(std::move(out), 0);
    EXPECT_EQ(w.res.value(), 8);
    EXPECT_EQ(w.extra->bufs.size(), 2u);  // the buffers come back
    std::vector<FixedBuf> in;
    in.push_back(FixedBuf::Heap(2));
    in.push_back(FixedBuf::Heap(10));
    Driver::XResult rd = co_await f->ReadvAt(std::move(in), 0);
    std::string got = std::string(rd.extra->bufs[0].view()) + "|" +
                      std::string(rd.extra->bufs[1].view());
    absl::StatusOr<File> a = co_await File::Open(path, OpenOptions::Append());
    co_await a->Write(FixedBuf::Copy("XY"));
    absl::StatusOr<FixedBuf> all =
        co_await f->ReadFullAt(FixedBuf::Heap(64), 64, 0);
    co_return got + "|" + std::string(all->view());
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, "ab|cdefgh|abcdefghXY");
}

TEST_P(FileTest, DirectoriesRenameRemoveList) {
  const std::string dir = dir_;
  auto r = RunOnRuntime(Options(), [dir]() -> Task<std::vector<std::string>> {
    EXPECT_TRUE((co_await CreateDir(dir + "/sub")).ok());
    for (const char* name : {"a", "b", "c"}) {
      absl::StatusOr<File> f = co_await File::Open(
          dir + "/sub/" + name, OpenOptions::CreateOrTruncate());
      EXPECT_TRUE(f.ok());
    }
    EXPECT_TRUE((co_await Rename(dir + "/sub/c", dir + "/sub/d")).ok());
    EXPECT_TRUE((co_await Remove(dir + "/sub/a")).ok());
    absl::StatusOr<FileMetadata> m = co_await Metadata(dir + "/sub");
    EXPECT_TRUE(m.ok() && m->is_dir());
    absl::StatusOr<std::vector<DirEntry>> list = co_await ReadDir(dir + "/sub");
    std::vector<std::string> names;
    for (const DirEntry& e : *list) {
      EXPECT_EQ(e.type, DT_REG);
      names.push_back(e.name);
    }
    std::sort(names.begin(), names.end());
    EXPECT_EQ((co_await Remove(dir + "/sub", true)).code(),
              absl::StatusCode::kFailedPrecondition);  // ENOTEMPTY
    co_return names;
  });
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(*r, (std::vector<std::string>{"b", "d"}));
}

}  // namespace
}  // namespace veloq::io
