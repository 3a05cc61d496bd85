// Inbound connection limits across all shards: --max_connections in total and
// --max_connections_per_ip per client address (past either: 421 4.7.0). Trusted
// clients (--limit_exempt_networks, by default the relay networks) are counted but
// never refused for their address's count, as Postfix exempts $mynetworks: an
// application on this machine may open hundreds of connections at once.
//
// Shared by every shard. SO_REUSEPORT spreads one client's connections over all
// shards, so a per-shard count could not enforce a per-address limit; this is the one
// piece of cross-shard state on the inbound side. It is touched once when a connection
// opens and once when it closes (never per command or per byte), under a mutex that is
// uncontended in practice.
#pragma once

#include <cstdint>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace ringpost::net {

class ClientLimiter {
 public:
  enum class Verdict { kAdmitted, kTooManyTotal, kTooManyFromAddress };

  ClientLimiter(uint32_t connections_max, uint32_t connections_per_address_max)
      : connections_max_(connections_max), per_address_max_(connections_per_address_max) {}

  // kAdmitted counts the connection; pair it with exactly one Release. An exempt
  // address is held to the total only.
  Verdict Admit(const std::string& address, bool exempt = false);
  void Release(const std::string& address);
  uint32_t live() const;

 private:
  const uint32_t connections_max_;
  const uint32_t per_address_max_;
  mutable absl::Mutex mu_;
  uint32_t live_ ABSL_GUARDED_BY(mu_) = 0;
  absl::flat_hash_map<std::string, uint32_t> per_address_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ringpost::net
