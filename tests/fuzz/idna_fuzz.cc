// Fuzz target: international domain names to A-labels. Never a crash; what comes out
// is ASCII, and converting it again changes nothing.
#include <cstdint>
#include <string>

#include "core/check.h"
#include "dns/idna.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view domain(reinterpret_cast<const char*>(data), size);
  auto ascii = ringpost::dns::ToAsciiDomain(domain);
  if (!ascii.ok()) return 0;
  RP_CHECK(!ringpost::dns::IsInternationalDomain(*ascii));
  auto again = ringpost::dns::ToAsciiDomain(*ascii);
  RP_CHECK(again.ok() && *again == *ascii);
  return 0;
}
