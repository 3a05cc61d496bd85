#include "queue/schedule/retry_schedule.h"

#include <algorithm>

#include "core/check.h"

namespace ringpost::queue {

absl::Duration RetryDelay(const RetrySchedule& schedule, uint32_t failed_attempts, double unit_random) {
  RP_CHECK_GE(failed_attempts, 1u);
  RP_CHECK(unit_random >= 0 && unit_random < 1);
  RP_CHECK(schedule.initial > absl::ZeroDuration() && schedule.max >= schedule.initial);
  absl::Duration delay = schedule.initial;
  // Doubling stops at the cap (and long before 2^N could overflow).
  for (uint32_t i = 1; i < failed_attempts && delay < schedule.max; ++i) delay *= 2;
  delay = std::min(delay, schedule.max);
  return delay * (0.9 + 0.2 * unit_random);
}

absl::Time NextAttempt(const RetrySchedule& schedule, absl::Time arrival, absl::Time now,
                       uint32_t failed_attempts, double unit_random) {
  const absl::Time next = now + RetryDelay(schedule, failed_attempts, unit_random);
  if (next > arrival + schedule.lifetime) return absl::InfiniteFuture();
  return next;
}

}  // namespace ringpost::queue
