// A small logging facility: one line per event on stderr, with a level filter.
//
// RP_LOG(kInfo) << "accepted " << n;  — when the level is filtered out the stream
// expression is never evaluated (one relaxed load and a branch), so disabled debug
// logging is near-free on hot paths. Each line is assembled in a local buffer and
// written with one write(2), so lines from different shard threads never interleave.
// Thread-safe; the level is process-wide and normally set once at start-up.
#pragma once

#include <atomic>
#include <sstream>
#include "absl/strings/string_view.h"

#include "absl/status/status.h"

namespace ringpost::core {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

namespace internal {
extern std::atomic<int> g_log_level;
}  // namespace internal

inline bool LogEnabled(LogLevel level) {
  return static_cast<int>(level) >= internal::g_log_level.load(std::memory_order_relaxed);
}
void SetLogLevel(LogLevel level);
// Parses "debug", "info", "warning" or "error".
absl::Status ParseLogLevel(absl::string_view text, LogLevel* level);

// Names the calling thread in log lines (e.g. "shard-1"); main is "main".
void SetThreadLogName(absl::string_view name);

class LogLine {
 public:
  LogLine(LogLevel level, const char* file, int line);
  ~LogLine();  // writes the line
  LogLine(const LogLine&) = delete;
  LogLine& operator=(const LogLine&) = delete;
  std::ostream& stream() { return stream_; }

 private:
  std::ostringstream stream_;
};

}  // namespace ringpost::core

#define RP_LOG(level)                                                     \
  if (!::ringpost::core::LogEnabled(::ringpost::core::LogLevel::level)) { \
  } else                                                                  \
    ::ringpost::core::LogLine(::ringpost::core::LogLevel::level, __FILE__, __LINE__).stream()
