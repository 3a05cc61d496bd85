// Failed SMTP logins per client address, across every shard (--auth_failure_limit):
// a password guesser is slowed and then cut off. Each failure is answered after a
// delay that grows with the address's failures in the window (one delay unit per
// failure, at most five); a failure past the limit within the window ends the session
// with 421 and blocks the address for the window (new connections get 421 at once).
//
// Shared by every shard, as ClientLimiter is, and for the same reason: SO_REUSEPORT
// spreads one client's connections over the shards. Touched only on a failed login
// and when a connection opens (one lookup, under a mutex that is uncontended in practice).
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace ringpost::net {

class AuthFailures {
 public:
  static constexpr size_t kAddressesMax = 100000;  // past it, entries whose window ended go

  AuthFailures(uint32_t limit, absl::Duration window, absl::Duration delay_unit)
      : limit_(limit), window_(window), delay_unit_(delay_unit) {}

  struct Verdict {
    absl::Duration delay;  // before the 535
    bool blocked = false;  // 421 and close instead
  };
  Verdict RecordFailure(const std::string& address, absl::Time now);
  bool Blocked(const std::string& address, absl::Time now) const;

 private:
  struct Entry {
    absl::Time window_start;
    uint32_t failures = 0;
    absl::Time blocked_until = absl::InfinitePast();
  };
  void ForgetExpired(absl::Time now) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const uint32_t limit_;
  const absl::Duration window_;
  const absl::Duration delay_unit_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Entry> entries_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ringpost::net
