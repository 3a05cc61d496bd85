// Bounces: the delivery status notification (RFC 3464, in a multipart/report of RFC
// 6522) that tells a sender which recipients failed for good.
//
// Pure: the caller passes everything, including the time. One DSN names only the
// recipients of one failed batch (DESIGN.md). It goes from the null sender to the
// original envelope sender, so it can never bounce back (RFC 5321 §6.1, RFC 3464 §2);
// a message whose sender is null never gets one (BuildBounce refuses).
// Layout: a human-readable text/plain part; a message/delivery-status part with
// Reporting-MTA, Arrival-Date, and per recipient Final-Recipient, Action: failed,
// Status, and Diagnostic-Code when a server gave a reply; the original message's
// header section as text/rfc822-headers (at most 64 KiB of it). Every line ends in
// CRLF and stays under RFC 5322's 998 characters.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ringpost::queue {

struct BouncedRecipient {
  std::string address;
  std::string status;      // RFC 3463 "5.1.1"
  std::string diagnostic;  // the server's reply "550 5.1.1 No such user", or empty (decided here)
  std::string reason;      // for people: "the server refused it", "delivery time expired"
};

struct BounceInput {
  std::string reporting_mta;    // --hostname
  std::string original_sender;  // the envelope sender, to whom the DSN goes
  std::string queue_id;         // of the failed message
  absl::Time arrival;
  absl::Time now;
  std::vector<BouncedRecipient> failed;
  absl::string_view original;  // the stored message (its header section is quoted)
  uint64_t sequence = 0;       // tells DSNs of one message apart (Message-ID, boundary)
};

inline constexpr size_t kBounceHeaderBytesMax = 64 * 1024;

absl::StatusOr<std::string> BuildBounce(const BounceInput& input);

}  // namespace ringpost::queue
