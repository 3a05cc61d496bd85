// Dates as mail headers write them (RFC 5322 §3.3 date-time), in UTC.
// Pure; used by Received: (net/) and delivery status notifications (queue/).
#pragma once

#include <cstdint>
#include <string>

namespace ringpost::core {

// "Mon, 30 Nov 2026 00:53:20 +0000".
std::string FormatRfc5322Date(int64_t unix_seconds);

}  // namespace ringpost::core
