#include "core/size_flag.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace ringpost::core {
namespace {

constexpr size_t kTextBytesMax = 32;
constexpr uint64_t kBytesMax = uint64_t{1} << 60;

// The suffix's power of 1024, or -1 for a suffix we do not know.
int SuffixPower(absl::string_view suffix) {
  if (suffix.empty() || suffix == "B") return 0;
  const char unit = absl::ascii_toupper(static_cast<unsigned char>(suffix[0]));
  const absl::string_view rest = suffix.substr(1);
  const std::string tail = absl::AsciiStrToLower(rest);  // "MB", "MiB", "mb" alike
  if (!tail.empty() && tail != "b" && tail != "ib") return -1;
  switch (unit) {
    case 'K':
      return 1;
    case 'M':
      return 2;
    case 'G':
      return 3;
    case 'T':
      return 4;
    default:
      return -1;
  }
}

}  // namespace

bool ParseFlagSize(absl::string_view text, uint64_t* out) {
  if (text.empty() || text.size() > kTextBytesMax) return false;
  size_t i = 0;
  uint64_t number = 0;
  while (i < text.size() && absl::ascii_isdigit(static_cast<unsigned char>(text[i]))) {
    number = number * 10 + static_cast<uint64_t>(text[i] - '0');
    if (number > kBytesMax) return false;
    ++i;
  }
  if (i == 0) return false;
  const int power = SuffixPower(text.substr(i));
  if (power < 0) return false;
  for (int p = 0; p < power; ++p) {
    if (number > kBytesMax / 1024) return false;
    number *= 1024;
  }
  *out = number;
  return true;
}

std::string FormatFlagSize(uint64_t bytes) {
  static constexpr const char* kSuffixes[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes == 0) return "0";
  int power = 0;
  uint64_t number = bytes;
  while (power < 4 && number % 1024 == 0) {
    number /= 1024;
    ++power;
  }
  return power == 0 ? absl::StrCat(bytes) : absl::StrCat(number, kSuffixes[power - 1]);
}

bool AbslParseFlag(absl::string_view text, FlagSize* flag, std::string* error) {
  if (ParseFlagSize(text, &flag->value)) return true;
  *error =
      "expected a size in bytes, alone or with a suffix in powers of 1024: 1048576, 100k, 50M, 64MiB, 1G";
  return false;
}

std::string AbslUnparseFlag(FlagSize flag) { return FormatFlagSize(flag.value); }

}  // namespace ringpost::core
