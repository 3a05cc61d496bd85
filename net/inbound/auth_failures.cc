#include "net/inbound/auth_failures.h"

#include <algorithm>

namespace ringpost::net {

AuthFailures::Verdict AuthFailures::RecordFailure(const std::string& address, absl::Time now) {
  absl::MutexLock lock(&mu_);
  if (entries_.size() >= kAddressesMax && !entries_.contains(address)) {
    ForgetExpired(now);
    // Still full (a guesser spread over more addresses than the table holds): this
    // address is slowed but not remembered, so the table stays bounded.
    if (entries_.size() >= kAddressesMax) return Verdict{delay_unit_, false};
  }
  Entry& entry = entries_[address];
  if (entry.failures == 0 || now - entry.window_start > window_) {
    entry.window_start = now;
    entry.failures = 0;
  }
  ++entry.failures;
  Verdict verdict;
  if (entry.failures > limit_) {
    entry.blocked_until = now + window_;
    verdict.blocked = true;
    return verdict;
  }
  verdict.delay = delay_unit_ * static_cast<int64_t>(std::min<uint32_t>(entry.failures, 5));
  return verdict;
}

bool AuthFailures::Blocked(const std::string& address, absl::Time now) const {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(address);
  return it != entries_.end() && it->second.blocked_until > now;
}

void AuthFailures::ForgetExpired(absl::Time now) {
  absl::erase_if(entries_, [&](const auto& item) {
    const Entry& e = item.second;
    return e.blocked_until <= now && now - e.window_start > window_;
  });
}

}  // namespace ringpost::net
