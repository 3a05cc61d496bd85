// Where a destination domain's mail goes next: the one routing interface delivery asks
// (the answer, queue::NextHop, is the delivery scheduler's type).
//
// Answers may come later than the call (a DNS lookup); they always come on the
// caller's shard. Static answers (local domains, --routes) come at once, inside the call.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/domain_name.h"
#include "core/shard.h"
#include "dns/mx_resolver.h"
#include "net/outbound/route_table.h"
#include "queue/schedule/next_hop.h"

namespace ringpost::net {

using queue::NextHop;

class NextHopResolver {
 public:
  virtual ~NextHopResolver() = default;
  using Done = std::function<void(NextHop hop)>;
  // `domain` is canonical. `done` runs exactly once, maybe before Resolve returns.
  virtual void Resolve(const std::string& domain, Done done) = 0;
};

// Local domains, then --routes (a route named by host name: that host's addresses),
// then DNS (MX, dns/mx_resolver.h) with delivery to --outbound_port. One per shard
// (its MxResolver's cache is the shard's).
class DnsNextHops final : public NextHopResolver {
 public:
  DnsNextHops(const core::DomainSet& local_domains, const RouteTable& routes, dns::MxResolver& mx, uint16_t port)
      : local_domains_(local_domains), routes_(routes), mx_(mx), port_(port) {}
  void Resolve(const std::string& domain, Done done) override;

 private:
  NextHop FromMailRoute(const dns::MailRoute& route, uint16_t port) const;
  const core::DomainSet& local_domains_;
  const RouteTable& routes_;
  dns::MxResolver& mx_;
  const uint16_t port_;
};

}  // namespace ringpost::net
