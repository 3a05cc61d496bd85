// What one delivery attempt's reply means for a recipient (DESIGN.md, Delivery):
// 2xx delivered; 4xx, a lost connection or a timeout deferred with backoff until the
// message's lifetime runs out (then expired, which bounces); 5xx bounced. Pure: the
// caller passes the time and a random number, so tests are exact.
#pragma once

#include <cstdint>
#include <string>

#include "absl/time/time.h"
#include "queue/record.h"
#include "queue/schedule/retry_schedule.h"

namespace ringpost::queue {

// Where an accepted message went, for RFC 3461 success reports: into a Maildir here
// ("delivered"), to a next hop without DSN ("relayed"), or to one that reports itself.
enum class Handoff : uint8_t { kRelayed, kRelayedWithDsn, kDelivered };

struct AttemptReply {
  int code = 0;          // 0: no reply (connection lost, timed out, refused locally)
  std::string enhanced;  // "5.1.1" or empty; with code 0, why there was no reply ("4.4.3")
  std::string text;      // the reply's text, or why there was none
  // No reply came after the final dot: the next hop may have taken the message, so
  // sending it again may duplicate it (it is deferred, never lost).
  bool possible_duplicate = false;
  Handoff handoff = Handoff::kRelayed;
};

struct RecipientOutcome {
  Outcome outcome = Outcome::kDeferred;
  uint32_t attempt = 0;     // this attempt's number (1 for the first)
  absl::Time next_attempt;  // kDeferred only
  std::string status;       // RFC 3463 code for bounces and logs: the reply's, or derived
  bool bounces() const { return outcome == Outcome::kBounced || outcome == Outcome::kExpired; }
};

// `failed_before`: failed attempts before this one.
RecipientOutcome DecideOutcome(const RetrySchedule& schedule, const AttemptReply& reply, absl::Time arrival,
                               absl::Time now, uint32_t failed_before, double unit_random);

const char* OutcomeName(Outcome outcome);

}  // namespace ringpost::queue
