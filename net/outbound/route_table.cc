#include "net/outbound/route_table.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/domain_name.h"

namespace ringpost::net {
namespace {

// "ADDRESS:PORT", "[IPv6]:PORT", "host:PORT" or "[host]:PORT" (Postfix's form; also
// "[IPv4]:PORT"). A host must be fully qualified: the resolver has no search list and
// no /etc/hosts, so a bare "localhost" or "relay" would defer mail for ever.
absl::StatusOr<RouteTarget> ParseTarget(absl::string_view text) {
  RouteTarget target;
  if (auto address = core::ParseSocketAddress(text); address.ok()) {
    if (address->port() == 0) return absl::InvalidArgumentError("port 0");
    target.address = *address;
    return target;
  }
  const size_t colon = text.rfind(':');
  if (colon == absl::string_view::npos) return absl::InvalidArgumentError("not host:port");
  const absl::string_view digits = text.substr(colon + 1);
  uint32_t port = 0;
  if (digits.empty() || digits.size() > 5 ||
      !std::all_of(digits.begin(), digits.end(), absl::ascii_isdigit) || !absl::SimpleAtoi(digits, &port) ||
      port == 0 || port > 65535) {
    return absl::InvalidArgumentError("not host:port (port 1-65535)");
  }
  absl::string_view host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    if (auto address = core::ParseSocketAddress(absl::StrCat(host, ":", port)); address.ok()) {
      target.address = *address;
      return target;
    }
  }
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!core::IsHostName(host)) return absl::InvalidArgumentError("neither an address nor a host name");
  if (host.find('.') == absl::string_view::npos) {
    return absl::InvalidArgumentError("a host name must be fully qualified (or give an address)");
  }
  target.host = absl::AsciiStrToLower(host);
  target.port = static_cast<uint16_t>(port);
  return target;
}

}  // namespace

std::string RouteTarget::ToString() const {
  return address ? address->ToString() : absl::StrCat(host, ":", port);
}

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
    absl::StatusOr<RouteTarget> target = ParseTarget(absl::StripAsciiWhitespace(item.substr(equals + 1)));
    if (!target.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--routes: '", item, "': ", target.status().message()));
    }
    if (domain == "*") {
      if (table.smarthost_) return absl::InvalidArgumentError("--routes: two smarthosts (*)");
      table.smarthost_ = *target;
      continue;
    }
    if (domain.empty() || domain.size() > 255 || domain.find_first_of(" @/[]*") != std::string::npos) {
      return absl::InvalidArgumentError(absl::StrCat("--routes: '", item, "': not a domain"));
    }
    if (!table.routes_.emplace(domain, *target).second) {
      return absl::InvalidArgumentError(absl::StrCat("--routes: ", domain, " is routed twice"));
    }
  }
  return table;
}

std::optional<RouteTarget> RouteTable::Find(absl::string_view domain) const {
  if (!routes_.empty()) {
    auto it = routes_.find(core::CanonicalDomain(domain));
    if (it != routes_.end()) return it->second;
  }
  return smarthost_;
}

}  // namespace ringpost::net
