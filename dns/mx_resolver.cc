#include "dns/mx_resolver.h"

#include <arpa/inet.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "dns/mx_plan.h"

namespace ringpost::dns {
namespace {

bool IsIpLiteral(const std::string& text, bool* ipv6) {
  unsigned char buffer[16];
  if (inet_pton(AF_INET, text.c_str(), buffer) == 1) {
    *ipv6 = false;
    return true;
  }
  if (inet_pton(AF_INET6, text.c_str(), buffer) == 1) {
    *ipv6 = true;
    return true;
  }
  return false;
}

core::MonoNanos Seconds(uint32_t s) { return static_cast<core::MonoNanos>(s) * core::kNanosPerSecond; }

}  // namespace

struct MxResolver::Lookup {
  std::string domain;
  std::string key;  // in the cache and in_flight_: the domain, or "[host]" for ResolveHost
  std::vector<Done> waiters;
  bool implicit = false;
  bool route_host = false;  // ResolveHost: the host's own addresses, failures temporary
  std::vector<std::string> hosts;
  // Per host, per family (0: IPv4, 1: IPv6): the addresses found.
  std::vector<std::vector<std::string>> v4, v6;
  size_t queries_left = 0;
  bool temp_failure = false;
  bool no_such_domain = false;  // implicit MX: the name itself is gone
  uint32_t ttl = UINT32_MAX;
};

MxResolver::MxResolver(core::Shard& shard, Resolver& resolver, MxResolverOptions options)
    : shard_(shard),
      resolver_(resolver),
      options_(std::move(options)),
      alive_(std::make_shared<MxResolver*>(this)),
      random_state_(static_cast<uint64_t>(core::MonotonicNowNanos()) | 1) {}

MxResolver::~MxResolver() { *alive_ = nullptr; }

std::shared_ptr<MxResolver::Lookup> MxResolver::Begin(const std::string& key, Done& done) {
  ++stats_.lookups;
  if (const MailRoute* cached = cache_.Find(key, shard_.now()); cached != nullptr) {
    ++stats_.cache_hits;
    done(*cached);
    return nullptr;
  }
  if (auto it = in_flight_.find(key); it != in_flight_.end()) {
    ++stats_.coalesced;
    it->second->waiters.push_back(std::move(done));
    return nullptr;
  }
  ++stats_.resolutions;
  auto lookup = std::make_shared<Lookup>();
  lookup->key = key;
  lookup->waiters.push_back(std::move(done));
  in_flight_[key] = lookup;
  return lookup;
}

void MxResolver::ResolveHost(const std::string& host, Done done) {
  // Brackets cannot occur in a domain, so the key never meets one's.
  std::shared_ptr<Lookup> lookup = Begin(absl::StrCat("[", host, "]"), done);
  if (lookup == nullptr) return;
  lookup->domain = host;
  lookup->implicit = true;  // the name itself, and no "is this host" cut
  lookup->route_host = true;
  lookup->hosts = {host};
  LookUpAddresses(lookup);
}

void MxResolver::Resolve(const std::string& domain, Done done) {
  std::shared_ptr<Lookup> lookup = Begin(domain, done);
  if (lookup == nullptr) return;
  lookup->domain = domain;
  resolver_.Query(domain, RecordType::kMx,
                  [alive = alive_, lookup](const absl::Status& status, const DnsAnswer& answer) {
                    if (*alive != nullptr) (*alive)->OnMx(lookup, status, answer);
                  });
}

void MxResolver::OnMx(const std::shared_ptr<Lookup>& lookup, const absl::Status& status,
                      const DnsAnswer& answer) {
  MailRoute route;
  if (!status.ok() || (answer.rcode != Rcode::kNoError && answer.rcode != Rcode::kNxDomain)) {
    route.kind = MailRoute::Kind::kTempFail;
    route.status = "4.4.3";
    route.detail = status.ok()
                       ? absl::StrCat("DNS lookup of MX for ", lookup->domain, " failed (rcode ",
                                      static_cast<int>(answer.rcode), ")")
                       : absl::StrCat("DNS lookup of MX for ", lookup->domain, ": ", status.message());
    return Finish(lookup, route, 0);
  }
  const core::MonoNanos negative_ttl =
      answer.negative_ttl ? std::min(Seconds(*answer.negative_ttl), options_.negative_ttl_max)
                          : options_.negative_ttl_default;
  if (answer.rcode == Rcode::kNxDomain) {
    route.kind = MailRoute::Kind::kNoSuchDomain;
    route.status = "5.1.2";
    route.detail = absl::StrCat("domain ", lookup->domain, " does not exist (NXDOMAIN)");
    return Finish(lookup, route, negative_ttl);
  }
  lookup->ttl = answer.mx.empty() ? UINT32_MAX : MinimumTtl(answer);
  const MxPlan plan = PlanMx(
      answer.mx, [this](const std::string& host) { return options_.is_self && options_.is_self(host); },
      [this](uint64_t n) {
        random_state_ = random_state_ * 6364136223846793005ull + 1442695040888963407ull;
        return (random_state_ >> 33) % n;
      });
  switch (plan.kind) {
    case MxPlan::Kind::kNullMx:
      route.kind = MailRoute::Kind::kNullMx;
      route.status = "5.1.10";
      route.detail = absl::StrCat("domain ", lookup->domain, " accepts no mail (null MX, RFC 7505)");
      return Finish(lookup, route, std::min(Seconds(lookup->ttl), options_.cache_ttl_max));
    case MxPlan::Kind::kOnlySelf:
      route.kind = MailRoute::Kind::kOnlySelf;
      route.status = "5.4.6";
      route.detail = absl::StrCat("mail for ", lookup->domain, " loops back to myself (MX names this host)");
      return Finish(lookup, route, std::min(Seconds(lookup->ttl), options_.cache_ttl_max));
    case MxPlan::Kind::kImplicit:
      lookup->implicit = true;
      lookup->hosts = {lookup->domain};
      break;
    case MxPlan::Kind::kHosts:
      lookup->hosts = plan.hosts;
      if (lookup->hosts.size() > options_.hosts_max) lookup->hosts.resize(options_.hosts_max);
      break;
  }
  LookUpAddresses(lookup);
}

void MxResolver::LookUpAddresses(const std::shared_ptr<Lookup>& lookup) {
  const size_t n = lookup->hosts.size();
  lookup->v4.assign(n, {});
  lookup->v6.assign(n, {});
  std::vector<std::pair<size_t, RecordType>> queries;
  for (size_t i = 0; i < n; ++i) {
    bool ipv6 = false;
    if (IsIpLiteral(lookup->hosts[i], &ipv6)) {  // an exchange written as an address
      (ipv6 ? lookup->v6 : lookup->v4)[i].push_back(lookup->hosts[i]);
      continue;
    }
    queries.emplace_back(i, RecordType::kA);
    queries.emplace_back(i, RecordType::kAaaa);
  }
  lookup->queries_left = queries.size();
  if (queries.empty()) return Assemble(lookup);
  for (const auto& [index, type] : queries) {
    const bool ipv6 = type == RecordType::kAaaa;
    resolver_.Query(
        lookup->hosts[index], type,
        [alive = alive_, lookup, index = index, ipv6](const absl::Status& status, const DnsAnswer& answer) {
          if (*alive == nullptr) return;
          if (!status.ok() || (answer.rcode != Rcode::kNoError && answer.rcode != Rcode::kNxDomain)) {
            lookup->temp_failure = true;
          } else if (answer.rcode == Rcode::kNxDomain && lookup->implicit) {
            lookup->no_such_domain = true;
          }
          if (status.ok()) {
            // Only the answer to this question: the owner is the host or a name its
            // CNAME chain leads to (never glue for other names, such as the
            // zone's nameservers).
            std::vector<std::string> names = {lookup->hosts[index]};
            for (size_t round = 0; round < answer.cnames.size(); ++round) {
              for (const CnameRecord& c : answer.cnames) {
                if (std::find(names.begin(), names.end(), c.name) != names.end() &&
                    std::find(names.begin(), names.end(), c.target) == names.end()) {
                  names.push_back(c.target);
                }
              }
            }
            for (const AddressRecord& a : answer.addresses) {
              if (a.ipv6 != ipv6 || !a.in_answer ||
                  std::find(names.begin(), names.end(), a.name) == names.end()) {
                continue;
              }
              (ipv6 ? lookup->v6 : lookup->v4)[index].push_back(a.address);
              lookup->ttl = std::min(lookup->ttl, a.ttl);
            }
          }
          if (--lookup->queries_left == 0) (*alive)->Assemble(lookup);
        });
  }
}

void MxResolver::Assemble(const std::shared_ptr<Lookup>& lookup) {
  // Hosts in order; within a host, the preferred family first.
  MailRoute route;
  bool reached_self = false;
  for (size_t i = 0; i < lookup->hosts.size(); ++i) {
    const auto& first = options_.prefer_ipv6 ? lookup->v6[i] : lookup->v4[i];
    const auto& second = options_.prefer_ipv6 ? lookup->v4[i] : lookup->v6[i];
    if (!lookup->implicit && options_.is_local_address) {
      // RFC 5321 §5.1: a host that is this one by address ends the list (hosts are in
      // preference order; equal preferences are cut too, a simplification).
      bool self = false;
      for (const auto* list : {&first, &second}) {
        for (const std::string& a : *list) self = self || options_.is_local_address(a);
      }
      if (self) {
        reached_self = true;
        break;
      }
    }
    for (const auto* list : {&first, &second}) {
      for (const std::string& a : *list) {
        if (std::find(route.addresses.begin(), route.addresses.end(), a) == route.addresses.end()) {
          route.addresses.push_back(a);
          route.hosts.push_back(lookup->hosts[i]);
        }
      }
    }
  }
  core::MonoNanos ttl = 0;
  if (route.addresses.empty() && lookup->route_host) {
    route.status = "4.4.4";
    route.detail =
        absl::StrCat("the route host ", lookup->domain,
                     lookup->temp_failure ? ": DNS lookup of its addresses failed" : " has no address");
    if (!lookup->temp_failure) ttl = options_.negative_ttl_default;
  } else if (route.addresses.empty() && lookup->temp_failure) {
    // Before anything permanent: a lookup that failed for now decides nothing.
    route.status = "4.4.3";
    route.detail = absl::StrCat("DNS lookup of addresses for ", lookup->domain, " failed");
  } else if (route.addresses.empty() && reached_self) {
    route.kind = MailRoute::Kind::kOnlySelf;
    route.status = "5.4.6";
    route.detail = absl::StrCat("mail for ", lookup->domain, " loops back to myself (MX is this host)");
    ttl = std::min(Seconds(lookup->ttl == UINT32_MAX ? 0 : lookup->ttl), options_.cache_ttl_max);
  } else if (!route.addresses.empty()) {
    route.kind = MailRoute::Kind::kAddresses;
    route.detail = lookup->route_host ? absl::StrCat("route host ", lookup->domain)
                   : lookup->implicit ? "implicit MX"
                                      : absl::StrCat("MX ", lookup->hosts.front());
    // Some lookups failed for now: use what was found, but do not keep it.
    if (!lookup->temp_failure) {
      ttl = std::min(Seconds(lookup->ttl == UINT32_MAX ? 0 : lookup->ttl), options_.cache_ttl_max);
    }
  } else if (lookup->implicit) {
    route.kind = MailRoute::Kind::kNoSuchDomain;
    route.status = "5.1.2";
    route.detail = absl::StrCat("domain ", lookup->domain,
                                lookup->no_such_domain ? " does not exist" : " has no MX and no address");
    ttl = options_.negative_ttl_default;
  } else {
    route.status = "4.4.4";
    route.detail = absl::StrCat("no address for the MX hosts of ", lookup->domain);
  }
  Finish(lookup, std::move(route), ttl);
}

void MxResolver::Finish(const std::shared_ptr<Lookup>& lookup, MailRoute route, core::MonoNanos ttl) {
  in_flight_.erase(lookup->key);
  if (ttl > 0) cache_.Put(lookup->key, route, shard_.now() + ttl, shard_.now());
  std::vector<Done> waiters;
  waiters.swap(lookup->waiters);
  for (Done& done : waiters) done(route);
}

}  // namespace ringpost::dns
