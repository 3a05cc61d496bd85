// Fuzz target: /etc/resolv.conf parsing. Never a crash, never more than the bound.
#include <cstdint>
#include "absl/strings/string_view.h"

#include "core/check.h"
#include "dns/resolver_config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  const auto servers = ringpost::dns::ParseResolvConf(text);
  RP_CHECK(servers.size() <= ringpost::dns::kResolverServersMax);
  (void)ringpost::dns::ParseDnsServers(text);
  return 0;
}
