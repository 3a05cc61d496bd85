// A message rate held for a whole cluster (the shaping file's `shared = true`): Redis
// keeps the limit as one GCRA for every node (net/redis/shared_limits.h runs it), and
// each shard takes its tokens from there in batches, so no message waits for a round
// trip. This is one shard's side of one such limit: the tokens it holds, when to ask
// for more and how many, and what to give back unused. Pure: the time is passed in;
// the scheduler turns its answers into actions (TakeTokens, ReturnTokens).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "queue/schedule/rate.h"

namespace ringpost::queue {

class SharedRate {
 public:
  // A batch is this much of the limit's time (at least one token, at most kBatchMax):
  // the fleet may run ahead of its limit by about one batch per taker.
  static constexpr absl::Duration kBatchSpan = absl::Milliseconds(200);
  static constexpr uint32_t kBatchMax = 1000;
  // Tokens unused this long after they came are given back for other nodes to use.
  static constexpr absl::Duration kKeepFor = absl::Seconds(1);

  explicit SharedRate(std::string key) : key_(std::move(key)) {}

  const std::string& key() const { return key_; }
  void set_rate(const Rate& rate) { rate_ = rate; }
  const Rate& rate() const { return rate_; }

  // A message may start: a token is held (take it with Take()).
  bool has_token() const { return tokens_ > 0; }
  void Take();
  // How many tokens to ask Redis for now (0: none: an ask is out, enough are held, or
  // Redis said to wait). Asked early, when half a batch is left, so a busy
  // destination does not stop for the answer.
  uint32_t ToAsk(absl::Time now) const;
  void Asked(uint32_t count) {
    asking_ = true;
    asked_ = count;
  }
  // Redis granted `granted` (0: none conforms before `wait` has passed). Fewer than
  // asked means other takers share the limit: the next ask waits kContendedWait at
  // least, so a saturated limit costs each taker a few calls a second, not one per
  // token.
  void Granted(uint32_t granted, absl::Duration wait, absl::Time now);
  static constexpr absl::Duration kContendedWait = absl::Milliseconds(100);  // half a batch
  // No answer (Redis away or refusing): nothing held, and nothing asked for
  // kRetryAfterFailure.
  void Failed(absl::Time now);
  static constexpr absl::Duration kRetryAfterFailure = absl::Seconds(1);
  // The tokens held unused for kKeepFor (now no longer held): to give back.
  uint32_t TakeUnused(absl::Time now);
  // Held tokens given back at once (the limit no longer shared, or the shard stopping).
  uint32_t TakeAll();

  bool asking() const { return asking_; }
  // When Redis said the next token conforms (InfinitePast: ask when needed).
  absl::Time retry_at() const { return retry_at_; }
  uint32_t tokens() const { return tokens_; }
  uint32_t BatchSize() const;
  // Nothing held or asked: the entry may be forgotten.
  bool Idle() const { return tokens_ == 0 && !asking_; }

  // The queues waiting for this limit's next answer (scheduler keys).
  std::vector<std::string> waiters;
  // The domains and site shares that keep to it (forgotten at none, once answered).
  uint32_t users = 0;

 private:
  std::string key_;
  Rate rate_;
  uint32_t tokens_ = 0;
  uint32_t asked_ = 0;
  bool asking_ = false;
  absl::Time retry_at_ = absl::InfinitePast();
  absl::Time granted_at_ = absl::InfinitePast();
};

// The Redis key of a shared limit: "ringpost:rate:" and the scope ("gmail.com",
// "gmail.com/a", "mx:*.google.com/a").
std::string SharedRateKey(const std::string& scope);

}  // namespace ringpost::queue
