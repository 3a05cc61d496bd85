// Static next hops (--routes): "example.com=192.0.2.10:25,*=[2001:db8::1]:2525".
//
// A route says where mail for a domain goes, never who may send it (DESIGN.md: relay
// permission comes only from RelayPolicy). `*` is the smarthost for every domain
// without its own route; local domains are delivered locally before any route is
// asked (the caller checks RelayPolicy::IsLocalDomain first). A domain with no route
// and no smarthost is routed by DNS (MX, the DNS issue).
//
// Pure and immutable after Parse; shared read-only by every shard. Domains compare
// case-insensitively, without a trailing dot. Next hops are addresses (a name would
// need the resolver, which the DNS issue brings). Bounded: at most 10,000 routes.
#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/socket_address.h"

namespace ringpost::net {

inline constexpr size_t kRoutesMax = 10000;

class RouteTable {
 public:
  static absl::StatusOr<RouteTable> Parse(absl::string_view text);

  // The domain's own route, else the smarthost, else nullopt (route by DNS).
  std::optional<core::SocketAddress> Find(absl::string_view domain) const;
  bool has_smarthost() const { return smarthost_.has_value(); }
  size_t size() const { return routes_.size() + (smarthost_ ? 1 : 0); }

 private:
  absl::flat_hash_map<std::string, core::SocketAddress> routes_;
  std::optional<core::SocketAddress> smarthost_;
};

}  // namespace ringpost::net
