// A connection limit held for a whole cluster (the shaping file's `shared = true` with
// a connection_limit): Redis keeps the connections open to the destination as leases
// that lapse unless renewed (net/redis/shared_lease_store.h), so a node that dies gives
// its connections back by itself. This is one shard's side of one such limit: the
// leases it holds, which are in use by a connection, when to ask for another, renew
// them, or give back one left unused. Pure: the time is passed in; the scheduler turns
// its answers into actions (TakeLease, RenewLeases, ReleaseLeases).
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace ringpost::queue {

class SharedLeases {
 public:
  // A lease lapses this long after it was taken or last renewed; held ones are renewed
  // every kRenewEvery. A lease its connection no longer needs is kept kKeepIdleFor for
  // the next connection, then given back.
  static constexpr absl::Duration kTtl = absl::Seconds(15);
  static constexpr absl::Duration kRenewEvery = absl::Seconds(5);
  static constexpr absl::Duration kKeepIdleFor = absl::Seconds(1);
  // When Redis is back, no lease is asked for this long: every node's client reconnects
  // within a second, and counts the connections it opened meanwhile (Adopt) first.
  static constexpr absl::Duration kSettleAfterReturn = absl::Seconds(2);

  explicit SharedLeases(std::string key) : key_(std::move(key)) {}
  const std::string& key() const { return key_; }
  void set_limit(uint32_t limit) { limit_ = limit; }
  uint32_t limit() const { return limit_; }

  // A connection may open: a lease is held and free. Use() gives it to the connection.
  bool has_free() const { return !free_.empty(); }
  std::string Use();
  // A connection opened while Redis was away takes lease `id` as it is (renewed into
  // Redis, which then counts it).
  void Adopt(const std::string& id, absl::Time now);
  // Redis is back: nothing is asked before `until` (kSettleAfterReturn from now).
  void Settle(absl::Time until) { retry_at_ = std::max(retry_at_, until); }
  // The connection closed: its lease is free again (kept for the next one a while).
  void Free(const std::string& id, absl::Time now);
  // Whether to ask for a lease now (none free, none asked for, not told to wait).
  bool ShouldAsk(absl::Time now) const { return free_.empty() && !asking_ && now >= retry_at_ && limit_ > 0; }
  void Asked() { asking_ = true; }
  // Redis's answer: lease `id` granted, or none before `wait`.
  void Granted(const std::string& id, absl::Time now);
  void Refused(absl::Duration wait, absl::Time now);
  // No answer: nothing asked for a second.
  void Failed(absl::Time now);
  // Free leases kept past kKeepIdleFor: no longer held, to give back.
  std::vector<std::string> TakeIdle(absl::Time now);
  // Every free lease at once (the limit no longer shared, or Redis away).
  std::vector<std::string> TakeFree();
  // Every lease held (free or in use), when they are due for renewal (else empty).
  std::vector<std::string> DueForRenewal(absl::Time now);
  // Every lease held, renewed now: Redis is back and may have lost them.
  std::vector<std::string> RenewAll(absl::Time now);

  bool asking() const { return asking_; }
  absl::Time retry_at() const { return retry_at_; }
  uint32_t in_use() const { return in_use_; }
  size_t held() const { return free_.size() + in_use_; }
  // Nothing held or asked: the entry may be forgotten.
  bool Idle() const { return held() == 0 && !asking_; }

  std::vector<std::string> waiters;  // queues waiting for the next answer (scheduler keys)
  uint32_t users = 0;                // domains and site shares that keep to it

 private:
  std::string key_;
  uint32_t limit_ = 0;
  std::vector<std::pair<std::string, absl::Time>> free_;  // with when each became free
  std::vector<std::string> in_use_ids_;
  uint32_t in_use_ = 0;
  bool asking_ = false;
  absl::Time retry_at_ = absl::InfinitePast();
  absl::Time renew_at_ = absl::InfinitePast();
};

// The Redis key of a shared connection limit: "ringpost:conns:" and the scope.
std::string SharedLeasesKey(const std::string& scope);

}  // namespace ringpost::queue
