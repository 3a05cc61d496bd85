#include "net/redis/shared_rate_store.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"
#include "core/log.h"

namespace ringpost::net {

// KEYS[1]: the arrival time; ARGV: interval µs, tolerance µs, tokens wanted.
// Returns {granted, µs until the next token conforms when none was}.
const char kTakeTokensScript[] = R"lua(
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local wanted = tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then tat = now end
local fit = math.floor((now + tolerance - tat) / interval) + 1
if fit < 1 then
  return {0, tat - tolerance - now}
end
local granted = math.min(wanted, fit)
tat = tat + granted * interval
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return {granted, 0}
)lua";

// KEYS[1]: the arrival time; ARGV: interval µs, tokens given back.
const char kReturnTokensScript[] = R"lua(
local tat = tonumber(redis.call('GET', KEYS[1]))
if not tat then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
tat = math.max(now, tat - tonumber(ARGV[1]) * tonumber(ARGV[2]))
redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
return 1
)lua";

namespace {

std::string Micros(absl::Duration d) {
  return absl::StrCat(std::max<int64_t>(1, absl::ToInt64Microseconds(d)));
}

}  // namespace

void TakeSharedTokens(RedisClient& redis, const std::string& key, absl::Duration interval,
                      absl::Duration tolerance, uint32_t count,
                      std::function<void(const absl::StatusOr<TokenGrant>&)> done) {
  redis.Command(
      {"EVAL", kTakeTokensScript, "1", key, Micros(interval), Micros(tolerance), absl::StrCat(count)},
      [done = std::move(done)](const absl::StatusOr<RedisReply>& reply) {
        if (!reply.ok()) return done(reply.status());
        if (reply->type != RedisReply::Type::kArray || reply->elements.size() != 2 ||
            reply->elements[0].type != RedisReply::Type::kInteger ||
            reply->elements[1].type != RedisReply::Type::kInteger) {
          return done(absl::InternalError("redis: the token script answered out of form"));
        }
        TokenGrant grant;
        grant.granted = static_cast<uint32_t>(std::max<int64_t>(0, reply->elements[0].integer));
        grant.wait = absl::Microseconds(std::max<int64_t>(0, reply->elements[1].integer));
        done(grant);
      });
}

void ReturnSharedTokens(RedisClient& redis, const std::string& key, absl::Duration interval, uint32_t count) {
  redis.Command({"EVAL", kReturnTokensScript, "1", key, Micros(interval), absl::StrCat(count)},
                [key](const absl::StatusOr<RedisReply>& reply) {
                  if (!reply.ok()) {
                    RP_LOG(kDebug) << "redis: tokens of " << key << " not given back: " << reply.status();
                  }
                });
}

}  // namespace ringpost::net
