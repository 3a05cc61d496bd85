#include "core/duration_flag.h"
#include "absl/strings/string_view.h"

#include <cstdint>

#include "absl/strings/str_cat.h"

namespace ringpost::core {
namespace {

constexpr size_t kTextBytesMax = 64;
constexpr int64_t kMillisMax = int64_t{100} * 366 * 24 * 3600 * 1000;

bool UnitMillis(absl::string_view unit, int64_t* millis) {
  if (unit == "ms")
    *millis = 1;
  else if (unit == "s")
    *millis = 1000;
  else if (unit == "m")
    *millis = 60 * 1000;
  else if (unit == "h")
    *millis = 3600 * 1000;
  else if (unit == "d")
    *millis = 24 * 3600 * 1000;
  else
    return false;
  return true;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsUnitChar(char c) { return c == 'm' || c == 's' || c == 'h' || c == 'd'; }

}  // namespace

bool ParseFlagDuration(absl::string_view text, absl::Duration* out) {
  if (text.empty() || text.size() > kTextBytesMax) return false;
  if (text == "0") {
    *out = absl::ZeroDuration();
    return true;
  }
  int64_t total_millis = 0;
  size_t i = 0;
  while (i < text.size()) {
    // <digits>[.<digits>]<unit>
    int64_t whole = 0;
    const size_t digits_start = i;
    while (i < text.size() && IsDigit(text[i])) {
      whole = whole * 10 + (text[i] - '0');
      if (whole > kMillisMax) return false;
      ++i;
    }
    int64_t fraction = 0, fraction_scale = 1;
    if (i < text.size() && text[i] == '.') {
      ++i;
      while (i < text.size() && IsDigit(text[i])) {
        if (fraction_scale < 1'000'000) {
          fraction = fraction * 10 + (text[i] - '0');
          fraction_scale *= 10;
        }
        ++i;
      }
    }
    if (i == digits_start) return false;  // a unit with no number
    const size_t unit_start = i;
    while (i < text.size() && IsUnitChar(text[i])) ++i;
    int64_t unit_millis = 0;
    if (!UnitMillis(text.substr(unit_start, i - unit_start), &unit_millis)) return false;
    if (whole > (kMillisMax - total_millis) / unit_millis) return false;  // no overflow
    total_millis += whole * unit_millis + fraction * unit_millis / fraction_scale;
    if (total_millis > kMillisMax) return false;
  }
  *out = absl::Milliseconds(total_millis);
  return true;
}

std::string FormatFlagDuration(absl::Duration value) {
  const int64_t millis = absl::ToInt64Milliseconds(value);
  if (millis == 0) return "0s";
  constexpr int64_t kDay = 24 * 3600 * 1000;
  if (millis % kDay == 0) return absl::StrCat(millis / kDay, "d");
  if (millis % (3600 * 1000) == 0) return absl::StrCat(millis / (3600 * 1000), "h");
  if (millis % (60 * 1000) == 0) return absl::StrCat(millis / (60 * 1000), "m");
  if (millis % 1000 == 0) return absl::StrCat(millis / 1000, "s");
  return absl::StrCat(millis, "ms");
}

bool AbslParseFlag(absl::string_view text, FlagDuration* flag, std::string* error) {
  if (ParseFlagDuration(text, &flag->value)) return true;
  *error = "expected a duration such as 250ms, 30s, 5m, 4h or 5d";
  return false;
}

std::string AbslUnparseFlag(FlagDuration flag) { return FormatFlagDuration(flag.value); }

}  // namespace ringpost::core
