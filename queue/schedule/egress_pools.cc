#include "queue/schedule/egress_pools.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "core/domain_name.h"

namespace ringpost::queue {
namespace {

// Pool and source names: what an operator types and a header carries.
bool IsName(absl::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<EgressPools> EgressPools::Parse(absl::string_view flag,
                                               const std::vector<std::string>& sources) {
  EgressPools out;
  for (absl::string_view entry : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t eq = entry.find('=');
    const absl::string_view name = entry.substr(0, eq);
    if (eq == absl::string_view::npos || !IsName(name)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", entry, "' is not POOL=SOURCE[:WEIGHT][+SOURCE[:WEIGHT]...] (names of letters, digits, -_.)"));
    }
    if (out.pools_.contains(name))
      return absl::InvalidArgumentError(absl::StrCat("pool ", name, " named twice"));
    if (out.pools_.size() == kPoolsMax)
      return absl::InvalidArgumentError(absl::StrCat("over ", kPoolsMax, " pools"));
    std::vector<WeightedSource> members;
    for (absl::string_view member : absl::StrSplit(entry.substr(eq + 1), '+')) {
      const size_t colon = member.find(':');
      WeightedSource source{std::string(member.substr(0, colon)), 1};
      if (colon != absl::string_view::npos && (!absl::SimpleAtoi(member.substr(colon + 1), &source.weight) ||
                                               source.weight == 0 || source.weight > kWeightMax)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "pool ", name, ": '", member, "': a weight is a whole number from 1 to ", kWeightMax));
      }
      if (std::find(sources.begin(), sources.end(), source.source) == sources.end()) {
        return absl::InvalidArgumentError(
            absl::StrCat("pool ", name, ": '", source.source, "' is not a source of --egress_sources"));
      }
      for (const WeightedSource& other : members) {
        if (other.source == source.source) {
          return absl::InvalidArgumentError(
              absl::StrCat("pool ", name, ": source ", source.source, " named twice"));
        }
      }
      if (members.size() == kSourcesPerPoolMax) {
        return absl::InvalidArgumentError(
            absl::StrCat("pool ", name, ": over ", kSourcesPerPoolMax, " sources"));
      }
      members.push_back(std::move(source));
    }
    out.pools_.emplace(name, std::move(members));
  }
  return out;
}

const std::vector<WeightedSource>* EgressPools::Find(absl::string_view pool) const {
  auto it = pools_.find(pool);
  return it == pools_.end() ? nullptr : &it->second;
}

absl::StatusOr<SenderPools> SenderPools::Parse(absl::string_view flag, const EgressPools& pools) {
  SenderPools out;
  for (absl::string_view entry : absl::StrSplit(flag, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    const size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", entry, "' is not DOMAIN=POOL (or *.DOMAIN=POOL, *=POOL)"));
    }
    const absl::string_view domain = entry.substr(0, eq);
    const std::string pool(entry.substr(eq + 1));
    if (!pools.Has(pool))
      return absl::InvalidArgumentError(absl::StrCat("'", pool, "' is not a pool of --egress_pools"));
    if (domain == "*") {
      out.fallback_ = pool;
      continue;
    }
    const bool wildcard = absl::StartsWith(domain, "*.");
    const std::string canonical = core::CanonicalDomain(wildcard ? domain.substr(2) : domain);
    if (!core::IsHostName(canonical)) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", domain, "' is not a domain (example.com, *.example.com or *)"));
    }
    (wildcard ? out.suffixes_[absl::StrCat(".", canonical)] : out.exact_[canonical]) = pool;
  }
  return out;
}

std::string SenderPools::PoolFor(absl::string_view sender) const {
  const size_t at = sender.rfind('@');
  if (at != absl::string_view::npos) {
    const std::string domain = core::CanonicalDomain(sender.substr(at + 1));
    if (auto it = exact_.find(domain); it != exact_.end()) return it->second;
    // The longest suffix first: each dot from the left shortens it.
    for (size_t dot = domain.find('.'); dot != std::string::npos; dot = domain.find('.', dot + 1)) {
      if (auto it = suffixes_.find(absl::string_view(domain).substr(dot)); it != suffixes_.end())
        return it->second;
    }
  }
  return fallback_;
}

const std::string& SourcePicker::Pick(const EgressPools& pools, absl::string_view pool) {
  static const std::string* const kNone = new std::string();
  const std::vector<WeightedSource>* sources = pool.empty() ? nullptr : pools.Find(pool);
  if (sources == nullptr || sources->empty()) return *kNone;
  std::vector<int64_t>& current = current_[pool];
  current.resize(sources->size());
  int64_t total = 0;
  size_t best = 0;
  for (size_t i = 0; i < sources->size(); ++i) {
    current[i] += (*sources)[i].weight;
    total += (*sources)[i].weight;
    if (current[i] > current[best]) best = i;
  }
  current[best] -= total;
  return (*sources)[best].source;
}

}  // namespace ringpost::queue
