#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "runtime/log.h"

namespace veloq::testing {

// Captures every log line (runtime/log.h's module loggers, and spdlog's
// default logger once a runtime has installed it) for the guard's life, so
// a test can assert on a log line:
//
//   LogCapture logs;
//   ... code that logs ...
//   EXPECT_NE(logs.text().find("stall"), std::string::npos);
//
// Lines are captured as formatted (with shard id and module), one per line.
// Thread-compatible; the capturing sink itself is thread-safe (shards may
// log while it is installed). At most one LogCapture at a time.
class LogCapture {
 public:
  LogCapture() : state_(std::make_shared<State>()) {
    log::SetSinkForTesting([s = state_](std::string_view line) {
      std::lock_guard<std::mutex> lock(s->mu);
      s->text.append(line.data(), line.size());
      s->text += '\n';
    });
  }
  ~LogCapture() { log::SetSinkForTesting(nullptr); }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;

  std::string text() const {
    std::lock_guard<std::mutex> lock(state_->mu);
    return state_->text;
  }

 private:
  struct State {
    std::mutex mu;
    std::string text;
  };
  std::shared_ptr<State> state_;
};

}  // namespace veloq::testing
