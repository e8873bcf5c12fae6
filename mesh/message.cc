#include "mesh/message.h"

#include <atomic>
#include <cstdio>
#include <exception>
#include <typeinfo>
#include <utility>

namespace veloq::mesh {
namespace {

void PrintToStderr(std::exception_ptr e) {
  const char* what = "an exception not derived from std::exception";
#if defined(__cpp_exceptions)
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    std::fprintf(stderr,
                 "veloq::mesh: a message closure threw %s: %s (dropped; the "
                 "receiver goes on)\n",
                 typeid(ex).name(), ex.what());
    return;
  } catch (...) {
  }
#endif
  std::fprintf(stderr,
               "veloq::mesh: a message closure threw %s (dropped; the "
               "receiver goes on)\n",
               what);
}

std::atomic<MessageExceptionHandler> g_handler{nullptr};

}  // namespace

void SetMessageExceptionHandler(MessageExceptionHandler handler) {
  g_handler.store(handler, std::memory_order_release);
}

MessageExceptionHandler GetMessageExceptionHandler() {
  return g_handler.load(std::memory_order_acquire);
}

namespace internal {

void ReportMessageException(std::exception_ptr e) noexcept {
  MessageExceptionHandler h = g_handler.load(std::memory_order_acquire);
  (h != nullptr ? h : &PrintToStderr)(std::move(e));
}

}  // namespace internal
}  // namespace veloq::mesh
