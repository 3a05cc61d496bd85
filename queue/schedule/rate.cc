#include "queue/schedule/rate.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "core/duration_flag.h"

namespace ringpost::queue {
namespace {

constexpr uint64_t kCountMax = 1000000000;

}  // namespace

absl::StatusOr<Rate> Rate::Parse(absl::string_view text) {
  text = absl::StripAsciiWhitespace(text);
  if (text == "0") return Rate{0, absl::Seconds(1)};
  const std::vector<absl::string_view> parts = absl::StrSplit(text, absl::MaxSplits('/', 1));
  Rate rate;
  const bool digits = parts.size() == 2 && !parts[0].empty() && parts[0].size() <= 10 &&
                      parts[0].find_first_not_of("0123456789") == absl::string_view::npos;
  if (!digits || !absl::SimpleAtoi(parts[0], &rate.count) || rate.count > kCountMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a rate like 100/s, 5000/h or 1/5m (0: suspended)"));
  }
  absl::string_view period = parts[1];
  // A bare unit is one of it: "s" is "1s".
  const std::string with_number =
      !period.empty() && !absl::ascii_isdigit(static_cast<unsigned char>(period[0]))
          ? absl::StrCat("1", period)
          : std::string(period);
  if (!core::ParseFlagDuration(with_number, &rate.per) || rate.per < absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", text, "' is not a rate like 100/s, 5000/h or 1/5m (0: suspended)"));
  }
  if (rate.count == 0) rate.per = absl::Seconds(1);
  return rate;
}

std::string Rate::ToString() const {
  if (count == 0) return "0";
  for (const auto& [unit, length] : {std::pair{"d", absl::Hours(24)}, std::pair{"h", absl::Hours(1)},
                                     std::pair{"m", absl::Minutes(1)}, std::pair{"s", absl::Seconds(1)}}) {
    if (per == length) return absl::StrCat(count, "/", unit);
  }
  return absl::StrCat(count, "/", core::FormatFlagDuration(per));
}

absl::Duration Rate::interval() const {
  return count == 0 ? absl::InfiniteDuration() : per / static_cast<int64_t>(count);
}

Rate Rate::Share(uint32_t parts) const {
  if (parts <= 1 || count == 0) return *this;
  if (count >= parts && count % parts == 0) return Rate{count / parts, per};
  return Rate{count, per * static_cast<int64_t>(parts)};
}

Rate Rate::Doubled() const { return Rate{std::min(count * 2, kCountMax), per}; }

bool Rate::SlowerThan(const Rate& other) const {
  if (count == 0 || other.count == 0) return count == 0 && other.count != 0;
  return interval() > other.interval();
}

absl::Duration Gcra::Tolerance() const { return std::max(rate_.interval(), kToleranceFloor); }

absl::Time Gcra::NextAt(absl::Time now) const {
  if (rate_.suspended()) return absl::InfiniteFuture();
  if (tat_ == absl::InfinitePast()) return now;
  return std::max(now, tat_ - Tolerance());
}

bool Gcra::TryTake(absl::Time now) {
  if (NextAt(now) > now) return false;
  tat_ = std::max(tat_, now) + rate_.interval();
  return true;
}

}  // namespace ringpost::queue
