#include "core/mail_date.h"

#include <cstring>

#include "absl/strings/str_format.h"

namespace ringpost::core {
namespace {

// Writes `value` as exactly `width` digits at `out`.
void PutDigits(int64_t value, int width, char* out) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

}  // namespace

CivilUtc CivilUtcOf(int64_t unix_seconds) {
  // Civil date from days since 1970-01-01 (H. Hinnant's civil_from_days).
  int64_t days = unix_seconds / 86400;
  int64_t rest = unix_seconds % 86400;
  if (rest < 0) {
    rest += 86400;
    --days;
  }
  CivilUtc civil;
  civil.weekday = static_cast<int>(((days % 7) + 7 + 4) % 7);  // 1970-01-01 was a Thursday
  const int64_t z = days + 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  civil.day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  civil.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  civil.year = yoe + era * 400 + (civil.month <= 2 ? 1 : 0);
  civil.hour = static_cast<int>(rest / 3600);
  civil.minute = static_cast<int>(rest / 60 % 60);
  civil.second = static_cast<int>(rest % 60);
  return civil;
}

std::string FormatRfc5322Date(int64_t unix_seconds) {
  static constexpr const char* kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                            "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  const CivilUtc c = CivilUtcOf(unix_seconds);
  if (c.year < 0 || c.year > 9999) {  // outside what four digits hold: the general way
    return absl::StrFormat("%s, %02d %s %04d %02d:%02d:%02d +0000", kDays[c.weekday], c.day,
                           kMonths[c.month - 1], c.year, c.hour, c.minute, c.second);
  }
  // Digits into a template: formatting it cost a Received: line more than its other
  // fields together.
  std::string out = "Ddd, DD Mmm YYYY HH:MM:SS +0000";
  char* p = out.data();
  std::memcpy(p, kDays[c.weekday], 3);
  PutDigits(c.day, 2, p + 5);
  std::memcpy(p + 8, kMonths[c.month - 1], 3);
  PutDigits(c.year, 4, p + 12);
  PutDigits(c.hour, 2, p + 17);
  PutDigits(c.minute, 2, p + 20);
  PutDigits(c.second, 2, p + 23);
  return out;
}

std::string FormatRfc3339Micros(int64_t unix_micros) {
  int64_t seconds = unix_micros / 1000000;
  int64_t micros = unix_micros % 1000000;
  if (micros < 0) {
    micros += 1000000;
    --seconds;
  }
  const CivilUtc c = CivilUtcOf(seconds);
  if (c.year < 0 || c.year > 9999) {  // outside what four digits hold: the general way
    return absl::StrFormat("%d-%02d-%02dT%02d:%02d:%02d.%06dZ", c.year, c.month, c.day, c.hour, c.minute,
                           c.second, micros);
  }
  std::string out(27, '\0');  // YYYY-MM-DDTHH:MM:SS.uuuuuuZ
  char* p = out.data();
  PutDigits(c.year, 4, p);
  p[4] = '-';
  PutDigits(c.month, 2, p + 5);
  p[7] = '-';
  PutDigits(c.day, 2, p + 8);
  p[10] = 'T';
  PutDigits(c.hour, 2, p + 11);
  p[13] = ':';
  PutDigits(c.minute, 2, p + 14);
  p[16] = ':';
  PutDigits(c.second, 2, p + 17);
  p[19] = '.';
  PutDigits(micros, 6, p + 20);
  p[26] = 'Z';
  return out;
}

}  // namespace ringpost::core
