#include "queue/schedule/throttle.h"

#include <algorithm>

namespace ringpost::queue {
namespace {

constexpr int kRampStepsWithoutCeiling = 6;  // 64 times ramp_from

std::optional<Rate> Slowest(std::optional<Rate> a, std::optional<Rate> b) {
  if (!a.has_value()) return b;
  if (!b.has_value()) return a;
  return b->SlowerThan(*a) ? b : a;
}

}  // namespace

void Throttle::Configure(std::optional<Rate> message_rate, std::optional<Rate> connection_rate,
                         std::optional<uint32_t> connection_limit) {
  configured_message_rate_ = message_rate;
  configured_connection_rate_ = connection_rate;
  configured_connection_limit_ = connection_limit;
  if (connection_rate.has_value()) connections_.set_rate(*connection_rate);
}

std::optional<Rate> Throttle::RampRate(absl::Time now) const {
  if (!ramp_from_.has_value() || now < suspended_until_) return std::nullopt;
  Rate rate = *ramp_from_;
  const int64_t steps = (now - suspended_until_) / ramp_interval_;
  for (int64_t i = 0; i < steps && rate.SlowerThan(ramp_to_); ++i) rate = rate.Doubled();
  if (!rate.SlowerThan(ramp_to_)) return std::nullopt;  // the ramp has ended
  return rate;
}

std::optional<Rate> Throttle::MessageRate(absl::Time now) const {
  std::optional<Rate> rate = configured_message_rate_;
  if (rate_override_.has_value() && now < rate_override_->second) rate = Slowest(rate, rate_override_->first);
  return Slowest(rate, RampRate(now));
}

absl::Time Throttle::MessageAt(absl::Time now) {
  if (now < suspended_until_) return suspended_until_;
  const std::optional<Rate> rate = MessageRate(now);
  if (!rate.has_value()) return now;
  if (!(messages_.rate() == *rate)) messages_.set_rate(*rate);
  return messages_.NextAt(now);
}

void Throttle::TakeMessage(absl::Time now) {
  // MessageAt, asked first, set the pacing's rate.
  if (MessageRate(now).has_value()) messages_.TryTake(now);
}

absl::Time Throttle::ConnectionAt(absl::Time now) {
  return configured_connection_rate_.has_value() ? connections_.NextAt(now) : now;
}

void Throttle::TakeConnection(absl::Time now) {
  if (configured_connection_rate_.has_value()) connections_.TryTake(now);
}

std::optional<uint32_t> Throttle::ConnectionLimit(absl::Time now) const {
  std::optional<uint32_t> limit = configured_connection_limit_;
  if (limit_override_.has_value() && now < limit_override_->second) {
    limit = std::min(limit.value_or(UINT32_MAX), limit_override_->first);
  }
  return limit;
}

bool Throttle::Hit(uint32_t rule, uint32_t threshold, absl::Duration within, absl::Time now) {
  auto it = std::find_if(hits_.begin(), hits_.end(), [rule](const RuleHits& h) { return h.rule == rule; });
  if (it == hits_.end()) it = hits_.insert(hits_.end(), RuleHits{rule, within, {}});
  it->within = within;
  if (now < it->quiet_until) return false;
  std::deque<absl::Time>& times = it->times;
  while (!times.empty() && times.front() <= now - within) times.pop_front();
  times.push_back(now);
  if (times.size() < threshold) return false;
  times.clear();
  return true;
}

void Throttle::Quiet(uint32_t rule, absl::Time until) {
  for (RuleHits& h : hits_) {
    if (h.rule == rule) h.quiet_until = until;
  }
}

void Throttle::Suspend(absl::Time until, const std::string& reason, std::optional<Rate> ramp_from,
                       std::optional<Rate> ramp_to, absl::Duration ramp_interval) {
  suspended_until_ = std::max(suspended_until_, until);
  reason_ = reason;
  ramp_from_ = ramp_from;
  ramp_interval_ = ramp_interval;
  if (ramp_from.has_value()) {
    Rate ceiling = *ramp_from;
    for (int i = 0; i < kRampStepsWithoutCeiling; ++i) ceiling = ceiling.Doubled();
    ramp_to_ = configured_message_rate_.value_or(ramp_to.value_or(ceiling));
  }
}

void Throttle::Resume(absl::Time now) {
  // With a ramp, it starts now.
  suspended_until_ = ramp_from_.has_value() ? now : absl::InfinitePast();
}

void Throttle::SetRate(const Rate& rate, absl::Time until) { rate_override_.emplace(rate, until); }

void Throttle::SetConnectionLimit(uint32_t limit, absl::Time until) { limit_override_.emplace(limit, until); }

absl::Time Throttle::IdleAt(absl::Time now) const {
  absl::Time at = std::max({now, suspended_until_, messages_.RestedAt(), connections_.RestedAt()});
  if (RampRate(now).has_value()) at = std::max(at, now + ramp_interval_);
  if (rate_override_.has_value()) at = std::max(at, rate_override_->second);
  if (limit_override_.has_value()) at = std::max(at, limit_override_->second);
  for (const RuleHits& h : hits_) {
    if (!h.times.empty()) at = std::max(at, h.times.back() + h.within);
    at = std::max(at, h.quiet_until);
  }
  return at;
}

}  // namespace ringpost::queue
