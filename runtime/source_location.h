#pragma once

#include <cstdint>

namespace veloq {

// SourceLocation records where a task was spawned. std::source_location is
// not available to clang 14 with libstdc++ 12, so this uses the builtins both
// compilers share. Thread-compatible value type; strings are static.
class SourceLocation {
 public:
  static constexpr SourceLocation Current(
      const char* file = __builtin_FILE(), uint32_t line = __builtin_LINE(),
      const char* function = __builtin_FUNCTION()) {
    return SourceLocation(file, line, function);
  }

  constexpr SourceLocation() = default;

  constexpr const char* file_name() const { return file_; }
  constexpr uint32_t line() const { return line_; }
  constexpr const char* function_name() const { return function_; }

 private:
  constexpr SourceLocation(const char* file, uint32_t line,
                           const char* function)
      : file_(file), line_(line), function_(function) {}

  const char* file_ = "";
  uint32_t line_ = 0;
  const char* function_ = "";
};

}  // namespace veloq
