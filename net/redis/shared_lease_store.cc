#include "net/redis/shared_lease_store.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace ringpost::net {
namespace {

// KEYS[1]: the leases; ARGV: limit, ttl ms, the new lease's id.
// Returns {1, 0} granted, or {0, ms until the first lease held lapses}.
constexpr char kTakeLeaseScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, math.max(1, tonumber(first[2]) - now)}
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return {1, 0}
)lua";

// KEYS[1]: the leases; ARGV: ttl ms, then the ids to renew.
constexpr char kRenewLeasesScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 2, #ARGV do
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), ARGV[i])
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[1]))
return #ARGV - 1
)lua";

std::string Millis(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

void LogFailure(const std::string& what, const std::string& key, const absl::StatusOr<RedisReply>& reply) {
  if (!reply.ok()) {
    RP_LOG(kDebug) << "redis: " << what << " of " << key << ": " << reply.status();
  }
}

}  // namespace

void TakeSharedLease(RedisClient& redis, const std::string& key, uint32_t limit, absl::Duration ttl,
                     const std::string& id, std::function<void(const absl::StatusOr<LeaseAnswer>&)> done) {
  redis.Command({"EVAL", kTakeLeaseScript, "1", key, absl::StrCat(limit), Millis(ttl), id},
                [done = std::move(done)](const absl::StatusOr<RedisReply>& reply) {
                  if (!reply.ok()) return done(reply.status());
                  if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 2 ||
                      reply->elements[0].type != RedisReply::Type::kInteger ||
                      reply->elements[1].type != RedisReply::Type::kInteger) {
                    return done(absl::InternalError("redis: the lease script answered out of form"));
                  }
                  LeaseAnswer answer;
                  answer.granted = reply->elements[0].integer == 1;
                  answer.wait = absl::Milliseconds(std::max<int64_t>(0, reply->elements[1].integer));
                  done(answer);
                });
}

void RenewSharedLeases(RedisClient& redis, const std::string& key, const std::vector<std::string>& ids,
                       absl::Duration ttl) {
  if (ids.empty()) return;
  std::vector<std::string> args = {"EVAL", kRenewLeasesScript, "1", key, Millis(ttl)};
  args.insert(args.end(), ids.begin(), ids.end());
  redis.Command(
      args, [key](const absl::StatusOr<RedisReply>& reply) { LogFailure("renewing leases", key, reply); });
}

void ReleaseSharedLeases(RedisClient& redis, const std::string& key, const std::vector<std::string>& ids) {
  if (ids.empty()) return;
  std::vector<std::string> args = {"ZREM", key};
  args.insert(args.end(), ids.begin(), ids.end());
  redis.Command(
      args, [key](const absl::StatusOr<RedisReply>& reply) { LogFailure("releasing leases", key, reply); });
}

}  // namespace ringpost::net
