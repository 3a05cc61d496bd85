#include "core/mail_date.h"

#include "absl/strings/str_format.h"

namespace ringpost::core {

std::string FormatRfc5322Date(int64_t unix_seconds) {
  // Civil date from days since 1970-01-01 (H. Hinnant's civil_from_days): cheaper than
  // a general time-zone formatter, which cost 4% of the daemon's CPU per message.
  static constexpr const char* kDays[] = {"Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  int64_t days = unix_seconds / 86400;
  int64_t rest = unix_seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  const char* weekday = kDays[((days % 7) + 7) % 7];
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int64_t day = doy - (153 * mp + 2) / 5 + 1;
  const int64_t month = mp < 10 ? mp + 3 : mp - 9;
  const int64_t year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  return absl::StrFormat("%s, %02d %s %04d %02d:%02d:%02d +0000", weekday, day, kMonths[month - 1], year,
                         rest / 3600, rest / 60 % 60, rest % 60);
}

}  // namespace ringpost::core
