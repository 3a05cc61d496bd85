// Fuzz target: --relay_networks syntax. Never a crash; what parses prints back to text
// that parses to the same ranges.
#include <cstdint>

#include "core/check.h"
#include "core/cidr.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto set = ringpost::core::CidrSet::Parse(text);
  if (!set.ok()) return 0;
  RP_CHECK(set->size() <= ringpost::core::kCidrListMax);
  auto again = ringpost::core::CidrSet::Parse(set->ToString());
  RP_CHECK(again.ok() && again->ToString() == set->ToString());
  return 0;
}
