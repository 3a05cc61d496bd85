// DeliveryScheduler, shaping: each domain's settings from the shaping policy, the
// throttles of domains and of this shard's share of sites, and the reply-driven rules
// (queue/schedule/shaping.h). The pools (delivery_scheduler.cc) ask these before a
// message or a connection starts.
#include <algorithm>
#include <array>
#include <utility>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "queue/schedule/accounting_line.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/schedule/delivery_scheduler_parts.h"

namespace ringpost::queue {
namespace {

// This shard's share of a limit spread over `shards` (the shares add up to it).
uint32_t ShareOf(uint32_t limit, uint32_t shard, uint32_t shards) {
  if (shards <= 1) return limit;
  return limit / shards + (shard < limit % shards ? 1 : 0);
}

std::optional<Rate> RateShare(const std::optional<Rate>& rate, uint32_t shards) {
  if (!rate.has_value()) return std::nullopt;
  return rate->Share(shards);
}

bool TimedAction(AutomationAction action) {
  return action == AutomationAction::kSuspend || action == AutomationAction::kSetRate ||
         action == AutomationAction::kSetConnectionLimit;
}

// A rule's suspend, set_rate or set_connection_limit on a throttle that holds shard
// `shard`'s share of `shards` (a domain's: 0 of 1).
void ApplyTimedAction(Throttle& target, const AutomationRule& rule, absl::Time until,
                      const std::string& reason, uint32_t shard, uint32_t shards) {
  switch (rule.action) {
    case AutomationAction::kSuspend:
      target.Suspend(until, reason, RateShare(rule.ramp_from, shards), RateShare(rule.ramp_to, shards),
                     rule.ramp_interval);
      break;
    case AutomationAction::kSetRate:
      target.SetRate(rule.rate.Share(shards), until);
      break;
    case AutomationAction::kSetConnectionLimit:
      target.SetConnectionLimit(ShareOf(rule.connection_limit, shard, shards), until);
      break;
    case AutomationAction::kBounce:
    case AutomationAction::kTemporary:
      break;
  }
}

}  // namespace

void DeliveryScheduler::SetShaping(std::shared_ptr<const ShapingPolicy> policy, absl::Time now) {
  now_ = std::max(now_, now);
  shaping_ = policy != nullptr ? std::move(policy) : std::make_shared<const ShapingPolicy>();
  for (auto& [name, domain] : domains_) Shape(*domain);
  // A rate raised or a limit lifted: due mail may go now.
  for (auto& [name, domain] : domains_) {
    Pump(*domain);
    maybe_empty_.push_back(name);
  }
  EndEvent();
}

void DeliveryScheduler::Shape(Domain& domain) {
  const ShapingPolicy& policy = *shaping_;
  std::string site_name;
  if (domain.route == Domain::Route::kKnown && domain.hop.kind == NextHop::Kind::kSmtp) {
    site_name = policy.SiteOf(domain.hop.names);
  }
  // A site's budget is per egress source, as a domain's is (each source is a sender of
  // its own to the destination).
  const std::optional<ShapeSettings> site_budget = policy.SiteBudget(site_name, domain.source);
  if (domain.site == nullptr || domain.site->name != site_name) {
    Detach(domain);
    if (site_budget.has_value()) {
      auto [it, inserted] = sites_.try_emplace(QueueKey(site_name, domain.source));
      if (inserted) {
        it->second = std::make_unique<Site>();
        it->second->name = site_name;
        it->second->source = domain.source;
      }
      domain.site = it->second.get();
      ++domain.site->domains;
      domain.site->connections += static_cast<uint32_t>(domain.connections.size());
    }
  }
  if (domain.site != nullptr) {
    // A shared connection limit kept in Redis: each shard may open up to the whole of it
    // (the leases are the limit); while Redis is away, its share of this node's share.
    const bool shared_limit = SharedLimitInCluster(*site_budget);
    std::optional<uint32_t> limit;
    if (site_budget->connection_limit.has_value()) {
      const uint32_t whole = *site_budget->connection_limit;
      limit = !shared_limit ? ShareOf(whole, config_.shard, config_.shards)
              : cluster_up_ ? whole
                            : ShareOf(NodeShare(whole), config_.shard, config_.shards);
    }
    HoldLeases(domain.site->shared_leases, QueueKey(site_name, domain.source),
               shared_limit && cluster_up_ ? site_budget->connection_limit : std::nullopt);
    // A shared rate kept in Redis: each shard paces to the whole of it (the tokens are
    // the limit); while Redis is away, to its share of this node's share.
    const bool shared = SharedInCluster(*site_budget);
    const uint32_t parts = !shared       ? config_.shards
                           : cluster_up_ ? 1
                                         : config_.shards * config_.cluster_nodes;
    domain.site->throttle.Configure(RateShare(site_budget->max_message_rate, parts),
                                    RateShare(site_budget->max_connection_rate, config_.shards), limit);
    HoldShared(domain.site->shared_rate, QueueKey(site_name, domain.source),
               shared && cluster_up_ ? site_budget->max_message_rate : std::nullopt);
  }
  domain.shape = policy.SettingsFor(domain.name, site_name, domain.source);
  domain.retry = config_.retry;
  if (domain.shape.retry_initial.has_value()) domain.retry.initial = *domain.shape.retry_initial;
  if (domain.shape.retry_max.has_value()) domain.retry.max = *domain.shape.retry_max;
  if (domain.shape.max_queue_lifetime.has_value()) domain.retry.lifetime = *domain.shape.max_queue_lifetime;
  domain.retry.max = std::max(domain.retry.max, domain.retry.initial);
  const ShapeSettings own = policy.DomainBudget(domain.name, domain.source);
  const bool shared = SharedInCluster(own);
  const bool shared_limit = SharedLimitInCluster(own);
  uint32_t limit = own.connection_limit.value_or(config_.domain_max_connections);
  if (shared_limit && !cluster_up_) limit = NodeShare(limit);
  domain.throttle.Configure(
      RateShare(own.max_message_rate, shared && !cluster_up_ ? config_.cluster_nodes : 1),
      own.max_connection_rate, limit);
  HoldShared(domain.shared_rate, domain.key, shared && cluster_up_ ? own.max_message_rate : std::nullopt);
  HoldLeases(domain.shared_leases, domain.key,
             shared_limit && cluster_up_ ? own.connection_limit : std::nullopt);
}

bool DeliveryScheduler::SharedInCluster(const ShapeSettings& budget) const {
  return config_.cluster && budget.shared.value_or(false) && budget.max_message_rate.has_value();
}

bool DeliveryScheduler::SharedLimitInCluster(const ShapeSettings& budget) const {
  return config_.cluster && budget.shared.value_or(false) && budget.connection_limit.has_value();
}

uint32_t DeliveryScheduler::NodeShare(uint32_t limit) const {
  return limit == 0 ? 0 : std::max<uint32_t>(1, limit / config_.cluster_nodes);
}

void DeliveryScheduler::Detach(Domain& domain) {
  if (domain.site == nullptr) return;
  domain.site->connections -= static_cast<uint32_t>(domain.connections.size());
  --domain.site->domains;
  domain.site = nullptr;
  sites_may_be_idle_ = true;
}

bool DeliveryScheduler::SiteIdle(const Site& site) const {
  return site.domains == 0 && site.throttle.Idle(now_);
}

const DeliveryScheduler::Domain* DeliveryScheduler::OperatorQueue(const Domain& domain) const {
  if (domain.source.empty()) return &domain;
  auto it = domains_.find(domain.name);
  return it == domains_.end() ? nullptr : it->second.get();
}

absl::Time DeliveryScheduler::SuspendedUntil(const Domain& domain) const {
  absl::Time until = domain.throttle.suspended_until();
  if (const Domain* order = OperatorQueue(domain); order != nullptr)
    until = std::max(until, order->suspended_until);
  if (domain.site != nullptr) until = std::max(until, domain.site->throttle.suspended_until());
  return until;
}

bool DeliveryScheduler::Suspended(const Domain& domain) const { return SuspendedUntil(domain) > now_; }

absl::Time DeliveryScheduler::MessageAt(Domain& domain) {
  absl::Time at = domain.throttle.MessageAt(now_);
  if (domain.site != nullptr) at = std::max(at, domain.site->throttle.MessageAt(now_));
  if (at <= now_ &&
      (domain.shared_rate != nullptr || (domain.site != nullptr && domain.site->shared_rate != nullptr))) {
    at = SharedAt(domain);
  }
  return at;
}

absl::Time DeliveryScheduler::ConnectionAt(Domain& domain) {
  absl::Time at = domain.throttle.ConnectionAt(now_);
  if (domain.site != nullptr) at = std::max(at, domain.site->throttle.ConnectionAt(now_));
  return at;
}

void DeliveryScheduler::TookMessage(Domain& domain) {
  domain.throttle.TakeMessage(now_);
  TookShared(domain.shared_rate);
  if (domain.site != nullptr) {
    domain.site->throttle.TakeMessage(now_);
    TookShared(domain.site->shared_rate);
  }
}

uint32_t DeliveryScheduler::DomainConnectionLimit(const Domain& domain) const {
  return domain.throttle.ConnectionLimit(now_).value_or(config_.domain_max_connections);
}

bool DeliveryScheduler::MayOpen(const Domain& domain) const {
  if (domain.connections.size() >= DomainConnectionLimit(domain)) return false;
  if (domain.site == nullptr) return true;
  const std::optional<uint32_t> site_limit = domain.site->throttle.ConnectionLimit(now_);
  return !site_limit.has_value() || domain.site->connections < *site_limit;
}

bool DeliveryScheduler::OverConnectionLimit(const Domain& domain) const {
  // What counts against a lowered limit: connections that work and are not ending (one
  // still connecting may yet fail, so the working ones are kept first).
  auto staying_one = [](const Connection& connection) {
    return connection.ever_ready && !connection.quitting;
  };
  const uint32_t limit = DomainConnectionLimit(domain);
  const std::optional<uint32_t> site_limit =
      domain.site != nullptr ? domain.site->throttle.ConnectionLimit(now_) : std::nullopt;
  // The site's count includes ending connections: only past its limit are the ones
  // that stay counted, over the shard's connections.
  const bool site_may_be_over = site_limit.has_value() && domain.site->connections > *site_limit;
  if (domain.connections.size() <= limit && !site_may_be_over) return false;  // the usual case, per message
  const auto staying = std::count_if(domain.connections.begin(), domain.connections.end(),
                                     [&](const Connection* connection) { return staying_one(*connection); });
  if (static_cast<uint64_t>(staying) > limit) return true;
  if (!site_may_be_over) return false;
  uint64_t site_staying = 0;
  for (const auto& [id, connection] : connections_) {
    if (connection->domain->site == domain.site && staying_one(*connection)) ++site_staying;
  }
  return site_staying > *site_limit;
}

uint32_t DeliveryScheduler::DeliveriesPerConnection(const Domain& domain) const {
  return domain.shape.max_deliveries_per_connection.value_or(config_.max_messages_per_connection);
}

void DeliveryScheduler::WakeAt(Domain& domain, absl::Time at) {
  at = std::min(at, now_ + kLongestWait);
  // Armed to fire no later already (a tick late at most: the pump looks again).
  if (domain.wake.armed() &&
      domain.wake.deadline_tick() <= WheelTime(at) / core::TimerWheel::kTickNanos + 1) {
    return;
  }
  wheel_.Schedule(&domain.wake, WheelTime(at));
}

// ---- Reply-driven rules --------------------------------------------------------------

void DeliveryScheduler::Automate(Domain& domain, std::vector<AttemptReply>& replies) {
  const std::vector<AutomationRule>& rules = shaping_->automation();
  const bool all_accepted =
      std::all_of(replies.begin(), replies.end(), [](const AttemptReply& r) { return r.code / 100 == 2; });
  if (rules.empty() || all_accepted) return;  // the common case costs one look at each code
  // A rule counts once per attempt: the 421 every recipient of one transaction got is
  // one reply from the destination.
  std::vector<bool> counted(rules.size(), false);
  for (AttemptReply& reply : replies) {
    if (reply.code / 100 == 2) continue;
    bool temporary = false;
    // The first rule that matches claims the reply for its kind of action: a file's
    // rule overrides a built-in one of the same kind (they come after).
    std::array<bool, kAutomationActionCount> claimed{};
    {
      const ReplyPattern::Reply parsed(reply.code, reply.enhanced, reply.text);
      for (size_t i = 0; i < rules.size(); ++i) {
        const AutomationRule& rule = rules[i];
        if (claimed[static_cast<size_t>(rule.action)]) continue;
        if (!rule.destination.empty() && rule.destination != domain.name &&
            (domain.site == nullptr || domain.site->name != rule.destination)) {
          continue;
        }
        if (!rule.pattern.Matches(parsed)) continue;
        claimed[static_cast<size_t>(rule.action)] = true;
        if (rule.action == AutomationAction::kTemporary) {
          if (reply.code / 100 != 5) continue;
          temporary = true;
          if (!counted[i]) Act(rule, domain, reply);
          counted[i] = true;
          continue;
        }
        if (counted[i]) continue;
        counted[i] = true;
        Site* site = SiteActedOn(rule, domain);
        Throttle& target = site != nullptr ? site->throttle : domain.throttle;
        if (!target.Hit(static_cast<uint32_t>(i), rule.threshold, rule.within, now_)) continue;
        Act(rule, domain, reply);
        if (rule.duration > absl::ZeroDuration())
          target.Quiet(static_cast<uint32_t>(i), now_ + rule.duration);
      }
    }
    if (temporary) {
      // Deferred as if the destination had answered 4xx: the rule knows this 5xx passes.
      reply.code -= 100;
      if (!reply.enhanced.empty() && reply.enhanced[0] == '5') reply.enhanced[0] = '4';
    }
  }
}

DeliveryScheduler::Site* DeliveryScheduler::SiteActedOn(const AutomationRule& rule, const Domain& domain) {
  // The rule's destination when it names the site, else the domain's site; "temporary"
  // is about the one reply.
  const bool on_site = domain.site != nullptr && rule.action != AutomationAction::kTemporary &&
                       (rule.destination.empty() || rule.destination == domain.site->name);
  return on_site ? domain.site : nullptr;
}

void DeliveryScheduler::ActOnSite(Site& site, const AutomationRule& rule, absl::Time until,
                                  const std::string& reason) {
  ApplyTimedAction(site.throttle, rule, until, reason, config_.shard, config_.shards);
}

std::vector<DeliveryScheduler::Site*> DeliveryScheduler::SharesOf(Site& site, bool every_source) {
  if (!every_source) return {&site};
  std::vector<Site*> shares;
  for (auto& [key, share] : sites_) {
    if (share->name == site.name) shares.push_back(share.get());
  }
  return shares;
}

std::vector<DeliveryScheduler::Domain*> DeliveryScheduler::QueuesOf(Domain& domain, bool every_source) {
  if (!every_source) return {&domain};
  std::vector<Domain*> queues;
  for (auto& [key, queue] : domains_) {
    if (queue->name == domain.name) queues.push_back(queue.get());
  }
  return queues;
}

void DeliveryScheduler::OnSiteActed(const SiteActed& acted, absl::Time now) {
  now_ = std::max(now_, now);
  auto [it, inserted] = sites_.try_emplace(QueueKey(acted.site, acted.source));
  if (inserted) {  // no domain of it here yet: its share waits for them (forgotten once idle)
    it->second = std::make_unique<Site>();
    it->second->name = acted.site;
    it->second->source = acted.source;
    sites_may_be_idle_ = true;
  }
  for (Site* share : SharesOf(*it->second, acted.rule.every_source)) {
    if (acted.rule.action == AutomationAction::kBounce) {
      BounceSiteShare(*share, acted.reason);
    } else {
      ActOnSite(*share, acted.rule, acted.until, acted.reason);
    }
  }
  RP_LOG(kInfo) << "shaping rule=" << acted.rule.name << " action=" << AutomationActionName(acted.rule.action)
                << " destination=" << acted.site << (acted.source.empty() ? "" : " source=") << acted.source
                << " (another shard's share)";
  EndEvent();
}

void DeliveryScheduler::Act(const AutomationRule& rule, Domain& domain, const AttemptReply& reply) {
  Site* const site = SiteActedOn(rule, domain);
  const bool on_site = site != nullptr;
  const std::string destination = on_site ? site->name : domain.name;
  const std::string reason =
      absl::StrCat("rule ", rule.name, ": ", reply.code != 0 ? absl::StrCat(reply.code, " ") : "",
                   reply.enhanced.empty() ? "" : absl::StrCat(reply.enhanced, " "), reply.text);
  ShapingEntry entry;
  entry.time = now_;
  entry.action = AutomationActionName(rule.action);
  entry.rule = rule.name;
  entry.destination = destination;
  entry.domain = domain.name;
  entry.source = domain.source;
  entry.code = reply.code;
  entry.status = reply.enhanced;
  entry.text = reply.text;
  std::string rate;
  const absl::Time until = now_ + rule.duration;
  if (on_site) {
    // Every shard's share of the site follows (each keeps the share of the rule's rates
    // and limit, as of the site's own).
    for (Site* share : SharesOf(*site, rule.every_source)) ActOnSite(*share, rule, until, reason);
    if (config_.shards > 1 && (TimedAction(rule.action) || rule.action == AutomationAction::kBounce)) {
      actions_.push_back(SiteActed{site->name, site->source, rule, until, reason});
    }
  } else {
    for (Domain* queue : QueuesOf(domain, rule.every_source)) {
      ApplyTimedAction(queue->throttle, rule, until, reason, 0, 1);
    }
  }
  switch (rule.action) {
    case AutomationAction::kSuspend:
      entry.until = until;
      if (rule.ramp_from.has_value()) rate = rule.ramp_from->ToString();
      break;
    case AutomationAction::kSetRate:
      entry.until = until;
      rate = rule.rate.ToString();
      break;
    case AutomationAction::kSetConnectionLimit:
      entry.until = until;
      entry.connection_limit = rule.connection_limit;
      break;
    case AutomationAction::kBounce:
      if (on_site) {
        for (Site* share : SharesOf(*site, rule.every_source)) BounceSiteShare(*share, reason);
      } else if (rule.every_source) {
        automation_bounces_.push_back({domain.name, std::nullopt, reason});
      } else {
        automation_bounces_.push_back({domain.name, domain.source, reason});
      }
      break;
    case AutomationAction::kTemporary:
      break;
  }
  entry.rate = rate;
  ++stats_.shaping_actions[static_cast<size_t>(rule.action)];
  AccountingLines lines;
  AppendShapingLine(entry, &lines.lines);
  actions_.push_back(std::move(lines));
  if (rule.action == AutomationAction::kTemporary) {
    RP_LOG(kInfo) << ShapingLogText(entry);
  } else {
    RP_LOG(kWarning) << ShapingLogText(entry);
  }
}

void DeliveryScheduler::BounceSiteShare(const Site& share, const std::string& reason) {
  for (const auto& [key, d] : domains_) {
    if (d->site == &share) automation_bounces_.push_back({d->name, d->source, reason});
  }
}

void DeliveryScheduler::BounceForAutomation() {
  std::vector<AutomationBounce> bounces;
  bounces.swap(automation_bounces_);
  for (const AutomationBounce& bounce : bounces) {
    JobFilter filter;
    filter.domain = bounce.domain;
    filter.source = bounce.source;
    JobId cursor = 0;
    do {
      Apply(AdminCommand::kBounce, filter, bounce.reason, &cursor, 1000, now_);
    } while (cursor != 0);
  }
}

}  // namespace ringpost::queue
