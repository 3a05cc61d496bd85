#include "queue/schedule/shared_rate.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ringpost::queue {

void SharedRate::Take() {
  if (tokens_ > 0) --tokens_;
}

uint32_t SharedRate::BatchSize() const {
  if (rate_.suspended()) return 0;
  const double per_span = static_cast<double>(rate_.count) * absl::FDivDuration(kBatchSpan, rate_.per);
  return static_cast<uint32_t>(std::clamp(per_span, 1.0, static_cast<double>(kBatchMax)));
}

uint32_t SharedRate::ToAsk(absl::Time now) const {
  const uint32_t batch = BatchSize();
  if (asking_ || batch == 0 || now < retry_at_) return 0;
  if (tokens_ * 2 > batch) return 0;
  return batch - tokens_;
}

void SharedRate::Granted(uint32_t granted, absl::Duration wait, absl::Time now) {
  asking_ = false;
  if (granted > 0) {
    tokens_ += granted;
    granted_at_ = now;
  }
  if (granted >= asked_) {
    retry_at_ = absl::InfinitePast();
  } else {
    retry_at_ = now + std::max(wait, kContendedWait);
  }
}

void SharedRate::Failed(absl::Time now) {
  asking_ = false;
  tokens_ = 0;
  retry_at_ = now + kRetryAfterFailure;
}

uint32_t SharedRate::TakeUnused(absl::Time now) {
  if (tokens_ == 0 || asking_ || now - granted_at_ < kKeepFor) return 0;
  return TakeAll();
}

uint32_t SharedRate::TakeAll() {
  const uint32_t held = tokens_;
  tokens_ = 0;
  return held;
}

std::string SharedRateKey(const std::string& scope) { return absl::StrCat("ringpost:rate:", scope); }

}  // namespace ringpost::queue
