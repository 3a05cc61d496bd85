// Fuzz target: the size flag syntax ("50M", "64MiB", "100k"). Never a crash; what parses
// is within the bound and formats back to text that parses to the same size.
#include <cstdint>

#include "absl/strings/string_view.h"
#include "core/check.h"
#include "core/size_flag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  uint64_t parsed = 0;
  if (!ringpost::core::ParseFlagSize(text, &parsed)) return 0;
  RP_CHECK(parsed <= (uint64_t{1} << 60));
  uint64_t again = 0;
  RP_CHECK(ringpost::core::ParseFlagSize(ringpost::core::FormatFlagSize(parsed), &again));
  RP_CHECK(again == parsed);
  return 0;
}
