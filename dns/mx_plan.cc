#include "dns/mx_plan.h"

#include <algorithm>

namespace ringpost::dns {

MxPlan PlanMx(const std::vector<MxRecord>& records, const std::function<bool(const std::string&)>& is_self,
              const std::function<uint64_t(uint64_t)>& uniform) {
  MxPlan plan;
  if (records.empty()) return plan;  // implicit MX
  for (const MxRecord& r : records) {
    if (r.exchange.empty()) {  // RFC 7505: a null MX stands alone; seen at all, the domain takes no mail
      plan.kind = MxPlan::Kind::kNullMx;
      return plan;
    }
  }
  std::vector<const MxRecord*> sorted;
  for (const MxRecord& r : records) sorted.push_back(&r);
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const MxRecord* a, const MxRecord* b) { return a->preference < b->preference; });
  // Fisher-Yates within each run of equal preference.
  for (size_t begin = 0; begin < sorted.size();) {
    size_t end = begin + 1;
    while (end < sorted.size() && sorted[end]->preference == sorted[begin]->preference) ++end;
    for (size_t i = end - 1; i > begin; --i) {
      const size_t j = begin + static_cast<size_t>(uniform(i - begin + 1));
      std::swap(sorted[i], sorted[j]);
    }
    begin = end;
  }
  // RFC 5321 §5.1: if this host is among the MXs, only those strictly more preferred.
  uint32_t cut = UINT32_MAX;
  for (const MxRecord* r : sorted) {
    if (is_self(r->exchange)) cut = std::min<uint32_t>(cut, r->preference);
  }
  for (const MxRecord* r : sorted) {
    if (r->preference >= cut) continue;
    if (std::find(plan.hosts.begin(), plan.hosts.end(), r->exchange) == plan.hosts.end()) {
      plan.hosts.push_back(r->exchange);
    }
  }
  plan.kind = plan.hosts.empty() ? MxPlan::Kind::kOnlySelf : MxPlan::Kind::kHosts;
  return plan;
}

}  // namespace ringpost::dns
