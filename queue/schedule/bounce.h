// Delivery status notifications (RFC 3464, in a multipart/report of RFC 6522): the
// report that tells a sender what became of some recipients: failed for good (a
// bounce), still being retried (delayed), or, when the sender asked with NOTIFY=SUCCESS
// (RFC 3461), delivered here or relayed to a next hop that takes no DSN parameters.
//
// Pure: the caller passes everything, including the time. One DSN names the recipients
// of one batch (DESIGN.md). It goes from the null sender to the original envelope
// sender, so it can never bounce back (RFC 5321 §6.1, RFC 3464 §2); a message whose
// sender is null never gets one (BuildBounce refuses).
// Layout: a human-readable text/plain part; a message/delivery-status part with
// Reporting-MTA, Original-Envelope-Id (ENVID), Arrival-Date, and per recipient
// Original-Recipient (ORCPT), Final-Recipient, Action, Status, and Diagnostic-Code when
// a server gave a reply; then the original: its header section as text/rfc822-headers
// (at most 64 KiB of it), or with RET=FULL the whole message as message/rfc822 (when it
// is at most 10 MiB; headers otherwise). Every line ends in CRLF and the lines written
// here stay under RFC 5322's 998 characters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::queue {

enum class DsnAction : uint8_t { kFailed, kDelayed, kDelivered, kRelayed };  // RFC 3464 §2.3.3

struct ReportedRecipient {
  std::string address;
  std::string status;      // RFC 3463 "5.1.1"
  std::string diagnostic;  // the server's reply "550 5.1.1 No such user", or empty (decided here)
  std::string reason;      // for people: "the server refused it", "delivery time expired"
  DsnAction action = DsnAction::kFailed;
  std::string original_recipient;  // "rfc822; user@example.org" from ORCPT, or empty
};

struct BounceInput {
  std::string reporting_mta;    // --hostname
  std::string original_sender;  // the envelope sender, to whom the DSN goes
  std::string queue_id;         // of the message reported on
  std::string envid;            // ENVID, decoded, or empty
  bool return_full = false;     // RET=FULL: the whole message goes back, not its headers
  absl::Time arrival;
  absl::Time now;
  std::vector<ReportedRecipient> recipients;
  absl::string_view original;  // the stored message
  uint64_t sequence = 0;       // tells DSNs of one message apart (Message-ID, boundary)
};

inline constexpr size_t kBounceHeaderBytesMax = 64 * 1024;
inline constexpr size_t kBounceFullBytesMax = 10 << 20;

absl::StatusOr<std::string> BuildBounce(const BounceInput& input);

// RFC 3464 §2.3.3's word for an action: "failed", "delayed", "delivered", "relayed".
absl::string_view DsnActionName(DsnAction action);

// What a report says, for the log: "failed=1", "delayed=2 failed=1" (actions in the
// order of DsnAction, only those present).
std::string ReportSummary(const std::vector<ReportedRecipient>& recipients);

}  // namespace ringpost::queue
