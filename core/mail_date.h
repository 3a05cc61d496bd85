// Dates as mail headers and the JSON logs write them, in UTC: RFC 5322 §3.3 date-time
// and RFC 3339 with microseconds. Pure and cheap (a general time-zone formatter cost
// several percent of the daemon's CPU per message); used by Received: (net/), delivery
// status notifications (queue/) and core/json.
#pragma once

#include <cstdint>
#include <string>

namespace ringpost::core {

// A UTC calendar time.
struct CivilUtc {
  int64_t year = 1970;
  int month = 1;  // 1-12
  int day = 1;    // 1-31
  int hour = 0;
  int minute = 0;
  int second = 0;
  int weekday = 4;  // 0 Sunday ... 6 Saturday
};
CivilUtc CivilUtcOf(int64_t unix_seconds);

// "Mon, 30 Nov 2026 00:53:20 +0000".
std::string FormatRfc5322Date(int64_t unix_seconds);

// "2026-11-30T00:53:20.123456Z" (RFC 3339), from microseconds since the epoch.
std::string FormatRfc3339Micros(int64_t unix_micros);

}  // namespace ringpost::core
