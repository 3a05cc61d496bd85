// Static next hops (--routes): "example.com=192.0.2.10:25,*=[2001:db8::1]:2525",
// or by name: "*=smarthost.example.net:587" (also "[smarthost.example.net]:587").
//
// A route says where mail for a domain goes, never who may send it (DESIGN.md: relay
// permission comes only from RelayPolicy). `*` is the smarthost for every domain
// without its own route; local domains are delivered locally before any route is
// asked (the caller checks RelayPolicy::IsLocalDomain first). A domain with no route
// and no smarthost is routed by DNS (MX).
//
// A next hop named by a host name is that host: its addresses (A and AAAA) are looked
// up when mail goes there, never its MX (Postfix's "[host]:port"), and the name is
// what its TLS certificate is checked against.
//
// Pure and immutable after Parse; shared read-only by every shard. Domains compare
// case-insensitively, without a trailing dot. Bounded: at most 10,000 routes.
#pragma once

#include <optional>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/socket_address.h"

namespace ringpost::net {

inline constexpr size_t kRoutesMax = 10000;

// Where a route points: an address, or a host name (lower case) and a port.
struct RouteTarget {
  std::optional<core::SocketAddress> address;  // set: this address
  std::string host;                            // else: this host's addresses, at `port`
  uint16_t port = 0;
  std::string ToString() const;
};

class RouteTable {
 public:
  static absl::StatusOr<RouteTable> Parse(absl::string_view text);

  // The domain's own route, else the smarthost, else nullopt (route by DNS).
  std::optional<RouteTarget> Find(absl::string_view domain) const;
  bool has_smarthost() const { return smarthost_.has_value(); }
  size_t size() const { return routes_.size() + (smarthost_ ? 1 : 0); }

 private:
  absl::flat_hash_map<std::string, RouteTarget> routes_;
  std::optional<RouteTarget> smarthost_;
};

}  // namespace ringpost::net
