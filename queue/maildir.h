// Local delivery into Maildirs (DESIGN.md: --local_domains, --maildir_root).
//
// A message for user@domain becomes one file in ROOT/<domain>/<user>/new/, written the
// way Maildir readers expect (https://cr.yp.to/proto/maildir.html): the bytes go to a
// unique name in tmp/, are fsynced, and are renamed into new/; then new/ itself is
// fsynced, so a reported success survives a crash. The folders are created (0700) on
// first use. The stored message gets `Return-Path:` and `Delivered-To:` on top and Unix
// line endings (what Maildir readers such as Dovecot and mutt store and expect).
//
// Plain blocking file calls on the delivering shard's thread: a local delivery costs
// two fsyncs, and local domains are the small side of a gateway's traffic. Callers
// have already refused unsafe local parts at RCPT; this checks again (defence in depth).
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ringpost::queue {

struct MaildirMessage {
  std::string domain;       // canonical
  std::string local_part;   // as given in RCPT (the folder is its unquoted, lower-cased form)
  std::string return_path;  // envelope sender, empty for the null sender
  std::string delivered_to;
  absl::string_view body;  // stored form, CRLF line endings
};

// Returns the path of the new file in `*delivered_path` on success. Errors keep their
// errno class (ENOSPC → ResourceExhausted, EACCES → PermissionDenied, ...), which the
// caller turns into a deferral.
absl::Status DeliverToMaildir(const std::string& root, const MaildirMessage& message, uint64_t unique,
                              std::string* delivered_path);

}  // namespace ringpost::queue
