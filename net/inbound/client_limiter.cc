#include "net/inbound/client_limiter.h"

#include "core/check.h"

namespace ringpost::net {

ClientLimiter::Verdict ClientLimiter::Admit(const std::string& address, bool exempt) {
  absl::MutexLock lock(&mu_);
  if (live_ >= connections_max_) return Verdict::kTooManyTotal;
  uint32_t& count = per_address_[address];
  if (count >= per_address_max_ && !exempt) return Verdict::kTooManyFromAddress;
  ++count;
  ++live_;
  return Verdict::kAdmitted;
}

void ClientLimiter::Release(const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto it = per_address_.find(address);
  RP_CHECK(it != per_address_.end() && it->second > 0);  // pairs with Admit
  RP_CHECK_GT(live_, 0u);
  --live_;
  if (--it->second == 0) per_address_.erase(it);
}

uint32_t ClientLimiter::live() const {
  absl::MutexLock lock(&mu_);
  return live_;
}

}  // namespace ringpost::net
