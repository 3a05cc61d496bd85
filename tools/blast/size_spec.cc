#include "tools/blast/size_spec.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace ringpost::blast {
namespace {
constexpr uint64_t kBytesMax = uint64_t{64} << 20;
constexpr size_t kEntriesMax = 16;
}  // namespace

absl::StatusOr<uint64_t> ParseByteCount(absl::string_view text) {
  uint64_t scale = 1;
  if (!text.empty() && (text.back() == 'k' || text.back() == 'K')) scale = 1024;
  if (!text.empty() && (text.back() == 'm' || text.back() == 'M')) scale = 1024 * 1024;
  if (scale != 1) text.remove_suffix(1);
  uint64_t value = 0;
  if (text.empty() || text.size() > 9 || !absl::SimpleAtoi(text, &value) || value * scale > kBytesMax) {
    return absl::InvalidArgumentError(
        absl::StrCat("bad size '", text, "' (e.g. 1024, 10k, 1m; at most 64m)"));
  }
  return value * scale;
}

absl::StatusOr<SizeSpec> SizeSpec::Parse(absl::string_view text) {
  SizeSpec spec;
  for (absl::string_view part : absl::StrSplit(text, ',')) {
    if (spec.entries_.size() == kEntriesMax) return absl::InvalidArgumentError("at most 16 sizes");
    Entry entry;
    const size_t colon = part.find(':');
    if (colon != absl::string_view::npos) {
      if (!absl::SimpleAtoi(part.substr(colon + 1), &entry.weight) || entry.weight == 0 ||
          entry.weight > 1000000) {
        return absl::InvalidArgumentError(absl::StrCat("bad weight in '", part, "'"));
      }
      part = part.substr(0, colon);
    }
    const size_t dash = part.find('-');
    auto low = ParseByteCount(part.substr(0, dash));
    if (!low.ok()) return low.status();
    entry.low = entry.high = *low;
    if (dash != absl::string_view::npos) {
      auto high = ParseByteCount(part.substr(dash + 1));
      if (!high.ok()) return high.status();
      if (*high < *low) return absl::InvalidArgumentError(absl::StrCat("empty range '", part, "'"));
      entry.high = *high;
    }
    spec.total_weight_ += entry.weight;
    spec.entries_.push_back(entry);
  }
  return spec;
}

uint64_t SizeSpec::Sample(std::mt19937_64& rng) const {
  uint64_t pick = std::uniform_int_distribution<uint64_t>(0, total_weight_ - 1)(rng);
  for (const Entry& e : entries_) {
    if (pick < e.weight) {
      return e.low == e.high ? e.low : std::uniform_int_distribution<uint64_t>(e.low, e.high)(rng);
    }
    pick -= e.weight;
  }
  return entries_.back().high;
}

uint64_t SizeSpec::max_bytes() const {
  uint64_t m = 0;
  for (const Entry& e : entries_) m = std::max(m, e.high);
  return m;
}

}  // namespace ringpost::blast
