// Which hosts to try for a domain, from its MX answer (RFC 5321 §5.1, RFC 7505). Pure:
// the caller passes the random source and what "this host" means.
//
//  - MX records are tried in order of preference (lowest first), in random order among
//    equal preferences (RFC 5321 §5.1: spread the load);
//  - a null MX (the root "." as exchange, RFC 7505) means the domain takes no mail:
//    bounce with 5.1.10;
//  - an MX naming this host cuts the list there: only more preferred hosts may be tried
//    (to avoid loops); when that leaves none, the configuration is wrong (bounce 5.4.6:
//    "mail loops back to myself");
//  - no MX at all: the domain's own address records are used (implicit MX, RFC 5321 §5.1).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "dns/dns_message.h"

namespace ringpost::dns {

struct MxPlan {
  enum class Kind { kHosts, kImplicit, kNullMx, kOnlySelf };
  Kind kind = Kind::kImplicit;
  std::vector<std::string> hosts;  // kHosts: in the order to try
};

// `uniform(n)` returns a random number in [0, n).
MxPlan PlanMx(const std::vector<MxRecord>& records, const std::function<bool(const std::string&)>& is_self,
              const std::function<uint64_t(uint64_t)>& uniform);

}  // namespace ringpost::dns
