// One destination's limits on this shard, and what reply-driven rules did to them: a
// domain's own, or a site's shared by its domains here (shaping.h). The delivery
// scheduler asks it when the next message or connection may start and tells it what
// started; it never polls (the answers are times, for the scheduler's timer wheel).
// Pure: the time is passed in.
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "queue/schedule/rate.h"

namespace ringpost::queue {

class Throttle {
 public:
  // The configured budget (rates already this shard's share); unset: unlimited.
  void Configure(std::optional<Rate> message_rate, std::optional<Rate> connection_rate,
                 std::optional<uint32_t> connection_limit);

  // The message rate in force at `now`: the configured one, lowered by a rule's
  // set_rate or by the ramp after a suspension; unset: unlimited.
  std::optional<Rate> MessageRate(absl::Time now) const;
  // When the next message (or connection) may start: `now` when it may now,
  // InfiniteFuture when a rate of 0 holds it.
  absl::Time MessageAt(absl::Time now);
  // The configured message rate is 0: nothing goes until the configuration changes
  // (a rule's timed set_rate of 0 ends by itself, so it does not count).
  bool held_by_configuration() const {
    return configured_message_rate_.has_value() && configured_message_rate_->suspended();
  }
  absl::Time ConnectionAt(absl::Time now);
  // Counts a message (or connection) started at `now` (its *At, asked first, said it
  // may).
  void TakeMessage(absl::Time now);
  void TakeConnection(absl::Time now);
  // The connection limit in force (a rule's set_connection_limit lowers it); unset:
  // none of its own.
  std::optional<uint32_t> ConnectionLimit(absl::Time now) const;

  // Suspended by a rule until this time (InfinitePast: not suspended).
  absl::Time suspended_until() const { return suspended_until_; }
  const std::string& reason() const { return reason_; }

  // ---- Reply-driven rules ----
  // A match of rule `rule` at `now`: true when it is the `threshold`th within `within`
  // (the count then starts again). Not counted while the rule is quiet.
  bool Hit(uint32_t rule, uint32_t threshold, absl::Duration within, absl::Time now);
  // The rule acted and its action holds until `until`: replies in flight meanwhile
  // (sent before it acted) do not set it off again.
  void Quiet(uint32_t rule, absl::Time until);
  // No new message until `until`; then `ramp_from` (unset: full speed at once), doubled
  // every `ramp_interval` up to the configured rate (or `ramp_to`, or 64 times
  // `ramp_from` when neither is set).
  void Suspend(absl::Time until, const std::string& reason, std::optional<Rate> ramp_from,
               std::optional<Rate> ramp_to, absl::Duration ramp_interval);
  void Resume(absl::Time now);
  void SetRate(const Rate& rate, absl::Time until);
  void SetConnectionLimit(uint32_t limit, absl::Time until);

  // When nothing here needs keeping any more: no suspension, override, ramp or recent
  // match, and the rates rested (forgetting it then grants no extra burst). A ramp is
  // looked at again each of its intervals.
  absl::Time IdleAt(absl::Time now) const;
  bool Idle(absl::Time now) const { return IdleAt(now) <= now; }
  // The ramp's rate now, for operators (unset: no ramp).
  std::optional<Rate> RampRate(absl::Time now) const;

 private:
  std::optional<Rate> configured_message_rate_;
  std::optional<Rate> configured_connection_rate_;
  std::optional<uint32_t> configured_connection_limit_;
  Gcra messages_, connections_;
  absl::Time suspended_until_ = absl::InfinitePast();
  std::string reason_;
  // The ramp after a suspension.
  std::optional<Rate> ramp_from_;
  Rate ramp_to_;
  absl::Duration ramp_interval_ = absl::Minutes(1);
  // A rule's set_rate and set_connection_limit, each until its time.
  std::optional<std::pair<Rate, absl::Time>> rate_override_;
  std::optional<std::pair<uint32_t, absl::Time>> limit_override_;
  // Recent matches per rule (at most its threshold each).
  struct RuleHits {
    uint32_t rule = 0;
    absl::Duration within;
    std::deque<absl::Time> times;
    absl::Time quiet_until = absl::InfinitePast();
  };
  std::vector<RuleHits> hits_;
};

}  // namespace ringpost::queue
