#include "queue/accounting_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace ringpost::queue {

AccountingLog::AccountingLog(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

absl::Status AccountingLog::Open() {
  if (path_.empty()) return absl::OkStatus();
  // Create the parent folders (one level at a time, like mkdir -p).
  for (size_t slash = path_.find('/', 1); slash != std::string::npos; slash = path_.find('/', slash + 1)) {
    const std::string dir = path_.substr(0, slash);
    if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("--accounting_log: mkdir ", dir));
    }
  }
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) return absl::ErrnoToStatus(errno, absl::StrCat("--accounting_log: open ", path_));
  struct stat st {};
  if (fstat(fd, &st) == 0) size_.store(static_cast<uint64_t>(st.st_size), std::memory_order_relaxed);
  close(fd);
  return absl::OkStatus();
}

bool AccountingLog::Rotate() {
  if (rotating_.exchange(true, std::memory_order_acq_rel)) return false;  // another writer is at it
  for (int i = kRotatedFilesKept - 1; i >= 1; --i) {
    rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
  }
  rename(path_.c_str(), absl::StrCat(path_, ".1").c_str());
  size_.store(0, std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_release);
  rotating_.store(false, std::memory_order_release);
  return true;
}

AccountingWriter::~AccountingWriter() {
  Flush();
  if (fd_ >= 0) close(fd_);
}

bool AccountingWriter::Reopen() {
  const uint64_t generation = log_.generation_.load(std::memory_order_acquire);
  if (fd_ >= 0 && generation == generation_) return true;
  const int fd = open(log_.path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    if (!error_logged_) {
      RP_LOG(kError) << "accounting log " << log_.path_ << ": open failed: " << strerror(errno);
    }
    error_logged_ = true;
    return fd_ >= 0;  // keep writing to the renamed file rather than lose lines
  }
  if (fd_ >= 0) close(fd_);
  fd_ = fd;
  generation_ = generation;
  return true;
}

void AccountingWriter::Flush() {
  if (buffer_.empty()) return;
  const uint64_t before = log_.size_.load(std::memory_order_relaxed);
  if (before > 0 && before + buffer_.size() > log_.max_bytes_) log_.Rotate();
  log_.size_.fetch_add(buffer_.size(), std::memory_order_relaxed);
  if (!Reopen()) {
    buffer_.clear();
    return;
  }
  absl::string_view lines = buffer_;
  while (!lines.empty()) {
    const ssize_t n = write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!error_logged_) {
        RP_LOG(kError) << "accounting log " << log_.path_ << ": write failed: " << strerror(errno);
      }
      error_logged_ = true;
      break;
    }
    lines.remove_prefix(static_cast<size_t>(n));
  }
  buffer_.clear();
}

}  // namespace ringpost::queue
