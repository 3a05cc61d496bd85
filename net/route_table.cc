#include "net/route_table.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/domain_name.h"

namespace ringpost::net {
absl::StatusOr<RouteTable> RouteTable::Parse(absl::string_view text) {
  RouteTable table;
  size_t count = 0;
  for (absl::string_view item : absl::StrSplit(text, ',', absl::SkipWhitespace())) {
    if (++count > kRoutesMax) return absl::InvalidArgumentError("--routes: more than 10000 routes");
    const size_t equals = item.find('=');
    if (equals == absl::string_view::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--routes: '", item, "' is not domain=host:port"));
    }
    const std::string domain = core::CanonicalDomain(item.substr(0, equals));
    auto address = core::ParseSocketAddress(absl::StripAsciiWhitespace(item.substr(equals + 1)));
    if (!address.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("--routes: '", item, "': ", address.status().message(), " (next hops are addresses)"));
    }
    if (address->port() == 0)
      return absl::InvalidArgumentError(absl::StrCat("--routes: '", item, "': port 0"));
    if (domain == "*") {
      if (table.smarthost_) return absl::InvalidArgumentError("--routes: two smarthosts (*)");
      table.smarthost_ = *address;
      continue;
    }
    if (domain.empty() || domain.size() > 255 || domain.find_first_of(" @/[]*") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--routes: '", item, "': not a domain"));
    }
    if (!table.routes_.emplace(domain, *address).second) {
      return absl::InvalidArgumentError(absl::StrCat("--routes: ", domain, " is routed twice"));
    }
  }
  return table;
}

std::optional<core::SocketAddress> RouteTable::Find(absl::string_view domain) const {
  if (!routes_.empty()) {
    auto it = routes_.find(core::CanonicalDomain(domain));
    if (it != routes_.end()) return it->second;
  }
  return smarthost_;
}

}  // namespace ringpost::net
