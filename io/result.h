#pragma once

#include <cerrno>
#include <cstdint>
#include <system_error>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "io/buffer/fixed_buf.h"

namespace veloq::io {

// Result is what an I/O op yields on the hot path: the kernel's result
// (>= 0: bytes, a file descriptor...) or a negative errno. No allocation, no
// exception; convert with status() or error_code() at the public edge.
class Result {
 public:
  constexpr explicit Result(int32_t res = 0) : res_(res) {}

  bool ok() const { return res_ >= 0; }
  // REQUIRES: ok().
  int32_t value() const { return res_; }
  // The errno (0 if ok()).
  int error() const { return res_ < 0 ? -res_ : 0; }
  int32_t raw() const { return res_; }

  std::error_code error_code() const {
    return std::error_code(error(), std::generic_category());
  }
  absl::Status status(absl::string_view what = "io") const {
    if (ok()) return absl::OkStatus();
    return absl::ErrnoToStatus(error(), what);
  }

 private:
  int32_t res_;
};

// What an op with a buffer yields: its result and the buffer, back from the
// kernel (`auto [res, buf] = co_await driver.Read(fd, std::move(buf), 0);`).
class BufResult {
 public:
  BufResult(Result r, FixedBuf b) : res(r), buf(std::move(b)) {}
  BufResult(BufResult&&) noexcept = default;
  BufResult& operator=(BufResult&&) noexcept = default;

  Result res;
  FixedBuf buf;
};

}  // namespace veloq::io
