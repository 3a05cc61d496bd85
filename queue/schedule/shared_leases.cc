#include "queue/schedule/shared_leases.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ringpost::queue {

std::string SharedLeases::Use() {
  std::string id = std::move(free_.back().first);
  free_.pop_back();
  ++in_use_;
  in_use_ids_.push_back(id);
  return id;
}

void SharedLeases::Adopt(const std::string& id, absl::Time now) {
  if (held() == 0) renew_at_ = now + kRenewEvery;
  in_use_ids_.push_back(id);
  ++in_use_;
}

void SharedLeases::Free(const std::string& id, absl::Time now) {
  auto it = std::find(in_use_ids_.begin(), in_use_ids_.end(), id);
  if (it == in_use_ids_.end()) return;  // dropped meanwhile (Redis went away)
  in_use_ids_.erase(it);
  --in_use_;
  free_.emplace_back(id, now);
}

void SharedLeases::Granted(const std::string& id, absl::Time now) {
  asking_ = false;
  retry_at_ = absl::InfinitePast();
  if (held() == 0) renew_at_ = now + kRenewEvery;
  free_.emplace_back(id, now);
}

void SharedLeases::Refused(absl::Duration wait, absl::Time now) {
  asking_ = false;
  retry_at_ = now + std::clamp(wait, absl::Milliseconds(10), kKeepIdleFor);
}

void SharedLeases::Failed(absl::Time now) {
  asking_ = false;
  retry_at_ = now + absl::Seconds(1);
}

std::vector<std::string> SharedLeases::TakeIdle(absl::Time now) {
  std::vector<std::string> idle;
  auto kept = std::remove_if(free_.begin(), free_.end(), [&](const auto& lease) {
    if (now - lease.second < kKeepIdleFor) return false;
    idle.push_back(lease.first);
    return true;
  });
  free_.erase(kept, free_.end());
  return idle;
}

std::vector<std::string> SharedLeases::TakeFree() {
  std::vector<std::string> all;
  for (auto& [id, since] : free_) all.push_back(std::move(id));
  free_.clear();
  return all;
}

std::vector<std::string> SharedLeases::DueForRenewal(absl::Time now) {
  if (held() == 0 || now < renew_at_) return {};
  return RenewAll(now);
}

std::vector<std::string> SharedLeases::RenewAll(absl::Time now) {
  renew_at_ = now + kRenewEvery;
  std::vector<std::string> ids = in_use_ids_;
  for (const auto& [id, since] : free_) ids.push_back(id);
  return ids;
}

std::string SharedLeasesKey(const std::string& scope) { return absl::StrCat("ringpost:conns:", scope); }

}  // namespace ringpost::queue
