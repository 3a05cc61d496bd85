#include "net/inbound/relay_policy.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/domain_name.h"

namespace ringpost::net {

absl::StatusOr<RelayPolicy> RelayPolicy::Parse(absl::string_view relay_networks,
                                               absl::string_view relay_domains,
                                               absl::string_view local_domains) {
  RelayPolicy policy;
  auto networks = core::CidrSet::Parse(relay_networks);
  if (!networks.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("--relay_networks: ", networks.status().message()));
  }
  policy.relay_networks_ = *std::move(networks);
  auto relay = core::DomainSet::Parse("--relay_domains", relay_domains);
  if (!relay.ok()) return relay.status();
  policy.relay_domains_ = *std::move(relay);
  auto local = core::DomainSet::Parse("--local_domains", local_domains);
  if (!local.ok()) return local.status();
  policy.local_domains_ = *std::move(local);
  return policy;
}

bool RelayPolicy::IsLocalDomain(absl::string_view domain) const { return local_domains_.Contains(domain); }

bool RelayPolicy::IsRelayDomain(absl::string_view domain) const { return relay_domains_.Contains(domain); }

RcptVerdict RelayPolicy::Check(absl::string_view local_part, absl::string_view domain,
                               bool client_may_relay) const {
  if (domain.empty()) return RcptVerdict::kAccept;  // <postmaster>
  if (IsLocalDomain(domain)) {
    if (!IsSafeLocalPart(local_part)) return RcptVerdict::kUnsafeLocalPart;
    if (!local_recipients_.empty() && !local_recipients_.contains(absl::AsciiStrToLower(
                                          absl::StrCat(local_part, "@", core::CanonicalDomain(domain))))) {
      return RcptVerdict::kUnknownLocalUser;
    }
    return RcptVerdict::kAccept;
  }
  if (client_may_relay || IsRelayDomain(domain)) return RcptVerdict::kAccept;
  return RcptVerdict::kRelayDenied;
}

bool IsSafeLocalPart(absl::string_view quoted_or_not) {
  // A quoted local part ("a b"@x, RFC 5321 §4.1.2) names the folder without its quotes
  // and backslashes.
  std::string unquoted;
  absl::string_view local_part = quoted_or_not;
  if (local_part.size() >= 2 && local_part.front() == '"' && local_part.back() == '"') {
    for (size_t i = 1; i + 1 < local_part.size(); ++i) {
      if (local_part[i] == '\\' && i + 2 < local_part.size()) ++i;
      unquoted += local_part[i];
    }
    local_part = unquoted;
  }
  return !local_part.empty() && local_part.front() != '.' && !absl::StrContains(local_part, "..") &&
         local_part.find('/') == absl::string_view::npos && local_part.find('\0') == absl::string_view::npos;
}

}  // namespace ringpost::net
