// DeliveryScheduler, shared limits: message rates and connection limits the shaping
// file marks `shared = true` hold for every node of a cluster (SchedulerConfig::cluster).
// Redis keeps each rate as one GCRA; this shard takes tokens from it in batches
// (TakeTokens, answered by OnTokens), spends one per message, and gives back what it
// does not use (ReturnTokens). Redis keeps each connection limit as leases that lapse
// unless renewed: a connection opens only with one (TakeLease, answered by OnLease),
// held leases are renewed (RenewLeases) and unused ones given back (ReleaseLeases).
// While Redis is away (OnClusterState) nothing is asked for: the throttles keep to the
// fallback share, limit ÷ --cluster_nodes.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "core/log.h"
#include "queue/schedule/delivery_scheduler.h"
#include "queue/schedule/delivery_scheduler_parts.h"

namespace ringpost::queue {

void DeliveryScheduler::HoldShared(SharedRate*& slot, const std::string& scope,
                                   const std::optional<Rate>& rate) {
  const std::string key = rate.has_value() ? SharedRateKey(scope) : std::string();
  if (slot != nullptr && slot->key() == key) {
    slot->set_rate(*rate);  // a reload's new rate
    return;
  }
  if (slot != nullptr) {
    SharedRate& held = *slot;
    slot = nullptr;
    if (--held.users == 0) {
      ReturnUnused(held, held.TakeAll());
      if (!held.asking()) shared_rates_.erase(held.key());  // else once answered
    }
  }
  if (!rate.has_value()) return;
  auto [it, inserted] = shared_rates_.try_emplace(key);
  if (inserted) it->second = std::make_unique<SharedRate>(key);
  it->second->set_rate(*rate);
  ++it->second->users;
  slot = it->second.get();
}

absl::Time DeliveryScheduler::SharedAt(Domain& domain) {
  absl::Time at = now_;
  for (SharedRate* shared :
       {domain.shared_rate, domain.site != nullptr ? domain.site->shared_rate : nullptr}) {
    if (shared == nullptr || shared->has_token()) continue;
    AskTokens(*shared);
    if (shared->asking()) {  // the answer pumps it
      if (std::find(shared->waiters.begin(), shared->waiters.end(), domain.key) == shared->waiters.end()) {
        shared->waiters.push_back(domain.key);
      }
      at = absl::InfiniteFuture();
    } else {
      at = std::max(at, shared->retry_at());
    }
  }
  return at;
}

void DeliveryScheduler::TookShared(SharedRate* shared) {
  if (shared == nullptr) return;
  shared->Take();
  AskTokens(*shared);  // the next batch, before this one runs out
}

void DeliveryScheduler::AskTokens(SharedRate& shared) {
  const uint32_t count = shared.ToAsk(now_);
  if (count == 0) return;
  shared.Asked(count);
  ++stats_.shared_token_asks;
  actions_.push_back(TakeTokens{shared.key(), shared.rate(), count, SharedRate::kBatchSpan});
}

void DeliveryScheduler::ReturnUnused(SharedRate& shared, uint32_t count) {
  if (count == 0 || !cluster_up_) return;  // with Redis away they cannot go back
  stats_.shared_tokens_returned += count;
  actions_.push_back(ReturnTokens{shared.key(), shared.rate(), count});
}

void DeliveryScheduler::SweepShared() {
  if ((shared_rates_.empty() && shared_leases_.empty()) || now_ < shared_sweep_at_) return;
  shared_sweep_at_ = now_ + SharedRate::kKeepFor / 4;
  for (auto& [key, shared] : shared_rates_) ReturnUnused(*shared, shared->TakeUnused(now_));
  for (auto& [key, leases] : shared_leases_) {
    if (!cluster_up_) break;
    if (std::vector<std::string> idle = leases->TakeIdle(now_); !idle.empty()) {
      actions_.push_back(ReleaseLeases{key, std::move(idle)});
    }
    if (std::vector<std::string> held = leases->DueForRenewal(now_); !held.empty()) {
      actions_.push_back(RenewLeases{key, std::move(held), SharedLeases::kTtl});
    }
  }
  absl::erase_if(shared_leases_,
                 [](const auto& entry) { return entry.second->users == 0 && entry.second->Idle(); });
}

// ---- Shared connection limits ----------------------------------------------------------

void DeliveryScheduler::HoldLeases(SharedLeases*& slot, const std::string& scope,
                                   const std::optional<uint32_t>& limit) {
  const std::string key = limit.has_value() ? SharedLeasesKey(scope) : std::string();
  if (slot != nullptr && slot->key() == key) {
    slot->set_limit(*limit);
    return;
  }
  if (slot != nullptr) {
    SharedLeases& held = *slot;
    slot = nullptr;
    --held.users;
    ForgetIfIdle(held);
  }
  if (!limit.has_value()) return;
  auto [it, inserted] = shared_leases_.try_emplace(key);
  if (inserted) it->second = std::make_unique<SharedLeases>(key);
  it->second->set_limit(*limit);
  ++it->second->users;
  slot = it->second.get();
}

void DeliveryScheduler::ForgetIfIdle(SharedLeases& leases) {
  if (leases.users > 0) return;
  // Free leases go back now; those in use as their connections close.
  if (std::vector<std::string> free = leases.TakeFree(); !free.empty() && cluster_up_) {
    actions_.push_back(ReleaseLeases{leases.key(), std::move(free)});
  }
  if (leases.Idle()) {
    const std::string key = leases.key();
    shared_leases_.erase(key);
  }
}

bool DeliveryScheduler::HoldsLeases(const Domain& domain) const {
  return domain.shared_leases != nullptr || (domain.site != nullptr && domain.site->shared_leases != nullptr);
}

bool DeliveryScheduler::LeasesReady(Domain& domain) {
  bool ready = true;
  for (SharedLeases* leases :
       {domain.shared_leases, domain.site != nullptr ? domain.site->shared_leases : nullptr}) {
    if (leases == nullptr || leases->has_free()) continue;
    ready = false;
    if (leases->ShouldAsk(now_)) {
      leases->Asked();
      ++stats_.shared_lease_asks;
      actions_.push_back(TakeLease{leases->key(), leases->limit(), SharedLeases::kTtl,
                                   absl::StrCat(config_.node, "/", config_.shard, "/", next_lease_++)});
    }
    if (leases->asking()) {  // the answer pumps it
      if (std::find(leases->waiters.begin(), leases->waiters.end(), domain.key) == leases->waiters.end()) {
        leases->waiters.push_back(domain.key);
      }
    } else {
      WakeAt(domain, leases->retry_at());
    }
  }
  return ready;
}

void DeliveryScheduler::TakeLeases(Domain& domain, Connection& connection) {
  for (SharedLeases* leases :
       {domain.shared_leases, domain.site != nullptr ? domain.site->shared_leases : nullptr}) {
    if (leases != nullptr && leases->has_free()) connection.leases.emplace_back(leases, leases->Use());
  }
}

void DeliveryScheduler::FreeLeases(Connection& connection) {
  for (auto& [leases, id] : connection.leases) {
    leases->Free(id, now_);
    ForgetIfIdle(*leases);
  }
  connection.leases.clear();
}

void DeliveryScheduler::OnLease(const std::string& key, const std::string& id, bool granted,
                                absl::Duration wait, bool failed, absl::Time now) {
  now_ = std::max(now_, now);
  auto it = shared_leases_.find(key);
  if (it == shared_leases_.end()) {  // let go meanwhile
    if (granted && cluster_up_) actions_.push_back(ReleaseLeases{key, {id}});
    return EndEvent();
  }
  SharedLeases& leases = *it->second;
  if (failed) {
    leases.Failed(now_);
  } else if (granted) {
    ++stats_.shared_leases_granted;
    leases.Granted(id, now_);
  } else {
    leases.Refused(wait, now_);
  }
  std::vector<std::string> waiters;
  waiters.swap(leases.waiters);
  if (leases.users == 0) {
    ForgetIfIdle(leases);
    return EndEvent();
  }
  for (const std::string& waiter : waiters) {
    if (auto d = domains_.find(waiter); d != domains_.end()) Pump(*d->second);
  }
  EndEvent();
}

void DeliveryScheduler::OnTokens(const std::string& key, uint32_t granted, absl::Duration wait, bool failed,
                                 absl::Time now) {
  now_ = std::max(now_, now);
  auto it = shared_rates_.find(key);
  if (it == shared_rates_.end()) return EndEvent();
  SharedRate& shared = *it->second;
  if (failed) {
    shared.Failed(now_);
  } else {
    stats_.shared_tokens_granted += granted;
    shared.Granted(granted, wait, now_);
  }
  if (shared.users == 0) {  // let go while asked: nothing to wait for it
    ReturnUnused(shared, shared.TakeAll());
    shared_rates_.erase(it);
    return EndEvent();
  }
  std::vector<std::string> waiters;
  waiters.swap(shared.waiters);
  for (const std::string& waiter : waiters) {
    if (auto d = domains_.find(waiter); d != domains_.end()) Pump(*d->second);
  }
  EndEvent();
}

void DeliveryScheduler::OnClusterState(bool up, absl::Time now) {
  now_ = std::max(now_, now);
  if (up == cluster_up_) return EndEvent();
  if (!up) {
    ++stats_.cluster_fallbacks;
    // Nothing more is asked; waiting queues are pumped below, under the fallback limits.
    for (auto& [key, shared] : shared_rates_) shared->waiters.clear();
    for (auto& [key, leases] : shared_leases_) leases->waiters.clear();
  }
  cluster_up_ = up;
  if (config_.cluster && shaping_->has_shared()) {
    if (up) {
      RP_LOG(kInfo) << "shared limits: kept in Redis (shard " << config_.shard << ")";
    } else {
      RP_LOG(kWarning) << "shared limits: Redis is away; each is kept to limit / " << config_.cluster_nodes
                       << " (--cluster_nodes) on this node (shard " << config_.shard << ")";
    }
  }
  for (auto& [name, domain] : domains_) Shape(*domain);
  if (up) {
    // Connections opened under the fallback limits count in the cluster from now on:
    // each takes a lease as it is (added to Redis, even past the limit, since it is
    // open; new ones wait until enough have closed). Every lease held is renewed at
    // once, since a Redis that restarted has lost them.
    for (auto& [id, connection] : connections_) {
      Domain& domain = *connection->domain;
      for (SharedLeases* leases :
           {domain.shared_leases, domain.site != nullptr ? domain.site->shared_leases : nullptr}) {
        if (leases == nullptr || std::any_of(connection->leases.begin(), connection->leases.end(),
                                             [leases](const auto& held) { return held.first == leases; })) {
          continue;
        }
        std::string lease = absl::StrCat(config_.node, "/", config_.shard, "/", next_lease_++);
        leases->Adopt(lease, now_);
        connection->leases.emplace_back(leases, std::move(lease));
      }
    }
    // Other nodes may have run without Redis meanwhile (or this one may have started
    // during an outage), and may still be counting theirs: new leases wait.
    for (auto& [key, leases] : shared_leases_) {
      if (std::vector<std::string> held = leases->RenewAll(now_); !held.empty()) {
        actions_.push_back(RenewLeases{leases->key(), std::move(held), SharedLeases::kTtl});
      }
      leases->Settle(now_ + SharedLeases::kSettleAfterReturn);
    }
  }
  for (auto& [name, domain] : domains_) {
    Pump(*domain);
    maybe_empty_.push_back(name);
  }
  EndEvent();
}

}  // namespace ringpost::queue
