// Real child processes for integration tests: spawn, read stdout lines with a
// deadline, signal, and wait with a deadline. Tests wait on conditions (a line
// appearing, an exit), never on sleeps.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace ringpost::testing {

class Subprocess {
 public:
  // Starts argv[0] with the given arguments; stdout (and stderr when
  // `merge_stderr`) are captured.
  explicit Subprocess(const std::vector<std::string>& argv, bool merge_stderr = false);
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  ~Subprocess();  // kills the child if it still runs

  pid_t pid() const { return pid_; }
  // The next whole line of output, or nullopt at EOF or when `timeout` passes.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  // Reads lines until one contains `needle`; returns it.
  std::optional<std::string> WaitForLine(const std::string& needle, std::chrono::milliseconds timeout);
  // Everything read so far, lines joined with '\n'.
  const std::string& transcript() const { return transcript_; }
  void Signal(int signo);
  // The exit status (WEXITSTATUS), -signal for a signal death, nullopt on timeout.
  std::optional<int> Wait(std::chrono::milliseconds timeout);
  // Reads all remaining output until EOF (bounded by `timeout`).
  std::string ReadAll(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int out_fd_ = -1;
  std::string pending_;
  std::string transcript_;
  std::optional<int> status_;
};

// Runs a command to completion: {exit status, combined output}.
std::pair<int, std::string> RunCommand(const std::vector<std::string>& argv,
                                       std::chrono::milliseconds timeout);

// Path of a binary built in this tree (RINGPOST_BINARY_DIR/relative).
std::string BuildPath(const std::string& relative);

}  // namespace ringpost::testing
