// Where a domain's mail goes by DNS (RFC 5321 §5.1), with a per-shard cache.
//
// MX first: hosts by preference (random among equals, dns/mx_plan.h), then each host's
// addresses (A and AAAA; --dns_prefer_ipv6 picks which family comes first). No MX →
// the domain's own addresses (implicit MX). Null MX → kNullMx (bounce 5.1.10).
// NXDOMAIN → kNoSuchDomain (bounce 5.1.2). SERVFAIL, a timeout or no server → kTempFail
// (defer 4.4.3). An MX host named like this host, or with an address this host
// receives mail on, cuts the list there (only more preferred hosts; none left →
// kOnlySelf, bounce 5.4.6). MX hosts that all lack addresses → kTempFail 4.4.4; a domain with
// neither MX nor addresses → kNoSuchDomain. An exchange written as an IP address is
// used as that address.
//
// The cache honours TTLs (capped by cache_ttl_max), keeps negative answers for their
// SOA-derived TTL (RFC 2308, capped by negative_ttl_max), does not keep temporary
// failures, and coalesces: lookups of a domain while one is in flight wait for it, so
// a thousand messages to one domain cost one set of queries. One per shard.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "core/clock.h"
#include "core/shard.h"
#include "dns/resolver.h"
#include "dns/route_cache.h"

namespace ringpost::dns {

struct MailRoute {
  enum class Kind { kAddresses, kNullMx, kNoSuchDomain, kOnlySelf, kTempFail };
  Kind kind = Kind::kTempFail;
  std::vector<std::string> addresses;  // textual IPs, in the order to try
  std::vector<std::string> hosts;      // the MX host of each address (TLS: SNI, name check)
  std::string detail;                  // for logs and bounce texts
  std::string status;                  // RFC 3463 code for the failures
};

struct MxResolverOptions {
  core::MonoNanos cache_ttl_max = 3600 * core::kNanosPerSecond;
  core::MonoNanos negative_ttl_max = 900 * core::kNanosPerSecond;
  core::MonoNanos negative_ttl_default = 300 * core::kNanosPerSecond;  // no SOA in the answer
  bool prefer_ipv6 = false;
  size_t hosts_max = 8;                                  // MX hosts whose addresses are looked up
  std::function<bool(const std::string& host)> is_self;  // --hostname (RFC 5321 §5.1)
  // An address this MTA receives mail on at the delivery port: an MX host that has
  // one is this host too (RFC 5321 §5.1: its own name or address).
  std::function<bool(const std::string& ip)> is_local_address;
};

class MxResolver {
 public:
  MxResolver(core::Shard& shard, Resolver& resolver, MxResolverOptions options);
  ~MxResolver();
  using Done = std::function<void(const MailRoute& route)>;
  // `domain` canonical. `done` may run before Resolve returns (a cache hit).
  void Resolve(const std::string& domain, Done done);
  // The addresses of one host (A and AAAA, no MX): a --routes next hop named by its
  // host name. Cached and coalesced like domains. Every failure is temporary (4.4.4):
  // a route the operator wrote waits for DNS or a fix, it never bounces mail.
  void ResolveHost(const std::string& host, Done done);

  struct Stats {
    uint64_t lookups = 0, cache_hits = 0, coalesced = 0, resolutions = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  struct Lookup;
  // A cache hit or a lookup of `key` already under way; else the new lookup to start.
  std::shared_ptr<Lookup> Begin(const std::string& key, Done& done);
  void OnMx(const std::shared_ptr<Lookup>& lookup, const absl::Status& status, const DnsAnswer& answer);
  void LookUpAddresses(const std::shared_ptr<Lookup>& lookup);
  void Assemble(const std::shared_ptr<Lookup>& lookup);
  void Finish(const std::shared_ptr<Lookup>& lookup, MailRoute route, core::MonoNanos ttl);

  core::Shard& shard_;
  Resolver& resolver_;
  const MxResolverOptions options_;
  ExpiringCache<MailRoute> cache_;
  absl::flat_hash_map<std::string, std::shared_ptr<Lookup>> in_flight_;
  std::shared_ptr<MxResolver*> alive_;
  uint64_t random_state_;
  Stats stats_;
};

}  // namespace ringpost::dns
