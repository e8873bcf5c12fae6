#pragma once

#include <cstdint>
#include <cstring>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "io/buffer/fixed_buf.h"
#include "io/net/tcp.h"
#include "runtime/task.h"

namespace veloq::io {

// BufferedReader reads a stream (TcpStream, TcpReadHalf, or anything with
// `Read(BufSlice, Deadline)` yielding a BufResult) through one FixedBuf, so
// protocol parsers ask for lines, byte counts or frames instead of
// juggling offsets. Returned views point into the buffer and stay valid
// until the next call on the reader.
//
// The buffer's capacity bounds a line or frame: a longer one is
// ResourceExhausted (the stream is then out of step; close it). End of
// stream: OutOfRange ("end of stream"), with whatever was buffered still
// in buffered().
//
// Not thread-safe; one task at a time. The stream must outlive the reader.
template <typename Stream>
class BufferedReader {
 public:
  BufferedReader(const Stream& stream, FixedBuf buf)
      : stream_(&stream), buf_(std::move(buf)) {}

  // Bytes read and not yet consumed.
  absl::string_view buffered() const {
    return absl::string_view(buf_.data() + start_, buf_.size() - start_);
  }
  void Consume(size_t n) {
    start_ += std::min(n, buf_.size() - start_);
    if (start_ == buf_.size()) {
      start_ = 0;
      buf_.clear();
    }
  }

  // Reads once more into the free space (moving the unconsumed bytes to
  // the front first). Bytes read; 0 at end of stream.
  runtime::Task<absl::StatusOr<size_t>> Fill(Deadline deadline = {}) {
    if (start_ > 0) {
      const size_t n = buf_.size() - start_;
      std::memmove(buf_.data(), buf_.data() + start_, n);
      buf_.set_size(n);
      start_ = 0;
    }
    const size_t end = buf_.size();
    if (end == buf_.capacity()) {
      co_return absl::ResourceExhaustedError(absl::StrCat(
          "buffered reader: more than ", buf_.capacity(), " bytes needed"));
    }
    const size_t cap = buf_.capacity();  // (before buf_ moves)
    BufResult r =
        co_await stream_->Read(BufSlice(std::move(buf_), end, cap), deadline);
    buf_ = std::move(r.buf);
    if (!r.res.ok()) {
      buf_.set_size(end);
      co_return SocketError(r.res, "read");
    }
    co_return static_cast<size_t>(r.res.value());
  }

  // The next line, without its "\n" or "\r\n"; consumed.
  runtime::Task<absl::StatusOr<absl::string_view>> ReadLine(
      Deadline deadline = {}) {
    size_t scanned = 0;
    for (;;) {
      const absl::string_view have = buffered();
      const size_t nl = have.find('\n', scanned);
      if (nl != absl::string_view::npos) {
        absl::string_view line = have.substr(0, nl);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        start_ += nl + 1;  // consumed; the view stays valid until next call
        co_return line;
      }
      scanned = have.size();
      absl::StatusOr<size_t> n = co_await Fill(deadline);
      if (!n.ok()) co_return n.status();
      if (*n == 0) co_return absl::OutOfRangeError("end of stream");
      // Fill may have moved the data to the front: scanned counts from it.
    }
  }

  // Exactly `n` bytes; consumed.
  runtime::Task<absl::StatusOr<absl::string_view>> ReadExactly(
      size_t n, Deadline deadline = {}) {
    if (n > buf_.capacity()) {
      co_return absl::ResourceExhaustedError(
          absl::StrCat("buffered reader: ", n, " bytes asked of a ",
                       buf_.capacity(), "-byte buffer"));
    }
    while (buffered().size() < n) {
      // (Fill compacts first, so n <= capacity always fits.)
      absl::StatusOr<size_t> got = co_await Fill(deadline);
      if (!got.ok()) co_return got.status();
      if (*got == 0) {
        co_return absl::OutOfRangeError(absl::StrCat(
            "end of stream after ", buffered().size(), " of ", n, " bytes"));
      }
    }
    absl::string_view out = buffered().substr(0, n);
    start_ += n;
    co_return out;
  }

  // A frame: a 4-byte big-endian length, then that many bytes (at most
  // `max_payload`); the payload.
  runtime::Task<absl::StatusOr<absl::string_view>> ReadFrame(
      size_t max_payload, Deadline deadline = {}) {
    absl::StatusOr<absl::string_view> head = co_await ReadExactly(4, deadline);
    if (!head.ok()) co_return head.status();
    const auto* p = reinterpret_cast<const unsigned char*>(head->data());
    const size_t len = size_t{p[0]} << 24 | size_t{p[1]} << 16 |
                       size_t{p[2]} << 8 | size_t{p[3]};
    if (len > max_payload) {
      co_return absl::InvalidArgumentError(absl::StrCat(
          "frame of ", len, " bytes over the limit of ", max_payload));
    }
    co_return co_await ReadExactly(len, deadline);
  }

  // The buffer, for reuse (the reader is done).
  FixedBuf Release() && { return std::move(buf_); }

 private:
  const Stream* stream_;
  FixedBuf buf_;      // data in [start_, size())
  size_t start_ = 0;  // first unconsumed byte
};

// BufferedWriter gathers small writes in one FixedBuf and sends them with
// WriteAll when it fills or on Flush (Stream: TcpStream, TcpWriteHalf...).
// Not thread-safe; the stream must outlive the writer.
template <typename Stream>
class BufferedWriter {
 public:
  BufferedWriter(const Stream& stream, FixedBuf buf)
      : stream_(&stream), buf_(std::move(buf)) {}

  size_t pending() const { return buf_.size(); }

  // Appends `data`, flushing as the buffer fills (data larger than the
  // buffer goes through in buffer-sized pieces).
  runtime::Task<absl::Status> Write(absl::string_view data,
                                    Deadline deadline = {}) {
    while (!data.empty()) {
      const size_t n = buf_.Append(data);
      data.remove_prefix(n);
      if (!data.empty()) {
        absl::Status s = co_await Flush(deadline);
        if (!s.ok()) co_return s;
      }
    }
    co_return absl::OkStatus();
  }

  // A 4-byte big-endian length, then `payload`.
  runtime::Task<absl::Status> WriteFrame(absl::string_view payload,
                                         Deadline deadline = {}) {
    if (payload.size() > 0xffffffffu) {
      co_return absl::InvalidArgumentError("frame over 4 GiB");
    }
    const uint32_t n = static_cast<uint32_t>(payload.size());
    const char head[4] = {static_cast<char>(n >> 24),
                          static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                          static_cast<char>(n)};
    absl::Status s = co_await Write(absl::string_view(head, 4), deadline);
    if (!s.ok()) co_return s;
    co_return co_await Write(payload, deadline);
  }

  // Sends everything buffered.
  runtime::Task<absl::Status> Flush(Deadline deadline = {}) {
    if (buf_.size() == 0) co_return absl::OkStatus();
    BufStatus w = co_await stream_->WriteAll(std::move(buf_), deadline);
    buf_ = std::move(w.buf);
    buf_.clear();
    co_return w.status;
  }

 private:
  const Stream* stream_;
  FixedBuf buf_;
};

}  // namespace veloq::io
