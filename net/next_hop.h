// Where a destination domain's mail goes next: the one routing interface delivery asks
// (the DNS issue plugs MX routing in behind it).
//
// Answers may come later than the call (a DNS lookup); they always come on the
// caller's shard. Static answers (local domains, --routes) come at once.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/clock.h"
#include "core/shard.h"
#include "core/socket_address.h"
#include "dns/mx_resolver.h"
#include "net/relay_policy.h"
#include "net/route_table.h"

namespace ringpost::net {

struct NextHop {
  enum class Kind {
    kSmtp,      // relay to `addresses`, in order of preference
    kLocal,     // a --local_domains domain: Maildir
    kTempFail,  // not now: defer every recipient with `status` and `text`
    kPermFail,  // never: bounce every recipient with `status` and `text`
  };
  Kind kind = Kind::kTempFail;
  std::vector<core::SocketAddress> addresses;
  // The host name of each address when it came from DNS (an MX host, or a --routes
  // host name): the TLS server name (SNI) and the name its certificate is checked
  // against. Empty for address routes and address literals.
  std::vector<std::string> names;
  std::string status;  // RFC 3463, for kTempFail and kPermFail
  std::string text;
  int code = 550;  // kPermFail: the reply code recorded and quoted in the DSN
  // Ask again after this (the delivery agent keeps an answer per domain): 0 for
  // answers that never change (configuration), a time for DNS answers.
  core::MonoNanos valid_until = 0;
};

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
  DnsNextHops(core::Shard& shard, const RelayPolicy& relay, const RouteTable& routes, dns::MxResolver& mx,
              uint16_t port)
      : shard_(shard), relay_(relay), routes_(routes), mx_(mx), port_(port) {}
  void Resolve(const std::string& domain, Done done) override;

 private:
  NextHop FromMailRoute(const dns::MailRoute& route, uint16_t port) const;
  core::Shard& shard_;
  const RelayPolicy& relay_;
  const RouteTable& routes_;
  dns::MxResolver& mx_;
  const uint16_t port_;
};

}  // namespace ringpost::net
