// When a deferred recipient is tried again, and when it expires (DESIGN.md:
// --retry_initial, --retry_max, --max_queue_lifetime).
//
// Pure: the caller passes the time and a uniform random number, so tests and replays
// are exact. The delay after the Nth failed attempt is initial x 2^(N-1), capped at
// max, then spread by +-10% (jitter keeps a thousand messages deferred together from
// retrying together). A recipient whose message arrived more than `lifetime` ago
// expires instead of being deferred again (it bounces, RFC 5321 §4.5.4.1).
#pragma once

#include <cstdint>

#include "absl/time/time.h"

namespace ringpost::queue {

struct RetrySchedule {
  absl::Duration initial = absl::Minutes(5);
  absl::Duration max = absl::Hours(4);
  absl::Duration lifetime = absl::Hours(24 * 5);
};

// `failed_attempts` >= 1; `unit_random` in [0, 1).
absl::Duration RetryDelay(const RetrySchedule& schedule, uint32_t failed_attempts, double unit_random);

// The next attempt's time, or absl::InfiniteFuture() when the recipient expires now
// (the next try would come past arrival + lifetime).
absl::Time NextAttempt(const RetrySchedule& schedule, absl::Time arrival, absl::Time now,
                       uint32_t failed_attempts, double unit_random);

}  // namespace ringpost::queue
