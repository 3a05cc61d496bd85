// DeliveryScheduler, shared rates: message rates the shaping file marks `shared = true`
// hold for every node of a cluster (SchedulerConfig::cluster). Redis keeps each as one
// GCRA; this shard takes tokens from it in batches (TakeTokens, answered by OnTokens),
// spends one per message, and gives back what it does not use (ReturnTokens). While
// Redis is away (OnClusterState) the tokens are not asked for: the throttles keep to
// the fallback share, limit ÷ --cluster_nodes.
#include <algorithm>

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
  shared.Asked();
  ++stats_.shared_token_asks;
  actions_.push_back(TakeTokens{shared.key(), shared.rate(), count, SharedRate::kBatchSpan});
}

void DeliveryScheduler::ReturnUnused(SharedRate& shared, uint32_t count) {
  if (count == 0 || !cluster_up_) return;  // with Redis away they cannot go back
  stats_.shared_tokens_returned += count;
  actions_.push_back(ReturnTokens{shared.key(), shared.rate(), count});
}

void DeliveryScheduler::SweepShared() {
  if (shared_rates_.empty() || now_ < shared_sweep_at_) return;
  shared_sweep_at_ = now_ + SharedRate::kKeepFor / 4;
  for (auto& [key, shared] : shared_rates_) ReturnUnused(*shared, shared->TakeUnused(now_));
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
    // Tokens held are spent on as granted; nothing more is asked.
    for (auto& [key, shared] : shared_rates_) shared->waiters.clear();
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
  for (auto& [name, domain] : domains_) {
    Pump(*domain);
    maybe_empty_.push_back(name);
  }
  EndEvent();
}

}  // namespace ringpost::queue
