#pragma once

#include <memory>
#include <sstream>
#include <string>

#include "spdlog/sinks/ostream_sink.h"
#include "spdlog/spdlog.h"

namespace veloq::testing {

// Captures what is logged through spdlog's default logger for the guard's
// life (and restores the previous logger after), so a test can assert on a
// log line:
//
//   LogCapture logs;
//   ... code that logs ...
//   EXPECT_NE(logs.text().find("stall"), std::string::npos);
//
// Thread-compatible; the capturing sink itself is thread-safe (shards may
// log while it is installed).
class LogCapture {
 public:
  LogCapture()
      : previous_(spdlog::default_logger()),
        sink_(std::make_shared<spdlog::sinks::ostream_sink_mt>(out_)) {
    spdlog::set_default_logger(
        std::make_shared<spdlog::logger>("captured", sink_));
  }
  ~LogCapture() { spdlog::set_default_logger(previous_); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const {
    sink_->flush();
    return out_.str();
  }

 private:
  std::ostringstream out_;
  std::shared_ptr<spdlog::logger> previous_;
  std::shared_ptr<spdlog::sinks::ostream_sink_mt> sink_;
};

}  // namespace veloq::testing
