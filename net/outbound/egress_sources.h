// Egress sources (DESIGN.md: --egress_sources): the local addresses outbound mail may
// leave from, each with the name it gives in EHLO (the name its address's PTR record
// should carry). A connection from a source binds its address before connecting.
#pragma once

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "core/socket_address.h"

namespace ringpost::net {

struct EgressSource {
  std::string name;
  core::SocketAddress address;  // port 0: the kernel picks one
  std::string helo;             // fully qualified
};

inline constexpr size_t kEgressSourcesMax = 1000;

// "a=192.0.2.1/mta-a.example.com,b=[2001:db8::1]/mta-b.example.com".
absl::StatusOr<std::vector<EgressSource>> ParseEgressSources(absl::string_view flag);

// Each source's address belongs to this machine: a socket binds to it. The first that
// does not is named: "b=192.0.2.9: not an address of this machine (Cannot assign
// requested address)".
absl::Status CheckEgressSourcesAreLocal(const std::vector<EgressSource>& sources);

}  // namespace ringpost::net
