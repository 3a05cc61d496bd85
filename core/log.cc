#include "core/log.h"
#include "absl/strings/string_view.h"

#include <sys/time.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>

namespace ringpost::core {
namespace internal {
std::atomic<int> g_log_level{static_cast<int>(LogLevel::kInfo)};
}  // namespace internal

namespace {
thread_local char t_thread_name[16] = "main";

const char* LevelLetter(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "D";
    case LogLevel::kInfo:
      return "I";
    case LogLevel::kWarning:
      return "W";
    case LogLevel::kError:
      return "E";
  }
  return "?";
}
}  // namespace

void SetLogLevel(LogLevel level) {
  internal::g_log_level.store(static_cast<int>(level), std::memory_order_relaxed);
}

absl::Status ParseLogLevel(absl::string_view text, LogLevel* level) {
  if (text == "debug")
    *level = LogLevel::kDebug;
  else if (text == "info")
    *level = LogLevel::kInfo;
  else if (text == "warning")
    *level = LogLevel::kWarning;
  else if (text == "error")
    *level = LogLevel::kError;
  else
    return absl::InvalidArgumentError("expected debug, info, warning or error");
  return absl::OkStatus();
}

void SetThreadLogName(absl::string_view name) {
  const size_t n = std::min(name.size(), sizeof(t_thread_name) - 1);
  std::memcpy(t_thread_name, name.data(), n);
  t_thread_name[n] = '\0';
}

LogLine::LogLine(LogLevel level, const char* file, int line) {
  timeval tv;
  gettimeofday(&tv, nullptr);
  tm parts;
  gmtime_r(&tv.tv_sec, &parts);
  char seconds[24];
  std::strftime(seconds, sizeof(seconds), "%Y-%m-%dT%H:%M:%S", &parts);
  char stamp[40];
  std::snprintf(stamp, sizeof(stamp), "%.20s.%03dZ", seconds, static_cast<int>(tv.tv_usec / 1000) % 1000);
  const char* base = std::strrchr(file, '/');
  stream_ << LevelLetter(level) << ' ' << stamp << ' ' << t_thread_name << ' ' << (base ? base + 1 : file)
          << ':' << line << "] ";
}

LogLine::~LogLine() {
  stream_ << '\n';
  const std::string text = stream_.str();
  // One write per line: atomic for lines under PIPE_BUF on pipes, and never interleaved
  // mid-line by stdio buffering of another thread.
  ssize_t ignored = ::write(STDERR_FILENO, text.data(), text.size());
  (void)ignored;
}

}  // namespace ringpost::core
