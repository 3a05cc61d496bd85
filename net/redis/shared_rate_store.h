// The cluster's shared message rates in Redis. Each is one GCRA (ITU-T I.371, as
// queue/schedule/rate.h keeps a local one): its theoretical arrival time, in
// microseconds of Redis's own clock (so the nodes' clocks never matter), under the
// limit's key. A Lua script that Redis runs atomically grants a batch of tokens at
// once: as many of those asked for as conform now, moving the arrival time on by one
// emission interval each; another gives unused tokens back. The key expires once the
// limit has rested, so idle limits leave nothing behind.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "net/redis/redis_client.h"

namespace ringpost::net {

struct TokenGrant {
  uint32_t granted = 0;
  absl::Duration wait;  // with none granted: until the next token conforms
};

// Takes up to `count` tokens of the limit at `key` (one per `interval`, with bursts of
// `tolerance`).
void TakeSharedTokens(RedisClient& redis, const std::string& key, absl::Duration interval,
                      absl::Duration tolerance, uint32_t count,
                      std::function<void(const absl::StatusOr<TokenGrant>&)> done);
// Gives `count` unused tokens back (never further back than Redis's now).
void ReturnSharedTokens(RedisClient& redis, const std::string& key, absl::Duration interval, uint32_t count);

// The scripts, for tests that run them against a real redis-server.
extern const char kTakeTokensScript[];
extern const char kReturnTokensScript[];

}  // namespace ringpost::net
