// The accounting log (DESIGN.md: --accounting_log, --accounting_log_max_bytes): one
// JSON object per line per delivery attempt outcome, for operators and their tools.
//
//   {"time":"2026-11-29T12:00:00.123456Z","queue_id":"...","from":"a@x","rcpt":"b@y",
//    "domain":"y","host":"127.0.0.1:25","result":"delivered","code":250,
//    "status":"2.0.0","text":"250 2.0.0 Ok","attempt":1,
//    "tls":"TLSv1.3 TLS_AES_128_GCM_SHA256","tls_verified":false,"possible_duplicate":false}
//
// "tls" is "none" for plaintext; "tls_verified" says whether the next hop's certificate
// chained to a trusted root (--tls_ca_file) and named the MX host.
//
// Shared by every shard: one mutex around one write(2) per batch of lines (delivery is
// not the per-byte hot path; a batch is a message's recipients). When the file passes
// the size limit it is renamed to PATH.1 (PATH.1 to PATH.2, ... up to PATH.4; the oldest
// is dropped) and a new one begins. Write errors are logged once and never stop delivery.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::queue {

struct AccountingEntry {
  absl::Time time;
  absl::string_view queue_id, from, rcpt, domain, host, result, status, text, tls;
  int code = 0;
  uint32_t attempt = 0;
  bool tls_verified = false;
  bool possible_duplicate = false;
};

// Appends one JSON line (with its newline) to `out`. Strings are escaped per RFC 8259
// (bytes that are not valid UTF-8 become U+FFFD, so every line parses).
void AppendAccountingLine(const AccountingEntry& entry, std::string* out);

class AccountingLog {
 public:
  static constexpr int kRotatedFilesKept = 4;
  // An empty path turns the log off.
  AccountingLog(std::string path, uint64_t max_bytes);
  ~AccountingLog();
  AccountingLog(const AccountingLog&) = delete;
  AccountingLog& operator=(const AccountingLog&) = delete;

  // Creates the folder and opens the file for appending.
  absl::Status Open();
  // Writes whole lines (thread-safe).
  void Write(absl::string_view lines);
  bool enabled() const { return !path_.empty(); }

 private:
  void RotateLocked();
  const std::string path_;
  const uint64_t max_bytes_;
  std::mutex mutex_;
  int fd_ = -1;
  uint64_t size_ = 0;
  bool error_logged_ = false;
};

}  // namespace ringpost::queue
