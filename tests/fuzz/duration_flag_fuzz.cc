// Fuzz target: the duration flag syntax ("5d", "1d12h", "250ms"). Never a crash; what
// parses formats back to text that parses to the same duration.
#include <cstdint>
#include "absl/strings/string_view.h"

#include "core/check.h"
#include "core/duration_flag.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view text(reinterpret_cast<const char*>(data), size);
  absl::Duration parsed;
  if (!ringpost::core::ParseFlagDuration(text, &parsed)) return 0;
  RP_CHECK(parsed >= absl::ZeroDuration());
  absl::Duration again;
  RP_CHECK(ringpost::core::ParseFlagDuration(ringpost::core::FormatFlagDuration(parsed), &again));
  RP_CHECK(again == parsed);
  return 0;
}
