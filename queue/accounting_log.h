// The accounting log (DESIGN.md: --accounting_log, --accounting_log_max_bytes): one
// JSON line per recipient per delivery attempt outcome (queue/schedule/accounting_line.h).
//
// One AccountingLog describes the file for the whole daemon; each shard writes through
// its own AccountingWriter, with its own descriptor, so no shard ever waits for
// another: the file is opened O_APPEND, and each write(2) of whole lines lands whole
// at the end, whichever shard makes it. The writer gathers a loop turn's lines and
// writes them once (Flush, at the end of the turn).
//
// Rotation: the shard whose write takes the file past the size limit renames it to
// PATH.1 (PATH.1 to PATH.2, ... up to PATH.4; the oldest is dropped) and starts a new
// one; the others see the rotation's generation change and reopen PATH before their
// next write (lines written just before that land at the end of PATH.1). Only atomics
// are shared. Write errors are logged once per writer and never stop delivery.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "queue/schedule/accounting_line.h"

namespace ringpost::queue {

class AccountingLog {
 public:
  static constexpr int kRotatedFilesKept = 4;
  // An empty path turns the log off.
  AccountingLog(std::string path, uint64_t max_bytes);
  AccountingLog(const AccountingLog&) = delete;
  AccountingLog& operator=(const AccountingLog&) = delete;

  // Creates the folder, checks that the file opens for appending, and reads its size.
  absl::Status Open();
  bool enabled() const { return !path_.empty(); }
  const std::string& path() const { return path_; }

 private:
  friend class AccountingWriter;
  // Renames the files if no other writer is doing so; true when it did.
  bool Rotate();

  const std::string path_;
  const uint64_t max_bytes_;
  std::atomic<uint64_t> size_{0};        // bytes in PATH, as the writers counted them
  std::atomic<uint64_t> generation_{0};  // rotations so far
  std::atomic<bool> rotating_{false};
};

class AccountingWriter {
 public:
  explicit AccountingWriter(AccountingLog& log) : log_(log) {}
  ~AccountingWriter();
  AccountingWriter(const AccountingWriter&) = delete;
  AccountingWriter& operator=(const AccountingWriter&) = delete;

  bool enabled() const { return log_.enabled(); }
  // Whole lines, written at the next Flush.
  void Append(absl::string_view lines) {
    if (log_.enabled()) buffer_.append(lines.data(), lines.size());
  }
  // One write of everything appended since the last flush.
  void Flush();

 private:
  bool Reopen();
  AccountingLog& log_;
  std::string buffer_;
  int fd_ = -1;
  uint64_t generation_ = 0;  // of the file fd_ names
  bool error_logged_ = false;
};

}  // namespace ringpost::queue
