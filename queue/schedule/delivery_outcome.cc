#include "queue/schedule/delivery_outcome.h"

namespace ringpost::queue {

RecipientOutcome DecideOutcome(const RetrySchedule& schedule, const AttemptReply& reply, absl::Time arrival,
                               absl::Time now, uint32_t failed_before, double unit_random) {
  RecipientOutcome out;
  out.attempt = failed_before + 1;
  const int klass = reply.code / 100;
  if (klass == 2) {
    out.outcome = Outcome::kDelivered;
    out.status = reply.enhanced.empty() ? "2.0.0" : reply.enhanced;
    return out;
  }
  if (klass == 5) {
    out.outcome = Outcome::kBounced;
    // RFC 3463 §3: a reply without an enhanced code is described by its class alone.
    out.status = reply.enhanced.empty() || reply.enhanced[0] != '5' ? "5.0.0" : reply.enhanced;
    return out;
  }
  // 4xx, no reply, or a reply outside 2xx-5xx: try again later (RFC 5321 §4.5.4.1).
  if (!reply.enhanced.empty() && reply.enhanced[0] == '4') {
    out.status = reply.enhanced;  // the server's, or ours for a failure without a reply
  } else {
    out.status = reply.code == 0 ? "4.4.1" : "4.0.0";  // RFC 3463: no answer from host / class only
  }
  const absl::Time next = NextAttempt(schedule, arrival, now, out.attempt, unit_random);
  if (next == absl::InfiniteFuture()) {
    out.outcome = Outcome::kExpired;
    out.status = "5.4.7";  // RFC 3463: delivery time expired
    return out;
  }
  out.outcome = Outcome::kDeferred;
  out.next_attempt = next;
  return out;
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kDelivered:
      return "delivered";
    case Outcome::kDeferred:
      return "deferred";
    case Outcome::kBounced:
      return "bounced";
    case Outcome::kExpired:
      return "expired";
    case Outcome::kRelocated:
      return "relocated";
    case Outcome::kDeleted:
      return "deleted";
    case Outcome::kHeld:
      return "held";
    case Outcome::kReleased:
      return "released";
  }
  return "unknown";
}

}  // namespace ringpost::queue
