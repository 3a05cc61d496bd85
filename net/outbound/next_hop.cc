#include "net/outbound/next_hop.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "dns/idna.h"

namespace ringpost::net {

namespace {

// "IP:PORT" for an IPv4 address, "[IP]:PORT" for an IPv6 one.
absl::StatusOr<core::SocketAddress> AddressAt(const std::string& ip, uint16_t port) {
  const bool v6 = ip.find(':') != std::string::npos;
  return core::ParseSocketAddress(v6 ? absl::StrCat("[", ip, "]:", port) : absl::StrCat(ip, ":", port));
}

}  // namespace

NextHop DnsNextHops::FromMailRoute(const dns::MailRoute& route, uint16_t port) const {
  NextHop hop;
  // The MX resolver keeps the true TTLs; the scheduler asks again after a minute.
  hop.valid_for = absl::Minutes(1);
  hop.status = route.status;
  hop.text = route.detail;
  switch (route.kind) {
    case dns::MailRoute::Kind::kAddresses:
      hop.kind = NextHop::Kind::kSmtp;
      for (size_t i = 0; i < route.addresses.size(); ++i) {
        auto address = AddressAt(route.addresses[i], port);
        if (!address.ok()) continue;
        hop.addresses.push_back(*address);
        hop.names.push_back(i < route.hosts.size() ? route.hosts[i] : std::string());
      }
      break;
    case dns::MailRoute::Kind::kTempFail:
      hop.kind = NextHop::Kind::kTempFail;
      break;
    case dns::MailRoute::Kind::kNullMx:
      hop.kind = NextHop::Kind::kPermFail;
      hop.code = 556;  // RFC 7505 §4.2
      break;
    case dns::MailRoute::Kind::kNoSuchDomain:
    case dns::MailRoute::Kind::kOnlySelf:
      hop.kind = NextHop::Kind::kPermFail;
      break;
  }
  return hop;
}

void DnsNextHops::Resolve(const std::string& domain, Done done) {
  if (domain.empty()) {
    // A bare local part (<postmaster> is stored as --postmaster's address): no route,
    // not even a smarthost's, may take it anywhere.
    NextHop hop;
    hop.kind = NextHop::Kind::kPermFail;
    hop.status = "5.1.1";
    hop.text = "an address without a domain is not routed";
    return done(std::move(hop));
  }
  // A domain written with U-labels is routed, looked up and matched by its A-labels
  // (and matched as written too: an operator may list either form).
  std::string ascii = domain;
  if (dns::IsInternationalDomain(domain)) {
    auto converted = dns::ToAsciiDomain(domain);
    if (!converted.ok()) {
      NextHop hop;
      hop.kind = NextHop::Kind::kPermFail;
      hop.status = "5.1.2";
      hop.text = absl::StrCat("bad destination domain ", domain, ": ", converted.status().message());
      return done(std::move(hop));
    }
    ascii = *std::move(converted);
  }
  if (local_domains_.Contains(domain) || local_domains_.Contains(ascii)) {
    NextHop hop;
    hop.kind = NextHop::Kind::kLocal;
    return done(std::move(hop));
  }
  auto route = routes_.Find(domain);
  if (!route.has_value() && ascii != domain) route = routes_.Find(ascii);
  if (route.has_value()) {
    if (route->address) {
      NextHop hop;
      hop.kind = NextHop::Kind::kSmtp;
      hop.addresses.push_back(*route->address);
      return done(std::move(hop));
    }
    return mx_.ResolveHost(route->host,
                           [this, port = route->port, done = std::move(done)](const dns::MailRoute& found) {
                             done(FromMailRoute(found, port));
                           });
  }
  if (domain.size() > 2 && domain.front() == '[' && domain.back() == ']') {
    // An address literal (RFC 5321 §4.1.3): that host, no DNS.
    std::string ip = domain.substr(1, domain.size() - 2);
    if (ip.size() > 5 && absl::EqualsIgnoreCase(ip.substr(0, 5), "IPv6:")) ip = ip.substr(5);
    auto address = AddressAt(ip, port_);
    NextHop hop;
    if (address.ok()) {
      hop.kind = NextHop::Kind::kSmtp;
      hop.addresses.push_back(*address);
    } else {
      hop.kind = NextHop::Kind::kPermFail;
      hop.status = "5.1.2";
      hop.text = absl::StrCat("bad address literal ", domain);
    }
    return done(std::move(hop));
  }
  mx_.Resolve(ascii, [this, done = std::move(done)](const dns::MailRoute& found) {
    done(FromMailRoute(found, port_));
  });
}

}  // namespace ringpost::net
