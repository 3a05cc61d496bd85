#include "queue/accounting_log.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace ringpost::queue {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 (RFC 3629).
size_t Utf8SequenceLength(absl::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned char c = byte(i);
  size_t n;
  if (c >= 0xC2 && c <= 0xDF) {
    n = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    n = 3;
  } else if (c >= 0xF0 && c <= 0xF4) {
    n = 4;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  if (c == 0xE0 && byte(i + 1) < 0xA0) return 0;  // overlong
  if (c == 0xED && byte(i + 1) > 0x9F) return 0;  // surrogates
  if (c == 0xF0 && byte(i + 1) < 0x90) return 0;  // overlong
  if (c == 0xF4 && byte(i + 1) > 0x8F) return 0;  // past U+10FFFF
  return n;
}

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out->push_back('\\');
      out->push_back(static_cast<char>(c));
    } else if (c < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
      out->append(escaped);
    } else if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (const size_t n = Utf8SequenceLength(s, i); n > 0) {
      out->append(s.data() + i, n);
      i += n;
      continue;
    } else {
      out->append("\\ufffd");
    }
    ++i;
  }
  out->push_back('"');
}

}  // namespace

void AppendAccountingLine(const AccountingEntry& e, std::string* out) {
  absl::StrAppend(out, "{\"time\":\"", absl::FormatTime("%Y-%m-%dT%H:%M:%E6SZ", e.time, absl::UTCTimeZone()),
                  "\",\"queue_id\":");
  AppendJsonString(e.queue_id, out);
  out->append(",\"from\":");
  AppendJsonString(e.from, out);
  out->append(",\"rcpt\":");
  AppendJsonString(e.rcpt, out);
  out->append(",\"domain\":");
  AppendJsonString(e.domain, out);
  out->append(",\"host\":");
  AppendJsonString(e.host, out);
  out->append(",\"result\":");
  AppendJsonString(e.result, out);
  absl::StrAppend(out, ",\"code\":", e.code, ",\"status\":");
  AppendJsonString(e.status, out);
  out->append(",\"text\":");
  AppendJsonString(e.text, out);
  absl::StrAppend(out, ",\"attempt\":", e.attempt, ",\"tls\":");
  AppendJsonString(e.tls, out);
  absl::StrAppend(out, ",\"tls_verified\":", e.tls_verified ? "true" : "false");
  absl::StrAppend(out, ",\"possible_duplicate\":", e.possible_duplicate ? "true" : "false", "}\n");
}

AccountingLog::AccountingLog(std::string path, uint64_t max_bytes)
    : path_(std::move(path)), max_bytes_(max_bytes) {}

AccountingLog::~AccountingLog() {
  if (fd_ >= 0) close(fd_);
}

absl::Status AccountingLog::Open() {
  if (path_.empty()) return absl::OkStatus();
  // Create the parent folders (one level at a time, like mkdir -p).
  for (size_t slash = path_.find('/', 1); slash != std::string::npos; slash = path_.find('/', slash + 1)) {
    const std::string dir = path_.substr(0, slash);
    if (mkdir(dir.c_str(), 0750) != 0 && errno != EEXIST) {
      return absl::ErrnoToStatus(errno, absl::StrCat("--accounting_log: mkdir ", dir));
    }
  }
  fd_ = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd_ < 0) return absl::ErrnoToStatus(errno, absl::StrCat("--accounting_log: open ", path_));
  struct stat st {};
  if (fstat(fd_, &st) == 0) size_ = static_cast<uint64_t>(st.st_size);
  return absl::OkStatus();
}

void AccountingLog::Write(absl::string_view lines) {
  if (path_.empty() || lines.empty()) return;
  std::lock_guard<std::mutex> lock(mutex_);
  if (fd_ < 0) return;
  if (size_ > 0 && size_ + lines.size() > max_bytes_) RotateLocked();
  while (!lines.empty()) {
    const ssize_t n = write(fd_, lines.data(), lines.size());
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      if (!error_logged_) {
        RP_LOG(kError) << "accounting log " << path_ << ": write failed, errno " << errno;
      }
      error_logged_ = true;
      return;
    }
    size_ += static_cast<uint64_t>(n);
    lines.remove_prefix(static_cast<size_t>(n));
  }
}

void AccountingLog::RotateLocked() {
  for (int i = kRotatedFilesKept - 1; i >= 1; --i) {
    rename(absl::StrCat(path_, ".", i).c_str(), absl::StrCat(path_, ".", i + 1).c_str());
  }
  rename(path_.c_str(), absl::StrCat(path_, ".1").c_str());
  const int fd = open(path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    if (!error_logged_) {
      RP_LOG(kError) << "accounting log " << path_ << ": reopen failed, errno " << errno;
    }
    error_logged_ = true;
    return;  // keep writing to the renamed file rather than lose lines
  }
  close(fd_);
  fd_ = fd;
  size_ = 0;
}

}  // namespace ringpost::queue
