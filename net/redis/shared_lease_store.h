// The cluster's shared connection limits in Redis. Each is a sorted set of leases under
// the limit's key: a lease per connection open to the destination anywhere in the
// cluster, scored by when it lapses (milliseconds of Redis's own clock). A Lua script
// that Redis runs atomically drops the lapsed ones and grants a new lease only while
// fewer than the limit remain; holders renew theirs, and a node that dies stops
// renewing, so its leases lapse by themselves.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/redis/redis_client.h"

namespace ringpost::net {

struct LeaseAnswer {
  bool granted = false;
  absl::Duration wait;  // not granted: until the first lease held lapses
};

// Takes lease `id` of `key` if fewer than `limit` are held, lapsing after `ttl`.
void TakeSharedLease(RedisClient& redis, const std::string& key, uint32_t limit, absl::Duration ttl,
                     const std::string& id, std::function<void(const absl::StatusOr<LeaseAnswer>&)> done);
// Renews leases `ids` for another `ttl` (ones that lapsed meanwhile are held again:
// their connections are still open).
void RenewSharedLeases(RedisClient& redis, const std::string& key, const std::vector<std::string>& ids,
                       absl::Duration ttl);
void ReleaseSharedLeases(RedisClient& redis, const std::string& key, const std::vector<std::string>& ids);

}  // namespace ringpost::net
