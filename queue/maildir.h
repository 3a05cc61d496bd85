// Local delivery into Maildirs (DESIGN.md: --local_domains, --maildir_root).
//
// A message for user@domain becomes one file in ROOT/<domain>/<user>/new/, written the
// way Maildir readers expect (https://cr.yp.to/proto/maildir.html): the bytes go to a
// unique name in tmp/, are fsynced, and are renamed into new/; then new/ itself is
// fsynced, so a reported success survives a crash. The folders are created (0700) on
// first use. The stored message gets `Return-Path:` and `Delivered-To:` on top and Unix
// line endings (what Maildir readers such as Dovecot and mutt store and expect).
//
// PlanMaildirFile is pure: the names, and the refusal of unsafe ones (callers refused
// unsafe local parts at RCPT already; this checks again, defence in depth). The
// MaildirWriter carries a plan out on the shard's ring, every step an io_uring
// operation (mkdirat, openat, writev, fsync, close, renameat), so a local delivery's
// two fsyncs never block the shard.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "core/shard.h"

namespace ringpost::queue {

struct MaildirMessage {
  std::string domain;       // canonical
  std::string local_part;   // as given in RCPT (the folder is its unquoted, lower-cased form)
  std::string return_path;  // envelope sender, empty for the null sender
  std::string delivered_to;
};

// The folder a local part names: quotes and backslashes of a quoted local part (RFC 5321
// §4.1.2) removed, lower-cased (local users are case-insensitive here, as in most MTAs'
// local delivery). Empty when it could leave its parent folder ('/', a leading '.',
// "..", NUL) or is not valid UTF-8.
std::string MaildirFolderName(absl::string_view local_part);

// Where one delivery goes and what it writes first.
struct MaildirFile {
  std::vector<std::string> folders;  // to create, parents first
  std::string tmp_path;
  std::string new_path;
  std::string new_folder;  // synced once the file is renamed into it
  std::string header;      // Return-Path: and Delivered-To:, Unix line endings
};

// `unique` tells deliveries of this process apart; `host` names this machine in the
// file name (time.M<micros>P<pid>Q<unique>.host). InvalidArgument for a name that
// could leave its folder.
absl::StatusOr<MaildirFile> PlanMaildirFile(const std::string& root, const MaildirMessage& message,
                                            uint64_t unique, absl::Time now, int pid, absl::string_view host);

// The stored body (CRLF line endings) as a Maildir stores it (LF), in one pass.
std::string UnixLines(absl::string_view body);

class MaildirWriter final : public core::CompletionSink {
 public:
  // `done` hears the delivered file's path, or the error (its errno class kept:
  // ENOSPC → ResourceExhausted, EACCES → PermissionDenied, ...; InvalidArgument for an
  // unsafe name), always after Deliver returned.
  using Done = std::function<void(const absl::Status& status, const std::string& path)>;

  MaildirWriter(core::Shard& shard, std::string root);
  ~MaildirWriter();
  MaildirWriter(const MaildirWriter&) = delete;
  MaildirWriter& operator=(const MaildirWriter&) = delete;

  // `body` (Unix lines, UnixLines) is shared by the recipients of one message and kept
  // alive until `done`.
  void Deliver(const MaildirMessage& message, std::shared_ptr<const std::string> body, Done done);
  size_t in_flight() const { return in_flight_; }

  void OnCompletion(const core::Completion& completion) override;

 private:
  struct Delivery;
  void Step(Delivery& d);
  void Finish(Delivery& d, const absl::Status& status);
  void Submit(Delivery& d, io_uring_sqe* sqe);

  core::Shard& shard_;
  const std::string root_;
  const std::string host_;
  std::vector<std::unique_ptr<Delivery>> slots_;
  std::vector<uint32_t> free_slots_;
  size_t in_flight_ = 0;
  uint64_t unique_ = 0;
};

}  // namespace ringpost::queue
